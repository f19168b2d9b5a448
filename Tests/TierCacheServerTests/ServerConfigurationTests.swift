import Testing
import TierCacheProtocol

@testable import TierCacheServer

/// `ServerConfiguration.validate()` without the CLI: what a configuration built in code must satisfy.
@Suite("Server configuration")
struct ServerConfigurationTests {
    private static func problems(_ change: (inout ServerConfiguration) -> Void) -> [String] {
        var configuration = ServerConfiguration()
        change(&configuration)
        do {
            try configuration.validate()
            return []
        } catch {
            return error.problems
        }
    }

    @Test func theDefaultsAreValid() throws {
        try ServerConfiguration().validate()
        // The limits that may be off are valid off.
        #expect(Self.problems {
            $0.idleTimeout = nil
            $0.requestTimeout = nil
            $0.maxOutputBuffer = nil
            $0.maxInputBuffers = nil
            $0.databaseHealthInterval = nil
            $0.databaseStatementTimeout = nil
            $0.softTimeout = nil
            $0.hotKeysFile = nil
        }.isEmpty)
    }

    @Test func eachRangeIsCheckedAndNamesItsOption() {
        #expect(Self.problems { $0.l1Shards = 12 } == ["--l1-shards must be a power of two from 1 to 1024; got 12"])
        #expect(Self.problems { $0.l1Shards = 2048 } == ["--l1-shards must be a power of two from 1 to 1024; got 2048"])
        #expect(Self.problems { $0.l1Shards = 1024 }.isEmpty)
        #expect(Self.problems { $0.eventLoopThreads = 0 } == ["--threads must be 1…64; got 0"])
        #expect(Self.problems { $0.backendThreads = 257 } == ["--backend-threads must be 1…256; got 257"])
        #expect(Self.problems { $0.databaseReaders = 65 } == ["--db-readers must be 1…64; got 65"])
        #expect(Self.problems { $0.maxClients = 0 } == ["--max-clients must be a positive count; got 0"])
        #expect(Self.problems { $0.maxResultSize = 1023 } == ["--max-result-size must be a size of 1kb or more; got 1023"])
        #expect(Self.problems { $0.port = 70000 } == ["--listen must be HOST:PORT with a port from 0 to 65535; got port 70000"])
        #expect(Self.problems { $0.l1MaxMemory = 0 } == ["--l1-max-memory must be a positive size; got 0"])
        #expect(Self.problems { $0.protocolLimits.maxArrayCount = 0 } == ["--max-arguments must be a positive count; got 0"])
        #expect(Self.problems { $0.maxOutputBuffer = 0 } == ["--max-output-buffer must be a positive size, or none; got 0"])
    }

    @Test func durationsMustBePositive() {
        #expect(Self.problems { $0.databaseTimeout = .zero } == ["--db-timeout must be a positive duration; got 0 ms"])
        #expect(Self.problems { $0.idleTimeout = .milliseconds(-5) } == ["--idle-timeout must be a positive duration; got -5 ms"])
        #expect(Self.problems { $0.drainTimeout = .seconds(2) }.isEmpty)
    }

    @Test func everyProblemIsReportedAtOnce() {
        let problems = Self.problems {
            $0.eventLoopThreads = 0
            $0.maxClients = -1
            $0.policyPollInterval = .zero
        }
        #expect(problems.count == 3)
    }
}
