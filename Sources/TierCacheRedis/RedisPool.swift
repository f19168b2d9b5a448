import Dispatch
import Synchronization

/// A fixed-size pool of blocking ``RedisConnection``s, shared by many threads.
///
/// Connections open lazily, on first use, so a Redis that is down does not stop start-up; a connection that failed
/// at the connection level is dropped and the next use of its slot reconnects. There is no backoff here: every
/// call while Redis is down tries to connect (up to the connect timeout); a circuit breaker belongs above this.
///
/// Every call blocks its thread (waiting for a free connection, then for Redis), so call the pool from threads of
/// our own, never from the Swift concurrency cooperative pool or a NIO event loop.
public final class RedisPool: Sendable {
    /// One connection place in the pool: empty until first use, and again after its connection failed.
    ///
    /// Why `@unchecked Sendable` is safe: a slot is reachable only from `State.idle` (guarded by `state`'s lock) or
    /// from the one thread that took it out of `idle` under that lock in `acquire`, until that thread puts it back
    /// under the same lock in `release`. So at any time at most one thread touches a slot and its non-`Sendable`
    /// `RedisConnection`, and the lock's release/acquire orders one holder's writes before the next holder's reads.
    /// The connection itself never leaves `withConnection`'s body, which runs synchronously on the acquiring thread.
    private final class Slot: @unchecked Sendable {
        var connection: RedisConnection?
    }

    /// Kept behind the lock: which slots are free, and whether the pool is closed. No I/O happens under the lock;
    /// connecting and commands run on the acquiring thread after the slot left the lock.
    private struct State {
        var idle: [Slot]
        var isClosed = false
    }

    public let url: RedisURL
    private let connectTimeout: Duration
    private let commandTimeout: Duration
    private let acquireTimeout: Duration
    private let state: Mutex<State>
    /// Counts the idle slots: a thread that gets past `wait` is sure to find one in `State.idle`.
    private let free: DispatchSemaphore

    /// Makes a pool; opens no connection yet.
    ///
    /// - Parameters:
    ///   - url: the Redis server.
    ///   - size: the most connections open at once; must be at least 1.
    ///   - connectTimeout: per connection attempt; must be positive.
    ///   - commandTimeout: per send or receive; must be positive.
    ///   - acquireTimeout: how long a caller waits for a free connection before failing with `.timeout`.
    public init(url: RedisURL, size: Int, connectTimeout: Duration, commandTimeout: Duration, acquireTimeout: Duration)
    {
        precondition(size >= 1, "a Redis pool needs at least one connection")
        precondition(connectTimeout > .zero && commandTimeout > .zero, "Redis timeouts must be positive")
        self.url = url
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.acquireTimeout = acquireTimeout
        self.state = Mutex(State(idle: (0..<size).map { _ in Slot() }))
        self.free = DispatchSemaphore(value: size)
    }

    /// Runs `body` with a connection of its own, connecting first if the slot has none or a broken one.
    ///
    /// When `body` throws `.io`, `.timeout` or `.protocolError` (or leaves the connection broken) the connection is
    /// dropped, so the next use reconnects. `body` must not keep the connection after it returns.
    ///
    /// - Throws: `.timeout` when no connection is free within the acquire timeout, `.closed` after ``close()``,
    ///   connection errors from connecting, and whatever `body` throws.
    public func withConnection<T>(_ body: (RedisConnection) throws(RedisError) -> T) throws(RedisError) -> T {
        let slot = try acquire()
        defer { release(slot) }
        let connection: RedisConnection
        if let existing = slot.connection, !existing.isBroken {
            connection = existing
        } else {
            slot.connection = nil
            connection = try RedisConnection(url: url, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
            slot.connection = connection
        }
        do {
            return try body(connection)
        } catch {
            if connection.isBroken || error.code == .io || error.code == .timeout || error.code == .protocolError {
                connection.close()
                slot.connection = nil
            }
            throw error
        }
    }

    /// Sends one command on a pooled connection. See `RedisConnection.command(_:)`.
    public func command(_ arguments: [[UInt8]]) throws(RedisError) -> RedisReply {
        try withConnection { connection throws(RedisError) in try connection.command(arguments) }
    }

    /// Sends one command given as strings (UTF-8) on a pooled connection.
    public func command(_ strings: String...) throws(RedisError) -> RedisReply {
        let arguments = strings.map { Array($0.utf8) }
        return try command(arguments)
    }

    /// Sends the commands as one pipeline on a pooled connection. See ``RedisConnection/pipeline(_:)``.
    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        try withConnection { connection throws(RedisError) in try connection.pipeline(commands) }
    }

    /// Closes the idle connections now and the busy ones as their callers finish; later calls throw `.closed`.
    public func close() {
        // Connections are taken out of their slots under the lock, so each is closed by exactly one thread even
        // when `close()` races with itself or with `release`; the closing itself (socket I/O) runs after the lock.
        let idle = state.withLock { state in
            state.isClosed = true
            return state.idle.compactMap { slot in
                defer { slot.connection = nil }
                return slot.connection
            }
        }
        // The slots stay in `idle`, empty, so later callers still find one after `wait` and then see `isClosed`.
        for connection in idle { connection.close() }
    }

    private func acquire() throws(RedisError) -> Slot {
        if free.wait(timeout: .now() + .nanoseconds(max(0, acquireTimeout.wholeNanoseconds))) == .timedOut {
            throw RedisError(.timeout, "no Redis connection to \(url) free within \(acquireTimeout.shortDescription)")
        }
        let slot: Slot? = state.withLock { state in
            state.isClosed ? nil : state.idle.popLast()
        }
        guard let slot else {
            free.signal()
            throw RedisError(.closed, "the Redis pool for \(url) is closed")
        }
        return slot
    }

    private func release(_ slot: Slot) {
        let orphan: RedisConnection? = state.withLock { state in
            defer { state.idle.append(slot) }
            guard state.isClosed else { return nil }
            // `close()` ran while this slot was busy, so it did not see this connection: close it here.
            defer { slot.connection = nil }
            return slot.connection
        }
        orphan?.close()
        free.signal()
    }
}
