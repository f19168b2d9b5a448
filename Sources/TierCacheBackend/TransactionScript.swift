/// A transaction as a state machine the backend drives: the backend asks for the next statement, runs it, and hands
/// back its result, until the script says to commit or roll back. A blocking backend drives it in a loop on one
/// thread; a non-blocking one, one statement per round trip, without holding a thread in between.
public protocol TransactionScript: Sendable {
    associatedtype Output: Sendable

    /// What to do next, given the previous statement's outcome (nil before the first statement).
    mutating func next(after previous: Result<TransactionStatementResult, BackendError>?) -> TransactionAction<Output>
}

/// A statement a transaction runs.
public enum TransactionStatement: Sendable, Equatable {
    case read(sql: String, parameters: [SQLValue])
    case write(sql: String, parameters: [SQLValue])
}

/// What a statement of a transaction returned.
public enum TransactionStatementResult: Sendable {
    case read(ReadResult)
    case written(WriteResult)
}

/// A transaction script's answer.
public enum TransactionAction<Output: Sendable>: Sendable {
    /// Run this statement and call `next` with its outcome.
    case run(TransactionStatement)
    /// Commit, then answer `output` (the future fails instead when the commit does).
    case commit(Output)
    /// Roll back (nothing written stays), then answer `output`.
    case rollBack(Output)
}

extension Backend {
    /// Drives `script` in one transaction on the calling thread (blocking).
    public func runTransaction<Script: TransactionScript>(_ script: Script) throws(BackendError) -> Script.Output {
        var script = script
        var rolledBack: Script.Output?
        do {
            return try inTransaction { transaction throws(BackendError) -> Script.Output in
                var previous: Result<TransactionStatementResult, BackendError>?
                while true {
                    switch script.next(after: previous) {
                    case .run(.read(let sql, let parameters)):
                        previous = Result { () throws(BackendError) in
                            .read(try transaction.read(sql, parameters: parameters))
                        }
                    case .run(.write(let sql, let parameters)):
                        previous = Result { () throws(BackendError) in
                            .written(try transaction.write(sql, parameters: parameters))
                        }
                    case .commit(let output):
                        return output
                    case .rollBack(let output):
                        rolledBack = output
                        // `inTransaction` rolls back when its body throws; the script's output is answered below.
                        throw BackendError(.failed, "transaction rolled back")
                    }
                }
            }
        } catch {
            if let rolledBack { return rolledBack }
            throw error
        }
    }
}
