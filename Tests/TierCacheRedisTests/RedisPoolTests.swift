import Foundation
import Synchronization
import Testing
import RedisTestSupport
import TierCacheRedis

@Suite(.enabled(if: RedisServerProcess.enabled, "redis-server not found on PATH; set CI=true to fail instead"))
struct RedisPoolTests {
    private func pool(_ url: RedisURL, size: Int = 2, commandTimeout: Duration = .seconds(2)) -> RedisPool {
        RedisPool(
            url: url, size: size, connectTimeout: .seconds(1), commandTimeout: commandTimeout,
            acquireTimeout: .seconds(5))
    }

    /// Runs `body(index)` on `count` threads of their own (the pool blocks; keep it off the cooperative pool).
    private func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            Thread.detachNewThread {
                body(index)
                group.leave()
            }
        }
        group.wait()
    }

    @Test func noConnectionAtInitSoADownRedisDoesNotFailStartUp() throws {
        let port = try RedisServerProcess.freePort()
        let pool = pool(try RedisURL(parsing: "redis://127.0.0.1:\(port)"))
        do {
            _ = try pool.command("PING")
            Issue.record("expected a connect error")
        } catch {
            #expect(error.code == .connect)
            #expect(error.message.contains("127.0.0.1:\(port)"))
        }
    }

    @Test func eightThreadsShareTwoConnections() throws {
        let server = try RedisServerProcess()
        let pool = pool(server.url, size: 2)
        let failures = Mutex<[String]>([])
        onThreads(8) { thread in
            for i in 0..<200 {
                let key = Array("t\(thread):\(i)".utf8)
                let value = Array("v\(thread)-\(i)\0".utf8)
                do {
                    let set = try pool.command([Array("SET".utf8), key, value])
                    let get = try pool.command([Array("GET".utf8), key])
                    if set != .status("OK") || get != .bulk(value) {
                        failures.withLock { $0.append("thread \(thread) #\(i): \(set) \(get)") }
                    }
                } catch {
                    failures.withLock { $0.append("thread \(thread) #\(i): \(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 } == [])
        // Only two connections were ever opened (plus the one the server helper used to wait for PING).
        guard case .bulk(let info) = try pool.command("INFO", "stats") else {
            Issue.record("INFO did not answer a bulk string")
            return
        }
        #expect(String(decoding: info, as: UTF8.self).contains("total_connections_received:3\r\n"))
        #expect(try pool.command("DBSIZE") == .integer(1600))
    }

    @Test func acquireTimesOutWhenEveryConnectionIsBusy() throws {
        let server = try RedisServerProcess()
        let pool = RedisPool(
            url: server.url, size: 1, connectTimeout: .seconds(1), commandTimeout: .seconds(2),
            acquireTimeout: .milliseconds(100))
        let outcome = Mutex<RedisError?>(nil)
        try pool.withConnection { connection throws(RedisError) in
            _ = try connection.command("PING")
            onThreads(1) { _ in
                do throws(RedisError) { _ = try pool.command("PING") } catch { outcome.withLock { $0 = error } }
            }
        }
        let error = try #require(outcome.withLock { $0 })
        #expect(error.code == .timeout)
        #expect(error.message == "no Redis connection to \(server.url) free within 100 ms")
        #expect(try pool.command("PING") == .status("PONG"))
    }

    @Test func reconnectsAfterACommandTimeout() throws {
        let server = try RedisServerProcess()
        let pool = pool(server.url, size: 1, commandTimeout: .milliseconds(200))
        #expect(try pool.command("SET", "k", "v") == .status("OK"))
        do {
            _ = try pool.command("BLPOP", "never-filled", "1")
            Issue.record("expected a timeout")
        } catch {
            #expect(error.code == .timeout)
        }
        #expect(try pool.command("GET", "k") == .bulk(Array("v".utf8)))
    }

    @Test func reconnectsAfterRedisRestarts() throws {
        let server = try RedisServerProcess()
        let pool = pool(server.url, size: 1)
        #expect(try pool.command("SET", "before", "1") == .status("OK"))
        server.stop()
        do {
            _ = try pool.command("GET", "before")
            Issue.record("expected the first call after the restart to fail")
        } catch {
            #expect(error.code == .io || error.code == .connect)
        }
        // Still down: connecting fails.
        do {
            _ = try pool.command("PING")
            Issue.record("expected a connect error while Redis is down")
        } catch {
            #expect(error.code == .connect)
        }
        try server.start()
        #expect(try pool.command("PING") == .status("PONG"))
        // `--save ''`: the restarted server is empty.
        #expect(try pool.command("GET", "before") == .null)
        let pipelined = try pool.pipeline([
            [Array("SET".utf8), Array("after".utf8), Array("2".utf8)], [Array("GET".utf8), Array("after".utf8)],
        ])
        #expect(pipelined == [.status("OK"), .bulk(Array("2".utf8))])
    }

    @Test func closedPoolRefusesCalls() throws {
        let server = try RedisServerProcess()
        let pool = pool(server.url)
        #expect(try pool.command("PING") == .status("PONG"))
        pool.close()
        do {
            _ = try pool.command("PING")
            Issue.record("expected .closed")
        } catch {
            #expect(error.code == .closed)
        }
    }
}
