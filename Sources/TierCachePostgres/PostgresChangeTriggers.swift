import Foundation

/// The triggers `tiercache db install-triggers` puts on the policies' tables: after each statement that changes
/// one (INSERT, UPDATE, DELETE, TRUNCATE), a `NOTIFY` on `channel` whose payload names the table, the backend
/// that wrote (so TierCache skips its own writes, which it invalidated already) and the time, sent when the
/// transaction commits. Named `tiercache_notify`, which `PostgresStatementTables.reach` knows writes nothing.
public enum PostgresChangeTriggers {
    public static let channel = "tiercache_changes"
    static let name = "tiercache_notify"

    /// Statements that create the function and one trigger per table, replacing what an earlier run made.
    public static func installStatements(tables: [String]) -> [String] {
        [
            """
            CREATE OR REPLACE FUNCTION \(name)() RETURNS trigger LANGUAGE plpgsql AS $tiercache$
            BEGIN
                PERFORM pg_notify('\(channel)', lower(TG_TABLE_NAME) || ' ' || pg_backend_pid() || ' '
                    || (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
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

    /// A notification's payload: the table, the writer's backend process id, the time in microseconds.
    struct Change: Equatable {
        var table: String
        var backend: Int32
        var microseconds: Int64
    }

    static func change(fromPayload payload: String) -> Change? {
        // From the end: a quoted table name may hold spaces.
        let parts = payload.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count >= 3, let backend = Int32(parts[parts.count - 2]),
            let microseconds = Int64(parts[parts.count - 1])
        else { return nil }
        return Change(
            table: parts.dropLast(2).joined(separator: " "), backend: backend, microseconds: microseconds)
    }
}
