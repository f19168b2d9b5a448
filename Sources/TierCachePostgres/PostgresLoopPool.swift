import Logging
import NIOCore
import PostgresNIO
import Synchronization
import TierCacheBackend
import TierCacheSupport

/// The pool the cache's loads use: PostgreSQL connections that live on the event loops, each lent, queried and
/// given back on its loop through postgres-nio's future API, so a load (a GET's miss) never leaves the loop that
/// asked for it: no task per call, no thread hop, no timer per release. `PostgresClient`'s pool cost about as much
/// CPU per load as PostgreSQL's own work (measured, see the README's PostgreSQL benchmark); the writes and clients'
/// statements stay on it.
///
/// Each event loop has its share of `maximumConnections` (at least one), opened on demand and kept; a connection
/// past `maxConnectionAge`, or closed, is dropped as it comes back. A caller waits at most `acquireTimeout` for a
/// connection (a timer on its own loop), then fails as busy with the same words as the other pools.
final class PostgresLoopPool: Sendable {
    let name: String
    let maximumConnections: Int
    private let configuration: PostgresConnection.Configuration
    private let connector: PostgresKeepaliveConnector
    private let acquireTimeout: Duration
    private let maxConnectionAge: Duration?
    private let perLoop: Int
    private let logger: Logger
    private let loops = Mutex<[ObjectIdentifier: LoopShare]>([:])
    private let counts = Mutex(Counts())
    private let closed = Atomic<Bool>(false)
    private let connectionIDs = Atomic<Int>(0)

    private struct Counts {
        var inUse = 0
        var waiting = 0
        var acquired: UInt64 = 0
        var timedOut: UInt64 = 0
    }

    init(
        name: String, configuration: PostgresConnection.Configuration, connector: PostgresKeepaliveConnector,
        maximumConnections: Int, eventLoopCount: Int, acquireTimeout: Duration, maxConnectionAge: Duration?,
        logger: Logger
    ) {
        self.name = name
        self.configuration = configuration
        self.connector = connector
        self.maximumConnections = maximumConnections
        self.perLoop = max(1, maximumConnections / max(1, eventLoopCount))
        self.acquireTimeout = acquireTimeout
        self.maxConnectionAge = maxConnectionAge
        self.logger = logger
    }

    /// A connection lent by the pool, with what the pool keeps for it (its prepared statements).
    struct Lease: Sendable {
        let connection: PostgresConnection
        fileprivate let share: LoopShare

        /// Runs `sql` on the connection: as a statement prepared on it the first time and executed by name after,
        /// when the parameters can go in the binary format its parameters take (`PostgresPreparedBinds`), so
        /// PostgreSQL parses and plans it once per connection instead of once per load. Otherwise (and past
        /// `preparedPerConnection` statements on the connection), unnamed with text parameters.
        func execute(
            _ sql: String, parameters: [SQLValue], types: [String], logger: Logger,
            onRow: @escaping @Sendable (PostgresRow) throws -> Void
        ) -> EventLoopFuture<Void> {
            let (connection, share) = (self.connection, self.share)
            // On the connection's loop: nothing can close it between this check and the write (see
            // `PostgresConnection.checkedQuery`).
            guard !connection.isClosed else {
                return connection.eventLoop.makeFailedFuture(PostgresConnection.closedError)
            }
            let known = share.prepared(sql, on: connection)
            guard let binds = PostgresPreparedBinds.binary(parameters, types: types),
                known != nil || share.hasRoom(on: connection)
            else {
                let query = PostgresQuery(unsafeSQL: sql, binds: PostgresStatements.bindings(parameters))
                return connection.checkedQuery(query, logger: logger, onRow).map { _ in }
            }
            if let prepared = known {
                return prepared.execute(binds, onRow).flatMapError { error in
                    // The schema changed the result's shape (0A000): the statement is dropped, and prepared
                    // afresh next time.
                    if PostgresStatements.backendError(error).message.hasPrefix("0A000 ") {
                        share.forget(sql, on: connection)
                        prepared.deallocate().whenFailure { _ in }
                    }
                    return connection.eventLoop.makeFailedFuture(error)
                }
            }
            return connection.prepare(query: sql).flatMap { prepared in
                share.keep(prepared, for: sql, on: connection)
                return prepared.execute(binds, onRow)
            }
        }
    }

    /// Lends a connection of `eventLoop`'s share to `body` and takes it back when `body`'s future completes.
    func withConnection<T: Sendable>(
        on eventLoop: any EventLoop, _ body: @escaping @Sendable (Lease) -> EventLoopFuture<T>
    ) -> EventLoopFuture<T> {
        guard !closed.load(ordering: .relaxed) else {
            return eventLoop.makeFailedFuture(BackendError(.unavailable, "the PostgreSQL backend is closed"))
        }
        guard eventLoop.inEventLoop else {
            return eventLoop.flatSubmit { self.withConnection(on: eventLoop, body) }
        }
        let share = share(of: eventLoop)
        return share.lease().flatMap { connection in
            body(Lease(connection: connection, share: share)).always { result in
                // A connection the server closed is dropped now, not lent again before NIO notices.
                var lost = false
                if case .failure(let error) = result { lost = PostgresStatements.isConnectionLost(error) }
                share.giveBack(connection, lost: lost)
            }
        }
    }

    private func share(of eventLoop: any EventLoop) -> LoopShare {
        loops.withLock { loops in
            if let share = loops[ObjectIdentifier(eventLoop)] { return share }
            let share = LoopShare(pool: self, eventLoop: eventLoop)
            loops[ObjectIdentifier(eventLoop)] = share
            return share
        }
    }

    /// Statements kept prepared per connection.
    static let preparedPerConnection = 256

    var report: ConnectionPoolReport {
        counts.withLock {
            ConnectionPoolReport(
                size: maximumConnections, inUse: $0.inUse, waiting: $0.waiting, acquired: $0.acquired,
                timedOut: $0.timedOut)
        }
    }

    /// Closes every connection; later calls fail as unavailable.
    func close() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        for share in loops.withLock({ Array($0.values) }) {
            share.eventLoop.execute { share.closeAll() }
        }
    }

    /// One event loop's connections and waiters, touched only on that loop.
    fileprivate final class LoopShare: Sendable {
        let pool: PostgresLoopPool
        let eventLoop: any EventLoop
        private let state: NIOLoopBoundBox<State>

        struct Member {
            var connection: PostgresConnection
            var born: NIODeadline
        }

        struct Waiter {
            var promise: EventLoopPromise<PostgresConnection>
            var timer: Scheduled<Void>
            var id: Int
        }

        struct State {
            var idle: [Member] = []
            /// Open or opening.
            var open = 0
            var born: [PostgresConnection.ID: NIODeadline] = [:]
            var waiters = CircularBuffer<Waiter>()
            var nextWaiter = 0
            /// Each connection's prepared statements, by their SQL.
            var prepared: [PostgresConnection.ID: [String: PreparedQuery]] = [:]
        }

        init(pool: PostgresLoopPool, eventLoop: any EventLoop) {
            self.pool = pool
            self.eventLoop = eventLoop
            self.state = NIOLoopBoundBox(State(), eventLoop: eventLoop)
        }

        func lease() -> EventLoopFuture<PostgresConnection> {
            pool.counts.withLock { $0.acquired += 1 }
            while let member = state.value.idle.popLast() {
                // Idle past its age (or closed meanwhile): replaced, not lent.
                guard member.connection.isClosed || isTooOld(member.connection) else { return lent(member.connection) }
                if !member.connection.isClosed { Self.close(member.connection) }
                drop(member.connection)
            }
            if state.value.open < pool.perLoop {
                state.value.open += 1
                return connect().flatMap { self.lent($0) }
            }
            return wait()
        }

        private func lent(_ connection: PostgresConnection) -> EventLoopFuture<PostgresConnection> {
            pool.counts.withLock { $0.inUse += 1 }
            return eventLoop.makeSucceededFuture(connection)
        }

        private func connect() -> EventLoopFuture<PostgresConnection> {
            let id = pool.connectionIDs.wrappingAdd(1, ordering: .relaxed).newValue
            return pool.connector.connect(
                on: eventLoop, configuration: pool.configuration, id: id, logger: pool.logger
            ).map { connection in
                self.state.value.born[connection.id] = .now()
                return connection
            }.flatMapErrorThrowing { error in
                self.state.value.open -= 1
                throw PostgresStatements.backendError(error)
            }
        }

        private func wait() -> EventLoopFuture<PostgresConnection> {
            let promise = eventLoop.makePromise(of: PostgresConnection.self)
            let id = state.value.nextWaiter
            state.value.nextWaiter += 1
            let timeout = pool.acquireTimeout
            let timer = eventLoop.scheduleTask(in: .nanoseconds(Int64(clamping: timeout.wholeNanoseconds))) {
                guard let index = self.state.value.waiters.firstIndex(where: { $0.id == id }) else { return }
                self.state.value.waiters.remove(at: index)
                let counts = self.pool.counts.withLock { counts in
                    counts.waiting -= 1
                    counts.timedOut += 1
                    return (counts.inUse, counts.waiting)
                }
                promise.fail(
                    BackendError(
                        .busy,
                        "no \(self.pool.name) connection free within \(timeout.shortDescription) (\(counts.0) of "
                            + "\(self.pool.maximumConnections) in use, \(counts.1) waiting)"))
            }
            state.value.waiters.append(Waiter(promise: promise, timer: timer, id: id))
            pool.counts.withLock { $0.waiting += 1 }
            return promise.futureResult
        }

        /// A connection back from its call: to the first waiter, or idle; dropped when closed or too old.
        func giveBack(_ connection: PostgresConnection, lost: Bool) {
            pool.counts.withLock { $0.inUse -= 1 }
            if lost || connection.isClosed || isTooOld(connection) || pool.closed.load(ordering: .relaxed) {
                if !connection.isClosed { Self.close(connection) }
                drop(connection)
                // A waiter gets a new connection in the dropped one's place.
                if !state.value.waiters.isEmpty, !pool.closed.load(ordering: .relaxed) {
                    state.value.open += 1
                    let waiter = state.value.waiters.removeFirst()
                    waiter.timer.cancel()
                    pool.counts.withLock { $0.waiting -= 1 }
                    waiter.promise.completeWith(connect().flatMap { self.lent($0) })
                }
                return
            }
            if !state.value.waiters.isEmpty {
                let waiter = state.value.waiters.removeFirst()
                waiter.timer.cancel()
                pool.counts.withLock {
                    $0.waiting -= 1
                    $0.inUse += 1
                }
                waiter.promise.succeed(connection)
                return
            }
            state.value.idle.append(Member(connection: connection, born: state.value.born[connection.id] ?? .now()))
        }

        /// Whether `connection` has lived `maxConnectionAge`.
        private func isTooOld(_ connection: PostgresConnection) -> Bool {
            guard let age = pool.maxConnectionAge, let born = state.value.born[connection.id] else { return false }
            return born + .nanoseconds(Int64(clamping: age.wholeNanoseconds)) <= .now()
        }

        private static func close(_ connection: PostgresConnection) {
            let closing: EventLoopFuture<Void> = connection.close()
            closing.whenFailure { _ in }
        }

        private func drop(_ connection: PostgresConnection) {
            state.value.open -= 1
            state.value.born[connection.id] = nil
            state.value.prepared[connection.id] = nil
        }

        func prepared(_ sql: String, on connection: PostgresConnection) -> PreparedQuery? {
            state.value.prepared[connection.id]?[sql]
        }

        func hasRoom(on connection: PostgresConnection) -> Bool {
            (state.value.prepared[connection.id]?.count ?? 0) < PostgresLoopPool.preparedPerConnection
        }

        func keep(_ prepared: PreparedQuery, for sql: String, on connection: PostgresConnection) {
            state.value.prepared[connection.id, default: [:]][sql] = prepared
        }

        func forget(_ sql: String, on connection: PostgresConnection) {
            state.value.prepared[connection.id]?[sql] = nil
        }

        func closeAll() {
            for member in state.value.idle { Self.close(member.connection) }
            state.value.idle = []
            let waiters = state.value.waiters
            state.value.waiters = []
            for waiter in waiters {
                waiter.timer.cancel()
                waiter.promise.fail(BackendError(.unavailable, "the PostgreSQL backend is closed"))
            }
        }
    }
}
