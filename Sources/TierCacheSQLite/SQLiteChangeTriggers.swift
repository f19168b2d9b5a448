/// What `tiercache db install-triggers` puts in an SQLite database: a small table with one row per table, whose
/// `version` the triggers on that table raise after each insert, update or delete by any program. SQLite has no
/// notifications: TierCache notices another connection's commit by `PRAGMA data_version` and reads which
/// versions moved (`SQLiteChangeFeed`). One row per table, so the log never grows and needs no pruning.
public enum SQLiteChangeTriggers {
    static let logTable = "tiercache_changes"
    static let triggerPrefix = "tiercache_notify_"

    /// A script (one transaction) that creates the table and three triggers per table, replacing earlier ones.
    public static func installScript(tables: [String]) -> String {
        var script = "CREATE TABLE IF NOT EXISTS \(logTable) (table_name TEXT PRIMARY KEY, version INTEGER NOT NULL);\n"
        for table in tables {
            let literal =
                "'"
                + table.lowercased().split(separator: "'", omittingEmptySubsequences: false)
                .joined(separator: "''") + "'"
            for operation in ["INSERT", "UPDATE", "DELETE"] {
                let name = quoted(triggerPrefix + table + "_" + operation.lowercased())
                script += """
                    DROP TRIGGER IF EXISTS \(name);
                    CREATE TRIGGER \(name) AFTER \(operation) ON \(quoted(table)) BEGIN
                        INSERT INTO \(logTable) (table_name, version) VALUES (\(literal), 1)
                            ON CONFLICT (table_name) DO UPDATE SET version = version + 1;
                    END;

                    """
            }
        }
        return script
    }

    /// The tables with TierCache's triggers, lower-cased.
    static let coveredTablesQuery = """
        SELECT DISTINCT lower(tbl_name) FROM sqlite_master
        WHERE type = 'trigger' AND name LIKE 'tiercache\\_notify\\_%' ESCAPE '\\'
        """

    static let versionsQuery = "SELECT table_name, version FROM \(logTable)"

    /// The names of TierCache's triggers, to drop them.
    public static let triggerNamesQuery =
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'tiercache\\_notify\\_%' ESCAPE '\\'"

    static func quoted(_ name: String) -> String {
        "\"" + name.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    /// A script that drops `triggers` (their names) and the table.
    public static func uninstallScript(triggers: [String]) -> String {
        triggers.map { "DROP TRIGGER IF EXISTS \(quoted($0));\n" }.joined() + "DROP TABLE IF EXISTS \(logTable);\n"
    }
}
