import Glibc
import RedisTestSupport
import Synchronization
import Testing
import TierCacheRedis

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

    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out") }
            try await Task.sleep(for: .milliseconds(5))
        }
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
        try await Self.waitUntil { log.all == ["subscribed"] }
        for index in 0..<20 { try Self.publish(redis, "m\(index)") }
        try await Self.waitUntil { log.all.count == 21 }
        #expect(log.all == ["subscribed"] + (0..<20).map { "message m\($0)" })

        redis.kill9()
        try await Self.waitUntil { log.all.last == "lost" }
        // Several failed reconnects later, still one loss.
        try await Task.sleep(for: .milliseconds(300))
        #expect(log.all.filter { $0 == "lost" }.count == 1)
        try redis.start()
        try await Self.waitUntil { log.all.last == "subscribed" }
        try Self.publish(redis, "after")
        try await Self.waitUntil { log.all.last == "message after" }
    }

    @Test("a server that stops answering (SIGSTOP) is a loss within two heartbeats")
    func heartbeat() async throws {
        let redis = try RedisServerProcess()
        let log = Log()
        let subscriber = Self.subscriber(redis.url, log)
        defer { subscriber.shutdown() }
        try await Self.waitUntil { log.all == ["subscribed"] }
        // Quiet but alive: PINGs are answered, no loss.
        try await Task.sleep(for: .milliseconds(400))
        #expect(log.all == ["subscribed"])
        redis.send(signal: SIGSTOP)
        defer { redis.send(signal: SIGCONT) }
        try await Self.waitUntil { log.all.last == "lost" }
        redis.send(signal: SIGCONT)
        try await Self.waitUntil { log.all.last == "subscribed" }
    }
}
