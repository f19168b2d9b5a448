import Dispatch
import Logging
import NIOCore
import Synchronization
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheResilience
import TierCacheStats
import TierCacheSupport

/// Everything a connection needs to answer requests: the tiers, the policies, the backend and the stats.
///
/// `validation` is the policy's check against the backend (`PolicyValidation`), which the caller made and
/// accepted (it also says which types' ids compare exactly).
///
/// One instance is shared by all event loops. Its parts are individually thread-safe; the request path takes
/// no lock of its own beyond the L1 shard's.
public final class Proxy: Sendable {
    public let configuration: ServerConfiguration
    public let l1: L1Cache
    /// The policy in force. A reload replaces it (`PolicyReloader`); a request keeps the version it began with.
    public var policy: PolicyState { policies.state }
    let policies: ActivePolicy
    /// The slots data types keep across policy versions.
    let typeRegistry = TypeRegistry()
    /// Which keys are read most, per type.
    let accessTracker: AccessTracker
    /// Loads keys ahead of readers (`warm` statements).
    let warmer: Warmer
    /// Held by a reload from start to swap: reloads run one at a time.
    let reloading = Mutex(())
    /// The backend behind its breaker and timeouts.
    let database: Database
    /// Work that blocks (`POLICY RELOAD` and `POLICY CHECK` read files and wait for the backend; hot-key saves write
    /// one): neither on an event loop nor on a thread the backend may need to answer it.
    let adminQueue = DispatchQueue(label: "tiercache.admin")
    let eventLoopGroup: any EventLoopGroup
    public let sequencer = WriteSequencer()
    public let tables = TableRegistry()
    public let stats = ProxyStats()
    /// The shared Redis tier, when configured.
    let l2: L2Tier?
    /// Other programs' commits, when the backend hears them (`BackendAdapter.changeFeed`).
    let externalWrites: ExternalWrites?
    /// Reads past L1: L2, the coalesced backend load, fills.
    let reads: ReadPath
    /// Writes: the backend's commit, then invalidation here and in the other sidecars.
    let writes: WritePath
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
    /// Starting, serving or draining: what the health probes answer.
    let phase = ServingPhase()
    /// Failed AUTH attempts per client address, which slow that address' further failures.
    let authFailures = AuthFailures()
    /// Who may connect and what each may do (`--users`, `--requirepass`).
    let users: UserDirectory
    /// The TLS context new TLS connections start from (`--tls-*`); nil without TLS.
    let tls: TLSContext?
    /// Statements slower than `--slow-log-threshold`.
    let slowLog: SlowLog
    /// The policy's alerts and their state.
    let alerts: Alerts
    /// Viewers of the admin listener's `/events`.
    let events = EventStream()
    /// The figures `/metrics` reads that live under the request path's locks, copied once a second.
    let metricsSnapshot = MetricsSnapshot()

    public init(
        configuration: ServerConfiguration,
        policy: PolicySet,
        validation: PolicyValidation.Outcome,
        adapter: any BackendAdapter,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        clock: any ServerClock = SystemClock()
    ) throws {
        self.configuration = configuration
        self.users = try UserDirectory(file: configuration.usersFile, requirePassword: configuration.requirePassword)
        self.tls = try configuration.tls.map { settings throws(TLSContext.LoadError) in try TLSContext(settings) }
        self.clock = clock
        self.startedAt = clock.monotonicNanoseconds()
        self.inputBudget = InputBudget(limit: configuration.maxInputBuffers)
        self.slowLog = SlowLog(threshold: configuration.slowLogThreshold, maxLength: configuration.slowLogMaxLength)
        let webhook = try configuration.alertWebhook.map { url in
            guard let target = AlertWebhook.Target(url) else { throw AlertWebhookURLError(url: url) }
            return try AlertWebhook(target: target, eventLoop: eventLoopGroup.next(), logger: logger)
        }
        self.alerts = Alerts(webhook: webhook, logger: logger)
        alerts.adopt(policy.alerts)
        self.accessTracker = AccessTracker(window: configuration.hotKeyWindow, now: clock.monotonicNanoseconds())
        self.warmer = Warmer(logger: logger, clock: clock)
        self.l1 = try L1Cache(
            configuration: .init(
                maxBytes: configuration.l1MaxMemory, maxEntries: configuration.l1MaxEntries,
                eviction: configuration.l1Eviction, shardCount: configuration.l1Shards)
        )
        let state = try PolicyState(
            policy, exactIDs: validation.exactIDs, registry: typeRegistry)
        let loaded = PolicyLoadRecord(policies: policy, loadedAtMicroseconds: clock.wallClockMicroseconds())
        let policies = ActivePolicy(state, loaded: loaded)
        self.policies = policies
        self.eventLoopGroup = eventLoopGroup
        self.database = Database(
            adapter: adapter,
            breaker: Breaker(name: "database", configuration: configuration.databaseBreaker, logger: logger, clock: clock),
            health: DatabaseHealth(logger: logger, clock: clock),
            readTimeout: configuration.databaseTimeout,
            clock: clock
        )
        l1.setStaleGrace(state.staleGraceByGroup)
        self.logger = logger
        let l2 = configuration.l2.map { L2Tier(configuration: $0, group: eventLoopGroup, logger: logger, clock: clock) }
        self.l2 = l2
        let externalWrites = adapter.changeFeed.map { _ in ExternalWrites() }
        self.externalWrites = externalWrites
        self.reads = ReadPath(
            l1: l1, l2: l2, database: database, sequencer: sequencer, tables: tables, stats: stats,
            accessTracker: accessTracker, clock: clock, softTimeout: configuration.softTimeout,
            externalWrites: externalWrites, degradedL1Lifetime: configuration.l2?.degradedL1Lifetime ?? .seconds(1),
            slowLog: slowLog)
        self.writes = WritePath(
            database: database, l1: l1, l2: l2, policies: policies, sequencer: sequencer, tables: tables,
            stats: stats, clock: clock, slowLog: slowLog)
        l2?.consistency.register(state.types.map { ($0.name, $0.group) })
        users.warnAboutUnknownTypes(known: Set(state.types.map(\.name)), logger: logger)
    }

    /// Runs blocking work on `adminQueue` and completes on `eventLoop`.
    func runAdmin<T: Sendable>(_ eventLoop: any EventLoop, _ body: @escaping @Sendable () throws -> T)
        -> EventLoopFuture<T>
    {
        let promise = eventLoop.makePromise(of: T.self)
        adminQueue.async { promise.completeWith(Result { try body() }) }
        return promise.futureResult
    }

    /// Starts background work: the L2 tier's connections and subscription.
    public func start() {
        // Held strongly until `shutdown()` lets go of it: a weak reference would give the proxy a side table, and
        // every retain of it on the request path would take the slow route through that table (measured, issue 4).
        l2?.start { [self] event in
            switch event {
            case .remoteInvalidation(let message): writes.applyRemote(message)
            case .channelLost: writes.invalidateEverything()
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
}

/// Numbers connections for HELLO and CLIENT ID.
final class ConnectionIDs: Sendable {
    private let counter = WriteSequencer()
    func next() -> Int64 { Int64(truncatingIfNeeded: counter.next()) }
}
