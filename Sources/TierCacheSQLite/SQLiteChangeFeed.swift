import TierCacheBackend

/// Hears other programs' commits to an SQLite file: on a read-only connection of its own, `PRAGMA data_version`
/// every `pollInterval` (it changes when another connection commits), and on a change, which tables' versions in
/// `tiercache_changes` moved (`SQLiteChangeTriggers`). TierCache's own writes move them too, and are applied a
/// second time: SQLite cannot say which connection wrote (an extra invalidation, never a missed one).
public final class SQLiteChangeFeed: DatabaseChangeFeed {
    private let path: String
    private let configuration: SQLiteBackend.Configuration
    private let pollInterval: Duration
    private let recheckInterval: Duration

    public init(
        path: String, configuration: SQLiteBackend.Configuration, pollInterval: Duration = .milliseconds(50),
        recheckInterval: Duration = .seconds(5)
    ) {
        self.path = path
        self.configuration = configuration
        self.pollInterval = pollInterval
        self.recheckInterval = recheckInterval
    }

    public func run(report: @escaping @Sendable (DatabaseChangeEvent) -> Void) async {
        while !Task.isCancelled {
            let reason: String
            do {
                let connection = try SQLiteConnection(path: path, role: .reader, configuration: configuration)
                defer { connection.close() }
                reason = try await watch(connection, report: report)
            } catch {
                reason = error.message
            }
            guard !Task.isCancelled else { return }
            if reason == Self.notInstalled {
                report(.notInstalled)
                try? await Task.sleep(for: recheckInterval)
            } else {
                report(.lost(reason: reason))
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private static let notInstalled = "not installed"

    /// Polls until the connection fails (throws), the triggers are gone (returns `notInstalled`) or the task is
    /// cancelled.
    private func watch(_ connection: SQLiteConnection, report: (DatabaseChangeEvent) -> Void) async throws(BackendError)
        -> String
    {
        let covered = try Self.strings(SQLiteChangeTriggers.coveredTablesQuery, on: connection)
        guard !covered.isEmpty else { return Self.notInstalled }
        var dataVersion = try Self.dataVersion(connection)
        var versions = try Self.versions(connection)
        report(.listening(tables: Set(covered)))
        while !Task.isCancelled {
            try? await Task.sleep(for: pollInterval)
            let now = try Self.dataVersion(connection)
            guard now != dataVersion else { continue }
            dataVersion = now
            let current = try Self.versions(connection)
            let moved = Set(current.keys.filter { current[$0] != versions[$0] })
            versions = current
            if !moved.isEmpty { report(.changed(tables: moved)) }
        }
        return "stopped"
    }

    private static func dataVersion(_ connection: SQLiteConnection) throws(BackendError) -> Int64 {
        let rows = try connection.read("PRAGMA data_version", parameters: [], timeout: nil).resultSet.rows
        guard case .integer(let version)? = rows.first?.first else {
            throw BackendError(.failed, "PRAGMA data_version gave no number")
        }
        return version
    }

    /// Each table's version; an empty map when the log table is gone (it is created with the triggers).
    private static func versions(_ connection: SQLiteConnection) throws(BackendError) -> [String: Int64] {
        let rows = try connection.read(SQLiteChangeTriggers.versionsQuery, parameters: [], timeout: nil).resultSet.rows
        var versions: [String: Int64] = [:]
        for row in rows {
            if row.count == 2, case .text(let name) = row[0], case .integer(let version) = row[1] {
                versions[String(decoding: name, as: UTF8.self)] = version
            }
        }
        return versions
    }

    static func strings(_ sql: String, on connection: SQLiteConnection) throws(BackendError) -> [String] {
        try connection.read(sql, parameters: [], timeout: nil).resultSet.rows.compactMap { row in
            if case .text(let bytes)? = row.first { String(decoding: bytes, as: UTF8.self) } else { nil }
        }
    }
}
