import TierCacheSupport

/// An error from a backend, with a code the proxy maps to a client-facing reply in one place.
public struct BackendError: CodedError {
    public enum Code: String, ErrorCode {
        /// A read was asked to run a statement that may write.
        case notReadOnly
        /// The statement does not prepare (syntax error, unknown table or column, several statements).
        case invalidStatement
        /// The number of parameters given differs from the statement's placeholders.
        case parameterCount
        /// A constraint (unique, not null, check, foreign key) refused the write.
        case constraint
        /// The database stayed locked for longer than the busy timeout.
        case busy
        /// The database cannot be opened or read at all (missing file, I/O error, closed).
        case unavailable
        /// Any other failure.
        case failed
        /// The statement does something no statement may do on a shared server (attach a file, set a PRAGMA, call
        /// a refused function); refused before it did anything.
        case notAllowed
        /// The statement failed while running, for reasons of its own: an integer overflow, malformed JSON, a
        /// value over the size limit. The database is fine.
        case statementError
        /// A value did not fit the statement: a parameter the statement's column type refuses (PostgreSQL's
        /// class 22: `abc` for an integer id, a number out of range). The request's values, not the database.
        case invalidValue
        /// The statement ran past its time limit, or the backend is stopping; it was interrupted and what it wrote
        /// was rolled back.
        case interrupted
        /// The statement's result is over the result size limit; its rows were dropped.
        case resultTooLarge
    }

    public var code: Code
    /// A message fit for the client: what went wrong, in the database's words where it has them.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
