import CSQLite
import TierCacheBackend

extension BackendError {
    /// Where a SQLite result code came from: the same code means different things at different stages.
    enum SQLiteStage {
        /// Opening or configuring a connection: every failure means the database is unavailable.
        case open
        /// Preparing a statement: `SQLITE_ERROR` here is the caller's SQL (syntax, unknown table or column).
        case prepare
        /// Binding or stepping a prepared statement: the SQL was valid, so `SQLITE_ERROR` is a run-time failure.
        case step
        /// A script through `sqlite3_exec`, which prepares and steps in one call; its `SQLITE_ERROR`s are
        /// nearly always the script's SQL.
        case script
    }

    /// A call on a closed backend or connection.
    static let closed = BackendError(.unavailable, "database is closed")

    /// Maps a SQLite result code to our error codes. The only place that does.
    ///
    /// - Parameters:
    ///   - code: a primary or extended result code; only the primary byte decides.
    ///   - message: what SQLite said (`sqlite3_errmsg`), used as is.
    ///   - stage: where the code came from.
    init(sqliteCode code: Int32, message: String, during stage: SQLiteStage) {
        let mapped: Code
        switch code & 0xFF {
        case _ where stage == .open:
            // Whatever stopped a connection from opening, the database is not there for us.
            mapped = .unavailable
        case SQLITE_CONSTRAINT:
            mapped = .constraint
        case SQLITE_BUSY, SQLITE_LOCKED:
            mapped = .busy
        case SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_NOTADB, SQLITE_CORRUPT, SQLITE_READONLY, SQLITE_FULL:
            mapped = .unavailable
        case SQLITE_ERROR where stage == .prepare || stage == .script:
            mapped = .invalidStatement
        case SQLITE_ERROR, SQLITE_MISMATCH, SQLITE_RANGE, SQLITE_TOOBIG:
            // While stepping: a statement that prepared fine hit a problem of its own data or arithmetic (integer
            // overflow, malformed JSON, a string over the length limit). The database is fine.
            mapped = .statementError
        case SQLITE_AUTH:
            mapped = .notAllowed
        case SQLITE_INTERRUPT:
            mapped = .interrupted
        default:
            mapped = .failed
        }
        self.init(mapped, message)
    }

    /// The error for the call that just failed on `connection`. Must run under the same lock as that call,
    /// since the message belongs to the connection, not to the call.
    init(sqliteCode code: Int32, connection: OpaquePointer, during stage: SQLiteStage) {
        self.init(sqliteCode: code, message: String(cString: sqlite3_errmsg(connection)), during: stage)
    }
}
