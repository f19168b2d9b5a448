import NIOCore
import NIOPosix
import Synchronization
import TierCacheProtocol
import TierCacheRedis
import TierCacheStats
import TierCacheSupport

/// One Redis connection owned by one event loop: NIO does the socket I/O, `RESPValueParser` reads the replies in
/// place, and requests and replies never leave the loop — the L2 hit path takes no lock and no thread hop for Redis.
///
/// Requests made on the loop during one tick are written together and flushed once at its end (automatic
/// pipelining). Replies come back in order and complete the oldest waiting request. A connection that fails (or
/// whose oldest request outlives the command timeout) is closed, every waiting request fails, and it reconnects in
/// the background with a doubling delay; while it is down, requests fail at once.
///
/// Loop-confined: every method runs on `eventLoop` (``L2Connections`` hops there).
final class L2Connection {
    /// A reply as the connection delivers it: a bulk string (an L2 entry) as a slice of the bytes read, anything
    /// else as a `RedisReply`.
    enum Reply {
        case bulk(ByteBuffer)
        case other(RedisReply)
    }
    typealias RawCompletion = (Result<Reply, RedisError>) -> Void
    typealias Completion = (Result<RedisReply, RedisError>) -> Void

    /// The connection came up or went down; sent once per change, on its loop.
    enum Event: Sendable {
        case connected(connection: Int)
        case disconnected(connection: Int, RedisError)
    }

    /// Transitions: `.disconnected` → `.connecting` → `.open` (handshake out) → `.ready`; any → `.disconnected`
    /// on a failure (then a reconnect is scheduled); any → `.shutDown`, final.
    private enum State {
        case disconnected
        case connecting
        case open(any Channel)
        case ready(any Channel)
        case shutDown
    }

    let eventLoop: any EventLoop
    let index: Int
    private let configuration: L2Configuration
    private let onEvent: @Sendable (Event) -> Void
    /// Whether it is ready, for other threads (`L2Connections.isConnected`).
    private let flag: L2ConnectionFlag
    private var state = State.disconnected
    private var waiting = CircularBuffer<Waiting>(initialCapacity: 64)
    /// Commands written this tick, flushed at its end. Mutated in place: a copy would make every append copy all.
    private var outbound = ByteBuffer()
    private var flushScheduled = false
    private var delay: Duration
    private var lastError: RedisError?
    private var closingReason: RedisError?
    private var timeoutCheck: RepeatedTask?
    /// Round trips of the replies read in this batch, recorded under one lock when the read completes.
    private let roundTrip: LatencyRecorder
    /// Told every command's outcome, a read batch at a time.
    private let breaker: Breaker?
    private var roundTrips: [UInt64] = []
    /// When this tick's first command was queued, and when this read's first reply came: the times of every
    /// command and reply in the batch, one clock read each instead of one per command.
    private var batchQueuedAt: UInt64 = 0
    private var readAt: UInt64 = 0
    private let clock: any ServerClock

    init(
        eventLoop: any EventLoop,
        index: Int,
        configuration: L2Configuration,
        flag: L2ConnectionFlag,
        roundTrip: LatencyRecorder,
        breaker: Breaker? = nil,
        clock: any ServerClock,
        onEvent: @escaping @Sendable (Event) -> Void
    ) {
        self.roundTrip = roundTrip
        self.breaker = breaker
        self.eventLoop = eventLoop
        self.index = index
        self.configuration = configuration
        self.onEvent = onEvent
        self.flag = flag
        self.clock = clock
        self.delay = Self.firstDelay
    }

    static let firstDelay = Duration.milliseconds(100)
    static let maxDelay = Duration.seconds(2)

    func start() {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let period = TimeAmount.milliseconds(max(10, min(100, Int64(configuration.commandTimeout.wholeNanoseconds / 4_000_000))))
        timeoutCheck = eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            bound.value.checkTimeout()
        }
        connect()
    }

    func shutdown() {
        timeoutCheck?.cancel()
        let channel: (any Channel)?
        switch state {
        case .open(let open), .ready(let open): channel = open
        default: channel = nil
        }
        state = .shutDown
        flag.set(false)
        failWaiting(RedisError(.closed, "the Redis connection to \(configuration.url) was shut down"))
        channel?.close(promise: nil)
    }

    /// A request awaiting its reply. A struct, not a tuple: a closure inside a tuple in a generic container is
    /// stored behind a reabstraction thunk, one allocation per request (`bench/instructions.py`).
    private struct Waiting {
        var completion: RawCompletion
        var since: UInt64
    }

    // MARK: Requests

    /// Queues one command, written by `encode` as RESP, and calls `completion` (on this loop) with its reply.
    func send(_ encode: (inout ByteBuffer) -> Void, completion: @escaping RawCompletion) {
        let channel: any Channel
        switch state {
        case .ready(let ready): channel = ready
        case .open(let open): channel = open  // only the handshake sends now
        default:
            breaker?.record(durations: [], failures: 1)
            completion(.failure(unavailable()))
            return
        }
        if outbound.capacity == 0 { outbound = channel.allocator.buffer(capacity: 4096) }
        encode(&outbound)
        if !flushScheduled {
            flushScheduled = true
            batchQueuedAt = clock.monotonicNanoseconds()
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            eventLoop.execute { bound.value.flush() }
        }
        waiting.append(Waiting(completion: completion, since: batchQueuedAt))
    }

    /// Queues one command given as arguments; the reply comes as a `RedisReply`.
    func send(_ arguments: [[UInt8]], completion: @escaping Completion) {
        send(
            { buffer in
                buffer.writeRESPArrayHeader(count: arguments.count)
                for argument in arguments { buffer.writeRESPBulkString(argument) }
            },
            completion: { result in
                completion(
                    result.map { reply in
                        switch reply {
                        case .bulk(let bytes): .bulk(Array(bytes.readableBytesView))
                        case .other(let reply): reply
                        }
                    })
            })
    }

    private func flush() {
        flushScheduled = false
        guard outbound.readableBytes > 0 else { return }
        switch state {
        case .ready(let channel), .open(let channel): channel.writeAndFlush(outbound, promise: nil)
        default: break
        }
        // Once the socket took the bytes NIO lets go of them, and the next tick writes into the same storage.
        outbound.clear()
    }

    // MARK: From the channel

    func received(_ reply: Reply) {
        guard let request = waiting.popFirst() else {
            fail(RedisError(.protocolError, "Redis sent a reply nobody asked for"))
            return
        }
        if readAt == 0 { readAt = clock.monotonicNanoseconds() }
        roundTrips.append(readAt &- request.since)
        request.completion(.success(reply))
    }

    /// The end of a read: the batch's round trips go into the histogram together.
    func readComplete() {
        readAt = 0
        roundTrip.record(all: roundTrips)
        breaker?.record(durations: roundTrips, failures: 0)
        roundTrips.removeAll(keepingCapacity: true)
    }

    /// The channel failed or closed.
    func closed(_ error: RedisError) {
        switch state {
        case .shutDown, .disconnected: return
        default: break
        }
        let reason = closingReason ?? error
        closingReason = nil
        state = .disconnected
        outbound = ByteBuffer()
        let wasConnected = flag.set(false)
        failWaiting(reason)
        if wasConnected || lastError == nil { onEvent(.disconnected(connection: index, reason)) }
        lastError = reason
        scheduleReconnect()
    }

    /// Closes the channel for `error` (a protocol error, a timeout); `closed` follows.
    func fail(_ error: RedisError) {
        switch state {
        case .open(let channel), .ready(let channel):
            closingReason = closingReason ?? error
            channel.close(promise: nil)
        default:
            break
        }
    }

    // MARK: Connecting

    private func connect() {
        guard case .disconnected = state else { return }
        state = .connecting
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let url = configuration.url
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(Int64(configuration.connectTimeout.wholeNanoseconds)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(L2ConnectionHandler(bound.value, url: url))
                }
            }
        let connecting: EventLoopFuture<any Channel> =
            if let path = url.unixPath {
                bootstrap.connect(unixDomainSocketPath: path)
            } else {
                bootstrap.connect(host: url.host ?? "127.0.0.1", port: url.port)
            }
        connecting.whenComplete { result in
            let connection = bound.value
            switch result {
            case .success(let channel): connection.handshake(channel)
            case .failure(let error):
                connection.connectFailed(RedisError(.connect, "cannot connect to \(url): \(error)"))
            }
        }
    }

    /// AUTH and SELECT when the URL asks for them, then PING: the kernel accepts connections for a server that
    /// hangs, so only an answer says Redis is there.
    private func handshake(_ channel: any Channel) {
        guard case .connecting = state else {
            channel.close(promise: nil)
            return
        }
        state = .open(channel)
        let url = configuration.url
        var steps: [([[UInt8]], String)] = []
        if let password = url.password {
            var auth = [Array("AUTH".utf8)]
            if let username = url.username { auth.append(Array(username.utf8)) }
            auth.append(Array(password.utf8))
            steps.append((auth, "authentication to \(url) failed"))
        }
        if url.database != 0 {
            steps.append(([Array("SELECT".utf8), Array(String(url.database).utf8)], "cannot select database \(url.database) on \(url)"))
        }
        steps.append(([Array("PING".utf8)], "PING to \(url) failed"))
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        for (index, (command, failure)) in steps.enumerated() {
            let last = index == steps.count - 1
            send(command) { result in
                let connection = bound.value
                switch result {
                case .success(.error(let message)):
                    connection.fail(RedisError(.server, "\(failure): \(message)"))
                case .success:
                    if last { connection.ready(channel) }
                case .failure:
                    break  // `closed` reports it
                }
            }
        }
    }

    private func ready(_ channel: any Channel) {
        guard case .open = state else { return }
        state = .ready(channel)
        delay = Self.firstDelay
        lastError = nil
        flag.set(true)
        onEvent(.connected(connection: index))
    }

    private func connectFailed(_ error: RedisError) {
        guard case .connecting = state else { return }
        state = .disconnected
        if lastError == nil { onEvent(.disconnected(connection: index, error)) }
        lastError = error
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.scheduleTask(in: .nanoseconds(Int64(delay.wholeNanoseconds))) { bound.value.connect() }
        delay = min(delay * 2, Self.maxDelay)
    }

    private func checkTimeout() {
        guard let oldest = waiting.first else { return }
        if clock.monotonicNanoseconds() &- oldest.since > UInt64(clamping: configuration.commandTimeout.wholeNanoseconds) {
            fail(RedisError(.timeout, "\(configuration.url) did not answer within \(configuration.commandTimeout.shortDescription)"))
        }
    }

    private func failWaiting(_ error: RedisError) {
        breaker?.record(durations: [], failures: waiting.count)
        while let request = waiting.popFirst() { request.completion(.failure(error)) }
    }

    private func unavailable() -> RedisError {
        RedisError(.connect, "Redis unavailable: \(lastError?.message ?? "not connected to \(configuration.url) yet")")
    }
}

/// Reads replies in place and hands them to the connection in order.
///
/// hiredis' reader did this first; it copies every bulk string into a reply object of its own, and under `-P 16`
/// those allocations and copies were the largest part of an L2 hit (bench/l2_get.py, issue 4's note). A top-level
/// bulk string now stays a slice of the receive buffer until the entry is decoded.
final class L2ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let connection: L2Connection
    private let url: RedisURL
    /// Redis' own 512 MiB bulk limit: an entry is whatever a sidecar stored, and any reply we cannot read ends
    /// the connection.
    private var parser = RESPValueParser(maxDepth: 8, limits: RESPLimits(maxBulkLength: 512 * 1024 * 1024))
    /// The start of a reply whose end has not arrived.
    private var pending: ByteBuffer?

    init(_ connection: L2Connection, url: RedisURL) {
        self.connection = connection
        self.url = url
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if var earlier = pending.take() {
            earlier.writeBuffer(&buffer)
            buffer = earlier
        }
        while true {
            let reply: RESPValueParser.Reply?
            do {
                reply = try parser.nextReply(from: &buffer)
            } catch {
                connection.fail(RedisError(.protocolError, "protocol error from Redis: \(error)"))
                return
            }
            guard let reply else { break }
            switch reply {
            case .bulkString(let bytes):
                connection.received(.bulk(bytes))
            case .value(let value):
                do {
                    connection.received(.other(try RedisReply(value)))
                } catch {
                    connection.fail(error)
                    return
                }
            }
        }
        if buffer.readableBytes > 0 {
            buffer.discardReadBytes()
            pending = buffer
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection.readComplete()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.closed(RedisError(.io, "connection to \(url) was closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.fail(RedisError(.io, "connection to \(url) failed: \(error)"))
    }
}

extension RedisReply {
    /// A RESP2 reply as the rest of the L2 code knows it.
    ///
    /// - Throws: `.protocolError` for a RESP3-only type, which a connection that never sent `HELLO 3` does not get.
    init(_ value: RESPValue) throws(RedisError) {
        switch value {
        case .simpleString(let text): self = .status(text)
        case .error(let message): self = .error(message)
        case .integer(let number): self = .integer(number)
        case .bulkString(let bytes): self = .bulk(bytes)
        case .null: self = .null
        case .array(let elements):
            var replies: [RedisReply] = []
            replies.reserveCapacity(elements.count)
            for element in elements { replies.append(try RedisReply(element)) }
            self = .array(replies)
        default:
            throw RedisError(.protocolError, "protocol error from Redis: a RESP3 reply on a RESP2 connection")
        }
    }
}

/// A connection's readiness, readable from any thread.
final class L2ConnectionFlag: Sendable {
    private let value = Atomic<Bool>(false)

    var isUp: Bool { value.load(ordering: .relaxed) }

    /// Returns the previous value.
    @discardableResult
    func set(_ up: Bool) -> Bool { value.exchange(up, ordering: .relaxed) }
}

/// Spreads requests from threads that are not event loops over the connections.
final class L2RoundRobin: Sendable {
    private let counter = Atomic<Int>(0)
    func take() -> Int { counter.wrappingAdd(1, ordering: .relaxed).oldValue & Int.max }
}
