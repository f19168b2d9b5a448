import CSQLite

/// SQLite's authorizer for one connection: refuses what no statement of a shared server may do
/// (`StatementAuthorizer+Rules.swift`), and records what a prepare reports: the tables it reads and writes, and
/// whether it would change the connection itself rather than the database.
///
/// SQLite calls the authorizer for everything the compiled program will touch, views resolved to their tables and
/// triggers' bodies included, so nothing here guesses from the SQL text. It also calls it while a statement runs,
/// for the statements SQLite prepares internally (VACUUM's `ATTACH`, a `pragma_*()` table's `PRAGMA`): the rules
/// hold there too, so a refused operation can't be reached through another.
///
/// Installed once per connection, for the connection's lifetime: installing an authorizer expires every prepared
/// statement of the connection, so attaching one around each prepare would make every cached statement re-prepare
/// on its next use. SQLite calls it only while preparing (ours, `sqlite3_exec`'s, its own internal ones and its
/// re-prepares after a schema change), never per row.
final class StatementAuthorizer {
    /// Statements that change a connection's state instead of its data. A connection here is shared by every
    /// client, so none of them runs through `read` or `write`.
    enum ConnectionChange {
        /// BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE: each call already is its own transaction.
        case transaction
    }

    /// What one prepare reported. Table names are ASCII-lower-cased; SQLite's own `sqlite_*` tables are left out.
    struct Recording {
        var tablesWritten: Set<String> = []
        /// The first connection-level change the statement makes, if any.
        var connectionChange: ConnectionChange?
        /// Whether the statement is a PRAGMA that sets a value (`PRAGMA user_version = 1`). Only pragmas the rules
        /// allow get this far.
        var setsPragma = false
        /// Every name SQLite reported a read from, views included.
        fileprivate var namesRead: Set<String> = []
        /// Views, common table expressions and triggers that SQLite names as the source of a read (its fourth
        /// argument). A view's own columns are reported as a read too; these names take them out again.
        fileprivate var readSources: Set<String> = []

        /// The tables read, without views and common table expressions.
        var tablesRead: Set<String> { namesRead.subtracting(readSources) }
    }

    /// Nil when not recording.
    private var current: Recording?
    /// Set while TierCache runs statements of its own (opening, checkpoints, the demo schema): the rules are for
    /// statements that come from clients and policies.
    private var trusted = false
    /// Why the rules last refused something: SQLite itself only says "not authorized". Read by the caller right
    /// after the call that failed, on the same thread (the connection is used by one thread at a time).
    private(set) var lastRefusal: String?

    /// Installs this authorizer on `connection`. The connection must keep it alive until it is closed.
    func install(on connection: OpaquePointer) {
        sqlite3_set_authorizer(
            connection,
            { context, action, first, second, database, source in
                guard let context else { return SQLITE_OK }
                let authorizer = Unmanaged<StatementAuthorizer>.fromOpaque(context).takeUnretainedValue()
                return authorizer.authorize(action: action, first: first, second: second, source: source)
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Removes the authorizer from `connection`, before closing it. (Removing one expires nothing.)
    static func uninstall(from connection: OpaquePointer) {
        sqlite3_set_authorizer(connection, nil, nil)
    }

    /// Records what SQLite reports during `body`, which should prepare one statement.
    func recording<Result>(_ body: () -> Result) -> (Result, Recording) {
        current = Recording()
        lastRefusal = nil
        defer { current = nil }
        let result = body()
        return (result, current ?? Recording())
    }

    /// Runs `body`, one of TierCache's own statements, outside the rules.
    func trusting<Result, Failure>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        trusted = true
        defer { trusted = false }
        return try body()
    }

    /// Forgets the last refusal, before a statement runs.
    func clearRefusal() {
        lastRefusal = nil
    }

    /// One authorizer call: refuses what the rules forbid, records the rest.
    private func authorize(
        action: Int32,
        first: UnsafePointer<CChar>?,
        second: UnsafePointer<CChar>?,
        source: UnsafePointer<CChar>?
    ) -> Int32 {
        if !trusted, let refusal = Self.refusal(action: action, first: first, second: second) {
            lastRefusal = refusal
            return SQLITE_DENY
        }
        guard var recording = current else { return SQLITE_OK }
        // Leave `recording` the only reference to the sets, so that inserting into them does not copy them.
        current = nil
        defer { current = recording }
        switch action {
        case SQLITE_READ:
            Self.insert(first, into: &recording.namesRead)
            Self.insert(source, into: &recording.readSources)
        case SQLITE_INSERT, SQLITE_UPDATE, SQLITE_DELETE:
            Self.insert(first, into: &recording.tablesWritten)
        case SQLITE_ALTER_TABLE:
            // The first argument is the database name, the second the table.
            Self.insert(second, into: &recording.tablesWritten)
        case SQLITE_TRANSACTION, SQLITE_SAVEPOINT:
            recording.connectionChange = recording.connectionChange ?? .transaction
        case SQLITE_PRAGMA:
            if second != nil, let first, !Self.pragmasNamingAnObject.contains(Self.asciiLowercased(first)) {
                recording.setsPragma = true
            }
        default:
            break
        }
        return SQLITE_OK
    }

    private static func insert(_ name: UnsafePointer<CChar>?, into set: inout Set<String>) {
        guard let name, name.pointee != 0 else { return }
        let lowered = asciiLowercased(name)
        if !lowered.hasPrefix("sqlite_") { set.insert(lowered) }
    }

    /// SQLite compares identifiers case-insensitively for ASCII letters only, so only those are folded.
    static func asciiLowercased(_ name: UnsafePointer<CChar>) -> String {
        let folded = String(cString: name).utf8.map { byte in byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte }
        return String(decoding: folded, as: UTF8.self)
    }
}
