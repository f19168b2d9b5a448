import Testing
import TierCacheBackend

@testable import TierCacheSQLite

@Suite("SQLiteBackend statements")
struct SQLiteBackendStatementTests {
    @Test("more than one statement is refused before anything runs")
    func multipleStatements() throws {
        try withBackend { (backend, _) throws in
            expectBackendError(
                .invalidStatement, containing: "only one statement per call; found more after 'SELECT 1;'"
            ) {
                try backend.read("  SELECT 1; SELECT 2", parameters: [])
            }
            expectBackendError(.invalidStatement, containing: "only one statement per call") {
                try backend.write("DELETE FROM orders; DROP TABLE users", parameters: [])
            }
            expectBackendError(.invalidStatement, containing: "only one statement per call") {
                try backend.read("SELECT 1; garbage", parameters: [])
            }
            expectBackendError(.invalidStatement, containing: "only one statement per call") {
                try backend.inspect("SELECT 1;;; /* c */ SELECT 2")
            }
            #expect(try backend.integer("SELECT count(*) FROM orders") == 3)
            // White space, comments and stray semicolons after the statement are not a second one.
            #expect(try backend.integer("SELECT count(*) FROM users; -- two\n /* done */ ;\n") == 2)
        }
    }

    @Test("empty SQL, bad SQL and NUL bytes are invalid statements", arguments: ["", "   ", "-- nothing\n", ";"])
    func emptyStatements(sql: String) throws {
        try withBackend { (backend, _) throws in
            expectBackendError(.invalidStatement, containing: "empty") { try backend.read(sql, parameters: []) }
            expectBackendError(.invalidStatement, containing: "empty") { try backend.write(sql, parameters: []) }
            expectBackendError(.invalidStatement, containing: "empty") { try backend.inspect(sql) }
        }
    }

    @Test("errors at prepare are invalid statements, in SQLite's words; constraints are constraints")
    func errorMapping() throws {
        try withBackend { (backend, _) throws in
            expectBackendError(.invalidStatement, containing: "no such table: nope") {
                try backend.read("SELECT * FROM nope", parameters: [])
            }
            expectBackendError(.invalidStatement, containing: "no such column: age") {
                try backend.write("UPDATE users SET age = 3", parameters: [])
            }
            expectBackendError(.invalidStatement, containing: "syntax error") {
                try backend.read("SELEKT 1", parameters: [])
            }
            expectBackendError(.invalidStatement, containing: "NUL") {
                try backend.read("SELECT 1\u{0}; DROP TABLE users", parameters: [])
            }
            expectBackendError(.constraint, containing: "UNIQUE constraint failed: users.name") {
                try backend.write("INSERT INTO users (name) VALUES (?)", parameters: [.text("alice")])
            }
            expectBackendError(.constraint, containing: "NOT NULL constraint failed: users.name") {
                try backend.write("INSERT INTO users (name) VALUES (?)", parameters: [.null])
            }
            // A failed write is rolled back and the statement still works.
            let added = try backend.write("INSERT INTO users (name) VALUES (?)", parameters: [.text("carol")])
            #expect(added.changes == 1)
            #expect(try backend.integer("SELECT count(*) FROM users") == 3)
        }
    }

    @Test("the statement cache prepares a statement once and keeps at most statementCacheSize of them")
    func statementCache() throws {
        try withBackend(configuration: .init(statementCacheSize: 4)) { (backend, _) throws in
            let before = backend.cacheState().reader.prepared
            let sql = "SELECT name FROM users WHERE id = ?"
            for (id, name) in [(1, "alice"), (2, "bob"), (1, "alice"), (3, nil)] as [(Int64, String?)] {
                let rows = try backend.read(sql, parameters: [.integer(id)]).resultSet.rows
                #expect(rows == (name.map { [[.text($0)]] } ?? []))
            }
            #expect(backend.cacheState().reader.prepared == before + 1)

            for value in 0..<10 {
                #expect(try backend.integer("SELECT \(value) + ?", [.integer(1)]) == Int64(value + 1))
            }
            #expect(backend.cacheState().reader.cached == 4)
            #expect(backend.cacheState().reader.prepared == before + 11)
            // The first statement was evicted long ago: it is prepared again and still answers.
            #expect(try backend.read(sql, parameters: [.integer(2)]).resultSet.rows == [[.text("bob")]])
            #expect(backend.cacheState().reader.prepared == before + 12)
            // The most recent ones are still cached.
            #expect(try backend.integer("SELECT 9 + ?", [.integer(1)]) == 10)
            #expect(backend.cacheState().reader.prepared == before + 12)

            let insert = "INSERT INTO orders (user_id, total) VALUES (?, ?)"
            let writerBefore = backend.cacheState().writer.prepared
            for total in 1...5 {
                _ = try backend.write(insert, parameters: [.integer(1), .real(Double(total))])
            }
            #expect(backend.cacheState().writer.prepared == writerBefore + 1)
            #expect(try backend.integer("SELECT count(*) FROM orders") == 8)
        }
    }

    @Test("a table renamed away fails reads clearly; renamed back, reads work again")
    func tableRenamedAway() throws {
        try withBackend { (backend, _) throws in
            let sql = "SELECT name FROM users ORDER BY id"
            #expect(try backend.read(sql, parameters: []).resultSet.rows.count == 2)
            _ = try backend.write("ALTER TABLE users RENAME TO people", parameters: [])
            // Found while running (SQLite re-prepares the cached statement): the statement's error. The proxy counts
            // it against the database when the statement is a policy's.
            let error = expectBackendError(.statementError, containing: "no such table: users") {
                try backend.read(sql, parameters: [])
            }
            #expect(error?.message == "no such table: users")
            _ = try backend.write("ALTER TABLE people RENAME TO users", parameters: [])
            #expect(try backend.read(sql, parameters: []).resultSet.rows == [[.text("alice")], [.text("bob")]])
        }
    }

    @Test("after a schema change, a cached SELECT * reports the new columns")
    func columnsAfterSchemaChange() throws {
        try withBackend { (backend, _) throws in
            let sql = "SELECT * FROM users WHERE id = 1"
            #expect(try backend.read(sql, parameters: []).resultSet.columns == ["id", "name"])
            _ = try backend.write("ALTER TABLE users ADD COLUMN email TEXT", parameters: [])
            let result = try backend.read(sql, parameters: [])
            #expect(result.resultSet.columns == ["id", "name", "email"])
            #expect(result.resultSet.rows == [[.integer(1), .text("alice"), .null]])
        }
    }
}
