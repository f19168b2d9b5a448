import NIOCore
import TierCacheCache
import TierCachePolicy
import TierCacheProtocol
import TierCacheRedis
import TierCacheStats
import TierCacheSupport

/// The read path past L1: runs each read's `ReadMachine` and performs what it decides — the L2 GET, the coalesced
/// backend load, L1 and L2 fills, the soft timeout, stale answers. GET, MGET, EXISTS, QUERY, warming,
/// refresh-ahead and stale-while-revalidate all come through here. (L1 hits never do: the connection serves them
/// in place, `ReadPath+L1.swift`.)
final class ReadPath: Sendable {
    let l1: L1Cache
    let l2: L2Tier?
    let database: Database
    let coalescer = LoadCoalescer()
    let sequencer: WriteSequencer
    let tables: TableRegistry
    let stats: ProxyStats
    let accessTracker: AccessTracker
    let clock: any ServerClock
    /// `--soft-timeout`, in nanoseconds.
    let softTimeout: UInt64?

    init(
        l1: L1Cache,
        l2: L2Tier?,
        database: Database,
        sequencer: WriteSequencer,
        tables: TableRegistry,
        stats: ProxyStats,
        accessTracker: AccessTracker,
        clock: any ServerClock,
        softTimeout: Duration?
    ) {
        self.l1 = l1
        self.l2 = l2
        self.database = database
        self.sequencer = sequencer
        self.tables = tables
        self.stats = stats
        self.accessTracker = accessTracker
        self.clock = clock
        self.softTimeout = softTimeout.map(\.nonNegativeNanoseconds)
    }

    /// Why a key is read: decides what is counted, and what the read may do.
    enum Purpose: Sendable {
        /// A client's GET, MGET, EXISTS…: counts an L1 miss.
        case client
        /// Warming: L1 was checked by the warmer.
        case warming
        /// Stale-while-revalidate's background refresh, after serving the expired entry.
        case revalidation
        /// `refresh_ahead`'s background load: straight to the backend (L2 holds the same aging entry).
        case refresh
    }

    /// One keyed read. `key` and `id` may be slices of a connection's read buffer: kept until the read ends.
    struct KeyRead: Sendable {
        var type: DataTypeState
        var id: ByteBuffer
        var key: ByteBuffer
        var policy: PolicyState
        var purpose: Purpose = .client
    }

    /// A client's keyed read: `key` routed to its type by `policy`; nil when no type's prefix matches.
    static func keyRead(_ key: ByteBuffer, in policy: PolicyState) -> KeyRead? {
        guard let route = policy.route(key) else { return nil }
        return KeyRead(type: route.type, id: route.id, key: key, policy: policy)
    }

    /// What a keyed read may do now, from its type's policy and the tiers' state.
    func plan(for read: KeyRead) -> ReadMachine.Plan {
        var plan = read.type.readPlan
        if plan.consultsL2 { plan.consultsL2 = read.purpose != .refresh && l2?.mayRead == true }
        if read.purpose != .client { plan.revalidateWindow = nil }
        if plan.failSafe { plan.softTimeout = softTimeout }
        return plan
    }

    // MARK: Keyed reads

    /// Starts a client's read of a key L1 did not answer (`expired`: L1 holds it past its expiry). Serves an entry
    /// within `stale_while_revalidate` into `out` at once (and refreshes it in the background): then returns nil.
    /// Otherwise returns the read's task and its first action, to `ReadTask.run` once the caller has made room for
    /// its reply.
    func start(
        _ read: consuming KeyRead,
        expired: Bool,
        version: RESPVersion,
        into out: inout ByteBuffer,
        on eventLoop: any EventLoop
    ) -> (task: ReadTask<KeyRead>, first: ReadMachine.Action)? {
        var machine = ReadMachine(plan: plan(for: read))
        var action = machine.l1Missed(expired: expired)
        if case .serveExpired(let window) = action {
            let served = serveExpired(read, window: window, version: version, into: &out)
            action = machine.revalidation(served: served)
            if case .revalidateInBackground = action {
                read.type.counters.revalidations.increment()
                background(read, purpose: .revalidation, on: eventLoop)
                return nil
            }
        }
        let task = ReadTask(
            path: self, read: read, machine: consume machine, stamp: sequencer.current, eventLoop: eventLoop)
        return (task, action)
    }

    /// Reads a key L1 did not answer, as a future: EXISTS, TYPE/STRLEN/HLEN, and the background reads.
    func read(_ read: KeyRead, on eventLoop: any EventLoop) -> EventLoopFuture<LoadedReply> {
        // Reads are driven on their loop; callers off it (warming's start, tests) hop there first.
        guard eventLoop.inEventLoop else { return eventLoop.flatSubmit { self.read(read, on: eventLoop) } }
        let promise = eventLoop.makePromise(of: LoadedReply.self)
        var machine = ReadMachine(plan: plan(for: read))
        let action = machine.l1Missed(expired: false)
        ReadTask(
            path: self, read: read, machine: machine, stamp: sequencer.current, eventLoop: eventLoop
        ).run(action, completion: promise.completeWith)
        return promise.futureResult
    }

    /// `refresh_ahead`: one background load of a key whose entry was just hit late in its life, straight from the
    /// database, filling L1 and L2 with a fresh one. Hits meanwhile join it.
    func refreshAhead(_ read: KeyRead, on eventLoop: any EventLoop) {
        background(read, purpose: .refresh, on: eventLoop)
    }

    /// A read whose result only goes to the cache (a failure leaves the entry to the next reader).
    private func background(_ read: KeyRead, purpose: Purpose, on eventLoop: any EventLoop) {
        var read = read
        read.purpose = purpose
        // The request's bytes are slices of the connection's read buffer; the read outlives them.
        read.key = ByteBuffer(bytes: read.key.readableBytesView)
        read.id = ByteBuffer(bytes: read.id.readableBytesView)
        _ = self.read(read, on: eventLoop)
    }

    /// Reads several keys that missed L1 (MGET): those whose types use L2 in one MGET round trip, each L2 miss
    /// then from the backend. Results are in the order of `reads`.
    func read(many reads: [KeyRead], on eventLoop: any EventLoop) -> EventLoopFuture<[LoadedReply]> {
        guard eventLoop.inEventLoop else { return eventLoop.flatSubmit { self.read(many: reads, on: eventLoop) } }
        let plans = reads.map(plan(for:))
        let batched = plans.indices.filter { plans[$0].consultsL2 }
        let stamp = sequencer.current
        guard let l2, batched.count > 1 else {
            // One key gains nothing from batching.
            let futures = reads.indices.map { index in
                var machine = ReadMachine(plan: plans[index])
                let action = machine.l1Missed(expired: false)
                let promise = eventLoop.makePromise(of: LoadedReply.self)
                ReadTask(
                    path: self, read: reads[index], machine: machine, stamp: stamp, eventLoop: eventLoop
                ).run(action, completion: promise.completeWith)
                return promise.futureResult
            }
            return EventLoopFuture.whenAllSucceed(futures, on: eventLoop)
        }
        let keys = batched.map { l2.namespace.entryKey(reads[$0].key) }
        // The requests' bytes are slices of the connection's read buffer; the reads outlive them.
        let owned = reads.map { read -> KeyRead in
            var read = read
            read.key = ByteBuffer(bytes: read.key.readableBytesView)
            read.id = ByteBuffer(bytes: read.id.readableBytesView)
            return read
        }
        return l2.get(many: keys, on: eventLoop).flatMap { [self] lookups in
            var lookupOf = [L2Tier.Lookup?](repeating: nil, count: owned.count)
            for (position, index) in batched.enumerated() { lookupOf[index] = lookups[position] }
            let futures = owned.indices.map { index in
                var machine = ReadMachine(plan: plans[index])
                var action = machine.l1Missed(expired: false)
                if let lookup = lookupOf[index] {
                    countL1Miss(owned[index])
                    action = l2Replied(lookup, read: owned[index], stamp: stamp, machine: &machine)
                }
                let promise = eventLoop.makePromise(of: LoadedReply.self)
                ReadTask(
                    path: self, read: owned[index], machine: machine, stamp: stamp, eventLoop: eventLoop,
                    missCounted: lookupOf[index] != nil
                ).run(action, completion: promise.completeWith)
                return promise.futureResult
            }
            return EventLoopFuture.whenAllSucceed(futures, on: eventLoop)
        }
    }

    /// A client's read counts one L1 miss when it goes past L1 (L2 or the backend).
    func countL1Miss(_ read: KeyRead) {
        if read.purpose == .client { read.type.counters.l1.misses.increment() }
    }

    /// Feeds an L2 look-up to a keyed read's machine; fills L1 as it says, counts what L2 told.
    func l2Replied(
        _ lookup: consuming L2Tier.Lookup,
        read: KeyRead,
        stamp: UInt64,
        machine: inout ReadMachine
    ) -> ReadMachine.Action {
        let type = read.type
        var entry: L2Entry?
        var isCurrent = false
        if case .hit(let found) = consume lookup {
            isCurrent = l2?.consistency.keyedEntryIsFresh(group: type.group, sequence: found.sequence) == true
            entry = found
        }
        // Only a fill uses the monotonic time and the lifetime limit (reading that costs an atomic load).
        let fills = machine.plan.fillsL1
        let now = fills ? clock.monotonicNanoseconds() : 0
        var step = machine.l2Replied(
            ReadMachine.L2Reply(
                entry: consume entry,
                isCurrent: isCurrent,
                longestLifetimeMilliseconds: type.longestLifetimeMilliseconds,
                nowMilliseconds: clock.wallClockMilliseconds(),
                nowMonotonic: now,
                l1LifetimeLimit: fills ? l1LifetimeLimit : .max
            ))
        switch step.verdict {
        case .hit:
            type.counters.l2.hits.increment()
        case .miss:
            type.counters.l2.misses.increment()
        case .stale:
            l2?.stats.stale.increment()
            type.counters.l2.misses.increment()
        }
        if let fill = step.fill { fillL1(read, with: fill, stamp: stamp, now: now) }
        return step.takeAction()
    }

    /// How long a new L1 entry may live now: as long as it likes, except while this sidecar cannot hear other
    /// sidecars' invalidations.
    var l1LifetimeLimit: UInt64 {
        guard let l2, !l2.consistency.isListening else { return .max }
        return l2.configuration.degradedL1Lifetime.nonNegativeNanoseconds
    }

    /// `min(lifetime, l1LifetimeLimit)`.
    func l1Lifetime(_ lifetime: UInt64) -> UInt64 { min(lifetime, l1LifetimeLimit) }
}

// MARK: - A key as a read target

extension ReadPath.KeyRead: ReadTarget {
    static var usesConnection: Bool { true }

    func requestEntry(_ l2: L2Tier, on connection: L2Connection, completion: @escaping L2Connection.RawCompletion) {
        l2.requestEntry(key, on: connection, completion: completion)
    }

    func entry(from reply: Result<L2Connection.Reply, RedisError>, in l2: L2Tier) -> L2Tier.Lookup {
        l2.entry(from: reply, key: key)
    }

    func lookUp(in l2: L2Tier, on eventLoop: any EventLoop) -> EventLoopFuture<L2Tier.Lookup> {
        l2.get(l2.namespace.entryKey(key), on: eventLoop)
    }

    func l2Replied(
        _ lookup: consuming L2Tier.Lookup, path: ReadPath, stamp: UInt64, machine: inout ReadMachine
    ) -> ReadMachine.Action {
        path.l2Replied(lookup, read: self, stamp: stamp, machine: &machine)
    }

    func load(path: ReadPath, plan: ReadMachine.Plan, on eventLoop: any EventLoop) -> EventLoopFuture<LoadedReply> {
        path.load(self, plan: plan, on: eventLoop)
    }

    func staleEntry(path: ReadPath, maxAge: UInt64) -> LoadedReply? { path.staleEntry(self, maxAge: maxAge) }

    func countL1Miss(path: ReadPath) { path.countL1Miss(self) }

    func countStaleHit() { type.counters.staleHits.increment() }
}
