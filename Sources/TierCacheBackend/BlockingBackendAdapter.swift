import NIOCore
import NIOPosix

/// A blocking `Backend` (SQLite) as a `BackendAdapter`: each call runs on `threadPool`, never on an event loop,
/// and completes on the call's event loop.
public final class BlockingBackendAdapter: BackendAdapter {
    public let backend: any Backend
    private let threadPool: NIOThreadPool
    /// Monotonic nanoseconds, for `BackendCall.begin(now:)`.
    private let now: @Sendable () -> UInt64

    public init(_ backend: any Backend, threadPool: NIOThreadPool, now: @escaping @Sendable () -> UInt64) {
        self.backend = backend
        self.threadPool = threadPool
        self.now = now
    }

    public func read(_ sql: String, parameters: [SQLValue], origin: StatementOrigin, call: BackendCall)
        -> EventLoopFuture<ReadResult>
    {
        let backend = self.backend
        return run(call) { () throws(BackendError) in try backend.read(sql, parameters: parameters, origin: origin) }
    }

    public func write(_ sql: String, parameters: [SQLValue], call: BackendCall) -> EventLoopFuture<WriteResult> {
        let backend = self.backend
        return run(call) { () throws(BackendError) in try backend.write(sql, parameters: parameters) }
    }

    public func transaction<Script: TransactionScript>(_ script: Script, call: BackendCall)
        -> EventLoopFuture<Script.Output>
    {
        let backend = self.backend
        return run(call) { () throws(BackendError) in try backend.runTransaction(script) }
    }

    public func inspect(_ sql: String, on eventLoop: any EventLoop) -> EventLoopFuture<StatementInfo> {
        let backend = self.backend
        return threadPool.runIfActive(eventLoop: eventLoop) { try backend.inspect(sql) }
    }

    public func comparesParametersExactly(_ sql: String, on eventLoop: any EventLoop) -> EventLoopFuture<Bool> {
        let backend = self.backend
        return threadPool.runIfActive(eventLoop: eventLoop) { backend.comparesParametersExactly(sql) }
    }

    public var pools: [(name: String, report: ConnectionPoolReport)] { backend.pools }

    public func checkHealth(on eventLoop: any EventLoop) -> EventLoopFuture<BackendHealthCheck> {
        let backend = self.backend
        return threadPool.runIfActive(eventLoop: eventLoop) { backend.checkHealth() }
    }

    public func interruptAll() { backend.interruptAll() }

    public func close() { backend.close() }

    public var changeFeed: (any DatabaseChangeFeed)? { backend.changeFeed }

    /// Runs `body` on a pool thread; the database's time starts when a thread takes it.
    private func run<T: Sendable>(_ call: BackendCall, _ body: @escaping @Sendable () throws(BackendError) -> T)
        -> EventLoopFuture<T>
    {
        let now = self.now
        return threadPool.runIfActive(eventLoop: call.eventLoop) {
            call.begin(now: now())
            return try body()
        }
    }
}
