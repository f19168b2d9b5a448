import Logging
import NIOCore
import PostgresNIO
import Synchronization
import TierCacheBackend

/// Hears other programs' commits: one connection of its own, outside the pools, `LISTEN`ing on
/// `PostgresChangeTriggers.channel`. Notifications from TierCache's own writer connections are skipped (the write
/// path invalidated for them already). A heartbeat query finds a connection that died without a word; then, or
/// when the server closes it, it reports the loss and connects again.
final class PostgresChangeListener: DatabaseChangeFeed {
    private let url: PostgresURL
    private let eventLoopGroup: any EventLoopGroup
    private let connector: PostgresKeepaliveConnector
    private let logger: Logger
    /// The backend process ids of TierCache's writer connections.
    private let ownBackends: PostgresBackendIDs
    private let heartbeat: Duration
    private let retryDelay: Duration
    /// How often a database without triggers is looked at again.
    private let recheckInterval: Duration

    /// `url`'s server; the connection shows in `pg_stat_activity` as its application name + ` listener`
    /// (`tiercache listener` by default).
    init(
        url: PostgresURL, eventLoopGroup: any EventLoopGroup, connector: PostgresKeepaliveConnector, logger: Logger,
        ownBackends: PostgresBackendIDs, heartbeat: Duration = .seconds(2), retryDelay: Duration = .milliseconds(250),
        recheckInterval: Duration = .seconds(5)
    ) {
        var url = url
        url.applicationName = (url.applicationName ?? "tiercache") + " listener"
        self.url = url
        self.eventLoopGroup = eventLoopGroup
        self.connector = connector
        self.logger = logger
        self.ownBackends = ownBackends
        self.heartbeat = heartbeat
        self.retryDelay = retryDelay
        self.recheckInterval = recheckInterval
    }

    func run(report: @escaping @Sendable (DatabaseChangeEvent) -> Void) async {
        while !Task.isCancelled {
            let outcome = await listenOnce(report: report)
            guard !Task.isCancelled else { return }
            switch outcome {
            case .notInstalled:
                report(.notInstalled)
                try? await Task.sleep(for: recheckInterval)
            case .lost(let reason):
                report(.lost(reason: reason))
                try? await Task.sleep(for: retryDelay)
            }
        }
    }

    private enum Outcome {
        case notInstalled
        case lost(String)
    }

    /// One connection's life: connect, find the covered tables, listen until it fails.
    private func listenOnce(report: @escaping @Sendable (DatabaseChangeEvent) -> Void) async -> Outcome {
        let connection: PostgresConnection
        do {
            connection = try await connector.connect(
                on: eventLoopGroup.next(), configuration: try url.connectionConfiguration(), id: 0, logger: logger
            ).get()
        } catch {
            return .lost(PostgresStatements.backendError(error).message)
        }
        let outcome: Outcome
        do {
            var tables = Set<String>()
            let rows = try await connection.checkedQuery(
                PostgresQuery(unsafeSQL: PostgresChangeTriggers.coveredTablesQuery), logger: logger)
            for try await table in rows.decode(String.self) { tables.insert(table) }
            if tables.isEmpty {
                outcome = .notInstalled
            } else {
                try await listen(on: connection, tables: tables, report: report)
                outcome = .lost("the listening connection closed")
            }
        } catch {
            outcome = .lost(PostgresStatements.backendError(error).message)
        }
        try? await connection.close()
        return outcome
    }

    /// Reports changes until the connection fails (an error) or the task is cancelled; a heartbeat runs beside.
    private func listen(
        on connection: PostgresConnection, tables: Set<String>,
        report: @escaping @Sendable (DatabaseChangeEvent) -> Void
    ) async throws {
        let (logger, heartbeat, ownBackends) = (self.logger, self.heartbeat, self.ownBackends)
        try await connection.listen(on: PostgresChangeTriggers.channel) { notifications in
            report(.listening(tables: tables))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await notification in notifications {
                        guard let change = PostgresChangeTriggers.change(fromPayload: notification.payload) else {
                            logger.warning(
                                "unreadable change notification ignored",
                                metadata: ["payload": "\(notification.payload)"])
                            continue
                        }
                        if ownBackends.contains(change.backend) { continue }
                        report(.changed(tables: [change.table]))
                    }
                    throw BackendError(.unavailable, "the listening connection closed")
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: heartbeat)
                        try await Self.ping(connection, within: heartbeat, logger: logger)
                    }
                }
                // Either ends only by failing: the first failure ends both.
                try await group.next()
            }
        }
    }

    /// `SELECT 1`, failing when no answer comes within `timeout`.
    private static func ping(_ connection: PostgresConnection, within timeout: Duration, logger: Logger) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = try await connection.checkedQuery("SELECT 1", logger: logger)
                return true
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            let answered = try await group.next() ?? false
            group.cancelAll()
            if !answered {
                // A connection that stopped answering: closing it ends the listen too.
                try? await connection.close()
                throw BackendError(
                    .unavailable, "the listening connection stopped answering (no reply within \(timeout))")
            }
        }
    }
}

/// The backend process ids of TierCache's writer connections, so their notifications are known as its own.
final class PostgresBackendIDs: Sendable {
    private let ids = Mutex<[PostgresConnection.ID: Int32]>([:])
    /// More connections than a pool ever has: ids of closed connections are dropped past it.
    private let capacity = 256

    func contains(_ backend: Int32) -> Bool {
        ids.withLock { $0.values.contains(backend) }
    }

    /// Learns `connection`'s backend process id, once per connection.
    func learn(_ connection: PostgresConnection, logger: Logger) async throws {
        guard ids.withLock({ $0[connection.id] == nil }) else { return }
        let rows = try await connection.checkedQuery("SELECT pg_backend_pid()", logger: logger)
        for try await pid in rows.decode(Int32.self) {
            ids.withLock { ids in
                if ids.count >= capacity { ids.removeAll() }
                ids[connection.id] = pid
            }
        }
    }
}
