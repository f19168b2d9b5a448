import Logging
import NIOCore
import NIOPosix
import Synchronization
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheResilience
import TierCacheStats
import TierCacheSupport

/// Everything a connection needs to answer requests: the tiers, the policies, the backend and the stats.
///
/// One instance is shared by all event loops. Its parts are individually thread-safe; the request path takes
/// no lock of its own beyond the L1 shard's.
public final class Proxy: Sendable {
    public let configuration: ServerConfiguration
    public let l1: L1Cache
    /// The policy in force. A reload replaces it (`reloadPolicy`); a request keeps the version it began with.
    public var policy: PolicyState { currentPolicy.withLock { $0.state } }
    /// Raised by every reload: connections keep the policy they use and look again only when it moved, so the
    /// request path takes no lock for it.
    let policyVersion = Atomic<UInt64>(0)
    let currentPolicy: Mutex<(state: PolicyState, loaded: PolicyLoadRecord)>
    /// What reloads and failed reloads left behind, for `STATS` and `POLICY SHOW`.
    let policyHistory: Mutex<PolicyHistory>
    /// The slots data types keep across policy versions.
    let typeRegistry = TypeRegistry()
    /// Which keys are read most, per type.
    let accessTracker: AccessTracker
    /// Loads keys ahead of readers (`warm` statements).
    let warmer: Warmer
    /// Held by a reload from start to swap: reloads run one at a time.
    let reloading = Mutex(())
    public let backend: any Backend
    public let sequencer = WriteSequencer()
    public let tables = TableRegistry()
    public let stats = ProxyStats()
    /// The shared Redis tier, when configured.
    let l2: L2Tier?
    let coalescer = LoadCoalescer()
    /// Guards every database call (loads, QUERY, writes); see `onDatabase`.
    let databaseBreaker: Breaker
    let databaseHealth: DatabaseHealth
    /// Blocking backend calls run here, never on an event loop.
    let threadPool: NIOThreadPool
    let logger: Logger
    /// Every "now" of the server (`SystemClock`; tests move a `TestClock`).
    let clock: any ServerClock
    let startedAt: UInt64
    let connectionIDs = ConnectionIDs()
    /// Open client connections, for the graceful shutdown's drain.
    let connections = ConnectionRegistry()
    /// What all connections hold of commands not yet executed.
    let inputBudget: InputBudget
    /// Commands per second lately, for `INFO`.
    let operationRate = OperationRate()
    /// Commands refused as unknown or unsupported, by name.
    let refusals = CommandRefusals()

    public init(
        configuration: ServerConfiguration,
        policy: PolicySet,
        backend: any Backend,
        threadPool: NIOThreadPool,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        clock: any ServerClock = SystemClock()
    ) throws {
        self.configuration = configuration
        self.clock = clock
        self.startedAt = clock.monotonicNanoseconds()
        self.inputBudget = InputBudget(limit: configuration.maxInputBuffers)
        self.accessTracker = AccessTracker(window: configuration.hotKeyWindow, now: clock.monotonicNanoseconds())
        self.warmer = Warmer(logger: logger, clock: clock)
        self.l1 = try L1Cache(
            configuration: .init(maxBytes: configuration.l1MaxMemory, shardCount: configuration.l1Shards)
        )
        let state = try PolicyState(
            policy, exactIDs: Self.exactIDs(of: policy, on: backend), registry: typeRegistry)
        let loaded = PolicyLoadRecord(policies: policy, loadedAtMicroseconds: clock.wallClockMicroseconds())
        self.currentPolicy = Mutex((state, loaded))
        self.policyHistory = Mutex(PolicyHistory())
        self.backend = backend
        self.databaseBreaker = Breaker(name: "database", configuration: configuration.databaseBreaker, logger: logger, clock: clock)
        self.databaseHealth = DatabaseHealth(logger: logger, clock: clock)
        l1.setStaleGrace(state.staleGraceByGroup)
        self.threadPool = threadPool
        self.logger = logger
        self.l2 = configuration.l2.map { L2Tier(configuration: $0, group: eventLoopGroup, logger: logger, clock: clock) }
        l2?.consistency.register(state.types.map { ($0.name, $0.group) })
    }

    /// Names of the types whose ids the backend compares byte for byte.
    static func exactIDs(of policy: PolicySet, on backend: any Backend) -> Set<String> {
        Set(policy.types.filter { backend.comparesParametersExactly($0.load) }.map(\.name))
    }

    /// Starts background work: the L2 tier's connections and subscription.
    public func start() {
        // Held strongly until `shutdown()` lets go of it: a weak reference would give the proxy a side table, and
        // every retain of it on the request path would take the slow route through that table (measured, issue 4).
        l2?.start { [self] event in
            switch event {
            case .remoteInvalidation(let message): applyRemote(message)
            case .channelLost: invalidateEverything()
            case .maintenanceDue: l2?.maintain()
            }
        }
    }

    /// Periodic upkeep off the request path (the server runs it every 250 ms).
    public func maintain() {
        let now = clock.monotonicNanoseconds()
        l1.sweep(now: now, slotsPerShard: 512)
        operationRate.sample(now: now, count: stats.commandsProcessed.current)
        accessTracker.decayIfDue(now: now)
        l2?.maintain()
    }

    /// Stops background work; waits for the L2 threads.
    public func shutdown() {
        l2?.shutdown()
    }

    /// Checks the database's idle connections on the thread pool (the server calls this every
    /// `databaseHealthInterval`); a check still running is not stacked on.
    public func checkDatabaseHealth() {
        let backend = self.backend
        let health = databaseHealth
        threadPool.submit { state in
            guard case .active = state else { return }
            health.check(backend)
        }
    }

    /// Runs a blocking backend call on the thread pool and completes on `eventLoop`.
    func onBackend<T: Sendable>(
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
    /// Reads are timed out after `databaseTimeout`; writes are not: their reply and their invalidation must wait
    /// for the commit's outcome (SQLite's busy timeout bounds how long a write waits for the lock).
    func onDatabase<T: Sendable>(
        _ eventLoop: any EventLoop,
        statements: StatementOrigin,
        writes: Bool = false,
        _ body: @escaping @Sendable () throws -> T
    ) -> EventLoopFuture<T> {
        let breaker = databaseBreaker
        let admission = breaker.admit()
        if case .rejected(let retryAfter) = admission {
            return eventLoop.makeFailedFuture(Self.circuitOpen("database", retryAfter: retryAfter))
        }
        // The call and its timeout race: whichever ends first records the outcome and answers. A call that times
        // out goes on in the background (SQLite cannot be abandoned mid-step); a load that then finishes still
        // fills the cache.
        let recorded = OnceFlag()
        let answered = OnceFlag()
        let submitted = clock.monotonicNanoseconds()
        let clock = self.clock
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
        let timeout = configuration.databaseTimeout
        let promise = eventLoop.makePromise(of: T.self)
        let timer = eventLoop.scheduleTask(in: .nanoseconds(Int64(clamping: timeout.wholeNanoseconds))) {
            // A client's statement that runs this long is the client's doing (the backend interrupts it about
            // now): only the database's slowness with the policies' own statements counts against it.
            let outcome: CircuitBreaker.Outcome = statements == .policy ? .failure : .ignored
            if recorded.claim() { breaker.record(outcome, admission: admission, started: submitted) }
            if answered.claim() { promise.fail(Self.databaseTimedOut(after: timeout)) }
        }
        call.whenComplete { result in
            timer.cancel()
            if answered.claim() { promise.completeWith(result) }
        }
        return promise.futureResult
    }

    /// `DBERR database did not answer within 5000 ms`; counts as the database's failure (for the breaker, and for
    /// serving stale).
    static func databaseTimedOut(after timeout: Duration) -> ProxyError {
        var error = ProxyError(.database, "database did not answer within \(timeout.shortDescription)")
        error.backendCode = .unavailable
        return error
    }

    /// `UNAVAILABLE database circuit open, retrying in 3s`: whole seconds, rounded up, at least 1.
    static func circuitOpen(_ dependency: String, retryAfter nanoseconds: UInt64) -> ProxyError {
        let seconds = max(1, (nanoseconds + 999_999_999) / 1_000_000_000)
        return ProxyError(.unavailable, "\(dependency) circuit open, retrying in \(seconds)s")
    }

    /// Whether a failed call says the database is unwell.
    static func outcome(of error: any Error, statements: StatementOrigin) -> CircuitBreaker.Outcome {
        guard
            let code = (error as? ProxyError)?.backendCode ?? (error as? BackendError)?.code
                ?? (error as? TransactionStepFailed)?.error.backendCode
        else {
            return .ignored  // ours, not the database's (an encoding limit, say)
        }
        switch code {
        case .unavailable, .busy, .failed:
            return .failure
        case .invalidStatement, .statementError, .interrupted:
            // A statement that does not prepare, fails while running or runs too long: when it is a client's, that
            // is the client's mistake, and other clients' calls must not be refused for it.
            return statements == .policy ? .failure : .ignored
        default:
            // Constraint, parameter count, not read-only, not allowed, result too large: the request's own fault.
            return .ignored
        }
    }
}

/// Numbers connections for HELLO and CLIENT ID.
final class ConnectionIDs: Sendable {
    private let counter = WriteSequencer()
    func next() -> Int64 { Int64(truncatingIfNeeded: counter.next()) }
}

/// True for the first caller of `claim()` only, from any thread.
final class OnceFlag: Sendable {
    private let taken = Atomic<Bool>(false)

    func claim() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
}
