import Testing
import TierCacheBackend
import TierCacheSQLite

@Suite("SQLiteBackend reads")
struct SQLiteBackendReadTests {
    @Test("read returns column names in statement order and cells typed as stored")
    func typedCellsAndColumnNames() throws {
        try withBackend { (backend, _) throws in
            try backend.executeScript(
                """
                CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, price REAL, picture BLOB, note TEXT);
                INSERT INTO items VALUES (7, 'lamp', 12.5, x'00ff10', NULL);
                """
            )
            let result = try backend.read(
                "SELECT id, label AS name, price, picture, note FROM items WHERE id = ?",
                parameters: [.integer(7)]
            )
            #expect(result.resultSet.columns == ["id", "name", "price", "picture", "note"])
            #expect(result.resultSet.rows == [[.integer(7), .text("lamp"), .real(12.5), .blob([0, 255, 16]), .null]])
            #expect(result.tablesRead == ["items"])
        }
    }

    static let roundTripValues: [SQLValue] = [
        .null,
        .integer(0), .integer(Int64.min), .integer(Int64.max),
        .real(3.25), .real(-1e300),
        .text("héllo ✓"), .text([0x61, 0x00, 0x62, 0x00]), .text([]),
        .blob([0x00, 0x01, 0xFF, 0x00, 0x7F]), .blob([]),
    ]

    @Test("values keep their type and bytes through a parameter, a table and a read", arguments: roundTripValues)
    func roundTrip(value: SQLValue) throws {
        try withBackend { (backend, _) throws in
            // No declared type: no column affinity, so SQLite stores each value exactly as bound.
            try backend.executeScript("CREATE TABLE cells (id INTEGER PRIMARY KEY, value)")
            let written = try backend.write("INSERT INTO cells (id, value) VALUES (1, ?)", parameters: [value])
            #expect(written.changes == 1)
            let stored = try backend.read("SELECT value, length(value) FROM cells WHERE id = 1", parameters: [])
            #expect(stored.resultSet.rows.first?.first == value)
            if case .blob(let bytes) = value {
                #expect(stored.resultSet.rows.first?.last == .integer(Int64(bytes.count)))
            }
            let echoed = try backend.read("SELECT ?", parameters: [value])
            #expect(echoed.resultSet.rows == [[value]])
        }
    }

    @Test("parameters bind in order; a count mismatch says what was expected")
    func parameterBinding() throws {
        try withBackend { (backend, _) throws in
            let sql = "SELECT name FROM users WHERE id = ? AND name <> ?"
            let rows = try backend.read(sql, parameters: [.integer(2), .text("nobody")]).resultSet.rows
            #expect(rows == [[.text("bob")]])
            expectBackendError(.parameterCount, containing: "statement expects 2 parameters, got 1") {
                try backend.read(sql, parameters: [.integer(2)])
            }
            expectBackendError(.parameterCount, containing: "statement expects 2 parameters, got 3") {
                try backend.read(sql, parameters: [.integer(2), .null, .null])
            }
            expectBackendError(.parameterCount, containing: "statement expects 1 parameter, got 0") {
                try backend.write("DELETE FROM users WHERE id = :id", parameters: [])
            }
            // The refused calls left nothing bound or half-run: the same statement still works.
            #expect(try backend.read(sql, parameters: [.integer(1), .null]).resultSet.rows == [])
            #expect(try backend.read(sql, parameters: [.integer(1), .text("x")]).resultSet.rows == [[.text("alice")]])
        }
    }

    @Test(
        "read refuses anything SQLite says may write",
        arguments: [
            "INSERT INTO users (name) VALUES ('carol')",
            "UPDATE users SET name = 'eve' WHERE id = 1",
            "DELETE FROM users",
            "CREATE TABLE extra (a)",
            "DROP TABLE orders",
            "PRAGMA user_version = 5",
            "WITH doomed AS (SELECT id FROM users) DELETE FROM users WHERE id IN doomed",
        ]
    )
    func refusesWrites(sql: String) throws {
        try withBackend { (backend, _) throws in
            expectBackendError(.notReadOnly, containing: "QUERY only runs read-only statements; use SQL.EXEC to write") {
                try backend.read(sql, parameters: [])
            }
            #expect(try backend.integer("SELECT count(*) FROM users") == 2)
            #expect(try backend.integer("SELECT count(*) FROM sqlite_schema WHERE type = 'table'") == 2)
            #expect(try backend.integer("PRAGMA user_version") == 0)
        }
    }

    @Test(
        "read runs SELECT and WITH … SELECT",
        arguments: [
            "SELECT count(*) FROM users",
            "WITH named AS (SELECT id FROM users WHERE name LIKE '%') SELECT count(*) FROM named",
            "select count(*) from (select 1 from orders where user_id = 1)",
        ]
    )
    func acceptsReads(sql: String) throws {
        try withBackend { (backend, _) throws in
            #expect(try backend.integer(sql) == 2)
        }
    }

    @Test("PRAGMAs with an argument would change the shared reader: read refuses them, pragma tables work")
    func pragmas() throws {
        try withBackend { (backend, _) throws in
            #expect(try backend.integer("PRAGMA user_version") == 0)
            // Informational PRAGMAs in their setting form get past the rules (SQLiteHardeningTests) to read's own.
            expectBackendError(.notReadOnly) {
                try backend.read("PRAGMA user_version = 1", parameters: [])
            }
            expectBackendError(.notAllowed, containing: "PRAGMA busy_timeout is not allowed") {
                try backend.read("PRAGMA busy_timeout = 0", parameters: [])
            }
            let columns = try backend.read("SELECT name FROM pragma_table_info('users')", parameters: [])
            #expect(columns.resultSet.rows == [[.text("id")], [.text("name")]])
        }
    }

    @Test(
        "transaction statements are refused by read, write and inspect (ATTACH: SQLiteHardeningTests)",
        arguments: ["BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", "SAVEPOINT s", "RELEASE s"]
    )
    func connectionStatements(sql: String) throws {
        try withBackend { (backend, _) throws in
            expectBackendError(.invalidStatement, containing: "not supported") { try backend.read(sql, parameters: []) }
            expectBackendError(.invalidStatement, containing: "not supported") {
                try backend.write(sql, parameters: [])
            }
            expectBackendError(.invalidStatement, containing: "not supported") { try backend.inspect(sql) }
            // Still in autocommit: a write is committed and seen by the reader at once.
            _ = try backend.write("INSERT INTO users (name) VALUES ('carol')", parameters: [])
            #expect(try backend.integer("SELECT count(*) FROM users") == 3)
        }
    }
}
