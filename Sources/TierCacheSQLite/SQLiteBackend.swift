import CSQLite
import Synchronization
import TierCacheBackend

/// A `Backend` over one SQLite database file in WAL mode, through a pool of read-only connections and one writer.
///
/// WAL lets reads run while a write commits, and lets several TierCache processes share the file (each waits up
/// to the busy timeout for another's lock). Each connection serves one call at a time (`BlockingPool`): up to
/// `readers` reads run at once, and writes take turns on the writer in the order they asked, so a read never
/// waits for a write. Calls block their thread: run them off the event loops.
public final class SQLiteBackend: Backend {
    /// The database file.
    public let path: String
    let writer: BlockingPool<SQLiteConnection>
    let readers: BlockingPool<SQLiteConnection>
    /// Set by `close()`: the health check must not reopen what was closed on purpose.
    let isClosed = Atomic<Bool>(false)
    let configuration: Configuration
    /// Set by `interruptAll()`; every connection's watchdog looks at it.
    private let stopping: StopSignal
    /// Turns for clients' statements on the readers, fewer than the readers (`Configuration.clientReaders`).
    private let clientTurns: BlockingPool<ClientTurn>

    /// A reader turn a client's statement holds: the tokens of `clientTurns`.
    final class ClientTurn {}

    /// Opens the database at `path`: first the writer, which switches the file to WAL, then the readers.
    ///
    /// - Parameters:
    ///   - path: the database file. Not `:memory:`, which has no WAL and would give each connection a database
    ///     of its own.
    ///   - configuration: busy timeout, statement cache size, whether to create a missing file, readers, and
    ///     how long a call waits for a connection.
    /// - Throws: `.unavailable` naming `path` if a connection cannot be opened; `.failed` for a configuration
    ///   out of range.
    public init(path: String, configuration: Configuration = .init()) throws(BackendError) {
        try configuration.validate()
        // Our pools replace SQLite's per-connection mutexes, but its global ones must exist.
        guard sqlite3_threadsafe() != 0 else {
            throw BackendError(.unavailable, "this SQLite library was built without thread support")
        }
        let stopping = StopSignal()
        let writer = try SQLiteConnection(path: path, role: .writer, configuration: configuration, stopping: stopping)
        var readers: [SQLiteConnection] = []
        do throws(BackendError) {
            for _ in 0..<configuration.readers {
                readers.append(
                    try SQLiteConnection(path: path, role: .reader, configuration: configuration, stopping: stopping))
            }
        } catch {
            readers.forEach { $0.close() }
            writer.close()
            throw error
        }
        self.path = path
        self.configuration = configuration
        self.stopping = stopping
        self.clientTurns = BlockingPool(
            name: "client-statement reader", connections: (0..<configuration.clientReaders).map { _ in ClientTurn() },
            acquireTimeout: configuration.acquireTimeout)
        self.writer = BlockingPool(name: "writer", connections: [writer], acquireTimeout: configuration.acquireTimeout)
        self.readers = BlockingPool(
            name: "reader", connections: readers, acquireTimeout: configuration.acquireTimeout)
    }

    /// Runs a read-only statement on a reader; a client's waits for a client turn first, and may run for
    /// `clientReadTimeout` (a policy's for `statementTimeout`: its result still fills the cache after the request
    /// that asked for it timed out). See `Backend.read(_:parameters:origin:)`.
    public func read(_ sql: String, parameters: [SQLValue], origin: StatementOrigin) throws(BackendError) -> ReadResult {
        func run(timeout: Duration?) throws(BackendError) -> ReadResult {
            try readers.withConnection { connection throws(BackendError) in
                try connection.read(sql, parameters: parameters, timeout: timeout)
            }
        }
        switch origin {
        case .policy:
            return try run(timeout: configuration.statementTimeout)
        case .client:
            return try clientTurns.withConnection { _ throws(BackendError) in
                try run(timeout: configuration.clientReadTimeout)
            }
        }
    }

    /// Runs one statement on the writer and commits it. See `Backend.write(_:parameters:)`.
    public func write(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> WriteResult {
        try writer.withConnection { connection throws(BackendError) in
            try connection.write(sql, parameters: parameters)
        }
    }

    /// Runs `body` in one transaction on the writer (`BEGIN IMMEDIATE`: the write lock from the start, so nothing
    /// it read can change before it commits). See `Backend.inTransaction(_:)`.
    public func inTransaction<T>(
        _ body: (any BackendTransaction) throws(BackendError) -> T
    ) throws(BackendError) -> T {
        try writer.withConnection { connection throws(BackendError) in
            try connection.inTransaction { () throws(BackendError) in try body(Transaction(connection: connection)) }
        }
    }

    /// The writer, lent to one transaction's body.
    private struct Transaction: BackendTransaction {
        let connection: SQLiteConnection

        func read(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> ReadResult {
            try connection.read(sql, parameters: parameters, timeout: connection.configuration.statementTimeout)
        }

        func write(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> WriteResult {
            try connection.write(sql, parameters: parameters)
        }
    }

    /// Prepares a statement on a reader (which prepares writes too) without running it.
    public func inspect(_ sql: String) throws(BackendError) -> StatementInfo {
        try readers.withConnection { connection throws(BackendError) in try connection.inspect(sql) }
    }

    /// Runs a script of several statements on the writer, as one transaction; for schemas and seed data.
    ///
    /// - Parameter sql: statements separated by `;`, without BEGIN or COMMIT of their own.
    public func executeScript(_ sql: String) throws(BackendError) {
        try writer.withConnection { connection throws(BackendError) in try connection.executeScript(sql) }
    }

    /// Other programs' commits to the file (`SQLiteChangeFeed`), on a connection of its own.
    public var changeFeed: (any DatabaseChangeFeed)? {
        SQLiteChangeFeed(path: path, configuration: configuration)
    }

    public var pools: [(name: String, report: ConnectionPoolReport)] {
        [("readers", readers.report), ("writer", writer.report), ("client_readers", clientTurns.report)]
    }

    /// Makes every connection's watchdog interrupt its statement, now and from now on.
    public func interruptAll() {
        stopping.set()
    }

    /// Finalizes cached statements and closes every connection, waiting for calls under way. Idempotent.
    public func close() {
        isClosed.store(true, ordering: .relaxed)
        // The readers first: the last connection to close checkpoints the WAL into the database file. A pool
        // whose connections stay busy past the acquire timeout is closed anyway: the process is ending.
        func closeAll(_ pool: BlockingPool<SQLiteConnection>) {
            do {
                try pool.withAllConnections { connections in connections.forEach { $0.close() } }
            } catch {
                _ = pool.forEachIdle { $0.close() }
            }
        }
        closeAll(readers)
        closeAll(writer)
    }

    /// Statements prepared and cached, over all readers and on the writer; for tests.
    func cacheState() -> (reader: (prepared: Int, cached: Int), writer: (prepared: Int, cached: Int)) {
        let reader = readers.forEachIdle { $0.cacheState }.reduce((prepared: 0, cached: 0)) {
            ($0.prepared + $1.prepared, $0.cached + $1.cached)
        }
        return (reader, writer.forEachIdle { $0.cacheState }.first ?? (0, 0))
    }
}
