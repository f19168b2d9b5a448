import NIOCore
import Synchronization
import TierCacheBackend
import TierCacheCache
import TierCacheResilience
import TierCacheStats
import TierCacheSupport

/// The backend as the request path calls it: every call through the database's circuit breaker, reads bounded by
/// `--db-timeout`, outcomes classified (is this the database's failure or the request's?).
///
/// The backend sits behind `BackendAdapter`, whose calls answer with futures: SQLite runs on a thread pool behind
/// `BlockingBackendAdapter`; a non-blocking backend completes them on the event loops.
final class Database: Sendable {
    let adapter: any BackendAdapter
    let breaker: Breaker
    let health: DatabaseHealth
    /// Reads not answered within this fail with `DBERR database did not answer …` (the call goes on).
    let readTimeout: Duration
    private let clock: any ServerClock

    init(
        adapter: any BackendAdapter,
        breaker: Breaker,
        health: DatabaseHealth,
        readTimeout: Duration,
        clock: any ServerClock
    ) {
        self.adapter = adapter
        self.breaker = breaker
        self.health = health
        self.readTimeout = readTimeout
        self.clock = clock
    }

    /// A database call through the database's circuit breaker: refused at once, with the time until the next try,
    /// while the breaker is open; otherwise made (`body` calls the adapter with the given `BackendCall`), and its
    /// outcome recorded. Whose SQL it runs (`statements`) decides what counts: a policy's statement failing to
    /// prepare means the database is not what the policy expects (a table renamed away), and counts against the
    /// breaker; a client's (QUERY, SQL.EXEC) failing is the client's mistake, and does not.
    ///
    /// Reads are timed out after `readTimeout`; writes are not: their reply and their invalidation must wait
    /// for the commit's outcome (SQLite's busy timeout bounds how long a write waits for the lock).
    func run<T: Sendable>(
        _ eventLoop: any EventLoop,
        statements: StatementOrigin,
        writes: Bool = false,
        _ body: (any BackendAdapter, BackendCall) -> EventLoopFuture<T>
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
        let call = BackendCall(eventLoop: eventLoop, submittedAt: clock.monotonicNanoseconds())
        // A client's statement is as slow as the client made it: only the policies' own time tells how the
        // database is doing. Slowness is the database's own time, from `call.startedAt`, not the wait for a thread
        // (the timeout covers both).
        let countingSlowness = statements == .policy
        let result = body(adapter, call).hop(to: eventLoop)
        // Registered first, so the outcome is recorded before any caller's callback runs.
        result.whenComplete { result in
            guard recorded.claim() else { return }
            let outcome: CircuitBreaker.Outcome =
                switch result {
                case .success: .success
                case .failure(let error): Self.outcome(of: error, statements: statements)
                }
            breaker.record(outcome, admission: admission, started: call.startedAt, countingSlowness: countingSlowness)
        }
        if writes { return result }
        let timeout = readTimeout
        let answered = OnceFlag()
        let promise = eventLoop.makePromise(of: T.self)
        let timer = eventLoop.scheduleTask(in: .nanoseconds(Int64(clamping: timeout.wholeNanoseconds))) {
            // A client's statement that runs this long is the client's doing (the backend interrupts it about
            // now): only the database's slowness with the policies' own statements counts against it.
            let outcome: CircuitBreaker.Outcome = statements == .policy ? .failure : .ignored
            if recorded.claim() { breaker.record(outcome, admission: admission, started: call.submittedAt) }
            if answered.claim() { promise.fail(Self.timedOut(after: timeout)) }
        }
        result.whenComplete { result in
            timer.cancel()
            if answered.claim() { promise.completeWith(result) }
        }
        return promise.futureResult
    }

    /// Checks the database's idle connections (the server calls this every `databaseHealthInterval`); a check
    /// still running is not stacked on.
    func checkHealth(on eventLoop: any EventLoop) {
        health.check(adapter, on: eventLoop)
    }
}

/// True for the first caller of `claim()` only, from any thread.
final class OnceFlag: Sendable {
    private let taken = Atomic<Bool>(false)

    func claim() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
}
