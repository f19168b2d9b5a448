import Foundation
import Testing
import TierCacheBackend
import TierCacheSQLite

/// Runs `body` with the path of a database file in a fresh temporary directory, removed afterwards.
func withDatabasePath<Result>(_ body: (_ path: String) throws -> Result) throws -> Result {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("tiercache-sqlite-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory.appendingPathComponent("cache.db").path)
}

/// Runs `body` with a backend on a fresh database holding `users` (alice, bob) and `orders`, closed afterwards.
func withBackend<Result>(
    configuration: SQLiteBackend.Configuration = .init(),
    _ body: (_ backend: SQLiteBackend, _ path: String) throws -> Result
) throws -> Result {
    try withDatabasePath { path in
        let backend = try SQLiteBackend(path: path, configuration: configuration)
        defer { backend.close() }
        try backend.executeScript(
            """
            CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
            CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, total REAL);
            INSERT INTO users (id, name) VALUES (1, 'alice'), (2, 'bob');
            INSERT INTO orders (user_id, total) VALUES (1, 9.5), (1, 20.0), (2, 3.25);
            """
        )
        return try body(backend, path)
    }
}

/// Expects `body` to throw a `BackendError` with `code` (and a message containing `fragment`), and returns it.
@discardableResult
func expectBackendError<Value>(
    _ code: BackendError.Code,
    containing fragment: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Value
) -> BackendError? {
    do {
        let value = try body()
        Issue.record("expected a \(code) error, got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as BackendError {
        #expect(error.code == code, "message: \(error.message)", sourceLocation: sourceLocation)
        if let fragment {
            #expect(error.message.contains(fragment), "message: \(error.message)", sourceLocation: sourceLocation)
        }
        return error
    } catch {
        Issue.record("expected a \(code) BackendError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

extension SQLiteBackend {
    /// The single integer a statement returns.
    func integer(_ sql: String, _ parameters: [SQLValue] = []) throws -> Int64? {
        guard case .integer(let value)? = try read(sql, parameters: parameters).resultSet.rows.first?.first else {
            return nil
        }
        return value
    }
}
