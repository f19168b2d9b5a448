import NIOCore
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheProtocol
import TierCacheRedis
import TierCacheStats
import TierCacheSupport

/// The read path, in the order a GET meets it: the L1 look-up (done in place by the connection), the read's start
/// past L1 (its `ReadMachine` and `ReadTask`), L2's reply judged, the coalesced backend load, and the stale
/// entries and L1 fills both end with. `ReadTask` performs what the machine decides and calls back here for each
/// step. GET, MGET, EXISTS, QUERY (`ReadPath+Query.swift`), warming, refresh-ahead and stale-while-revalidate all
/// come through here.
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
    /// Other programs' commits, when the database reports them.
    let externalWrites: ExternalWrites?
    /// The longest life of a new L1 entry while an invalidation source is lost (`--degraded-l1-ttl`), nanoseconds.
    let degradedL1Lifetime: UInt64
    /// Loads and QUERY statements slower than its threshold.
    let slowLog: SlowLog

    init(
        l1: L1Cache,
        l2: L2Tier?,
        database: Database,
        sequencer: WriteSequencer,
        tables: TableRegistry,
        stats: ProxyStats,
        accessTracker: AccessTracker,
        clock: any ServerClock,
        softTimeout: Duration?,
        externalWrites: ExternalWrites? = nil,
        degradedL1Lifetime: Duration = .seconds(1),
        slowLog: SlowLog = SlowLog(threshold: nil, maxLength: 0)
    ) {
        self.slowLog = slowLog
        self.l1 = l1
        self.l2 = l2
        self.database = database
        self.sequencer = sequencer
        self.tables = tables
        self.stats = stats
        self.accessTracker = accessTracker
        self.clock = clock
        self.softTimeout = softTimeout.map(\.nonNegativeNanoseconds)
        self.externalWrites = externalWrites
        self.degradedL1Lifetime = degradedL1Lifetime.nonNegativeNanoseconds
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

    // MARK: L1

    /// Serves a keyed entry from L1 into `out`. The entry must be newer than the last write that could have
    /// changed any entry of its type. Takes the key as raw bytes so the hit path copies nothing, and leaves
    /// counting the hit to the caller (a connection tallies its hits and adds them up once per batch).
    ///
    /// - Parameter refreshDue: set when the entry served is late enough in its life for its type's
    ///   `refresh_ahead`; the caller then starts the refresh (`refreshAhead`).
    @inline(__always)
    func serveKeyFromL1Uncounted(
        _ key: UnsafeRawBufferPointer,
        now: UInt64,
        version: RESPVersion,
        policy: PolicyState,
        refreshDue: inout Bool,
        into out: inout ByteBuffer
    ) -> L1Lookup {
        l1.lookup(key, now: now) { info, resp2, resp3 in
            guard let type = policy.servableType(info) else { return false }
            out.writeBytes(version == .v3 ? resp3 : resp2)
            // `expiresAt` is still ahead: L1 serves no expired entry.
            if info.expiresAt &- now < type.refreshWindowNanoseconds { refreshDue = true }
            return true
        }
    }

    /// `serveKeyFromL1Uncounted` that counts its hit.
    func serveKeyFromL1(
        _ key: ByteBuffer,
        now: UInt64,
        version: RESPVersion,
        policy: PolicyState,
        refreshDue: inout Bool,
        into out: inout ByteBuffer
    ) -> L1Lookup {
        let result = key.withUnsafeReadableBytes {
            serveKeyFromL1Uncounted(
                $0, now: now, version: version, policy: policy, refreshDue: &refreshDue, into: &out)
        }
        if case .hit(let group) = result { policy.counters(ofGroup: group).l1.hits.increment() }
        return result
    }

    // MARK: Past L1

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
            type.counters.l2Stale.increment()
            type.counters.l2.misses.increment()
        }
        if let fill = step.fill { fillL1(read, with: fill, stamp: stamp, now: now) }
        return step.takeAction()
    }

    /// How long a new L1 entry may live now: as long as it likes, except while this sidecar cannot hear other
    /// sidecars' invalidations, or other programs' commits it heard before.
    var l1LifetimeLimit: UInt64 {
        let deafToPeers = l2.map { !$0.consistency.isListening } ?? false
        guard deafToPeers || externalWrites?.isDeaf == true else { return .max }
        return degradedL1Lifetime
    }

    /// `min(lifetime, l1LifetimeLimit)`.
    func l1Lifetime(_ lifetime: UInt64) -> UInt64 { min(lifetime, l1LifetimeLimit) }

    // MARK: Loads

    /// Loads a key from the backend, joining an identical load running since the same write number. `client`: who
    /// asked (nil for warming and refreshes), for the slow log.
    func load(_ read: KeyRead, plan: ReadMachine.Plan, client: ClientRecord? = nil, on eventLoop: any EventLoop)
        -> EventLoopFuture<LoadedReply>
    {
        let type = read.type
        let stamp = sequencer.current
        // The request's bytes are slices of the connection's read buffer; the flight outlives them.
        let key = ByteBuffer(bytes: read.key.readableBytesView)
        // The id is the key's tail (`prefix:id`): slice it from the owned copy.
        let id =
            key.getSlice(at: key.readerIndex + key.readableBytes - read.id.readableBytes, length: read.id.readableBytes)
            ?? ByteBuffer(bytes: read.id.readableBytesView)
        let owned = KeyRead(type: type, id: id, key: key, policy: read.policy, purpose: read.purpose)
        return coalesced(key: key, stamp: stamp, counters: type.counters, on: eventLoop) { [self] in
            if read.purpose == .refresh { type.counters.refreshes.increment() }
            let started = clock.monotonicNanoseconds()
            let ticket = type.policy.l2 ? l2?.readTicket() : nil
            return database.run(eventLoop, statements: .policy) { adapter, call in
                adapter.read(type.policy.load, parameters: [SQLValue(parameter: owned.id)], origin: .policy, call: call)
                    .flatMapErrorThrowing { [self] error in
                        if error is BackendError { type.counters.loadErrors.increment() }
                        throw Database.clientError(error, counting: stats.backend, as: "load")
                    }
                    .map { [self] result in
                        loaded(owned, result: result, plan: plan, stamp: stamp, call: call, client: client)
                    }
            }.map { [self] loaded in
                if let l2, let ticket, let lifetime = loaded.lifetime, mayFillL2(ticket, started: started) {
                    // Redis keeps the entry past its logical expiry for as long as it may be served stale; readers
                    // judge freshness by the expiry inside it.
                    l2.fillKeyed(
                        key,
                        entry: l2Entry(loaded, lifetime: lifetime, sequence: ticket.sequence, tables: []),
                        lifetimeMilliseconds: (lifetime &+ type.staleGraceNanoseconds).milliseconds
                    )
                }
                return loaded
            }
        }
    }

    /// Runs `load` unless an identical load that began at the same write number is running; then the request
    /// waits for that one's result instead.
    func coalesced(
        key: ByteBuffer,
        stamp: UInt64,
        counters: TypeCounters?,
        on eventLoop: any EventLoop,
        _ load: () -> EventLoopFuture<LoadedReply>
    ) -> EventLoopFuture<LoadedReply> {
        switch coalescer.joinOrLead(key: key, stamp: stamp, on: eventLoop) {
        case .join(let future):
            counters?.coalesced.increment()
            return future.hop(to: eventLoop)
        case .lead(let flight, let promise):
            load().whenComplete { [coalescer] result in
                coalescer.finish(key: key, id: flight)
                promise.completeWith(result)
            }
            return promise.futureResult
        }
    }

    /// A load's rows as the reply, counted, and in L1 as soon as they are in (whoever still waits for them).
    private func loaded(
        _ read: KeyRead, result: ReadResult, plan: ReadMachine.Plan, stamp: UInt64, call: BackendCall,
        client: ClientRecord?
    ) -> LoadedReply {
        let type = read.type
        let finished = clock.monotonicNanoseconds()
        let took = finished &- call.startedAt
        stats.backend.load.record(nanoseconds: took)
        if slowLog.isSlow(took) {
            slowLog.record(
                operation: "LOAD", type: type.name, sql: type.policy.load, parameters: [SQLValue(parameter: read.id)],
                nanoseconds: took, client: client, unixMicroseconds: clock.wallClockMicroseconds())
        }
        type.counters.loads.increment()

        let noRow = result.resultSet.rows.isEmpty
        if noRow { type.counters.loadsAbsent.increment() }
        let reply = noRow ? ResultEncoding.nullReply : ResultEncoding.keyedValue(result.resultSet)
        let cacheable = !noRow || plan.cachesMisses
        let tracker = accessTracker
        let lifetime =
            cacheable
            ? type.nextLifetime(
                readsPerSecond: read.key.withUnsafeReadableBytes { tracker.sustainedReadsPerSecond(group: type.group, key: $0) })
            : 0
        if plan.mayFillL1(isAbsent: noRow) {
            fillL1(
                read,
                with: ReadMachine.L1Fill(
                    reply: reply, isAbsent: noRow, expiresAt: finished &+ l1Lifetime(lifetime), isExpired: false),
                stamp: stamp, now: finished)
        }
        // EXISTS agrees with GET: a row whose single column is NULL reads as nil, so it does not exist.
        return LoadedReply(
            reply: reply,
            isAbsent: reply.resp2.withUnsafeReadableBytes(ResultEncoding.isNull),
            lifetime: cacheable && type.policy.l2 ? lifetime : nil
        )
    }

    /// Whether a load may fill L2: its link is still the current one (nothing was missed since it began), and it
    /// did not take so long that the tombstone of a write during it may have expired.
    func mayFillL2(_ ticket: L2Consistency.Ticket, started: UInt64) -> Bool {
        guard let l2 else { return false }
        let limit = l2.configuration.tombstoneLifetime.nonNegativeNanoseconds / 2
        return clock.monotonicNanoseconds() &- started < limit && l2.consistency.isCurrent(ticket)
    }

    func l2Entry(_ loaded: LoadedReply, lifetime: UInt64, sequence: UInt64, tables: [String]) -> L2Entry {
        let now = clock.wallClockMilliseconds()
        return L2Entry(
            reply: loaded.reply,
            isAbsent: loaded.isAbsent,
            createdAtMilliseconds: now,
            expiresAtMilliseconds: now + lifetime.milliseconds,
            sequence: sequence,
            tables: tables
        )
    }

    // MARK: Stale entries

    /// Stale-while-revalidate: serves the key's entry into `out` if it expired less than `window` ago and no
    /// write has made it wrong. An entry past the window is left in place: it may still stand in for a failed
    /// load (`max_stale`).
    func serveExpired(_ read: KeyRead, window: UInt64, version: RESPVersion, into out: inout ByteBuffer) -> Bool {
        let policy = read.policy
        let lookup = l1.lookupStale(read.key, now: clock.monotonicNanoseconds(), maxAge: window) {
            info, resp2, resp3 in
            guard policy.keyedEntryIsFresh(info) else { return false }
            out.writeBytes(version == .v3 ? resp3 : resp2)
            return true
        }
        if case .hit = lookup { return true }
        return false
    }

    /// The key's L1 entry if it is at most `maxAge` past its expiry (or not expired) and no write since has made
    /// it wrong: what the fail-safe and the soft timeout answer with.
    func staleEntry(_ read: KeyRead, maxAge: UInt64) -> LoadedReply? {
        let policy = read.policy
        var reply: CachedReply?
        let lookup = l1.lookupStale(read.key, now: clock.monotonicNanoseconds(), maxAge: maxAge) {
            info, resp2, resp3 in
            guard policy.keyedEntryIsFresh(info) else { return false }
            reply = CachedReply(resp2: ByteBuffer(bytes: resp2), resp3: ByteBuffer(bytes: resp3))
            return true
        }
        guard case .hit = lookup, let reply else { return nil }
        let isAbsent = reply.resp2.withUnsafeReadableBytes { ResultEncoding.isNull($0) }
        return LoadedReply(reply: reply, isAbsent: isAbsent, isStale: true)
    }

    // MARK: Fills

    /// Fills L1 with a keyed entry the read's machine let through (from L2, or a load), unless a write that may
    /// have changed any entry of its type came after `stamp`. An expired entry (kept for `max_stale` and
    /// `stale_while_revalidate`) does not replace a later one L1 holds. The one place keyed entries enter L1.
    func fillL1(_ read: KeyRead, with fill: ReadMachine.L1Fill, stamp: UInt64, now: UInt64) {
        let type = read.type
        guard type.stamp.current <= stamp else { return }
        if fill.isExpired {
            let policy = read.policy
            var held: UInt64?
            _ = l1.lookupStale(read.key, now: now) { info, _, _ in
                guard policy.keyedEntryIsFresh(info) else { return false }
                held = info.expiresAt
                return true
            }
            if let held, held >= fill.expiresAt { return }
        }
        l1.store(
            read.key, reply: fill.reply, info: L1EntryInfo(expiresAt: fill.expiresAt, stamp: stamp, group: type.group),
            warm: read.purpose == .warming, now: now)
    }
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

    func load(path: ReadPath, plan: ReadMachine.Plan, client: ClientRecord?, on eventLoop: any EventLoop)
        -> EventLoopFuture<LoadedReply>
    {
        path.load(self, plan: plan, client: client, on: eventLoop)
    }

    func staleEntry(path: ReadPath, maxAge: UInt64) -> LoadedReply? { path.staleEntry(self, maxAge: maxAge) }

    func countL1Miss(path: ReadPath) { path.countL1Miss(self) }

    func countStaleHit() { type.counters.staleHits.increment() }
}

extension SQLValue {
    /// A statement parameter from a client's argument: text when it is UTF-8, else a blob, so SQLite's type
    /// affinity compares `'42'` equal to an INTEGER column's 42.
    init(parameter bytes: ByteBuffer) {
        let array = Array(bytes.readableBytesView)
        if String(validating: array, as: UTF8.self) != nil {
            self = .text(array)
        } else {
            self = .blob(array)
        }
    }
}

extension UInt64 {
    /// Nanoseconds as whole milliseconds, rounded up so a short life never becomes 0 (Redis refuses PX 0).
    var milliseconds: UInt64 { (self + 999_999) / 1_000_000 }
}
