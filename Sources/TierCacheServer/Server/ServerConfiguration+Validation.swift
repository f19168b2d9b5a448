import TierCacheBackend
import TierCacheProtocol
import TierCacheSupport

/// A configuration the server refuses to start with, with every problem found, each naming the option to change.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var problems: [String]

    public var description: String { problems.joined(separator: "; ") }
}

extension ServerConfiguration {
    /// Checks the ranges and relations the server relies on, whoever built the configuration (the CLI, a test, an
    /// embedding program): a configuration that passes starts. Problems name the `tiercache serve` option that sets
    /// the value, as its help does.
    public func validate() throws(ConfigurationError) {
        var problems: [String] = []
        func require(_ condition: Bool, _ flag: String, _ expected: String, _ value: @autoclosure () -> String) {
            if !condition { problems.append("\(flag) must be \(expected); got \(value())") }
        }
        func positive(_ duration: Duration?, _ flag: String) {
            guard let duration else { return }
            require(duration > .zero, flag, "a positive duration", duration.shortDescription)
        }
        require((0...65535).contains(port), "--listen", "HOST:PORT with a port from 0 to 65535", "port \(port)")
        require(!host.isEmpty, "--listen", "HOST:PORT with a host", "an empty host")
        if case .sqlite(path: let path) = database { require(!path.isEmpty, "--database", "sqlite:PATH", "an empty path") }
        require(
            (3...1000).contains(databasePoolMaximum), "--db-pool-max", "3…1000 (loads, QUERY and writes need one each)",
            "\(databasePoolMaximum)")
        require(
            (0...databasePoolMaximum).contains(databasePoolMinimum), "--db-pool-min", "0…--db-pool-max",
            "\(databasePoolMinimum)")
        positive(databaseMaxConnectionAge, "--db-max-connection-age")
        positive(databaseIdleTimeout, "--db-idle-timeout")
        require(!policyPath.isEmpty, "--policies", "a policy directory or file", "an empty path")
        require(l1MaxMemory > 0, "--l1-max-memory", "a positive size", "\(l1MaxMemory)")
        if let l1MaxEntries { require(l1MaxEntries > 0, "--l1-max-entries", "a positive count", "\(l1MaxEntries)") }
        require(
            l1Shards > 0 && l1Shards & (l1Shards - 1) == 0 && l1Shards <= 1024, "--l1-shards",
            "a power of two from 1 to 1024", "\(l1Shards)")
        require(protocolLimits.maxInlineLength > 0, "--max-inline-length", "a positive size", "\(protocolLimits.maxInlineLength)")
        require(protocolLimits.maxBulkLength > 0, "--max-bulk-length", "a positive size", "\(protocolLimits.maxBulkLength)")
        require(protocolLimits.maxArrayCount > 0, "--max-arguments", "a positive count", "\(protocolLimits.maxArrayCount)")
        require((1...64).contains(eventLoopThreads), "--threads", "1…64", "\(eventLoopThreads)")
        require((1...256).contains(backendThreads), "--backend-threads", "1…256", "\(backendThreads)")
        require((1...64).contains(databaseReaders), "--db-readers", "1…64", "\(databaseReaders)")
        require(maxClients > 0, "--max-clients", "a positive count", "\(maxClients)")
        require(maxResultSize >= 1024, "--max-result-size", "a size of 1kb or more", "\(maxResultSize)")
        if let maxOutputBuffer { require(maxOutputBuffer > 0, "--max-output-buffer", "a positive size, or none", "\(maxOutputBuffer)") }
        if let maxInputBuffers { require(maxInputBuffers > 0, "--max-input-buffers", "a positive size, or none", "\(maxInputBuffers)") }
        positive(policyPollInterval, "--policy-poll-interval")
        positive(hotKeyWindow, "--hot-key-window")
        positive(hotKeysInterval, "--hot-keys-interval")
        positive(databaseAcquireTimeout, "--db-acquire-timeout")
        positive(databaseHealthInterval, "--db-health-interval")
        positive(databaseTimeout, "--db-timeout")
        positive(databaseStatementTimeout, "--db-statement-timeout")
        positive(softTimeout, "--soft-timeout")
        positive(idleTimeout, "--idle-timeout")
        positive(requestTimeout, "--request-timeout")
        positive(drainTimeout, "--drain-timeout")
        if let hotKeysFile { require(!hotKeysFile.isEmpty, "--hot-keys-file", "a path, or off", "an empty path") }
        guard problems.isEmpty else { throw ConfigurationError(problems: problems) }
    }
}
