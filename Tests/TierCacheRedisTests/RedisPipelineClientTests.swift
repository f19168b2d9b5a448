import Dispatch
import Glibc
import RedisTestSupport
import Synchronization
import Testing
import TierCacheRedis

@Suite(
    "Pipelined Redis client",
    .enabled(if: RedisServerProcess.enabled, "redis-server not found on PATH; set CI=true to fail instead")
)
struct RedisPipelineClientTests {
    /// Collects the client's connection events.
    final class Events: Sendable {
        let connected = Atomic<Int>(0)
        let disconnected = Atomic<Int>(0)

        func record(_ event: RedisPipelineClient.Event) {
            switch event {
            case .connected: connected.add(1, ordering: .relaxed)
            case .disconnected: disconnected.add(1, ordering: .relaxed)
            }
        }
    }

    static func client(_ url: RedisURL, connections: Int = 2, events: Events = Events()) -> RedisPipelineClient {
        let client = RedisPipelineClient(
            configuration: .init(
                url: url, connections: connections, connectTimeout: .milliseconds(500),
                commandTimeout: .seconds(1), reconnectDelay: .milliseconds(20), maxReconnectDelay: .milliseconds(100)
            ),
            onEvent: events.record
        )
        client.start()
        return client
    }

    /// Submits and waits; the completion runs on the client's thread.
    static func send(_ client: RedisPipelineClient, _ commands: [[String]]) async -> Result<[RedisReply], RedisError> {
        await withCheckedContinuation { continuation in
            client.submit(commands.map { $0.map { Array($0.utf8) } }) { continuation.resume(returning: $0) }
        }
    }

    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test("thousands of concurrent requests from many tasks each get their own replies, in order")
    func concurrentRequests() async throws {
        let redis = try RedisServerProcess()
        let client = Self.client(redis.url)
        defer { client.shutdown() }
        try await Self.waitUntil { client.connectedCount == 2 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<50 {
                group.addTask {
                    for round in 0..<40 {
                        let key = "k:\(task):\(round)"
                        let result = await Self.send(client, [["SET", key, "v\(round)"], ["GET", key], ["INCR", "n"]])
                        let replies = try result.get()
                        #expect(replies.count == 3)
                        #expect(replies[0] == .status("OK"))
                        #expect(replies[1] == .bulk(Array("v\(round)".utf8)))
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await Self.send(client, [["GET", "n"]]).get() == [.bulk(Array("2000".utf8))])
    }

    @Test("an error reply is an answer, not a failure; binary arguments survive")
    func errorRepliesAndBinary() async throws {
        let redis = try RedisServerProcess()
        let client = Self.client(redis.url, connections: 1)
        defer { client.shutdown() }
        try await Self.waitUntil { client.isConnected }
        let binary: [UInt8] = [0, 13, 10, 255, 36]
        let replies = try await withCheckedContinuation { continuation in
            client.submit([
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

    @Test("with Redis down, requests fail at once; after Redis returns, the client reconnects by itself")
    func downThenUp() async throws {
        let port = try RedisServerProcess.freePort()
        let events = Events()
        let client = Self.client(try RedisURL(parsing: "redis://127.0.0.1:\(port)"), events: events)
        defer { client.shutdown() }
        let failure = await Self.send(client, [["PING"]])
        guard case .failure(let error) = failure else {
            Issue.record("PING succeeded with no server")
            return
        }
        #expect(error.code == .connect)

        let redis = try RedisServerProcess(port: port)
        try await Self.waitUntil { client.connectedCount == 2 }
        #expect(try await Self.send(client, [["PING"]]).get() == [.status("PONG")])

        redis.kill9()
        // The next request on each connection fails; the connections then retry in the background.
        for _ in 0..<4 { _ = await Self.send(client, [["PING"]]) }
        try await Self.waitUntil { !client.isConnected }
        #expect(events.disconnected.load(ordering: .relaxed) >= 2)
        try redis.start()
        try await Self.waitUntil { client.connectedCount == 2 }
        #expect(try await Self.send(client, [["PING"]]).get() == [.status("PONG")])
    }

    @Test("a timeout fails the batch and the connection is replaced")
    func timeout() async throws {
        let redis = try RedisServerProcess()
        let client = Self.client(redis.url, connections: 1)
        defer { client.shutdown() }
        try await Self.waitUntil { client.isConnected }
        let result = await Self.send(client, [["BLPOP", "never", "3"]])
        guard case .failure(let error) = result else {
            Issue.record("BLPOP outlived the 1 s timeout without failing")
            return
        }
        #expect(error.code == .timeout)
        try await Self.waitUntil { client.isConnected }
        #expect(try await Self.send(client, [["PING"]]).get() == [.status("PONG")])
    }

    @Test("shutdown fails what is queued and stops the threads")
    func shutdown() async throws {
        let redis = try RedisServerProcess()
        let client = Self.client(redis.url, connections: 1)
        try await Self.waitUntil { client.isConnected }
        client.shutdown()
        let result = await Self.send(client, [["PING"]])
        guard case .failure = result else {
            Issue.record("a request after shutdown succeeded")
            return
        }
    }
}

@Suite(
    "Redis subscriber",
    .enabled(if: RedisServerProcess.enabled, "redis-server not found on PATH; set CI=true to fail instead")
)
struct RedisSubscriberTests {
    final class Log: Sendable {
        let events = Mutex<[String]>([])
        func record(_ event: RedisSubscriber.Event) {
            let text: String
            switch event {
            case .subscribed: text = "subscribed"
            case .message(let payload): text = "message " + String(decoding: payload, as: UTF8.self)
            case .lost: text = "lost"
            }
            events.withLock { $0.append(text) }
        }
        var all: [String] { events.withLock { $0 } }
    }

    static func subscriber(_ url: RedisURL, _ log: Log) -> RedisSubscriber {
        let subscriber = RedisSubscriber(
            configuration: .init(
                url: url, channel: Array("chan".utf8), connectTimeout: .milliseconds(500),
                heartbeat: .milliseconds(100), reconnectDelay: .milliseconds(20), maxReconnectDelay: .milliseconds(100)
            ),
            onEvent: log.record
        )
        subscriber.start()
        return subscriber
    }

    static func publish(_ redis: RedisServerProcess, _ text: String) throws {
        let connection = try RedisConnection(url: redis.url, connectTimeout: .seconds(1), commandTimeout: .seconds(1))
        _ = try connection.command("PUBLISH", "chan", text)
    }

    @Test("messages arrive in order; a killed server is a loss, reported once; it resubscribes after restart")
    func messagesLossAndResubscribe() async throws {
        let redis = try RedisServerProcess()
        let log = Log()
        let subscriber = Self.subscriber(redis.url, log)
        defer { subscriber.shutdown() }
        try await RedisPipelineClientTests.waitUntil { log.all == ["subscribed"] }
        for index in 0..<20 { try Self.publish(redis, "m\(index)") }
        try await RedisPipelineClientTests.waitUntil { log.all.count == 21 }
        #expect(log.all == ["subscribed"] + (0..<20).map { "message m\($0)" })

        redis.kill9()
        try await RedisPipelineClientTests.waitUntil { log.all.last == "lost" }
        // Several failed reconnects later, still one loss.
        try await Task.sleep(for: .milliseconds(300))
        #expect(log.all.filter { $0 == "lost" }.count == 1)
        try redis.start()
        try await RedisPipelineClientTests.waitUntil { log.all.last == "subscribed" }
        try Self.publish(redis, "after")
        try await RedisPipelineClientTests.waitUntil { log.all.last == "message after" }
    }

    @Test("a server that stops answering (SIGSTOP) is a loss within two heartbeats")
    func heartbeat() async throws {
        let redis = try RedisServerProcess()
        let log = Log()
        let subscriber = Self.subscriber(redis.url, log)
        defer { subscriber.shutdown() }
        try await RedisPipelineClientTests.waitUntil { log.all == ["subscribed"] }
        // Quiet but alive: PINGs are answered, no loss.
        try await Task.sleep(for: .milliseconds(400))
        #expect(log.all == ["subscribed"])
        redis.send(signal: SIGSTOP)
        defer { redis.send(signal: SIGCONT) }
        try await RedisPipelineClientTests.waitUntil { log.all.last == "lost" }
        redis.send(signal: SIGCONT)
        try await RedisPipelineClientTests.waitUntil { log.all.last == "subscribed" }
    }
}
