import Logging
import NIOCore
import Synchronization
import TierCacheCache
import TierCacheProtocol
import TierCacheRedis
import TierCacheStats
import TierCacheSupport

/// The shared Redis tier: entries every sidecar reads and fills, the invalidations every sidecar publishes after a
/// write and hears from the others, and the bookkeeping that keeps both consistent (`L2Consistency`).
///
/// Data commands go out on each event loop's own connection (`L2Connections`) and complete on that loop; the
/// channel has its own thread (`RedisSubscriber`). No event loop ever waits for Redis.
final class L2Tier: Sendable {
    /// What the proxy must do on this sidecar's L1 when the channel says so.
    enum Event: Sendable {
        /// Another sidecar's write, already numbered.
        case remoteInvalidation(InvalidationMessage)
        /// Messages may have been missed: drop what L1 holds.
        case channelLost
        /// Subscribed, or a connection came up: time to sync or replay (`maintain()`) without waiting for the next
        /// periodic pass.
        case maintenanceDue
    }

    /// An L2 read's outcome for one key.
    enum Lookup: Sendable {
        case hit(L2Entry)
        case miss
        /// Bytes that are not a readable entry: a miss, counted and logged.
        case undecodable(String)
        case failed(RedisError)
    }

    let configuration: L2Configuration
    let namespace: L2Namespace
    let consistency: L2Consistency
    let stats = L2Stats()
    /// Over every Redis command; reads consult it through `readTicket()`.
    let breaker: Breaker
    /// Tells this process' own messages apart from the others'.
    let origin = UInt64.random(in: 1...UInt64.max)
    private let client: L2Connections
    private let subscriber: RedisSubscriber
    private let logger: Logger
    private let invalidateScript = Array(L2Scripts.invalidate.utf8)
    private let fillKeyedScript = Array(L2Scripts.fillKeyed.utf8)
    private static let getCommand = Array("GET".utf8)
    /// `GET <prefix>k:<key>`: every entry's Redis key starts with `<prefix>k:`.
    private let entryGET: RESPCommandTemplate
    private static let mgetCommand = Array("MGET".utf8)

    private let relay = EventRelay()
    let clock: any ServerClock

    /// - Parameters:
    ///   - group: the server's event loops; each gets its own Redis connection.
    init(configuration: L2Configuration, group: any EventLoopGroup, logger: Logger, clock: any ServerClock) {
        self.configuration = configuration
        self.clock = clock
        self.consistency = L2Consistency(clock: clock)
        self.namespace = L2Namespace(prefix: configuration.prefix)
        self.entryGET = RESPCommandTemplate(name: Self.getCommand, argumentPrefix: namespace.prefix + Array("k:".utf8))
        self.breaker = Breaker(name: "redis", configuration: configuration.breaker, logger: logger, clock: clock)
        self.logger = logger
        let consistency = self.consistency
        let stats = self.stats
        let url = configuration.url
        let relay = self.relay
        client = L2Connections(
            group: group,
            configuration: configuration,
            roundTrip: stats.roundTrip,
            breaker: breaker,
            clock: clock,
            onEvent: { event in
                switch event {
                case .connected(let index):
                    logger.info("Redis connection up", metadata: ["redis": "\(url)", "connection": "\(index)"])
                    relay.send(.maintenanceDue)
                case .disconnected(let index, let error):
                    logger.warning(
                        "Redis connection down; retrying in the background",
                        metadata: ["redis": "\(url)", "connection": "\(index)", "error": "\(error.message)"]
                    )
                }
            }
        )
        let origin = self.origin
        subscriber = RedisSubscriber(
            configuration: .init(
                url: configuration.url,
                channel: namespace.channel,
                connectTimeout: configuration.connectTimeout,
                heartbeat: configuration.heartbeat
            ),
            onEvent: { event in
                switch event {
                case .subscribed:
                    _ = consistency.subscribed()
                    logger.info("invalidation channel subscribed; syncing write numbers", metadata: ["redis": "\(url)"])
                    relay.send(.maintenanceDue)
                case .message(let payload):
                    let message: InvalidationMessage
                    do {
                        message = try InvalidationMessage.decode(payload)
                    } catch {
                        logger.warning("unreadable invalidation message ignored", metadata: ["error": "\(error)"])
                        return
                    }
                    consistency.record(message)
                    guard message.origin != origin else { return }
                    relay.send(.remoteInvalidation(message))
                    // Counted once applied, so whoever reads the count sees its effect.
                    let now = clock.wallClockMicroseconds()
                    stats.invalidationLag.record(
                        nanoseconds: now > message.sentAtMicroseconds ? (now - message.sentAtMicroseconds) * 1000 : 0
                    )
                    stats.invalidationsReceived.increment()
                case .lost(let error):
                    // Marked down first, so a fill racing with the flush already gets the degraded lifetime; then
                    // L1 is flushed; then the loss is counted (tests wait on the count).
                    let changed = consistency.lost(reason: error.message)
                    relay.send(.channelLost)
                    if changed {
                        stats.channelLosses.increment()
                        logger.warning(
                            "invalidation channel lost: L1 flushed, L2 bypassed, new L1 entries live at most \(configuration.degradedL1Lifetime.shortDescription) until it is back",
                            metadata: ["redis": "\(url)", "error": "\(error.message)"]
                        )
                    }
                }
            }
        )
    }

    /// Starts the I/O threads; `onEvent` runs on the subscriber's thread.
    func start(onEvent: @escaping @Sendable (Event) -> Void) {
        relay.handler.withLock { $0 = onEvent }
        client.start()
        subscriber.start()
    }

    func shutdown() {
        subscriber.shutdown()
        client.shutdown()
        relay.handler.withLock { $0 = nil }  // the handler holds the proxy, which holds this tier
    }

    var connectedConnections: Int { client.connectedCount }
    /// One per event loop.
    var connectionCount: Int { client.count }

    // MARK: Maintenance

    /// Called periodically off the request path: finishes a sync after (re)subscribing, and replays writes whose
    /// invalidation did not reach Redis.
    func maintain() {
        if let epoch = consistency.beginSync() { sync(epoch: epoch) }
        if client.isConnected, let pending = consistency.beginReplay() { replay(pending) }
    }

    private func sync(epoch: UInt64) {
        let commands = [
            [Array("GET".utf8), namespace.sequenceKey],
            [Array("HGETALL".utf8), namespace.writesKey],
        ]
        client.submit(commands) { [consistency, logger] result in
            guard case .success(let replies) = result, replies.count == 2, case .array(let pairs) = replies[1] else {
                consistency.syncFailed(epoch: epoch)
                return
            }
            let sequence: UInt64
            switch replies[0] {
            case .null: sequence = 0
            case .bulk(let bytes): sequence = UInt64(String(decoding: bytes, as: UTF8.self)) ?? 0
            default:
                consistency.syncFailed(epoch: epoch)
                return
            }
            var writes: [String: UInt64] = [:]
            var index = 0
            while index + 1 < pairs.count {
                if case .bulk(let field) = pairs[index], case .bulk(let value) = pairs[index + 1],
                    let number = UInt64(String(decoding: value, as: UTF8.self))
                {
                    writes[String(decoding: field, as: UTF8.self)] = number
                }
                index += 2
            }
            switch consistency.synced(epoch: epoch, sequence: sequence, writes: writes) {
            case .synced:
                logger.info("L2 tier up: invalidation channel in sync", metadata: ["write_number": "\(sequence)"])
            case .syncedAfterReset(let previous, let now):
                logger.warning(
                    "Redis lost its data (the write counter was \(previous), now \(now)); the next write restarts the numbering from Redis' clock",
                    metadata: ["write_number": "\(now)"]
                )
            case .superseded:
                break
            }
        }
    }

    private func replay(_ pending: InvalidationMessage) {
        client.submit([invalidateCommand(pending)]) { [consistency, stats, logger] result in
            if case .success(let replies) = result, case .integer(let number)? = replies.first {
                var numbered = pending
                numbered.sequence = UInt64(number)
                consistency.record(numbered)
                consistency.replayFinished(failed: nil)
                stats.invalidationsReplayed.increment()
                logger.notice("deferred invalidations replayed to Redis", metadata: ["write_number": "\(number)"])
            } else {
                consistency.replayFinished(failed: pending)
            }
        }
    }

    // MARK: Reads

    /// Looks one key up (an entry key or a query key).
    func get(_ key: [UInt8], on eventLoop: any EventLoop) -> EventLoopFuture<Lookup> {
        let promise = eventLoop.makePromise(of: Lookup.self)
        get(key) { promise.succeed($0) }
        return promise.futureResult
    }

    /// Looks one key up; `completion` runs on an event loop (the caller's, when called on one).
    func get(_ key: [UInt8], completion: @escaping @Sendable (Lookup) -> Void) {
        client.submit([[Self.getCommand, key]]) { [self] result in
            switch result {
            case .success(let replies):
                completion(lookup(replies.first ?? .null, key: key))
            case .failure(let error):
                stats.errors.increment()
                completion(.failed(error))
            }
        }
    }

    /// A ticket to read (and fill) L2 now: the link is up with nothing to replay (`L2Consistency.ticket()`) and
    /// the Redis breaker lets the read through. Nil: read past L2, straight to the database.
    func readTicket() -> L2Consistency.Ticket? {
        breaker.allows() ? consistency.ticket() : nil
    }

    /// Whether a read may ask L2 now (`readTicket()` would give a ticket), without a lock: every L2 GET asks.
    var mayRead: Bool { consistency.mayRead && breaker.allows() }

    /// The calling event loop's Redis connection; nil off the event loops.
    func localConnection() -> L2Connection? { client.local() }

    /// Sends a client key's GET straight into `connection`'s output (the caller's event loop's), without building
    /// the Redis key or the command as arrays; `completion` gets the raw reply on that loop and
    /// ``entry(from:key:)`` reads it. Two steps, so that the L2-hit path makes one closure: its caller's.
    func requestEntry(
        _ clientKey: ByteBuffer,
        on connection: L2Connection,
        completion: @escaping L2Connection.RawCompletion
    ) {
        let entryGET = entryGET
        connection.send({ $0.writeRESPCommand(entryGET, argument: clientKey) }, completion: completion)
    }

    /// The outcome of a ``requestEntry(_:on:completion:)``.
    func entry(from reply: Result<L2Connection.Reply, RedisError>, key clientKey: ByteBuffer) -> Lookup {
        switch reply {
        case .success(.bulk(let bytes)):
            return decode(bytes, key: self.namespace.entryKey(clientKey))
        case .success(.other(let reply)):
            return lookup(reply, key: self.namespace.entryKey(clientKey))
        case .failure(let error):
            stats.errors.increment()
            return .failed(error)
        }
    }

    /// Looks several keys up in one MGET.
    func get(many keys: [[UInt8]], on eventLoop: any EventLoop) -> EventLoopFuture<[Lookup]> {
        let promise = eventLoop.makePromise(of: [Lookup].self)
        client.submit([[Self.mgetCommand] + keys]) { [self] result in
            switch result {
            case .success(let replies):
                guard case .array(let values)? = replies.first, values.count == keys.count else {
                    stats.errors.increment()
                    let error = RedisError(.protocolError, "MGET answered \(replies.first.map { "\($0)" } ?? "nothing")")
                    promise.succeed(keys.map { _ in .failed(error) })
                    return
                }
                promise.succeed(zip(values, keys).map { lookup($0, key: $1) })
            case .failure(let error):
                stats.errors.increment()
                promise.succeed(keys.map { _ in .failed(error) })
            }
        }
        return promise.futureResult
    }

    private func decode(_ bytes: ByteBuffer, key: @autoclosure () -> [UInt8]) -> Lookup {
        do {
            return .hit(try L2Entry.decode(bytes))
        } catch {
            stats.undecodable.increment()
            let reason = "\(error)"
            logger.warning(
                "unreadable L2 entry treated as a miss", metadata: ["key": "\(printable(key()))", "reason": "\(reason)"])
            return .undecodable(reason)
        }
    }

    private func lookup(_ reply: RedisReply, key: @autoclosure () -> [UInt8]) -> Lookup {
        switch reply {
        case .null:
            return .miss
        case .bulk(let bytes):
            return decode(ByteBuffer(bytes: bytes), key: key())
        case .error(let message):
            stats.errors.increment()
            return .failed(RedisError(.server, message))
        default:
            stats.errors.increment()
            return .failed(RedisError(.protocolError, "GET answered \(reply)"))
        }
    }

    // MARK: Fills

    /// Stores a keyed entry unless the key was written after the load began. Fire and forget.
    func fillKeyed(_ clientKey: ByteBuffer, entry: L2Entry, lifetimeMilliseconds: UInt64) {
        let command: [[UInt8]] = [
            Array("EVAL".utf8), fillKeyedScript, Array("2".utf8),
            namespace.entryKey(clientKey), namespace.tombstoneKey(clientKey),
            Array(entry.encoded().readableBytesView), Array(String(lifetimeMilliseconds).utf8),
            Array(String(entry.sequence).utf8),
        ]
        submitFill(command)
    }

    /// Stores a QUERY result; readers check its tables' write numbers, so no tombstone applies. Fire and forget.
    func fillQuery(_ l1Key: ByteBuffer, entry: L2Entry, lifetimeMilliseconds: UInt64) {
        let command: [[UInt8]] = [
            Array("SET".utf8), namespace.queryKey(l1Key), Array(entry.encoded().readableBytesView),
            Array("PX".utf8), Array(String(lifetimeMilliseconds).utf8),
        ]
        submitFill(command)
    }

    private func submitFill(_ command: [[UInt8]]) {
        client.submit([command]) { [stats] result in
            switch result {
            case .success(let replies):
                switch replies.first {
                case .integer(0)?: stats.fillsRefused.increment()
                case .integer, .status: stats.fills.increment()
                default: stats.errors.increment()
                }
            case .failure:
                stats.errors.increment()
            }
        }
    }

    // MARK: Invalidation

    /// Publishes a committed write's invalidation; completes once Redis has it or it was deferred for replay
    /// (Redis unreachable). Either way the write stays acknowledged: it is committed, and the other sidecars stop
    /// trusting their L1 when they lose the channel.
    func publish(_ message: InvalidationMessage, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        guard client.isConnected else {
            consistency.postpone(message)
            stats.invalidationsDeferred.increment()
            return eventLoop.makeSucceededVoidFuture()
        }
        let promise = eventLoop.makePromise(of: Void.self)
        client.submit([invalidateCommand(message)]) { [consistency, stats, logger] result in
            if case .success(let replies) = result, case .integer(let number)? = replies.first {
                var numbered = message
                numbered.sequence = UInt64(number)
                consistency.record(numbered)
                stats.invalidationsSent.increment()
            } else {
                stats.errors.increment()
                consistency.postpone(message)
                stats.invalidationsDeferred.increment()
                let reason: String
                switch result {
                case .failure(let error): reason = error.message
                case .success(let replies): reason = "unexpected reply \(replies.first.map { "\($0)" } ?? "none")"
                }
                logger.warning("invalidation not published; will replay", metadata: ["error": "\(reason)"])
            }
            promise.succeed(())
        }
        return promise.futureResult
    }

    func message(everything: Bool, types: [String], tables: [String], keys: [ByteBuffer]) -> InvalidationMessage {
        InvalidationMessage(
            origin: origin, sentAtMicroseconds: clock.wallClockMicroseconds(), everything: everything, types: types,
            tables: tables, keys: keys
        )
    }

    private func invalidateCommand(_ message: InvalidationMessage) -> [[UInt8]] {
        var fields: [String] = []
        if message.everything { fields.append(L2WriteField.all) }
        fields += message.types.map(L2WriteField.type)
        fields += message.tables.map(L2WriteField.table)
        var command: [[UInt8]] = [
            Array("EVAL".utf8), invalidateScript, Array(String(2 + 2 * message.keys.count).utf8),
            namespace.sequenceKey, namespace.writesKey,
        ]
        for key in message.keys {
            command.append(namespace.entryKey(key))
            command.append(namespace.tombstoneKey(key))
        }
        command.append(namespace.channel)
        command.append(Array(String(configuration.tombstoneLifetime.wholeNanoseconds / 1_000_000).utf8))
        command.append(message.encodedBody())
        command.append(Array(String(fields.count).utf8))
        command += fields.map { Array($0.utf8) }
        return command
    }
}

/// Hands the subscriber's events to whoever `start` named (the proxy, which owns this tier).
private final class EventRelay: Sendable {
    let handler = Mutex<(@Sendable (L2Tier.Event) -> Void)?>(nil)

    func send(_ event: L2Tier.Event) {
        handler.withLock { $0 }?(event)
    }
}
