/// Commits other programs make to the database (psql, migrations, another service), as the triggers
/// `tiercache db install-triggers` puts on the policies' tables report them.
public protocol DatabaseChangeFeed: Sendable {
    /// Listens until the calling task is cancelled, reporting through `report`; after a loss it reconnects by
    /// itself.
    func run(report: @escaping @Sendable (DatabaseChangeEvent) -> Void) async
}

/// What a `DatabaseChangeFeed` reports.
public enum DatabaseChangeEvent: Sendable, Equatable {
    /// Listening, for changes to `tables` (those with TierCache's triggers, lower-cased). Changes committed before
    /// this moment, while not listening, were not heard.
    case listening(tables: Set<String>)
    /// Connected, but no table has TierCache's triggers: other programs' writes are not heard (it looks again now
    /// and then).
    case notInstalled
    /// Another program committed changes to `tables`.
    case changed(tables: Set<String>)
    /// Not listening (the connection failed or was lost): changes committed now are missed. Reconnecting.
    case lost(reason: String)
}

extension BackendAdapter {
    /// The backend's feed of other programs' commits; nil when it has none.
    public var changeFeed: (any DatabaseChangeFeed)? { nil }
}
