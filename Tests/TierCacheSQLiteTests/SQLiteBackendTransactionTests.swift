import Testing
import TierCacheBackend
import TierCacheSQLite

@Suite("SQLiteBackend transactions")
struct SQLiteBackendTransactionTests {
    @Test("writes in one transaction commit together, and its reads see its own writes")
    func commitsTogether() throws {
        try withBackend { (backend, _) throws in
            let seen = try backend.inTransaction { transaction throws(BackendError) in
                _ = try transaction.write("UPDATE users SET name = 'alicia' WHERE id = 1", parameters: [])
                _ = try transaction.write("INSERT INTO users (id, name) VALUES (3, 'carol')", parameters: [])
                return try transaction.read("SELECT name FROM users ORDER BY id", parameters: []).resultSet.rows
            }
            #expect(seen == [[.text("alicia")], [.text("bob")], [.text("carol")]])
            // Committed: the readers see it too.
            #expect(try backend.integer("SELECT count(*) FROM users") == 3)
        }
    }

    @Test("a failing statement rolls back every write before it, and the writer is usable after")
    func rollsBackTogether() throws {
        try withBackend { (backend, _) throws in
            expectBackendError(.constraint, containing: "UNIQUE") {
                try backend.inTransaction { transaction throws(BackendError) in
                    _ = try transaction.write("UPDATE users SET name = 'alicia' WHERE id = 1", parameters: [])
                    _ = try transaction.write("INSERT INTO users (id, name) VALUES (3, 'carol')", parameters: [])
                    _ = try transaction.write("INSERT INTO users (id, name) VALUES (4, 'bob')", parameters: [])
                }
            }
            #expect(try backend.read("SELECT name FROM users ORDER BY id", parameters: []).resultSet.rows
                == [[.text("alice")], [.text("bob")]])
            #expect(try backend.write("INSERT INTO users (id, name) VALUES (3, 'carol')", parameters: []).changes == 1)
        }
    }

    @Test("a client's statement can't end the transaction early or escape the rules inside it")
    func statementsInside() throws {
        try withBackend { (backend, _) throws in
            expectBackendError(.invalidStatement, containing: "transaction statements are not supported") {
                try backend.inTransaction { transaction throws(BackendError) in
                    _ = try transaction.write("INSERT INTO users (id, name) VALUES (3, 'carol')", parameters: [])
                    _ = try transaction.write("COMMIT", parameters: [])
                }
            }
            expectBackendError(.notAllowed, containing: "PRAGMA") {
                try backend.inTransaction { transaction throws(BackendError) in
                    try transaction.write("PRAGMA query_only = 1", parameters: [])
                }
            }
            expectBackendError(.notReadOnly) {
                try backend.inTransaction { transaction throws(BackendError) in
                    try transaction.read("DELETE FROM users", parameters: [])
                }
            }
            #expect(try backend.integer("SELECT count(*) FROM users") == 2)
        }
    }
}
