import Foundation
import Testing
import TierCacheBackend
import TierCacheSQLite

@Suite("SQLiteBackend lifecycle")
struct SQLiteBackendLifecycleTests {
    @Test("a missing file with createIfMissing false is unavailable, naming the path, and is not created")
    func missingFile() throws {
        try withDatabasePath { (path) throws in
            expectBackendError(.unavailable, containing: path) {
                try SQLiteBackend(path: path, configuration: .init(createIfMissing: false))
            }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("a file that is not a database is unavailable")
    func notADatabase() throws {
        try withDatabasePath { (path) throws in
            try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
            expectBackendError(.unavailable, containing: path) { try SQLiteBackend(path: path) }
        }
    }

    @Test("a configuration out of range is refused, naming the allowed values")
    func badConfiguration() throws {
        try withDatabasePath { (path) throws in
            expectBackendError(.failed, containing: "statementCacheSize must be 1 or more, got 0") {
                try SQLiteBackend(path: path, configuration: .init(statementCacheSize: 0))
            }
            expectBackendError(.failed, containing: "busyTimeoutMilliseconds must be 0...") {
                try SQLiteBackend(path: path, configuration: .init(busyTimeoutMilliseconds: -1))
            }
        }
    }

    @Test("a new database is created in WAL mode; a write is visible to the next read")
    func walVisibility() throws {
        try withBackend { (backend, path) throws in
            // Header bytes 18 and 19 (file format write and read versions) are 2 in WAL mode. (`PRAGMA journal_mode`
            // itself is no read-only statement, so QUERY can't ask.)
            let header = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(20)
            #expect(Array(header.suffix(2)) == [2, 2])
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
            for number in 3...5 {
                _ = try backend.write(
                    "INSERT INTO users (id, name) VALUES (?, ?)",
                    parameters: [.integer(Int64(number)), .text("user\(number)")]
                )
                #expect(try backend.integer("SELECT max(id) FROM users") == Int64(number))
            }
        }
    }

    @Test("two backends on one file, like two proxies, see each other's writes")
    func twoBackends() throws {
        try withBackend { (first, path) throws in
            let second = try SQLiteBackend(path: path, configuration: .init(createIfMissing: false))
            defer { second.close() }
            #expect(try second.integer("SELECT count(*) FROM users") == 2)
            _ = try first.write("INSERT INTO users (name) VALUES ('carol')", parameters: [])
            #expect(try second.integer("SELECT count(*) FROM users") == 3)
            _ = try second.write("DELETE FROM users WHERE name = 'alice'", parameters: [])
            #expect(try first.integer("SELECT count(*) FROM users") == 2)
            try second.executeScript("CREATE TABLE shared (a); INSERT INTO shared VALUES (1);")
            #expect(try first.read("SELECT a FROM shared", parameters: []).resultSet.rows == [[.integer(1)]])
        }
    }

    @Test("a script runs as one transaction: a failure part-way leaves nothing behind")
    func scriptTransaction() throws {
        try withBackend { (backend, _) throws in
            expectBackendError(.constraint, containing: "UNIQUE") {
                try backend.executeScript(
                    """
                    CREATE TABLE notes (body TEXT);
                    INSERT INTO notes VALUES ('kept?');
                    INSERT INTO users (name) VALUES ('alice');
                    """
                )
            }
            expectBackendError(.invalidStatement, containing: "no such table: notes") {
                try backend.read("SELECT * FROM notes", parameters: [])
            }
            expectBackendError(.invalidStatement, containing: "syntax error") {
                try backend.executeScript("INSERT INTO users (name) VALUES ('dan'); NONSENSE;")
            }
            #expect(try backend.integer("SELECT count(*) FROM users") == 2)
            // The connection is back in autocommit: plain writes still commit.
            _ = try backend.write("INSERT INTO users (name) VALUES ('erin')", parameters: [])
            #expect(try backend.integer("SELECT count(*) FROM users") == 3)
        }
    }

    @Test("after close(), every call is unavailable; close() twice is fine")
    func closed() throws {
        try withBackend { (backend, _) throws in
            backend.close()
            backend.close()
            expectBackendError(.unavailable, containing: "database is closed") {
                try backend.read("SELECT 1", parameters: [])
            }
            expectBackendError(.unavailable, containing: "database is closed") {
                try backend.write("DELETE FROM users", parameters: [])
            }
            expectBackendError(.unavailable, containing: "database is closed") { try backend.inspect("SELECT 1") }
            expectBackendError(.unavailable, containing: "database is closed") { try backend.executeScript("SELECT 1") }
        }
    }

    @Test("closing the last connection folds the WAL into the database file")
    func closeCheckpoints() throws {
        try withBackend { (backend, path) throws in
            backend.close()
            #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
            let reopened = try SQLiteBackend(path: path, configuration: .init(createIfMissing: false))
            defer { reopened.close() }
            #expect(try reopened.integer("SELECT count(*) FROM orders") == 3)
        }
    }
}
