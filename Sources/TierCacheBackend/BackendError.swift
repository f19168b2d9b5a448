/// An error from a backend, with a code the proxy maps to a client-facing reply in one place.
public struct BackendError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case notReadOnly, invalidStatement, parameterCount, constraint, busy, unavailable, failed
            case notAllowed, statementError, interrupted, resultTooLarge
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A read was asked to run a statement that may write.
        public static let notReadOnly = Code(.notReadOnly)
        /// The statement does not prepare (syntax error, unknown table or column, several statements).
        public static let invalidStatement = Code(.invalidStatement)
        /// The number of parameters given differs from the statement's placeholders.
        public static let parameterCount = Code(.parameterCount)
        /// A constraint (unique, not null, check, foreign key) refused the write.
        public static let constraint = Code(.constraint)
        /// The database stayed locked for longer than the busy timeout.
        public static let busy = Code(.busy)
        /// The database cannot be opened or read at all (missing file, I/O error, closed).
        public static let unavailable = Code(.unavailable)
        /// Any other failure.
        public static let failed = Code(.failed)
        /// The statement does something no statement may do on a shared server (attach a file, set a PRAGMA, call
        /// a refused function); refused before it did anything.
        public static let notAllowed = Code(.notAllowed)
        /// The statement failed while running, for reasons of its own: an integer overflow, malformed JSON, a
        /// value over the size limit. The database is fine.
        public static let statementError = Code(.statementError)
        /// The statement ran past its time limit, or the backend is stopping; it was interrupted and what it wrote
        /// was rolled back.
        public static let interrupted = Code(.interrupted)
        /// The statement's result is over the result size limit; its rows were dropped.
        public static let resultTooLarge = Code(.resultTooLarge)

        public var description: String {
            switch base {
            case .notReadOnly: "notReadOnly"
            case .invalidStatement: "invalidStatement"
            case .parameterCount: "parameterCount"
            case .constraint: "constraint"
            case .busy: "busy"
            case .unavailable: "unavailable"
            case .failed: "failed"
            case .notAllowed: "notAllowed"
            case .statementError: "statementError"
            case .interrupted: "interrupted"
            case .resultTooLarge: "resultTooLarge"
            }
        }
    }

    public var code: Code
    /// A message fit for the client: what went wrong, in the database's words where it has them.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
