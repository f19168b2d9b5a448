import Glibc
import Testing
import RedisTestSupport
import TierCacheRedis

@Suite(.enabled(if: RedisServerProcess.enabled, "redis-server not found on PATH; set CI=true to fail instead"))
struct RedisConnectionTests {
    private func connect(_ url: RedisURL, commandTimeout: Duration = .seconds(2)) throws(RedisError) -> RedisConnection
    {
        try RedisConnection(url: url, connectTimeout: .seconds(2), commandTimeout: commandTimeout)
    }

    @Test func binarySetGetDelRoundTrip() throws {
        let server = try RedisServerProcess()
        let connection = try connect(server.url)
        let key: [UInt8] = [0x6B, 0x00, 0x0D, 0x0A, 0xFF]
        let value: [UInt8] = [0x00, 0x0D, 0x0A, 0x24, 0x2D, 0x31, 0x0D, 0x0A, 0x00, 0xFF]
        #expect(try connection.command([Array("SET"), key, value]) == .status("OK"))
        #expect(try connection.command([Array("GET"), key]) == .bulk(value))
        #expect(try connection.command([Array("SET"), Array("empty"), []]) == .status("OK"))
        #expect(try connection.command([Array("GET"), Array("empty")]) == .bulk([]))
        #expect(try connection.command([Array("DEL"), key, Array("empty")]) == .integer(2))
        #expect(try connection.command([Array("GET"), key]) == .null)
        #expect(!connection.isBroken)
    }

    @Test func integersArraysAndErrorReplies() throws {
        let server = try RedisServerProcess()
        let connection = try connect(server.url)
        #expect(try connection.command("INCRBY", "n", "-5") == .integer(-5))
        #expect(try connection.command("INCRBY", "n", "9223372036854775807") == .integer(9_223_372_036_854_775_802))
        #expect(try connection.command("MSET", "a", "1", "c", "3") == .status("OK"))
        #expect(
            try connection.command("MGET", "a", "b", "c") == .array([.bulk(Array("1")), .null, .bulk(Array("3"))]))
        #expect(try connection.command("LRANGE", "nothing", "0", "-1") == .array([]))
        #expect(try connection.command("HGETALL", "nothing") == .array([]))
        // Nested arrays.
        #expect(try connection.command("RPUSH", "list", "x") == .integer(1))
        let multi = try connection.pipeline([
            [Array("MULTI")], [Array("LRANGE"), Array("list"), Array("0"), Array("-1")], [Array("EXEC")],
        ])
        #expect(multi == [.status("OK"), .status("QUEUED"), .array([.array([.bulk(Array("x"))])])])
        // An error reply is a value, and the connection stays usable.
        guard case .error(let message) = try connection.command("INCR", "list") else {
            Issue.record("expected a WRONGTYPE error reply")
            return
        }
        #expect(message.hasPrefix("WRONGTYPE"))
        guard case .error(let unknown) = try connection.command("NOSUCHCOMMAND") else {
            Issue.record("expected an error reply")
            return
        }
        #expect(unknown.hasPrefix("ERR unknown command"))
        #expect(try connection.command("PING") == .status("PONG"))
    }

    @Test func pipelineOfAThousandSetsThenGets() throws {
        let server = try RedisServerProcess()
        let connection = try connect(server.url)
        let sets = (0..<1000).map { [Array("SET"), Array("key:\($0)"), Array("value \($0)\0\r\n")] }
        let setReplies = try connection.pipeline(sets)
        #expect(setReplies.count == 1000)
        #expect(setReplies.allSatisfy { $0 == .status("OK") })
        let gets = (0..<1000).map { [Array("GET"), Array("key:\($0)")] }
        let getReplies = try connection.pipeline(gets)
        #expect(getReplies == (0..<1000).map { .bulk(Array("value \($0)\0\r\n")) })
        #expect(try connection.pipeline([]) == [])
    }

    @Test func authSucceedsWithAndWithoutUsername() throws {
        let server = try RedisServerProcess(arguments: ["--requirepass", "s3cret"])
        let plain = try connect(try RedisURL(parsing: "redis://:s3cret@127.0.0.1:\(server.port)"))
        #expect(try plain.command("PING") == .status("PONG"))
        let named = try connect(try RedisURL(parsing: "redis://default:s3cret@127.0.0.1:\(server.port)"))
        #expect(try named.command("PING") == .status("PONG"))
        // Without a password the connection opens, and commands get NOAUTH replies.
        let anonymous = try connect(server.url)
        guard case .error(let message) = try anonymous.command("GET", "x") else {
            Issue.record("expected NOAUTH")
            return
        }
        #expect(message.hasPrefix("NOAUTH"))
    }

    @Test func wrongPasswordIsAServerError() throws {
        let server = try RedisServerProcess(arguments: ["--requirepass", "s3cret"])
        for text in ["redis://:wrong@127.0.0.1:\(server.port)", "redis://default:wrong@127.0.0.1:\(server.port)"] {
            do {
                _ = try connect(try RedisURL(parsing: text))
                Issue.record("expected WRONGPASS for \(text)")
            } catch {
                #expect(error.code == .server)
                #expect(error.message.contains("WRONGPASS"))
                #expect(error.message.contains("redis://"))
                #expect(!error.message.contains("wrong@"))
            }
        }
    }

    @Test func selectIsolatesDatabases() throws {
        let server = try RedisServerProcess()
        let db0 = try connect(server.url)
        let db3 = try connect(try RedisURL(parsing: "redis://127.0.0.1:\(server.port)/3"))
        #expect(try db3.command("SET", "k", "three") == .status("OK"))
        #expect(try db0.command("GET", "k") == .null)
        #expect(try db3.command("GET", "k") == .bulk(Array("three")))
        let again = try connect(try RedisURL(parsing: "redis://127.0.0.1:\(server.port)/3"))
        #expect(try again.command("GET", "k") == .bulk(Array("three")))
        // A database beyond `databases` (16 by default) is refused as a server error.
        do {
            _ = try connect(try RedisURL(parsing: "redis://127.0.0.1:\(server.port)/99"))
            Issue.record("expected SELECT 99 to fail")
        } catch {
            #expect(error.code == .server)
            #expect(error.message.contains("select database 99"))
        }
    }

    @Test func unixSocketWithDatabase() throws {
        let socketPath = "/tmp/tiercache-redis-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let server = try RedisServerProcess(arguments: ["--unixsocket", socketPath, "--unixsocketperm", "700"])
        defer { unlink(socketPath) }
        let unix = try connect(try RedisURL(parsing: "unix://\(socketPath)?db=2"))
        #expect(try unix.command("SET", "where", "unix") == .status("OK"))
        let tcp = try connect(try RedisURL(parsing: "redis://127.0.0.1:\(server.port)/2"))
        #expect(try tcp.command("GET", "where") == .bulk(Array("unix")))
    }

    @Test func connectToAClosedPortNamesTheAddress() throws {
        let port = try RedisServerProcess.freePort()
        do {
            _ = try connect(try RedisURL(parsing: "redis://127.0.0.1:\(port)"))
            Issue.record("expected a connect error")
        } catch {
            #expect(error.code == .connect)
            #expect(error.message == "cannot connect to redis://127.0.0.1:\(port): Connection refused")
        }
    }

    @Test func commandTimeoutBreaksTheConnection() throws {
        let server = try RedisServerProcess()
        let connection = try connect(server.url, commandTimeout: .milliseconds(200))
        let start = ContinuousClock.now
        do {
            _ = try connection.command("BLPOP", "never-filled", "2")
            Issue.record("expected a timeout")
        } catch {
            #expect(error.code == .timeout)
            #expect(error.message == "\(server.url) did not answer within 200 ms")
        }
        #expect(ContinuousClock.now - start < .milliseconds(1500))
        #expect(connection.isBroken)
        do {
            _ = try connection.command("PING")
            Issue.record("a broken connection must refuse commands")
        } catch {
            #expect(error.code == .closed)
        }
    }

    @Test func closedConnectionRefusesCommands() throws {
        let server = try RedisServerProcess()
        let connection = try connect(server.url)
        connection.close()
        connection.close()
        #expect(connection.isBroken)
        #expect(throws: RedisError.self) { try connection.command("PING") }
    }

    @Test func serverGoingAwayIsAnIOError() throws {
        let server = try RedisServerProcess()
        let connection = try connect(server.url)
        #expect(try connection.command("PING") == .status("PONG"))
        server.stop()
        do {
            _ = try connection.command("PING")
            Issue.record("expected an I/O error")
        } catch {
            #expect(error.code == .io)
            #expect(error.message.hasPrefix("connection to \(server.url)"))
        }
        #expect(connection.isBroken)
    }
}
