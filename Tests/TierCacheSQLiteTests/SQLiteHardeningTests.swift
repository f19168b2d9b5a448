import Dispatch
import Foundation
import Testing
import TierCacheBackend
import TierCacheSQLite

/// The holes issue 12 found in the SQL surface, each tried the way an attacker tried it, through `read` (QUERY)
/// and `write` (SQL.EXEC); and SQLite's own defences checked beneath the authorizer, through the trusted script path.
@Suite("SQLiteBackend hardening")
struct SQLiteHardeningTests {
    @Test("fts3_tokenizer is refused in reads and writes, and disabled in SQLite itself")
    func fts3Tokenizer() throws {
        try withBackend { (backend, _) throws in
            expectBackendError(.notAllowed, containing: "fts3_tokenizer() is not allowed") {
                try backend.read("SELECT hex(fts3_tokenizer('porter'))", parameters: [])
            }
            expectBackendError(.notAllowed, containing: "fts3_tokenizer() is not allowed") {
                try backend.read("SELECT fts3_tokenizer('simple', x'4141414141414141')", parameters: [])
            }
            expectBackendError(.notAllowed, containing: "fts3_tokenizer() is not allowed") {
                try backend.write("SELECT fts3_tokenizer('evil', x'4141414141414141')", parameters: [])
            }
            // Beneath the authorizer (TierCache's own scripts skip its rules): registering a tokenizer pointer
            // fails in SQLite itself, so the table that would call it can't be made.
            expectBackendError(.invalidStatement, containing: "fts3tokenize disabled") {
                try backend.executeScript("SELECT fts3_tokenizer('evil', x'4141414141414141')")
            }
            expectBackendError(.statementError, containing: "unknown tokenizer: evil") {
                try backend.write("CREATE VIRTUAL TABLE poc USING fts3(body, tokenize=evil)", parameters: [])
            }
            // Full-text search itself still works, MATCH included.
            _ = try backend.write("CREATE VIRTUAL TABLE notes USING fts4(body)", parameters: [])
            _ = try backend.write("INSERT INTO notes (body) VALUES ('hello world')", parameters: [])
            #expect(try backend.integer("SELECT count(*) FROM notes WHERE notes MATCH 'hello'") == 1)
        }
    }

    @Test("load_extension is refused")
    func loadExtension() throws {
        try withBackend { (backend, _) throws in
            expectBackendError(.notAllowed, containing: "load_extension() is not allowed") {
                try backend.read("SELECT load_extension('/tmp/evil.so')", parameters: [])
            }
        }
    }

    @Test(
        "VACUUM INTO, VACUUM, ATTACH and DETACH are refused and write no file",
        arguments: ["VACUUM INTO '@'", "VACUUM INTO ?", "VACUUM", "ATTACH '@' AS other", "ATTACH ? AS other",
            "DETACH other"]
    )
    func filesOutsideTheDatabase(template: String) throws {
        try withBackend { (backend, path) throws in
            let target = path + ".stolen"
            let sql = template.replacingOccurrences(of: "@", with: target)
            let parameters: [SQLValue] = sql.contains("?") ? [.text(target)] : []
            expectBackendError(.notAllowed, containing: "ATTACH and DETACH are not supported") {
                try backend.write(sql, parameters: parameters)
            }
            // read refuses VACUUM before it runs: SQLite says it writes.
            expectBackendError(sql.hasPrefix("VACUUM") ? .notReadOnly : .notAllowed) {
                try backend.read(sql, parameters: parameters)
            }
            #expect(!FileManager.default.fileExists(atPath: target))
            #expect(try backend.integer("SELECT count(*) FROM users") == 2)
        }
    }

    @Test(
        "PRAGMAs that change the shared connection or show the server's files are refused",
        arguments: [
            "PRAGMA query_only = 1", "PRAGMA writable_schema = 1", "PRAGMA busy_timeout = 0", "PRAGMA database_list",
            "SELECT file FROM pragma_database_list", "PRAGMA user_version = 3", "PRAGMA journal_mode = DELETE",
            "PRAGMA case_sensitive_like = 1", "PRAGMA wal_checkpoint",
        ]
    )
    func pragmas(sql: String) throws {
        try withBackend { (backend, path) throws in
            let error = expectBackendError(.notAllowed, containing: "PRAGMA") {
                try backend.write(sql, parameters: [])
            }
            #expect(error?.message.contains(path) != true)
            // Other clients' writes still work, and the connection is unchanged.
            _ = try backend.write("INSERT INTO users (name) VALUES ('carol')", parameters: [])
            #expect(try backend.integer("PRAGMA user_version") == 0)
            #expect(try backend.integer("SELECT count(*) FROM users") == 3)
        }
    }

    @Test("informational PRAGMAs run, in statements and as tables")
    func informationalPragmas() throws {
        try withBackend { (backend, _) throws in
            #expect(try backend.integer("PRAGMA user_version") == 0)
            #expect(try backend.write("PRAGMA journal_mode", parameters: []).changes == 0)
            #expect(try backend.write("PRAGMA table_info(users)", parameters: []).changes == 0)
            let names = try backend.read("SELECT name FROM pragma_table_info('users')", parameters: [])
            #expect(names.resultSet.rows == [[.text("id")], [.text("name")]])
        }
    }

    @Test(
        "temporary objects, sqlite_stmt and unknown virtual table modules are refused",
        arguments: [
            "CREATE TEMP TABLE scratch (x)",
            "CREATE TEMP TRIGGER spy AFTER INSERT ON main.users BEGIN DELETE FROM main.orders; END",
            "CREATE TEMP VIEW v AS SELECT 1", "SELECT sql FROM sqlite_stmt", "CREATE VIRTUAL TABLE pages USING dbstat",
        ]
    )
    func connectionObjects(sql: String) throws {
        try withBackend { (backend, _) throws in
            expectBackendError(.notAllowed) { try backend.write(sql, parameters: []) }
            _ = try backend.write("INSERT INTO users (name) VALUES ('carol')", parameters: [])
            #expect(try backend.integer("SELECT count(*) FROM orders") == 3)
        }
    }

    @Test("errors raised while a statement runs are the statement's own, not the database's")
    func statementErrors() throws {
        try withBackend { (backend, _) throws in
            expectBackendError(.statementError, containing: "integer overflow") {
                try backend.read("SELECT abs(-9223372036854775808)", parameters: [])
            }
            expectBackendError(.statementError, containing: "malformed JSON") {
                try backend.read("SELECT json('x')", parameters: [])
            }
        }
    }

    static let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"

    @Test("a client's read past the client read timeout is interrupted, a policy's past the statement timeout")
    func readTimeouts() throws {
        let configuration = SQLiteBackend.Configuration(
            readers: 2, clientReadTimeout: .milliseconds(200), statementTimeout: .milliseconds(600))
        try withBackend(configuration: configuration) { (backend, _) throws in
            expectBackendError(.interrupted, containing: "ran longer than 200 ms") {
                try backend.read("\(Self.endless) SELECT count(*) FROM c", parameters: [], origin: .client)
            }
            expectBackendError(.interrupted, containing: "ran longer than 600 ms") {
                try backend.read("\(Self.endless) SELECT count(*) FROM c", parameters: [], origin: .policy)
            }
            #expect(try backend.integer("SELECT count(*) FROM users") == 2)
        }
    }

    @Test("a write past the statement timeout is interrupted and rolled back")
    func writeTimeout() throws {
        try withBackend(configuration: .init(statementTimeout: .milliseconds(200))) { (backend, _) throws in
            expectBackendError(.interrupted, containing: "rolled back") {
                try backend.write("INSERT INTO users (name) \(Self.endless) SELECT 'user' || x FROM c", parameters: [])
            }
            #expect(try backend.integer("SELECT count(*) FROM users") == 2)
            _ = try backend.write("INSERT INTO users (name) VALUES ('carol')", parameters: [])
        }
    }

    @Test("a result over the size limit is refused at the row that crosses it")
    func resultSize() throws {
        try withBackend(configuration: .init(maxResultBytes: 64 * 1024)) { (backend, _) throws in
            expectBackendError(.resultTooLarge, containing: "over 65536 bytes") {
                try backend.read("\(Self.endless) SELECT x, printf('%.100c', '.') FROM c", parameters: [])
            }
            // One value longer than the limit can't even be made.
            expectBackendError(.statementError, containing: "too big") {
                try backend.read("SELECT zeroblob(100000)", parameters: [])
            }
            #expect(try backend.read("SELECT zeroblob(1000)", parameters: []).resultSet.rows.count == 1)
        }
    }

    @Test("interruptAll stops a statement with no deadline, on another thread")
    func interruptAll() throws {
        try withBackend(configuration: .init(clientReadTimeout: nil, statementTimeout: nil)) { (backend, _) throws in
            let finished = DispatchSemaphore(value: 0)
            let outcome = Outcome()
            DispatchQueue.global().async {
                do {
                    _ = try backend.read("\(Self.endless) SELECT count(*) FROM c", parameters: [])
                } catch {
                    outcome.error = error as? BackendError
                }
                finished.signal()
            }
            #expect(waitUntil { backend.pools.first { $0.name == "readers" }?.report.inUse == 1 })
            backend.interruptAll()
            #expect(finished.wait(timeout: .now() + 10) == .success)
            #expect(outcome.error?.code == .interrupted)
            #expect(outcome.error?.message.contains("shutting down") == true)
        }
    }

    @Test("clients' statements hold at most all readers but one: a policy read still gets one")
    func clientTurns() throws {
        let configuration = SQLiteBackend.Configuration(
            readers: 2, acquireTimeout: .milliseconds(100), clientReadTimeout: .seconds(3))
        try withBackend(configuration: configuration) { (backend, _) throws in
            let finished = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                _ = try? backend.read("\(Self.endless) SELECT count(*) FROM c", parameters: [], origin: .client)
                finished.signal()
            }
            #expect(waitUntil { backend.pools.first { $0.name == "client_readers" }?.report.inUse == 1 })
            expectBackendError(.busy, containing: "no client-statement reader connection free within 100 ms") {
                try backend.read("SELECT 1", parameters: [], origin: .client)
            }
            #expect(try backend.integer("SELECT count(*) FROM users") == 2)
            backend.interruptAll()
            #expect(finished.wait(timeout: .now() + 10) == .success)
        }
    }
}

/// A thrown error handed from a worker thread to the test, read after a semaphore orders the two.
private final class Outcome: @unchecked Sendable {
    // @unchecked: written once by the worker before it signals, read by the test only after waiting for that signal.
    var error: BackendError?
}

/// Polls `condition` every 10 ms for up to 10 s.
private func waitUntil(_ condition: () -> Bool) -> Bool {
    for _ in 0..<1000 {
        if condition() { return true }
        usleep(10_000)
    }
    return false
}
