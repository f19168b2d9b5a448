/// A database behind the cache tiers.
///
/// Calls block the calling thread: the server runs them on its own thread pool, never on an event loop.
/// Implementations are safe to call from several threads at once.
public protocol Backend: Sendable {
    /// Runs a read-only statement. Throws `.notReadOnly` for anything that may write, decided by the
    /// database itself, not by looking at the text.
    ///
    /// - Parameter origin: whose statement it is. A backend may hold back part of its capacity for policy
    ///   statements, so clients' own statements can't take every connection from the cache's loads.
    func read(_ sql: String, parameters: [SQLValue], origin: StatementOrigin) throws(BackendError) -> ReadResult

    /// Runs one statement that may write, and commits it before returning.
    func write(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> WriteResult

    /// Runs `body` in one database transaction: what it reads through the `BackendTransaction` sees what it wrote
    /// before, and its writes commit together when it returns, or not at all when it (or the commit) throws.
    /// Writes from other callers wait for it (it holds the write lock from the start).
    func inTransaction<T>(_ body: (any BackendTransaction) throws(BackendError) -> T) throws(BackendError) -> T

    /// Prepares a statement without running it and reports what it would do.
    func inspect(_ sql: String) throws(BackendError) -> StatementInfo

    /// Whether the statement compares every parameter to data byte for byte (text or blob affinity, binary
    /// collation), so two different parameter values never select the same row. When false (an INTEGER key, where
    /// `1` and `01` are one row, or a NOCASE column) the proxy cannot tell which keys name a written row, and a
    /// keyed write invalidates the whole type. Answer false when unsure.
    func comparesParametersExactly(_ sql: String) -> Bool

    /// The backend's connection pools by name, for `STATS`.
    var pools: [(name: String, report: ConnectionPoolReport)] { get }

    /// Checks the connections nobody is using and repairs what it can (reopens a replaced database file). Blocks;
    /// the server runs it periodically on its thread pool.
    func checkHealth() -> BackendHealthCheck

    /// Interrupts every statement running now or started later (`.interrupted`): for shutdown, once the requests
    /// in flight had their time, so no runaway statement holds the process.
    func interruptAll()

    /// Closes connections. Calls after `close()` throw `.unavailable`.
    func close()

    /// Other programs' commits, when the backend can hear them; nil when it cannot.
    var changeFeed: (any DatabaseChangeFeed)? { get }
}

extension Backend {
    public var changeFeed: (any DatabaseChangeFeed)? { nil }

    /// A policy's read.
    public func read(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> ReadResult {
        try read(sql, parameters: parameters, origin: .policy)
    }
}

/// The statements of one transaction (`Backend.inTransaction`). Valid only inside the body it was given to.
public protocol BackendTransaction {
    /// Runs a read-only statement inside the transaction (it sees the transaction's own writes).
    func read(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> ReadResult
    /// Runs one statement that may write inside the transaction; it commits with the transaction.
    func write(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> WriteResult
}

/// Where a statement comes from.
public enum StatementOrigin: Sendable, Hashable {
    /// A policy's statement (a load, a store): the operator's, run for the cache.
    case policy
    /// A client's own SQL (QUERY, SQL.EXEC).
    case client
}

/// A connection pool's state.
public struct ConnectionPoolReport: Sendable, Equatable {
    public var size: Int
    public var inUse: Int
    /// Callers waiting for a connection now.
    public var waiting: Int
    /// Connections lent so far.
    public var acquired: UInt64
    /// Callers that gave up waiting (`.busy`).
    public var timedOut: UInt64

    public init(size: Int, inUse: Int, waiting: Int, acquired: UInt64, timedOut: UInt64) {
        self.size = size
        self.inUse = inUse
        self.waiting = waiting
        self.acquired = acquired
        self.timedOut = timedOut
    }
}

/// What one health check found.
public struct BackendHealthCheck: Sendable, Equatable {
    /// What is wrong, for operators; nil when the database is healthy.
    public var problem: String?
    /// The check reopened the connections (the database file was replaced).
    public var reopened: Bool

    public init(problem: String? = nil, reopened: Bool = false) {
        self.problem = problem
        self.reopened = reopened
    }
}
