import Dispatch
import NIOCore
import Synchronization
import TierCacheBackend

/// A `BackendAdapter` shaped like a network database's client, with no thread pool: each call is a request to a
/// "database server" (a serial queue standing for the database process) whose answer completes a promise, and a
/// transaction is a session the server holds open while `TransactionDriver` sends it one statement per round trip.
/// Behind it is the real SQLite backend, so what the proxy sees is what a database does.
final class NonBlockingTestAdapter: BackendAdapter {
    private let backend: any Backend
    private let server = DispatchQueue(label: "test.database-server")
    /// Statements the transaction sessions ran, for tests that check the step-by-step driving.
    let transactionStatements = Atomic<Int>(0)

    init(_ backend: any Backend) { self.backend = backend }

    func read(_ sql: String, parameters: [SQLValue], origin: StatementOrigin, call: BackendCall)
        -> EventLoopFuture<ReadResult>
    {
        let backend = self.backend
        return request(call) { () throws(BackendError) in try backend.read(sql, parameters: parameters, origin: origin) }
    }

    func write(_ sql: String, parameters: [SQLValue], call: BackendCall) -> EventLoopFuture<WriteResult> {
        let backend = self.backend
        return request(call) { () throws(BackendError) in try backend.write(sql, parameters: parameters) }
    }

    func transaction<Script: TransactionScript>(_ script: Script, call: BackendCall) -> EventLoopFuture<Script.Output> {
        let session = TransactionSession(backend) { [self] in transactionStatements.add(1, ordering: .relaxed) }
        let eventLoop = call.eventLoop
        return TransactionDriver.drive(
            script, on: eventLoop,
            run: { statement in session.send(.statement(statement), on: eventLoop).map { $0! } },
            end: { commit in session.send(.end(commit: commit), on: eventLoop).map { _ in } }
        )
    }

    func inspect(_ sql: String, on eventLoop: any EventLoop) -> EventLoopFuture<StatementInfo> {
        let backend = self.backend
        return request(BackendCall(eventLoop: eventLoop, submittedAt: 0)) { () throws(BackendError) in
            try backend.inspect(sql)
        }
    }

    func comparesParametersExactly(_ sql: String, on eventLoop: any EventLoop) -> EventLoopFuture<Bool> {
        let backend = self.backend
        return request(BackendCall(eventLoop: eventLoop, submittedAt: 0)) { backend.comparesParametersExactly(sql) }
    }

    var pools: [(name: String, report: ConnectionPoolReport)] { backend.pools }

    func checkHealth(on eventLoop: any EventLoop) -> EventLoopFuture<BackendHealthCheck> {
        let backend = self.backend
        return request(BackendCall(eventLoop: eventLoop, submittedAt: 0)) { backend.checkHealth() }
    }

    func interruptAll() { backend.interruptAll() }
    func close() { backend.close() }

    private func request<T: Sendable>(_ call: BackendCall, _ work: @escaping @Sendable () throws(BackendError) -> T)
        -> EventLoopFuture<T>
    {
        let promise = call.eventLoop.makePromise(of: T.self)
        server.async { promise.completeWith(Result { () throws(BackendError) in try work() }.mapError { $0 as any Error }) }
        return promise.futureResult
    }
}

/// One open transaction on the "server": a thread inside `Backend.inTransaction` that runs the statements it is
/// sent, one at a time, until it is told to commit or roll back.
private final class TransactionSession: Sendable {
    enum Request: Sendable {
        case statement(TransactionStatement)
        case end(commit: Bool)
    }

    private let mailbox = Mutex<[(Request, EventLoopPromise<TransactionStatementResult?>)]>([])
    private let arrived = DispatchSemaphore(value: 0)

    init(_ backend: any Backend, ranStatement: @escaping @Sendable () -> Void) {
        DispatchQueue.global().async { [self] in
            var ending: EventLoopPromise<TransactionStatementResult?>?
            var rollingBack = false
            do throws(BackendError) {
                try backend.inTransaction { transaction throws(BackendError) in
                    while true {
                        let (request, promise) = take()
                        switch request {
                        case .statement(.read(let sql, let parameters)):
                            ranStatement()
                            promise.completeWith(
                                Result { () throws(BackendError) in .read(try transaction.read(sql, parameters: parameters)) }
                                    .mapError { $0 as any Error })
                        case .statement(.write(let sql, let parameters)):
                            ranStatement()
                            promise.completeWith(
                                Result { () throws(BackendError) in .written(try transaction.write(sql, parameters: parameters)) }
                                    .mapError { $0 as any Error })
                        case .end(let commit):
                            ending = promise
                            if commit { return }
                            rollingBack = true
                            throw BackendError(.failed, "rolled back")  // `inTransaction` rolls back on a throw
                        }
                    }
                }
                ending?.succeed(nil)
            } catch {
                // A rollback asked for is a success; a failed commit is the commit's failure.
                if rollingBack { ending?.succeed(nil) } else { ending?.fail(error) }
            }
        }
    }

    func send(_ request: Request, on eventLoop: any EventLoop) -> EventLoopFuture<TransactionStatementResult?> {
        let promise = eventLoop.makePromise(of: TransactionStatementResult?.self)
        mailbox.withLock { $0.append((request, promise)) }
        arrived.signal()
        return promise.futureResult
    }

    private func take() -> (Request, EventLoopPromise<TransactionStatementResult?>) {
        arrived.wait()
        return mailbox.withLock { $0.removeFirst() }
    }
}
