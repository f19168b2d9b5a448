import Logging
import NIOCore
import NIOPosix
import TierCacheBackend
import TierCacheCache
import TierCachePolicy

/// Everything a connection needs to answer requests: the tiers, the policies, the backend and the stats.
///
/// One instance is shared by all event loops. Its parts are individually thread-safe; the request path takes
/// no lock of its own beyond the L1 shard's.
public final class Proxy: Sendable {
    public let configuration: ServerConfiguration
    public let l1: L1Cache
    public let policy: PolicyState
    public let backend: any Backend
    public let sequencer = WriteSequencer()
    public let tables = TableRegistry()
    public let stats = ProxyStats()
    /// The shared Redis tier, when configured.
    let l2: L2Tier?
    let coalescer = LoadCoalescer()
    /// Blocking backend calls run here, never on an event loop.
    let threadPool: NIOThreadPool
    let logger: Logger
    let startedAt = monotonicNanoseconds()
    let connectionIDs = ConnectionIDs()

    public init(
        configuration: ServerConfiguration,
        policy: PolicySet,
        backend: any Backend,
        threadPool: NIOThreadPool,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) throws(L1ConfigurationError) {
        self.configuration = configuration
        self.l1 = try L1Cache(
            configuration: .init(maxBytes: configuration.l1MaxMemory, shardCount: configuration.l1Shards)
        )
        self.policy = PolicyState(
            policy,
            exactIDs: Set(policy.types.filter { backend.comparesParametersExactly($0.load) }.map(\.name))
        )
        self.backend = backend
        self.threadPool = threadPool
        self.logger = logger
        let typeNames = self.policy.types.map(\.name)
        self.l2 = configuration.l2.map {
            L2Tier(configuration: $0, group: eventLoopGroup, typeNames: typeNames, logger: logger)
        }
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
        l1.sweep(now: monotonicNanoseconds(), slotsPerShard: 512)
        l2?.maintain()
    }

    /// Stops background work; waits for the L2 threads.
    public func shutdown() {
        l2?.shutdown()
    }

    /// Runs a blocking backend call on the thread pool and completes on `eventLoop`.
    func onBackend<T: Sendable>(
        _ eventLoop: any EventLoop,
        _ body: @escaping @Sendable () throws -> T
    ) -> EventLoopFuture<T> {
        threadPool.runIfActive(eventLoop: eventLoop, body)
    }
}

/// Numbers connections for HELLO and CLIENT ID.
final class ConnectionIDs: Sendable {
    private let counter = WriteSequencer()
    func next() -> Int64 { Int64(truncatingIfNeeded: counter.next()) }
}
