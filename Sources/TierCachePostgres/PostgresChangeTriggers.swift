import Foundation

/// The triggers `tiercache db install-triggers` puts on the policies' tables: after each statement that changes
/// one (INSERT, UPDATE, DELETE, TRUNCATE), a `NOTIFY` on `channel` whose payload names the table and the backend
/// that wrote (so TierCache skips its own writes, which it invalidated already), sent when the transaction
/// commits. Nothing that differs between statements is in it, so PostgreSQL sends a transaction's notifications
/// for one table once (an upsert fires both the INSERT and the UPDATE triggers). Named `tiercache_notify`, which
/// `PostgresStatementTables.reach` knows writes nothing.
public enum PostgresChangeTriggers {
    public static let channel = "tiercache_changes"
    static let name = "tiercache_notify"

    /// Statements that create the function and one trigger per table, replacing what an earlier run made.
    public static func installStatements(tables: [String]) -> [String] {
        [
            """
            CREATE OR REPLACE FUNCTION \(name)() RETURNS trigger LANGUAGE plpgsql AS $tiercache$
            BEGIN
                PERFORM pg_notify('\(channel)', lower(TG_TABLE_NAME) || ' ' || pg_backend_pid());
                RETURN NULL;
            END
            $tiercache$
            """
        ]
            + tables.flatMap { table in
                [
                    "DROP TRIGGER IF EXISTS \(name) ON \(quoted(table))",
                    """
                    CREATE TRIGGER \(name) AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON \(quoted(table))
                        FOR EACH STATEMENT EXECUTE FUNCTION \(name)()
                    """,
                ]
            }
    }

    /// Statements that remove every such trigger and the function (`CASCADE` drops the triggers with it).
    public static let uninstallStatements = ["DROP FUNCTION IF EXISTS \(name)() CASCADE"]

    /// The tables that have the trigger now, lower-cased.
    static let coveredTablesQuery = """
        SELECT DISTINCT lower(c.relname) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE t.tgname = '\(name)' AND NOT t.tgisinternal
        """

    /// A table name as an SQL identifier.
    static func quoted(_ table: String) -> String {
        "\"" + table.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A notification's payload: the table and the writer's backend process id.
    struct Change: Equatable {
        var table: String
        var backend: Int32
    }

    static func change(fromPayload payload: String) -> Change? {
        // From the end: a quoted table name may hold spaces.
        guard let space = payload.lastIndex(of: " "), let backend = Int32(payload[payload.index(after: space)...])
        else { return nil }
        let table = String(payload[..<space])
        return table.isEmpty ? nil : Change(table: table, backend: backend)
    }
}
