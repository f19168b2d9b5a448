import Logging
import PostgresNIO
import Synchronization
import TierCacheBackend
import TierCacheSupport

/// One `PostgresClient` (postgres-nio's pool) with what the backend adds around it: how long a caller waits for a
/// connection (`acquireTimeout`, then `.busy` with the same words as SQLite's pools), how long a connection lives
/// (`maxConnectionAge`: an older one is closed when it comes back, and the pool opens a new one, so a failover
/// or a load balancer's new target is picked up), and the counts `STATS backend.pools` shows.
final class PostgresPool: Sendable {
    let name: String
    let client: PostgresClient
    let maximumConnections: Int
    private let acquireTimeout: Duration
    private let maxConnectionAge: Duration?
    private let state = Mutex(Counts())

    private struct Counts {
        var inUse = 0
        var waiting = 0
        var acquired: UInt64 = 0
        var timedOut: UInt64 = 0
        /// When each connection (postgres-nio's id) was first lent.
        var born: [PostgresConnection.ID: ContinuousClock.Instant] = [:]
    }

    init(
        name: String, configuration: PostgresClient.Configuration, eventLoopGroup: any EventLoopGroup,
        acquireTimeout: Duration, maxConnectionAge: Duration?, logger: Logger
    ) {
        self.name = name
        self.client = PostgresClient(
            configuration: configuration, eventLoopGroup: eventLoopGroup, backgroundLogger: logger)
        self.maximumConnections = configuration.options.maximumConnections
        self.acquireTimeout = acquireTimeout
        self.maxConnectionAge = maxConnectionAge
    }

    /// Lends a connection to `body`, waiting at most `acquireTimeout` for one. Once lent, the body runs to its
    /// end whatever the time: a write is never abandoned after it reached the database.
    func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        state.withLock { $0.waiting += 1 }
        // Decided once, by exchange: a connection lent after the timeout goes back unused.
        let decision = Decision()
        let timeout = acquireTimeout
        let name = self.name
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await self.client.withConnection { connection -> T? in
                    guard
                        decision.value.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing)
                            .exchanged
                    else { return nil }
                    self.lend(connection)
                    defer { self.state.withLock { $0.inUse -= 1 } }
                    let result: T
                    do {
                        result = try await body(connection)
                    } catch {
                        // A connection the server closed goes back closed, for the pool to replace rather than lend
                        // again before it notices.
                        if PostgresStatements.isConnectionLost(error) { try? await connection.close() }
                        throw error
                    }
                    await self.retireIfOld(connection)
                    return result
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                guard
                    decision.value.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing).exchanged
                else { return nil }
                // Cancelled early: the lease failed on its own (its error goes out) or the caller gave up.
                let timedOut = !Task.isCancelled
                let counts = self.state.withLock { counts in
                    counts.waiting -= 1
                    if timedOut { counts.timedOut += 1 }
                    return (counts.inUse, counts.waiting)
                }
                guard timedOut else { return nil }
                throw BackendError(
                    .busy,
                    "no \(name) connection free within \(timeout.shortDescription) (\(counts.0) of "
                        + "\(self.maximumConnections) in use, \(counts.1) waiting)")
            }
            while let next = try await group.next() {
                if let next {
                    group.cancelAll()
                    return next
                }
            }
            // Unreachable: one of the two tasks answers or throws.
            throw BackendError(.failed, "\(name) pool: no connection and no timeout")
        }
    }

    /// Who won the race between a connection and the timeout: 0 nobody yet, 1 a connection, 2 the timeout.
    private final class Decision: Sendable {
        let value = Atomic<UInt8>(0)
    }

    private func lend(_ connection: PostgresConnection) {
        let now = ContinuousClock.now
        state.withLock { counts in
            counts.waiting -= 1
            counts.inUse += 1
            counts.acquired += 1
            guard maxConnectionAge != nil, counts.born[connection.id] == nil else { return }
            counts.born[connection.id] = now
            // Connections that closed on their own (idle, terminated) leave their ids: forget the oldest.
            if counts.born.count > 4 * maximumConnections, let maxConnectionAge {
                counts.born = counts.born.filter { $0.value.duration(to: now) < maxConnectionAge }
            }
        }
    }

    /// Closes a connection past its age as it comes back; the pool opens another when one is needed.
    private func retireIfOld(_ connection: PostgresConnection) async {
        guard let maxConnectionAge else { return }
        let retire = state.withLock { counts -> Bool in
            guard let born = counts.born[connection.id], born.duration(to: .now) >= maxConnectionAge else {
                return false
            }
            counts.born[connection.id] = nil
            return true
        }
        if retire { try? await connection.close() }
    }

    var report: ConnectionPoolReport {
        state.withLock { counts in
            ConnectionPoolReport(
                size: maximumConnections, inUse: counts.inUse, waiting: counts.waiting, acquired: counts.acquired,
                timedOut: counts.timedOut)
        }
    }
}
