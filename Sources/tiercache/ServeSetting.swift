import ArgumentParser
import TierCacheCache
import TierCacheProtocol
import TierCacheResilience
import TierCacheServer

/// One `serve` option as the configuration takes it: its flag, what it accepts (said in the error when the text
/// does not parse), and where its value goes. Its environment variable is `TIERCACHE_` and the flag in capitals
/// (`--db-timeout` → `TIERCACHE_DB_TIMEOUT`); a flag wins over the variable, which wins over the default the
/// configuration already holds. `ServeCommand.settings` lists them all, in the order they are checked.
struct ServeSetting<Target> {
    let flag: String
    /// The option's text as given on the command line, if it was.
    let value: KeyPath<ServeCommand, String?>
    private let assign: (ServeSetting, String, inout Target) throws -> Void

    /// An option whose text `parse` turns into the value at `target`; nil from `parse` is refused as not `expected`.
    init<Value>(
        _ flag: String,
        _ value: KeyPath<ServeCommand, String?>,
        expected: String,
        _ parse: @escaping (String) -> Value?,
        into target: WritableKeyPath<Target, Value>
    ) {
        self.flag = flag
        self.value = value
        self.assign = { setting, text, configuration in
            guard let parsed = parse(text) else {
                throw ValidationError("\(setting.flag) must be \(expected); got '\(text)'")
            }
            configuration[keyPath: target] = parsed
        }
    }

    /// A circuit breaker's `key=value,…` settings over `base`.
    init(
        breaker flag: String,
        _ value: KeyPath<ServeCommand, String?>,
        base: CircuitBreakerConfiguration,
        into target: WritableKeyPath<Target, CircuitBreakerConfiguration>
    ) {
        self.flag = flag
        self.value = value
        self.assign = { setting, text, configuration in
            configuration[keyPath: target] = try ServeCommand.breaker(text, flag: setting.flag, base: base)
        }
    }

    /// `TIERCACHE_` and the flag in capitals, dashes as underscores.
    var variable: String {
        "TIERCACHE_" + String(flag.drop { $0 == "-" }.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// Sets the value from the flag or its variable, when either is given.
    func apply(_ command: ServeCommand, to target: inout Target) throws {
        guard let text = command[keyPath: value] ?? Environment.value(variable) else { return }
        try assign(self, text, &target)
    }
}

extension ServeCommand {
    /// Every option that sets one field of the server's configuration.
    static var settings: [ServeSetting<ServerConfiguration>] {
        let size = "a size like 65536, 64kb or 1mb"
        let durationOrOff = "a duration like 30s or 5m, or 0 for none"
        return [
            .init(
                "--l1-shards", \.l1Shards, expected: "a power of two from 1 to 1024",
                { Int($0).flatMap { $0 > 0 && $0 & ($0 - 1) == 0 && $0 <= 1024 ? $0 : nil } }, into: \.l1Shards),
            .init("--l1-max-entries", \.l1MaxEntries, expected: "a positive count", { positive($0) },
                into: \.l1MaxEntries),
            .init("--l1-eviction", \.l1Eviction,
                expected: L1Eviction.allCases.map(\.rawValue).joined(separator: " or "), L1Eviction.init(rawValue:),
                into: \.l1Eviction),
            .init("--max-inline-length", \.maxInlineLength, expected: size, ByteSize.parse,
                into: \.protocolLimits.maxInlineLength),
            .init("--max-bulk-length", \.maxBulkLength, expected: size, ByteSize.parse,
                into: \.protocolLimits.maxBulkLength),
            .init("--max-arguments", \.maxArguments, expected: "a positive count", positive,
                into: \.protocolLimits.maxArrayCount),
            .init("--threads", \.threads, expected: "1…64", within(1...64), into: \.eventLoopThreads),
            .init("--backend-threads", \.backendThreads, expected: "1…256", within(1...256), into: \.backendThreads),
            .init("--max-clients", \.maxClients, expected: "a positive count", positive, into: \.maxClients),
            .init("--max-output-buffer", \.maxOutputBuffer, expected: "a size like 64mb, or 0 for none", sizeOrOff,
                into: \.maxOutputBuffer),
            .init("--max-input-buffers", \.maxInputBuffers, expected: "a size like 256mb, or 0 for none", sizeOrOff,
                into: \.maxInputBuffers),
            .init("--idle-timeout", \.idleTimeout, expected: durationOrOff, parseDurationOrOff, into: \.idleTimeout),
            .init("--request-timeout", \.requestTimeout, expected: durationOrOff, parseDurationOrOff,
                into: \.requestTimeout),
            .init("--db-timeout", \.dbTimeout, expected: "a positive duration like 500ms or 2s", parseDuration,
                into: \.databaseTimeout),
            .init("--db-statement-timeout", \.dbStatementTimeout, expected: durationOrOff, parseDurationOrOff,
                into: \.databaseStatementTimeout),
            .init("--max-result-size", \.maxResultSize, expected: "a size of 1kb or more, like 64mb",
                { ByteSize.parse($0).flatMap { $0 >= 1024 ? $0 : nil } }, into: \.maxResultSize),
            .init("--policy-watch", \.policyWatch, expected: "auto, poll or off", { PolicyWatchMode(rawValue: $0) },
                into: \.policyWatch),
            .init("--policy-poll-interval", \.policyPollInterval, expected: "a positive duration like 500ms or 5s",
                parseDuration, into: \.policyPollInterval),
            .init("--hot-key-window", \.hotKeyWindow, expected: "a positive duration like 30s or 5m", parseDuration,
                into: \.hotKeyWindow),
            .init("--hot-keys-interval", \.hotKeysInterval, expected: "a positive duration like 30s or 5m",
                parseDuration, into: \.hotKeysInterval),
            .init("--db-readers", \.dbReaders, expected: "1…64", within(1...64), into: \.databaseReaders),
            .init("--db-pool-min", \.dbPoolMin, expected: "a count, 0 or more", within(0...1000),
                into: \.databasePoolMinimum),
            .init("--db-pool-max", \.dbPoolMax, expected: "3…1000", within(3...1000), into: \.databasePoolMaximum),
            .init("--db-max-connection-age", \.dbMaxConnectionAge, expected: "a duration like 30m, or 0 for never",
                parseDurationOrOff, into: \.databaseMaxConnectionAge),
            .init("--db-idle-timeout", \.dbIdleTimeout, expected: "a positive duration like 30s or 5m",
                parseDuration, into: \.databaseIdleTimeout),
            .init("--db-acquire-timeout", \.dbAcquireTimeout, expected: "a positive duration like 500ms or 2s",
                parseDuration, into: \.databaseAcquireTimeout),
            .init("--db-health-interval", \.dbHealthInterval, expected: "a duration like 30s, or 0 for never",
                parseDurationOrOff, into: \.databaseHealthInterval),
            .init("--soft-timeout", \.softTimeout, expected: "a duration like 100ms, or 0 for none",
                parseDurationOrOff, into: \.softTimeout),
            .init("--drain-timeout", \.drainTimeout, expected: "a positive duration like 500ms or 10s", parseDuration,
                into: \.drainTimeout),
            .init(breaker: "--db-breaker", \.dbBreaker, base: .default, into: \.databaseBreaker),
            .init("--slow-log-threshold", \.slowLogThreshold,
                expected: "a duration like 100ms, 0 to log every statement, or off",
                { $0 == "off" ? .some(nil) : $0 == "0" ? .some(.zero) : parseDuration($0).map { .some($0) } },
                into: \.slowLogThreshold),
            .init("--sql-exec", \.sqlExec, expected: "on or off", { ["on": true, "off": false][$0] }, into: \.sqlExec),
            .init("--protected-mode", \.protectedMode, expected: "yes or no",
                { ["yes": true, "no": false][$0] }, into: \.protectedMode),
            .init("--slow-log-max-len", \.slowLogMaxLen, expected: "a count, 0 or more", within(0...1_000_000),
                into: \.slowLogMaxLength),
        ]
    }

    /// Every option that sets one field of the L2 tier's configuration (with `--redis`).
    static var l2Settings: [ServeSetting<L2Configuration>] {
        let duration = "a positive duration like 500ms or 2s"
        return [
            .init("--redis-prefix", \.redisPrefix, expected: "a prefix", { $0 }, into: \.prefix),
            .init("--redis-connect-timeout", \.redisConnectTimeout, expected: duration, parseDuration,
                into: \.connectTimeout),
            .init("--redis-timeout", \.redisTimeout, expected: duration, parseDuration, into: \.commandTimeout),
            .init("--degraded-l1-ttl", \.degradedL1TTL, expected: duration, parseDuration, into: \.degradedL1Lifetime),
            .init(breaker: "--redis-breaker", \.redisBreaker, base: L2Configuration.defaultBreaker, into: \.breaker),
        ]
    }

    /// A count in `range`.
    private static func within(_ range: ClosedRange<Int>) -> (String) -> Int? {
        { Int($0).flatMap { range.contains($0) ? $0 : nil } }
    }

    private static func positive(_ text: String) -> Int? { Int(text).flatMap { $0 > 0 ? $0 : nil } }

    /// A size, or `0` for no limit (`.some(nil)`); nil when neither.
    private static func sizeOrOff(_ text: String) -> Int?? {
        guard let bytes = text == "0" ? 0 : ByteSize.parse(text) else { return nil }
        return .some(bytes > 0 ? bytes : nil)
    }
}
