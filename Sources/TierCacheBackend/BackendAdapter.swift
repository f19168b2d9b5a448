import NIOCore

/// The database as the server drives it: every call answers with a future on the call's event loop, so a
/// non-blocking backend (PostgreSQL through postgres-nio) implements it directly, and a blocking one (SQLite) runs
/// behind `BlockingBackendAdapter` on a thread pool. The server never blocks an event loop on either.
///
/// The breaker, timeouts and the classification of failures are the caller's (`Database` in the server): an
/// adapter only runs statements and says what happened.
public protocol BackendAdapter: Sendable {
    /// Runs a read-only statement. Fails with `.notReadOnly` for anything that may write, decided by the database
    /// itself, not by looking at the text.
    ///
    /// - Parameter origin: whose statement it is. A backend may hold back part of its capacity for policy
    ///   statements, so clients' own statements can't take every connection from the cache's loads.
    func read(_ sql: String, parameters: [SQLValue], origin: StatementOrigin, call: BackendCall)
        -> EventLoopFuture<ReadResult>

    /// Runs one statement that may write, and commits it before the future completes.
    func write(_ sql: String, parameters: [SQLValue], call: BackendCall) -> EventLoopFuture<WriteResult>

    /// Runs `script` in one database transaction: asks it for a statement, runs it, hands it the result, until it
    /// says commit or roll back (`TransactionScript`). What it reads sees what it wrote before. Writes from other
    /// callers wait for it. The future fails only when the transaction could not begin or commit; a statement's
    /// failure goes to the script, which decides the output.
    func transaction<Script: TransactionScript>(_ script: Script, call: BackendCall) -> EventLoopFuture<Script.Output>

    /// Prepares a statement without running it and reports what it would do.
    func inspect(_ sql: String, on eventLoop: any EventLoop) -> EventLoopFuture<StatementInfo>

    /// Whether the statement compares every parameter to data byte for byte, so two different parameter values
    /// never select the same row (see `Backend.comparesParametersExactly`). False when unsure.
    func comparesParametersExactly(_ sql: String, on eventLoop: any EventLoop) -> EventLoopFuture<Bool>

    /// The backend's connection pools by name, for `STATS`.
    var pools: [(name: String, report: ConnectionPoolReport)] { get }

    /// Checks the connections nobody is using and repairs what it can.
    func checkHealth(on eventLoop: any EventLoop) -> EventLoopFuture<BackendHealthCheck>

    /// Interrupts every statement running now or started later: for shutdown, once the requests in flight had
    /// their time.
    func interruptAll()

    /// Closes connections. Calls after `close()` fail with `.unavailable`.
    func close()

    /// Other programs' commits, when the backend can hear them (`DatabaseChangeFeed`); nil when it cannot.
    var changeFeed: (any DatabaseChangeFeed)? { get }
}
