import Dispatch
import Synchronization
import TierCacheSupport

/// Listens on one pub/sub channel over a connection of its own, on a thread of its own, and says at once when it
/// can no longer hear: a subscriber that misses messages must know it missed them.
///
/// Liveness: when nothing arrived for `heartbeat`, it sends PING (allowed while subscribed); when that is not
/// answered within another `heartbeat`, the channel counts as lost. A closed socket is noticed immediately. After a
/// loss it reconnects and resubscribes with a doubling delay.
public final class RedisSubscriber: Sendable {
    public struct Configuration: Sendable {
        public var url: RedisURL
        public var channel: [UInt8]
        public var connectTimeout: Duration
        public var heartbeat: Duration
        public var reconnectDelay: Duration
        public var maxReconnectDelay: Duration

        public init(
            url: RedisURL,
            channel: [UInt8],
            connectTimeout: Duration = .seconds(1),
            heartbeat: Duration = .milliseconds(250),
            reconnectDelay: Duration = .milliseconds(100),
            maxReconnectDelay: Duration = .seconds(2)
        ) {
            self.url = url
            self.channel = channel
            self.connectTimeout = connectTimeout
            self.heartbeat = heartbeat
            self.reconnectDelay = reconnectDelay
            self.maxReconnectDelay = maxReconnectDelay
        }
    }

    /// What the subscriber's thread reports, in order.
    public enum Event: Sendable {
        /// Subscribed: from now on every message published to the channel is delivered.
        case subscribed
        /// A message's payload.
        case message([UInt8])
        /// The channel is lost (or could not be opened): messages published from now on are missed until the next
        /// `.subscribed`. Sent once per loss, not per failed attempt.
        case lost(RedisError)
    }

    public let configuration: Configuration
    private let onEvent: @Sendable (Event) -> Void
    private let closed = Atomic<Bool>(false)
    private let wakeup = DispatchSemaphore(value: 0)
    private let thread = Mutex<RedisThread?>(nil)

    public init(configuration: Configuration, onEvent: @escaping @Sendable (Event) -> Void) {
        self.configuration = configuration
        self.onEvent = onEvent
    }

    /// Starts the thread; it connects in the background.
    public func start() {
        let started = RedisThread.spawn { [self] in run() }
        thread.withLock { $0 = started }
    }

    /// Stops the thread (within one heartbeat) and waits for it.
    public func shutdown() {
        closed.store(true, ordering: .relaxed)
        wakeup.signal()
        thread.withLock { $0 }?.join()
    }

    private var isClosed: Bool { closed.load(ordering: .relaxed) }

    private func run() {
        var delay = configuration.reconnectDelay
        var reportedLoss = false
        while !isClosed {
            do {
                let connection = try subscribe()
                reportedLoss = false
                delay = configuration.reconnectDelay
                onEvent(.subscribed)
                try listen(on: connection)
                connection.close()
                return  // closed
            } catch {
                if isClosed { return }
                if !reportedLoss {
                    reportedLoss = true
                    onEvent(.lost(error))
                }
                _ = wakeup.wait(timeout: .now() + .nanoseconds(delay.wholeNanoseconds))
                delay = min(delay * 2, configuration.maxReconnectDelay)
            }
        }
    }

    private func subscribe() throws(RedisError) -> RedisConnection {
        let connection = try RedisConnection(
            url: configuration.url,
            connectTimeout: configuration.connectTimeout,
            commandTimeout: configuration.heartbeat * 2
        )
        try connection.send([Array("SUBSCRIBE".utf8), configuration.channel])
        // The confirmation is the first reply: ["subscribe", channel, count].
        let deadline = ContinuousClock.now + configuration.connectTimeout
        while ContinuousClock.now < deadline {
            guard let reply = try connection.nextReply(within: configuration.heartbeat) else { continue }
            if case .array(let parts) = reply, parts.first == .bulk(Array("subscribe".utf8)) { return connection }
            if case .error(let message) = reply {
                connection.close()
                throw RedisError(.server, "SUBSCRIBE refused by \(configuration.url): \(message)")
            }
        }
        connection.close()
        throw RedisError(.timeout, "\(configuration.url) did not confirm SUBSCRIBE within \(configuration.connectTimeout.shortDescription)")
    }

    /// Delivers messages until the connection fails (throws) or the subscriber is closed (returns).
    private func listen(on connection: RedisConnection) throws(RedisError) {
        var pingSentAt: ContinuousClock.Instant?
        var lastHeard = ContinuousClock.now
        while !isClosed {
            if let reply = try connection.nextReply(within: configuration.heartbeat) {
                lastHeard = .now
                pingSentAt = nil
                if case .array(let parts) = reply, parts.count == 3, parts[0] == .bulk(Array("message".utf8)),
                    case .bulk(let payload) = parts[2]
                {
                    onEvent(.message(payload))
                }
                continue
            }
            let now = ContinuousClock.now
            if let sent = pingSentAt {
                if now - sent >= configuration.heartbeat {
                    connection.close()
                    throw RedisError(.timeout, "\(configuration.url) did not answer PING on the subscription within \(configuration.heartbeat.shortDescription)")
                }
            } else if now - lastHeard >= configuration.heartbeat {
                try connection.send([Array("PING".utf8)])
                pingSentAt = now
            }
        }
    }
}
