import NIOCore

/// Drives a `TransactionScript` one statement per round trip, for a non-blocking backend: nothing waits on a thread
/// between statements. The backend supplies how to run a statement in its open transaction and how to end it.
public enum TransactionDriver {
    /// Runs `script` to its end: each statement it asks for through `run`; then `end(true)` to commit or
    /// `end(false)` to roll back. A statement's failure goes to the script; a failure to end fails the future
    /// (after a failed commit nothing was written).
    ///
    /// - Parameters:
    ///   - run: runs one statement inside the transaction the backend opened.
    ///   - end: commits (`true`) or rolls back (`false`) that transaction.
    public static func drive<Script: TransactionScript>(
        _ script: Script,
        on eventLoop: any EventLoop,
        run: @escaping @Sendable (TransactionStatement) -> EventLoopFuture<TransactionStatementResult>,
        end: @escaping @Sendable (_ commit: Bool) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Script.Output> {
        step(script, previous: nil, on: eventLoop, run: run, end: end)
    }

    private static func step<Script: TransactionScript>(
        _ script: Script,
        previous: Result<TransactionStatementResult, BackendError>?,
        on eventLoop: any EventLoop,
        run: @escaping @Sendable (TransactionStatement) -> EventLoopFuture<TransactionStatementResult>,
        end: @escaping @Sendable (Bool) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Script.Output> {
        var script = script
        switch script.next(after: previous) {
        case .commit(let output):
            return end(true).hop(to: eventLoop).map { output }
        case .rollBack(let output):
            return end(false).hop(to: eventLoop).map { output }
        case .run(let statement):
            let next = script
            return run(statement).hop(to: eventLoop)
                .map { Result<TransactionStatementResult, BackendError>.success($0) }
                .recover { error in .failure(error as? BackendError ?? BackendError(.failed, "\(error)")) }
                .flatMap { outcome in step(next, previous: outcome, on: eventLoop, run: run, end: end) }
        }
    }
}
