/// A database behind the cache tiers.
///
/// Calls block the calling thread: the server runs them on its own thread pool, never on an event loop.
/// Implementations are safe to call from several threads at once.
public protocol Backend: Sendable {
    /// Runs a read-only statement. Throws `.notReadOnly` for anything that may write, decided by the
    /// database itself, not by looking at the text.
    func read(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> ReadResult

    /// Runs one statement that may write, and commits it before returning.
    func write(_ sql: String, parameters: [SQLValue]) throws(BackendError) -> WriteResult

    /// Prepares a statement without running it and reports what it would do.
    func inspect(_ sql: String) throws(BackendError) -> StatementInfo

    /// Whether the statement compares every parameter to data byte for byte (text or blob affinity, binary
    /// collation), so two different parameter values never select the same row. When false (an INTEGER key, where
    /// `1` and `01` are one row, or a NOCASE column) the proxy cannot tell which keys name a written row, and a
    /// keyed write invalidates the whole type. Answer false when unsure.
    func comparesParametersExactly(_ sql: String) -> Bool

    /// Closes connections. Calls after `close()` throw `.unavailable`.
    func close()
}
