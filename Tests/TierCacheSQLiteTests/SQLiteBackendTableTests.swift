import Testing
import TierCacheBackend
import TierCacheSQLite

@Suite("SQLiteBackend table discovery")
struct SQLiteBackendTableTests {
    @Test("tables read by a join, a subquery, a view and a common table expression, lower-cased")
    func tablesRead() throws {
        try withBackend { (backend, _) throws in
            try backend.executeScript(
                """
                CREATE VIEW user_names AS SELECT name FROM users;
                CREATE VIEW spenders AS SELECT u.name, sum(o.total) AS spent FROM users u JOIN orders o
                    ON o.user_id = u.id GROUP BY u.id;
                """
            )
            let cases: [(sql: String, tables: Set<String>)] = [
                ("SELECT u.name, o.total FROM Users u JOIN ORDERS o ON o.user_id = u.id", ["users", "orders"]),
                (
                    "SELECT name FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 5)",
                    ["users", "orders"]
                ),
                ("SELECT count(*) FROM users", ["users"]),
                ("SELECT name FROM user_names", ["users"]),
                ("SELECT name, spent FROM spenders", ["users", "orders"]),
                ("WITH big AS (SELECT user_id FROM orders WHERE total > 5) SELECT count(*) FROM big", ["orders"]),
                ("SELECT 1", []),
                ("SELECT count(*) FROM sqlite_schema", []),
            ]
            for (sql, tables) in cases {
                #expect(try backend.read(sql, parameters: []).tablesRead == tables, "\(sql)")
                let info = try backend.inspect(sql)
                #expect(info.tablesRead == tables, "\(sql)")
                #expect(info.tablesWritten == [], "\(sql)")
                #expect(info.isReadOnly, "\(sql)")
            }
        }
    }

    @Test("tables written and changes for INSERT, UPDATE and DELETE")
    func tablesWritten() throws {
        try withBackend { (backend, _) throws in
            let inserted = try backend.write("INSERT INTO users (name) VALUES (?)", parameters: [.text("carol")])
            #expect(inserted == WriteResult(changes: 1, tablesWritten: ["users"], isReadOnly: false))
            let updated = try backend.write("UPDATE Orders SET total = total + 1 WHERE user_id = 1", parameters: [])
            #expect(updated == WriteResult(changes: 2, tablesWritten: ["orders"], isReadOnly: false))
            let deleted = try backend.write(
                "DELETE FROM orders WHERE user_id IN (SELECT id FROM users WHERE name = ?)",
                parameters: [.text("bob")]
            )
            #expect(deleted == WriteResult(changes: 1, tablesWritten: ["orders"], isReadOnly: false))
            let none = try backend.write("DELETE FROM orders WHERE id < 0", parameters: [])
            #expect(none == WriteResult(changes: 0, tablesWritten: ["orders"], isReadOnly: false))
        }
    }

    @Test("a trigger's writes are reported at prepare time; changes count only the statement's own rows")
    func triggerWrites() throws {
        try withBackend { (backend, _) throws in
            try backend.executeScript(
                """
                CREATE TABLE audit (order_id INTEGER, total REAL);
                CREATE TRIGGER order_audit AFTER INSERT ON orders BEGIN
                    INSERT INTO audit VALUES (new.id, new.total);
                END;
                """
            )
            let sql = "INSERT INTO orders (user_id, total) VALUES (?, ?)"
            let info = try backend.inspect(sql)
            #expect(info.tablesWritten == ["orders", "audit"])
            #expect(!info.isReadOnly)
            #expect(info.parameterCount == 2)
            let result = try backend.write(sql, parameters: [.integer(2), .real(4)])
            #expect(result == WriteResult(changes: 1, tablesWritten: ["orders", "audit"], isReadOnly: false))
            #expect(try backend.integer("SELECT count(*) FROM audit") == 1)
        }
    }

    @Test("a trigger created after a statement was cached is reported from the next run on")
    func triggerAddedLater() throws {
        try withBackend { (backend, _) throws in
            let sql = "UPDATE users SET name = ? WHERE id = ?"
            #expect(try backend.write(sql, parameters: [.text("al"), .integer(1)]).tablesWritten == ["users"])
            try backend.executeScript(
                """
                CREATE TABLE renames (old TEXT, new TEXT);
                CREATE TRIGGER user_renamed AFTER UPDATE OF name ON users BEGIN
                    INSERT INTO renames VALUES (old.name, new.name);
                END;
                """
            )
            let result = try backend.write(sql, parameters: [.text("ally"), .integer(1)])
            #expect(result == WriteResult(changes: 1, tablesWritten: ["users", "renames"], isReadOnly: false))
            #expect(try backend.integer("SELECT count(*) FROM renames") == 1)
        }
    }

    @Test("SQLite's own tables are not reported; DDL on a table reports that table")
    func internalTables() throws {
        try withBackend { (backend, _) throws in
            let created = try backend.write(
                "CREATE TABLE counters (id INTEGER PRIMARY KEY AUTOINCREMENT, n)", parameters: [])
            #expect(created.tablesWritten == [])
            let inserted = try backend.write("INSERT INTO counters (n) VALUES (1)", parameters: [])
            #expect(inserted.tablesWritten == ["counters"])
            let altered = try backend.write("ALTER TABLE counters ADD COLUMN label TEXT", parameters: [])
            #expect(altered.tablesWritten == ["counters"])
            let dropped = try backend.write("DROP TABLE counters", parameters: [])
            #expect(dropped.tablesWritten == ["counters"])
        }
    }

    @Test("write runs read-only statements too, reporting no changes and no tables written")
    func writeRunsReads() throws {
        try withBackend { (backend, _) throws in
            #expect(try backend.write("INSERT INTO users (name) VALUES ('carol')", parameters: []).changes == 1)
            // sqlite3_changes() would still say 1 here: the count belongs to the last INSERT, UPDATE or DELETE.
            let read = try backend.write("SELECT * FROM users", parameters: [])
            #expect(read == WriteResult(changes: 0, tablesWritten: [], isReadOnly: true))
            let created = try backend.write("CREATE INDEX users_by_name ON users (name)", parameters: [])
            #expect(created.changes == 0)
        }
    }

    @Test("inspect reports a write without running it, and prepares on a read-only connection")
    func inspectWrite() throws {
        try withBackend { (backend, _) throws in
            let info = try backend.inspect("UPDATE users SET name = :name WHERE id = :id")
            let expected = StatementInfo(
                isReadOnly: false, parameterCount: 2, tablesRead: ["users"], tablesWritten: ["users"]
            )
            #expect(info == expected)
            let create = try backend.inspect("CREATE TABLE later (a)")
            #expect(!create.isReadOnly)
            #expect(try backend.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'later'") == 0)
            expectBackendError(.invalidStatement, containing: "no such table: missing") {
                try backend.inspect("SELECT * FROM missing")
            }
        }
    }
}
