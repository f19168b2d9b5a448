import CSQLite
import Synchronization
import TierCacheBackend

/// A `Backend` over one SQLite database file in WAL mode, through one writer and one read-only reader connection.
///
/// WAL lets reads run while a write commits, and lets several TierCache processes share the file (each waits up
/// to the busy timeout for another's lock). Each connection sits behind its own `Mutex`, so calls on one
/// connection take turns while a read never waits for a write. Calls block their thread: run them off the event
/// loops.
public final class SQLiteBackend: Backend {
    /// The database file.
    public let path: String
    private let writer: Mutex<SQLiteConnection>
    private let reader: Mutex<SQLiteConnection>

    /// Opens the database at `path`: first the writer, which switches the file to WAL, then the reader.
    ///
    /// - Parameters:
    ///   - path: the database file. Not `:memory:`, which has no WAL and would give each connection a database
    ///     of its own.
    ///   - configuration: busy timeout, statement cache size, whether to create a missing file.
    /// - Throws: `.unavailable` naming `path` if either connection cannot be opened; `.failed` for a configuration
    ///   out of range.
    public init(path: String, configuration: Configuration = .init()) throws(BackendError) {
        try configuration.validate()
        // Our locks replace SQLite's per-connection mutexes, but its global ones must exist.
        guard sqlite3_threadsafe() != 0 else {
            throw BackendError(.unavailable, "this SQLite library was built without thread support")
        }
        let writer = try SQLiteConnection(path: path, role: .writer, configuration: configuration)
        let reader: SQLiteConnection
        do throws(BackendError) {
            reader = try SQLiteConnection(path: path, role: .reader, configuration: configuration)
        } catch {
            writer.close()
            throw error
        }
        self.path = path
        self.writer = Mutex(writer)
        self.reader = Mutex(reader)
    }

    /// Runs a read-only statement on the reader. See `Backend.read(_:parameters:)`.
    public func read(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> ReadResult {
        try reader.withLock { connection throws(BackendError) in try connection.read(sql, parameters: parameters) }
    }

    /// Runs one statement on the writer and commits it. See `Backend.write(_:parameters:)`.
    public func write(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> WriteResult {
        try writer.withLock { connection throws(BackendError) in try connection.write(sql, parameters: parameters) }
    }

    /// Prepares a statement on the reader (which prepares writes too) without running it.
    public func inspect(_ sql: String) throws(BackendError) -> StatementInfo {
        try reader.withLock { connection throws(BackendError) in try connection.inspect(sql) }
    }

    /// Runs a script of several statements on the writer, as one transaction; for schemas and seed data.
    ///
    /// - Parameter sql: statements separated by `;`, without BEGIN or COMMIT of their own.
    public func executeScript(_ sql: String) throws(BackendError) {
        try writer.withLock { connection throws(BackendError) in try connection.executeScript(sql) }
    }

    /// Finalizes cached statements and closes both connections, waiting for calls under way. Idempotent.
    public func close() {
        // The reader first: the last connection to close checkpoints the WAL into the database file.
        reader.withLock { $0.close() }
        writer.withLock { $0.close() }
    }

    /// Statements prepared and cached per connection; for tests.
    func cacheState() -> (reader: (prepared: Int, cached: Int), writer: (prepared: Int, cached: Int)) {
        (reader.withLock { $0.cacheState }, writer.withLock { $0.cacheState })
    }
}
