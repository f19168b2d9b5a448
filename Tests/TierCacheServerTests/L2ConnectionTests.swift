import TierCacheSupport
import Glibc
import NIOCore
import NIOPosix
import RedisTestSupport
import Synchronization
import Testing
import TierCacheRedis
import TierCacheStats

@testable import TierCacheServer

/// The event-loop Redis connections against a real redis-server: pipelining, replies in order, failures, the
/// handshake, reconnects.
@Suite(
    "L2 connections on the event loops",
    .enabled(if: RedisServerProcess.enabled, "redis-server not found on PATH; set CI=true to fail instead")
)
struct L2ConnectionTests {
    final class Events: Sendable {
        let connected = Atomic<Int>(0)
        let disconnected = Mutex<[String]>([])

        func record(_ event: L2Connection.Event) {
            switch event {
            case .connected: connected.add(1, ordering: .relaxed)
            case .disconnected(_, let error): disconnected.withLock { $0.append(error.message) }
            }
        }
    }

    /// A group of `loops` event loops with one connection each; shut down by `close`.
    final class Fixture: Sendable {
        let group: MultiThreadedEventLoopGroup
        let connections: L2Connections
        let events = Events()
        let roundTrip = LatencyRecorder(name: "round_trip")

        init(_ url: RedisURL, loops: Int = 2, timeout: Duration = .seconds(1)) {
            group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
            connections = L2Connections(
                group: group,
                configuration: L2Configuration(url: url, connectTimeout: .milliseconds(500), commandTimeout: timeout),
                roundTrip: roundTrip,
                clock: SystemClock(),
                onEvent: events.record
            )
            connections.start()
        }

        func close() {
            connections.shutdown()
            try? group.syncShutdownGracefully()
        }

        func send(_ commands: [[String]]) async -> Result<[RedisReply], RedisError> {
            await withCheckedContinuation { continuation in
                connections.submit(commands.map { $0.map { Array($0.utf8) } }) { continuation.resume(returning: $0) }
            }
        }

        func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
            try await TierCacheServerTests.waitUntil(what, timeout: .seconds(8)) { condition() }
        }
    }

    @Test("thousands of concurrent requests from many tasks each get their own replies")
    func concurrentRequests() async throws {
        let redis = try RedisServerProcess()
        let fixture = Fixture(redis.url)
        defer { fixture.close() }
        try await fixture.waitUntil("both up") { fixture.connections.connectedCount == 2 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<50 {
                group.addTask {
                    for round in 0..<40 {
                        let key = "k:\(task):\(round)"
                        let replies = try await fixture.send([["SET", key, "v\(round)"], ["GET", key], ["INCR", "n"]])
                            .get()
                        #expect(replies.count == 3)
                        #expect(replies[0] == .status("OK"))
                        #expect(replies[1] == .bulk(Array("v\(round)".utf8)))
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await fixture.send([["GET", "n"]]).get() == [.bulk(Array("2000".utf8))])
    }

    @Test("requests made on an event loop go out together and complete on that loop, in order")
    func pipelinedOnTheLoop() async throws {
        let redis = try RedisServerProcess()
        let fixture = Fixture(redis.url, loops: 1)
        defer { fixture.close() }
        try await fixture.waitUntil("up") { fixture.connections.isConnected }
        let loop = fixture.group.next()
        let replies = try await loop.submit { () -> EventLoopFuture<[Int]> in
            let promise = loop.makePromise(of: [Int].self)
            let order = NIOLoopBoundBox([Int](), eventLoop: loop)
            fixture.connections.withConnection { connection in
                for index in 0..<500 {
                    connection.send([Array("INCR".utf8), Array("c".utf8)]) { result in
                        loop.assertInEventLoop()
                        if case .success(.integer(let value)) = result { order.value.append(Int(value)) }
                        if index == 499 { promise.succeed(order.value) }
                    }
                }
            }
            return promise.futureResult
        }.get().get()
        #expect(replies == Array(1...500))
        // Every reply's round trip was recorded: the 500 INCRs and the connection's PING.
        #expect(fixture.roundTrip.summary().count == 501)
    }

    @Test("error replies are answers; binary arguments survive")
    func errorRepliesAndBinary() async throws {
        let redis = try RedisServerProcess()
        let fixture = Fixture(redis.url)
        defer { fixture.close() }
        try await fixture.waitUntil("up") { fixture.connections.connectedCount == 2 }
        let binary: [UInt8] = [0, 13, 10, 255, 36]
        let replies = try await withCheckedContinuation { continuation in
            fixture.connections.submit([
                [Array("SET".utf8), Array("b".utf8), binary], [Array("GET".utf8), Array("b".utf8)],
                [Array("NOSUCHCOMMAND".utf8)],
            ]) { continuation.resume(returning: $0) }
        }.get()
        #expect(replies[1] == .bulk(binary))
        guard case .error(let message) = replies[2] else {
            Issue.record("expected an error reply, got \(replies[2])")
            return
        }
        #expect(message.contains("unknown command"))
    }

    @Test("replies larger than a read come out whole, in order, between small ones")
    func largeReplies() async throws {
        let redis = try RedisServerProcess()
        let fixture = Fixture(redis.url, loops: 1)
        defer { fixture.close() }
        try await fixture.waitUntil("up") { fixture.connections.isConnected }
        var generator = SystemRandomNumberGenerator()
        let big = (0..<3_000_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let medium = Array(big[..<70_000].reversed())
        let set = await withCheckedContinuation { continuation in
            fixture.connections.submit([
                [Array("SET".utf8), Array("big".utf8), big], [Array("SET".utf8), Array("medium".utf8), medium],
            ]) { continuation.resume(returning: $0) }
        }
        #expect(try set.get() == [.status("OK"), .status("OK")])
        for _ in 0..<3 {
            let replies = try await fixture.send([
                ["GET", "big"], ["PING"], ["GET", "medium"], ["MGET", "medium", "none", "big"], ["GET", "none"],
                ["GET", "big"],
            ]).get()
            #expect(replies.count == 6)
            #expect(replies[0] == .bulk(big))
            #expect(replies[1] == .status("PONG"))
            #expect(replies[2] == .bulk(medium))
            #expect(replies[3] == .array([.bulk(medium), .null, .bulk(big)]))
            #expect(replies[4] == .null)
            #expect(replies[5] == .bulk(big))
        }
    }

    @Test("bytes from the server that are not RESP fail what waits with a protocol error; it reconnects")
    func garbageFromServer() async throws {
        // Answers the handshake's PING, then sends garbage for whatever comes next.
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(GarbageServer())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        let port = try #require(server.localAddress?.port)
        let fixture = Fixture(try RedisURL(parsing: "redis://127.0.0.1:\(port)"), loops: 1)
        defer { fixture.close() }
        try await fixture.waitUntil("up") { fixture.connections.isConnected }
        guard case .failure(let error) = await fixture.send([["GET", "k"]]) else {
            Issue.record("garbage was read as a reply")
            return
        }
        #expect(error.code == .protocolError)
        #expect(error.message.contains("protocol error"), "\(error.message)")
        try await fixture.waitUntil("reconnected") { fixture.events.connected.load(ordering: .relaxed) >= 2 }
    }

    @Test("with Redis down requests fail at once; when it comes, and after kill -9 and restart, they reconnect")
    func downUpKillRestart() async throws {
        let port = try RedisServerProcess.freePort()
        let fixture = Fixture(try RedisURL(parsing: "redis://127.0.0.1:\(port)"))
        defer { fixture.close() }
        guard case .failure(let error) = await fixture.send([["PING"]]) else {
            Issue.record("PING succeeded with no server")
            return
        }
        #expect(error.code == .connect)

        let redis = try RedisServerProcess(port: port)
        try await fixture.waitUntil("both up") { fixture.connections.connectedCount == 2 }
        #expect(try await fixture.send([["PING"]]).get() == [.status("PONG")])

        redis.kill9()
        try await fixture.waitUntil("both down") { fixture.connections.connectedCount == 0 }
        guard case .failure = await fixture.send([["PING"]]) else {
            Issue.record("PING succeeded with the server killed")
            return
        }
        try redis.start()
        try await fixture.waitUntil("both up again") { fixture.connections.connectedCount == 2 }
        #expect(try await fixture.send([["PING"]]).get() == [.status("PONG")])
        #expect(fixture.events.connected.load(ordering: .relaxed) == 4)
    }

    @Test("a request that outlives the command timeout fails, and the connection is replaced")
    func timeout() async throws {
        let redis = try RedisServerProcess()
        let fixture = Fixture(redis.url, loops: 1, timeout: .milliseconds(300))
        defer { fixture.close() }
        try await fixture.waitUntil("up") { fixture.connections.isConnected }
        guard case .failure(let error) = await fixture.send([["BLPOP", "never", "3"]]) else {
            Issue.record("BLPOP outlived the timeout without failing")
            return
        }
        #expect(error.code == .timeout)
        try await fixture.waitUntil("up again") { fixture.connections.isConnected }
        #expect(try await fixture.send([["PING"]]).get() == [.status("PONG")])
    }

    @Test("AUTH and SELECT come from the URL; a wrong password keeps the connection down with the reason")
    func handshake() async throws {
        let redis = try RedisServerProcess(arguments: ["--requirepass", "s3cret"])
        let good = Fixture(try RedisURL(parsing: "redis://:s3cret@127.0.0.1:\(redis.port)/3"), loops: 1)
        defer { good.close() }
        try await good.waitUntil("up") { good.connections.isConnected }
        #expect(try await good.send([["SET", "x", "in-db-3"]]).get() == [.status("OK")])
        let direct = try RedisConnection(
            url: try RedisURL(parsing: "redis://:s3cret@127.0.0.1:\(redis.port)/3"), connectTimeout: .seconds(1),
            commandTimeout: .seconds(1))
        #expect(try direct.command("GET", "x") == .bulk(Array("in-db-3".utf8)))

        let bad = Fixture(try RedisURL(parsing: "redis://:wrong@127.0.0.1:\(redis.port)"), loops: 1)
        defer { bad.close() }
        try await bad.waitUntil("refusal reported") { !bad.events.disconnected.withLock { $0.isEmpty } }
        #expect(!bad.connections.isConnected)
        let reason = bad.events.disconnected.withLock { $0.first } ?? ""
        #expect(reason.contains("authentication"), "\(reason)")
        #expect(!reason.contains("wrong"), "the password never appears in messages")
    }

    @Test("a server that accepts but never answers (SIGSTOP) does not count as up")
    func hungServer() async throws {
        let redis = try RedisServerProcess()
        redis.send(signal: SIGSTOP)
        defer { redis.send(signal: SIGCONT) }
        let fixture = Fixture(redis.url, loops: 1, timeout: .milliseconds(300))
        defer { fixture.close() }
        try await Task.sleep(for: .milliseconds(800))
        #expect(!fixture.connections.isConnected)
        redis.send(signal: SIGCONT)
        try await fixture.waitUntil("up once it answers") { fixture.connections.isConnected }
    }

    @Test("shutdown fails what waits and refuses what comes after")
    func shutdown() async throws {
        let redis = try RedisServerProcess()
        let fixture = Fixture(redis.url, loops: 1)
        try await fixture.waitUntil("up") { fixture.connections.isConnected }
        // Blocks 5 s: far longer than the 100 ms before the shutdown, even on a loaded machine.
        let pending = Task { await fixture.send([["BLPOP", "never", "5"]]) }
        try await Task.sleep(for: .milliseconds(100))
        fixture.connections.shutdown()
        guard case .failure = await pending.value else {
            Issue.record("a waiting request survived shutdown")
            return
        }
        guard case .failure = await fixture.send([["PING"]]) else {
            Issue.record("a request after shutdown succeeded")
            return
        }
        try? await fixture.group.shutdownGracefully()
    }
}

/// A server that answers the first command (the handshake's PING) and then sends bytes that are not RESP.
private final class GarbageServer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = answered ? "?what is this\r\n" : "+PONG\r\n"
        answered = true
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply)), promise: nil)
    }
}
