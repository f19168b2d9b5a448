import NIOCore
import NIOPosix
import Synchronization
import TierCacheBackend
import TierCacheCache
import TierCacheResilience
import TierCacheStats
import TierCacheSupport

/// The backend as the request path calls it: every call through the database's circuit breaker, reads bounded by
/// `--db-timeout`, outcomes classified (is this the database's failure or the request's?), blocking calls on the
/// thread pool and never on an event loop.
///
/// The backend stays behind `Backend`; SQLite's calls block, so they run on `threadPool`. (A non-blocking backend
/// would complete the same futures without the pool.)
final class Database: Sendable {
    let backend: any Backend
    let breaker: Breaker
    let health: DatabaseHealth
    /// Reads not answered within this fail with `DBERR database did not answer …` (the call goes on).
    let readTimeout: Duration
    private let threadPool: NIOThreadPool
    private let clock: any ServerClock

    init(
        backend: any Backend,
        breaker: Breaker,
        health: DatabaseHealth,
        readTimeout: Duration,
        threadPool: NIOThreadPool,
        clock: any ServerClock
    ) {
        self.backend = backend
        self.breaker = breaker
        self.health = health
        self.readTimeout = readTimeout
        self.threadPool = threadPool
        self.clock = clock
    }

    /// Runs a blocking backend call on the thread pool and completes on `eventLoop`, outside the breaker (admin
    /// commands that must work while it is open).
    func runUnguarded<T: Sendable>(
        _ eventLoop: any EventLoop,
        _ body: @escaping @Sendable () throws -> T
    ) -> EventLoopFuture<T> {
        threadPool.runIfActive(eventLoop: eventLoop, body)
    }

    /// A database call on the thread pool, through the database's circuit breaker: refused at once, with the time
    /// until the next try, while the breaker is open; otherwise run, and its outcome recorded. Whose SQL it runs
    /// (`statements`) decides what counts: a policy's statement failing to prepare means the database is not what
    /// the policy expects (a table renamed away), and counts against the breaker; a client's (QUERY, SQL.EXEC) failing
    /// is the client's mistake, and does not.
    ///
    /// Reads are timed out after `readTimeout`; writes are not: their reply and their invalidation must wait
    /// for the commit's outcome (SQLite's busy timeout bounds how long a write waits for the lock).
    func run<T: Sendable>(
        _ eventLoop: any EventLoop,
        statements: StatementOrigin,
        writes: Bool = false,
        _ body: @escaping @Sendable () throws -> T
    ) -> EventLoopFuture<T> {
        let breaker = self.breaker
        let admission = breaker.admit()
        if case .rejected(let retryAfter) = admission {
            return eventLoop.makeFailedFuture(Self.circuitOpen("database", retryAfter: retryAfter))
        }
        // The call and its timeout race: whichever ends first records the outcome and answers. A call that times
        // out goes on in the background (SQLite cannot be abandoned mid-step); a load that then finishes still
        // fills the cache.
        let recorded = OnceFlag()
        let answered = OnceFlag()
        let clock = self.clock
        let submitted = clock.monotonicNanoseconds()
        let call = threadPool.runIfActive(eventLoop: eventLoop) {
            // Slowness is the database's own time, not the wait for a pool thread (the timeout covers both).
            let started = clock.monotonicNanoseconds()
            // A client's statement is as slow as the client made it: only the policies' own time tells how the
            // database is doing.
            let countingSlowness = statements == .policy
            do {
                let value = try body()
                if recorded.claim() {
                    breaker.record(.success, admission: admission, started: started, countingSlowness: countingSlowness)
                }
                return value
            } catch {
                let outcome = Self.outcome(of: error, statements: statements)
                if recorded.claim() {
                    breaker.record(outcome, admission: admission, started: started, countingSlowness: countingSlowness)
                }
                throw error
            }
        }
        if writes { return call }
        let timeout = readTimeout
        let promise = eventLoop.makePromise(of: T.self)
        let timer = eventLoop.scheduleTask(in: .nanoseconds(Int64(clamping: timeout.wholeNanoseconds))) {
            // A client's statement that runs this long is the client's doing (the backend interrupts it about
            // now): only the database's slowness with the policies' own statements counts against it.
            let outcome: CircuitBreaker.Outcome = statements == .policy ? .failure : .ignored
            if recorded.claim() { breaker.record(outcome, admission: admission, started: submitted) }
            if answered.claim() { promise.fail(Self.timedOut(after: timeout)) }
        }
        call.whenComplete { result in
            timer.cancel()
            if answered.claim() { promise.completeWith(result) }
        }
        return promise.futureResult
    }

    /// Checks the database's idle connections on the thread pool (the server calls this every
    /// `databaseHealthInterval`); a check still running is not stacked on.
    func checkHealth() {
        let backend = self.backend
        let health = self.health
        threadPool.submit { state in
            guard case .active = state else { return }
            health.check(backend)
        }
    }
}

/// True for the first caller of `claim()` only, from any thread.
final class OnceFlag: Sendable {
    private let taken = Atomic<Bool>(false)

    func claim() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
}
