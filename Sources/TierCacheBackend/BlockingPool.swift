import Dispatch
import TierCacheSupport
import Synchronization

/// Lends a fixed set of connections to callers that block their thread, one caller per connection, in the order
/// they asked (a returned connection goes straight to the longest waiter). A caller waits at most
/// `acquireTimeout`, then gets `.busy`: when every connection is held by something slow, callers give up and
/// free their threads instead of piling up behind it.
public final class BlockingPool<Connection: AnyObject>: Sendable {
    /// A connection on its way between the pool and one caller.
    ///
    /// `@unchecked Sendable`: a connection is in exactly one place at a time (the idle list, one waiter's hand-off
    /// slot, or the hands of the one caller that acquired it) and moves between them under `state`'s lock, so no
    /// two threads ever use it at once.
    private struct Lent: @unchecked Sendable {
        let connection: Connection
    }

    private struct Waiter: Sendable {
        let id: UInt64
        let wakeUp: DispatchSemaphore
    }

    private struct State {
        var idle: [Lent]
        /// First come, first served.
        var waiters: [Waiter] = []
        /// Connections released to a waiter that has not picked them up yet, by waiter id.
        var handedOver: [UInt64: Lent] = [:]
        var inUse = 0
        var nextWaiter: UInt64 = 0
        var acquired: UInt64 = 0
        var timedOut: UInt64 = 0
    }

    /// Names the pool in errors ("reader", "writer").
    public let name: String
    public let size: Int
    public let acquireTimeout: Duration
    private let state: Mutex<State>

    /// - Parameter connections: at least one; the pool owns them from now on.
    public init(name: String, connections: [Connection], acquireTimeout: Duration) {
        precondition(!connections.isEmpty, "a pool needs at least one connection")
        self.name = name
        self.size = connections.count
        self.acquireTimeout = acquireTimeout
        self.state = Mutex(State(idle: connections.map(Lent.init)))
    }

    /// Runs `body` with a connection of its own, waiting for one in turn.
    ///
    /// - Throws: `.busy` when none came free within `acquireTimeout`; whatever `body` throws.
    public func withConnection<T>(_ body: (Connection) throws(BackendError) -> T) throws(BackendError) -> T {
        let lent = try acquire()
        defer { release(lent) }
        return try body(lent.connection)
    }

    /// Runs `body` with every connection at once, once callers before it are done with them (each acquired in
    /// turn, with the usual timeout): for work that must not overlap any call, such as reopening the database.
    public func withAllConnections<T>(_ body: ([Connection]) throws(BackendError) -> T) throws(BackendError) -> T {
        var held: [Lent] = []
        defer { held.forEach(release) }
        for _ in 0..<size { held.append(try acquire()) }
        return try body(held.map(\.connection))
    }

    /// Runs `body` on each connection that is idle now, without waiting for the others; returns what it
    /// returned for each. For checks of connections nobody is using.
    public func forEachIdle<T>(_ body: (Connection) -> T) -> [T] {
        let taken = state.withLock { state -> [Lent] in
            let taken = state.idle
            state.idle.removeAll()
            state.inUse += taken.count
            return taken
        }
        defer { taken.forEach(release) }
        return taken.map { body($0.connection) }
    }

    public var report: ConnectionPoolReport {
        state.withLock {
            ConnectionPoolReport(
                size: size, inUse: $0.inUse, waiting: $0.waiters.count, acquired: $0.acquired, timedOut: $0.timedOut)
        }
    }

    private enum Turn: Sendable {
        case now(Lent)
        case wait(Waiter)
    }

    private func acquire() throws(BackendError) -> Lent {
        let turn = state.withLock { state -> Turn in
            if state.waiters.isEmpty, let lent = state.idle.popLast() {
                state.inUse += 1
                state.acquired += 1
                return .now(lent)
            }
            state.nextWaiter += 1
            let waiter = Waiter(id: state.nextWaiter, wakeUp: DispatchSemaphore(value: 0))
            state.waiters.append(waiter)
            return .wait(waiter)
        }
        switch turn {
        case .now(let lent):
            return lent
        case .wait(let waiter):
            let nanoseconds = Int(clamping: acquireTimeout.wholeNanoseconds)
            _ = waiter.wakeUp.wait(timeout: .now() + .nanoseconds(nanoseconds))
            return try pickUp(waiter.id)
        }
    }

    /// The connection handed to waiter `id`; if there is none, the waiter gives up (it timed out, and no release
    /// reached it in the meantime).
    private func pickUp(_ id: UInt64) throws(BackendError) -> Lent {
        let outcome = state.withLock { state -> Result<Lent, BackendError> in
            if let lent = state.handedOver.removeValue(forKey: id) { return .success(lent) }
            state.waiters.removeAll { $0.id == id }
            state.timedOut += 1
            return .failure(
                BackendError(
                    .busy,
                    "no \(name) connection free within \(acquireTimeout.shortDescription) (\(state.inUse) of \(size) in use, \(state.waiters.count) waiting)"
                ))
        }
        return try outcome.get()
    }

    private func release(_ lent: Lent) {
        let woken = state.withLock { state -> DispatchSemaphore? in
            guard !state.waiters.isEmpty else {
                state.idle.append(lent)
                state.inUse -= 1
                return nil
            }
            let next = state.waiters.removeFirst()
            state.handedOver[next.id] = lent
            state.acquired += 1
            return next.wakeUp
        }
        woken?.signal()
    }
}
