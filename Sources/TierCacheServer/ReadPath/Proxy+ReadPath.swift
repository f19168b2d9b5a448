import NIOCore
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheProtocol
import TierCacheRedis
import TierCacheResilience
import TierCacheStats
import TierCacheSupport

/// What an L2 look-up gives a read of one key.
enum L2Answer: Sendable {
    /// A fresh entry; L1 was filled with it.
    case hit(LoadedReply)
    /// No fresh entry. `stale`: an expired one within the type's `max_stale` that no write has made wrong, for
    /// the load to answer with if the database is unwell.
    case miss(stale: LoadedReply?)
}

/// The read path: L1, then one coalesced load from the backend that fills L1 with the type's TTL.
extension Proxy {
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

    /// `refresh_ahead`: one background load of a key whose entry was hit late in its life, straight from the
    /// database (L2 holds the same aging entry), filling L1 and L2 with a fresh one. Hits meanwhile join it.
    func refreshAhead(type: DataTypeState, id: ByteBuffer, key: ByteBuffer, on eventLoop: any EventLoop) {
        _ = loadKey(type: type, id: id, key: key, consultL2: false, countMiss: false, refreshing: true, on: eventLoop)
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

    /// Whether a keyed entry is in L1 and says "row exists" (for EXISTS); nil when L1 doesn't know.
    func existsInL1(_ key: ByteBuffer, now: UInt64, policy: PolicyState) -> Bool? {
        var present = false
        let result = l1.lookup(key, now: now) { info, resp2, _ in
            guard policy.keyedEntryIsFresh(info) else { return false }
            present = !ResultEncoding.isNull(resp2)
            return true
        }
        guard case .hit(let group) = result else { return nil }
        policy.counters(ofGroup: group).l1.hits.increment()
        return present
    }

    /// Loads one key after an L1 miss: from L2 when its type uses it, else (or on an L2 miss) from the backend,
    /// joining an identical load already running. Fills the tiers the type uses.
    ///
    /// - Parameter staleFromL2: when the caller already looked L2 up (`consultL2: false`), the expired entry it
    ///   found there, if one may stand in for a failed load (``L2Answer``).
    func loadKey(
        type: DataTypeState,
        id: ByteBuffer,
        key: ByteBuffer,
        consultL2: Bool = true,
        countMiss: Bool = true,
        staleFromL2: LoadedReply? = nil,
        refreshing: Bool = false,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<LoadedReply> {
        if countMiss { type.counters.l1.misses.increment() }
        let stamp = sequencer.current
        // The request's bytes are slices of the connection's read buffer; the flight outlives them.
        let ownedKey = ByteBuffer(bytes: key.readableBytesView)
        // The id is the key's tail (`prefix:id`): slice it from the owned copy.
        let ownedID =
            ownedKey.getSlice(at: ownedKey.readerIndex + key.readableBytes - id.readableBytes, length: id.readableBytes)
            ?? ByteBuffer(bytes: id.readableBytesView)
        let load = coalescedLoad(key: ownedKey, stamp: stamp, counters: type.counters, on: eventLoop) { [self] in
            if refreshing { type.counters.refreshes.increment() }
            let started = clock.monotonicNanoseconds()
            let ticket = type.policy.l2 ? l2?.readTicket() : nil
            guard consultL2, let l2, let ticket else {
                return loadKeyFromBackend(
                    type, ownedID, ownedKey, stamp: stamp, ticket: ticket, stale: staleFromL2, started: started,
                    on: eventLoop)
            }
            return l2.get(l2.namespace.entryKey(ownedKey), on: eventLoop).flatMap { [self] lookup in
                switch acceptL2(lookup, type: type, key: ownedKey, stamp: stamp) {
                case .hit(let reply):
                    return eventLoop.makeSucceededFuture(reply)
                case .miss(let stale):
                    return loadKeyFromBackend(
                        type, ownedID, ownedKey, stamp: stamp, ticket: ticket, stale: stale, started: started,
                        on: eventLoop)
                }
            }
        }
        guard type.policy.maxStale != nil else { return load }
        // Counted here, once per request: everyone who joined the load got the stale entry too.
        let failSafe = load.map { loaded in
            if loaded.isStale { type.counters.staleHits.increment() }
            return loaded
        }.flatMapError { [self] error in
            if let stale = staleEntry(type: type, key: ownedKey, after: error) {
                return eventLoop.makeSucceededFuture(stale)
            }
            return eventLoop.makeFailedFuture(error)
        }
        guard let softTimeout = configuration.softTimeout else { return failSafe }
        // Soft timeout: a load still running after it is answered for with the stale entry, if there is one; the
        // load goes on and refreshes the cache. Without a stale entry the request waits for the load.
        let promise = eventLoop.makePromise(of: LoadedReply.self)
        let answered = OnceFlag()
        let timer = eventLoop.scheduleTask(in: .nanoseconds(Int64(clamping: softTimeout.wholeNanoseconds))) {
            [self] in
            guard let stale = usableStaleEntry(type: type, key: ownedKey) ?? staleFromL2, answered.claim() else {
                return
            }
            type.counters.staleHits.increment()
            promise.succeed(stale)
        }
        failSafe.whenComplete { result in
            timer.cancel()
            if answered.claim() { promise.completeWith(result) }
        }
        return promise.futureResult
    }

    /// Stale-while-revalidate: serves `key`'s entry into `out` if it expired less than the type's
    /// `stale_while_revalidate` ago (and no write has made it wrong), and starts a background load to refresh it;
    /// loads already running for the key are joined, so readers in the window make one load between them.
    func serveWhileRevalidating(
        type: DataTypeState,
        id: ByteBuffer,
        key: ByteBuffer,
        version: RESPVersion,
        into out: inout ByteBuffer,
        on eventLoop: any EventLoop
    ) -> Bool {
        guard let window = type.policy.staleWhileRevalidate else { return false }
        let windowNanoseconds = UInt64(window.milliseconds) * 1_000_000
        let policy = self.policy
        // An entry past the window is left in place: it may still stand in for a failed load (`max_stale`).
        let lookup = l1.lookupStale(key, now: clock.monotonicNanoseconds(), maxAge: windowNanoseconds) { info, resp2, resp3 in
            guard policy.keyedEntryIsFresh(info) else { return false }
            out.writeBytes(version == .v3 ? resp3 : resp2)
            return true
        }
        guard case .hit = lookup else { return false }
        type.counters.revalidations.increment()
        // The refresh's result goes to the cache; a failed one leaves the entry to the next reader.
        _ = loadKey(type: type, id: id, key: key, countMiss: false, on: eventLoop)
        return true
    }

    /// Fail-safe: when loading a key failed because the database is unwell, the expired L1 entry if it is within
    /// the type's `max_stale` and no write since has made it wrong. Nil otherwise: then the client gets the error.
    private func staleEntry(type: DataTypeState, key: ByteBuffer, after error: any Error) -> LoadedReply? {
        guard Self.databaseIsUnwell(error), let stale = usableStaleEntry(type: type, key: key) else { return nil }
        type.counters.staleHits.increment()
        return stale
    }

    /// Whether a load failed for the database's sake, so a stale entry may answer for it: an error that counts
    /// against the database's breaker (a timeout among them), or the breaker open.
    private static func databaseIsUnwell(_ error: any Error) -> Bool {
        (error as? ProxyError)?.code == .unavailable || outcome(of: error, statements: .policy) == .failure
    }

    /// The key's L1 entry if it is within the type's `max_stale` (expired or not) and no write since has made it
    /// wrong.
    private func usableStaleEntry(type: DataTypeState, key: ByteBuffer) -> LoadedReply? {
        let policy = self.policy
        var reply: CachedReply?
        let lookup = l1.lookupStale(key, now: clock.monotonicNanoseconds(), maxAge: type.maxStaleNanoseconds) {
            info, resp2, resp3 in
            guard policy.keyedEntryIsFresh(info) else { return false }
            reply = CachedReply(resp2: ByteBuffer(bytes: resp2), resp3: ByteBuffer(bytes: resp3))
            return true
        }
        guard case .hit = lookup, let reply else { return nil }
        let isAbsent = reply.resp2.withUnsafeReadableBytes { ResultEncoding.isNull($0) }
        return LoadedReply(reply: reply, isAbsent: isAbsent, isStale: true)
    }

    /// The start of a GET's L2 step, once its key missed L1: counts the miss and returns the write number the
    /// look-up begins at, for ``acceptL2Reply(_:type:key:stamp:)``.
    func beginL2Lookup(type: DataTypeState) -> UInt64 {
        type.counters.l1.misses.increment()
        return sequencer.current
    }

    /// What a GET's L2 reply (`L2Tier.requestEntry(_:on:completion:)`) gives it. On a miss of any kind the
    /// caller loads from the backend.
    func acceptL2Reply(
        _ reply: Result<L2Connection.Reply, RedisError>,
        type: DataTypeState,
        key: ByteBuffer,
        stamp: UInt64
    ) -> L2Answer {
        guard let l2 else { return .miss(stale: nil) }
        return acceptL2(l2.entry(from: reply, key: key), type: type, key: key, stamp: stamp)
    }

    /// Loads several keys that missed L1 (MGET): the ones whose types use L2 in one MGET round trip, then each
    /// L2 miss from the backend. Results are in the order of `targets`.
    func loadKeys(
        _ targets: [(type: DataTypeState, id: ByteBuffer, key: ByteBuffer)],
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<[LoadedReply]> {
        let candidates = targets.indices.filter { targets[$0].type.policy.l2 }
        guard let l2, candidates.count > 1, l2.readTicket() != nil else {
            // One key gains nothing from batching: its flight may join an identical one.
            let loads = targets.map { loadKey(type: $0.type, id: $0.id, key: $0.key, on: eventLoop) }
            return EventLoopFuture.whenAllSucceed(loads, on: eventLoop)
        }
        let stamp = sequencer.current
        let ownedKeys = candidates.map { ByteBuffer(bytes: targets[$0].key.readableBytesView) }
        return l2.get(many: ownedKeys.map(l2.namespace.entryKey), on: eventLoop).flatMap { [self] lookups in
            var fromL2: [Int: LoadedReply] = [:]
            var staleFromL2: [Int: LoadedReply] = [:]
            for (position, index) in candidates.enumerated() {
                let type = targets[index].type
                switch acceptL2(lookups[position], type: type, key: ownedKeys[position], stamp: stamp) {
                case .hit(let reply):
                    type.counters.l1.misses.increment()
                    fromL2[index] = reply
                case .miss(let stale):
                    staleFromL2[index] = stale
                }
            }
            var consulted = [Bool](repeating: false, count: targets.count)
            for index in candidates { consulted[index] = true }
            let loads = targets.indices.map { index -> EventLoopFuture<LoadedReply> in
                if let reply = fromL2[index] { return eventLoop.makeSucceededFuture(reply) }
                let target = targets[index]
                // A key the L2 look-up above just missed goes straight to the backend (which then fills L2).
                return loadKey(
                    type: target.type, id: target.id, key: target.key, consultL2: !consulted[index],
                    staleFromL2: staleFromL2[index], on: eventLoop)
            }
            return EventLoopFuture.whenAllSucceed(loads, on: eventLoop)
        }
    }

    /// An L2 look-up's entry as a reply, when it is fresh; fills L1 with the entry's remaining life. A miss
    /// (counted) when absent, unreadable, failed, expired, or older than a write this sidecar knows of.
    private func acceptL2(_ lookup: L2Tier.Lookup, type: DataTypeState, key: ByteBuffer, stamp: UInt64) -> L2Answer {
        guard let l2, case .hit(let entry) = lookup else {
            type.counters.l2.misses.increment()
            return .miss(stale: nil)
        }
        let nowMilliseconds = clock.wallClockMicroseconds() / 1000
        guard l2.consistency.keyedEntryIsFresh(group: type.group, sequence: entry.sequence) else {
            l2.stats.stale.increment()
            type.counters.l2.misses.increment()
            return .miss(stale: nil)
        }
        // The entry's own expiry, or sooner if the policy's TTL was lowered since it was created.
        let expiresAt = min(
            entry.expiresAtMilliseconds, entry.createdAtMilliseconds &+ type.longestLifetimeMilliseconds)
        guard expiresAt > nowMilliseconds else {
            l2.stats.stale.increment()
            type.counters.l2.misses.increment()
            return .miss(
                stale: keepExpired(
                    entry, expiredAt: expiresAt, type: type, key: key, stamp: stamp, nowMilliseconds: nowMilliseconds))
        }
        type.counters.l2.hits.increment()
        if type.policy.l1, !entry.isAbsent || type.policy.cacheMisses, type.stamp.current <= stamp {
            let now = clock.monotonicNanoseconds()
            let remaining = (expiresAt - nowMilliseconds) * 1_000_000
            l1.store(
                key,
                reply: entry.reply,
                info: L1EntryInfo(expiresAt: now &+ l1Lifetime(remaining), stamp: stamp, group: type.group),
                now: now
            )
        }
        return .hit(LoadedReply(reply: entry.reply, isAbsent: entry.isAbsent))
    }

    /// An expired L2 entry that no write has made wrong (checked by the caller), within the type's stale grace: it
    /// goes into L1 as the expired entry it is (unless L1 holds a later one), where soft timeouts and
    /// stale-while-revalidate find it as they find L1's own. Returned when it is within `max_stale`, for the load
    /// to fall back on.
    private func keepExpired(
        _ entry: L2Entry,
        expiredAt: UInt64,
        type: DataTypeState,
        key: ByteBuffer,
        stamp: UInt64,
        nowMilliseconds: UInt64
    ) -> LoadedReply? {
        let age = (nowMilliseconds - expiredAt) * 1_000_000
        guard age < type.staleGraceNanoseconds else { return nil }
        if type.policy.l1, !entry.isAbsent || type.policy.cacheMisses, type.stamp.current <= stamp {
            let now = clock.monotonicNanoseconds()
            let expiresAt = now > age ? now - age : 0
            let policy = self.policy
            var held: UInt64?
            _ = l1.lookupStale(key, now: now) { info, _, _ in
                guard policy.keyedEntryIsFresh(info) else { return false }
                held = info.expiresAt
                return true
            }
            if held.map({ $0 < expiresAt }) ?? true {
                l1.store(
                    key, reply: entry.reply, info: L1EntryInfo(expiresAt: expiresAt, stamp: stamp, group: type.group),
                    now: now)
            }
        }
        guard age <= type.maxStaleNanoseconds else { return nil }
        return LoadedReply(reply: entry.reply, isAbsent: entry.isAbsent, isStale: true)
    }

    /// Runs `load` on the backend pool unless an identical load that began at the same write number is
    /// running; then the request waits for that one's result instead.
    private func coalescedLoad(
        key: ByteBuffer,
        stamp: UInt64,
        counters: TypeCounters?,
        on eventLoop: any EventLoop,
        _ load: @escaping @Sendable () -> EventLoopFuture<LoadedReply>
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

    /// - Parameter stale: an expired L2 entry to answer with if the load fails because the database is unwell.
    private func loadKeyFromBackend(
        _ type: DataTypeState,
        _ id: ByteBuffer,
        _ key: ByteBuffer,
        stamp: UInt64,
        ticket: L2Consistency.Ticket?,
        stale: LoadedReply?,
        started: UInt64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<LoadedReply> {
        let load = onDatabase(eventLoop, statements: .policy) { [self] in
            try performLoad(type: type, parameter: SQLValue(parameter: id), key: key, stamp: stamp)
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
        guard let stale else { return load }
        return load.flatMapError { error in
            Self.databaseIsUnwell(error) ? eventLoop.makeSucceededFuture(stale) : eventLoop.makeFailedFuture(error)
        }
    }

    /// Runs on the thread pool.
    private func performLoad(
        type: DataTypeState,
        parameter: SQLValue,
        key: ByteBuffer,
        stamp: UInt64
    ) throws -> LoadedReply {
        let started = clock.monotonicNanoseconds()
        let result: ReadResult
        do {
            result = try backend.read(type.policy.load, parameters: [parameter])
        } catch {
            type.counters.loadErrors.increment()
            stats.backend.errors.increment()
            throw ProxyError(error)
        }
        let finished = clock.monotonicNanoseconds()
        stats.backend.load.record(nanoseconds: finished &- started)
        type.counters.loads.increment()

        let noRow = result.resultSet.rows.isEmpty
        if noRow { type.counters.loadsAbsent.increment() }
        let reply = noRow ? ResultEncoding.nullReply : ResultEncoding.keyedValue(result.resultSet)
        let cacheable = !noRow || type.policy.cacheMisses
        let tracker = accessTracker
        let lifetime =
            cacheable
            ? type.nextLifetime(
                readsPerSecond: key.withUnsafeReadableBytes { tracker.readsPerSecond(group: type.group, key: $0) })
            : 0
        if type.policy.l1, cacheable, type.stamp.current <= stamp {
            l1.store(
                key,
                reply: reply,
                info: L1EntryInfo(expiresAt: finished &+ l1Lifetime(lifetime), stamp: stamp, group: type.group),
                now: finished
            )
        }
        // EXISTS agrees with GET: a row whose single column is NULL reads as nil, so it does not exist.
        return LoadedReply(
            reply: reply,
            isAbsent: reply.resp2.withUnsafeReadableBytes(ResultEncoding.isNull),
            lifetime: cacheable && type.policy.l2 ? lifetime : nil
        )
    }

    /// How long a new L1 entry may live: its lifetime, cut to the degraded bound while this sidecar cannot hear
    /// other sidecars' invalidations.
    func l1Lifetime(_ lifetime: UInt64) -> UInt64 {
        guard let l2, !l2.consistency.isListening else { return lifetime }
        return min(lifetime, UInt64(clamping: l2.configuration.degradedL1Lifetime.wholeNanoseconds))
    }

    /// Whether a load may fill L2: its link is still the current one (nothing was missed since it began), and it
    /// did not take so long that the tombstone of a write during it may have expired.
    private func mayFillL2(_ ticket: L2Consistency.Ticket, started: UInt64) -> Bool {
        guard let l2 else { return false }
        let limit = UInt64(clamping: l2.configuration.tombstoneLifetime.wholeNanoseconds / 2)
        return clock.monotonicNanoseconds() &- started < limit && l2.consistency.isCurrent(ticket)
    }

    private func l2Entry(_ loaded: LoadedReply, lifetime: UInt64, sequence: UInt64, tables: [String]) -> L2Entry {
        let now = clock.wallClockMicroseconds() / 1000
        return L2Entry(
            reply: loaded.reply,
            isAbsent: loaded.isAbsent,
            createdAtMilliseconds: now,
            expiresAtMilliseconds: now + lifetime.milliseconds,
            sequence: sequence,
            tables: tables
        )
    }

    // MARK: QUERY

    /// The L1 key of a QUERY: a 0x00 byte (no client key routes to it: typed keys are `prefix:id`, and GET
    /// refuses keys starting with 0x00), then the SHA-256 digest of the statement and its parameters, each
    /// length-prefixed so parts can't run together. A fixed 33 bytes however long the statement is.
    static func queryKey(sql: ByteBuffer, parameters: ArraySlice<ByteBuffer>) -> ByteBuffer {
        var hasher = SHA256()
        func add(_ part: ByteBuffer) {
            var length = UInt32(truncatingIfNeeded: part.readableBytes).bigEndian
            withUnsafeBytes(of: &length) { hasher.update($0) }
            part.withUnsafeReadableBytes { hasher.update($0) }
        }
        add(sql)
        for parameter in parameters { add(parameter) }
        var key = ByteBuffer()
        key.reserveCapacity(33)
        key.writeInteger(UInt8(0))
        key.writeBytes(hasher.finalize())
        return key
    }

    /// Serves a cached QUERY result; it must be newer than the last write to every table it read.
    func serveQueryFromL1(
        _ key: ByteBuffer,
        now: UInt64,
        version: RESPVersion,
        policy: PolicyState,
        into out: inout ByteBuffer
    ) -> L1Lookup {
        let result = l1.lookup(key, now: now) { [tables] info, resp2, resp3 in
            guard tables.unchanged(info.dependencies, since: info.stamp) else { return false }
            out.writeBytes(version == .v3 ? resp3 : resp2)
            return true
        }
        if case .hit(let group) = result { policy.counters(ofGroup: group).l1.hits.increment() }
        return result
    }

    /// Runs a read-only statement after an L1 miss: from L2 when QUERY results may live there, else (or on an L2
    /// miss) on the backend, joining an identical statement already running. Caches the rows under the policy of
    /// the type that owns the tables it read.
    func loadQuery(
        sql: String,
        parameters: [SQLValue],
        key: ByteBuffer,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<LoadedReply> {
        let stamp = sequencer.current
        // The owning type is known only once the statement ran, so joined QUERYs are not counted per type.
        return coalescedLoad(key: key, stamp: stamp, counters: nil, on: eventLoop) { [self] in
            let started = clock.monotonicNanoseconds()
            let ticket = policy.anyQueryUsesL2 ? l2?.readTicket() : nil
            guard let l2, let ticket else {
                return queryFromBackend(sql, parameters, key, stamp: stamp, ticket: nil, started: started, on: eventLoop)
            }
            return l2.get(l2.namespace.queryKey(key), on: eventLoop).flatMap { [self] lookup in
                if let reply = acceptL2Query(lookup, key: key, stamp: stamp) {
                    return eventLoop.makeSucceededFuture(reply)
                }
                return queryFromBackend(sql, parameters, key, stamp: stamp, ticket: ticket, started: started, on: eventLoop)
            }
        }
    }

    /// A QUERY result from L2 when it is fresh and its tables' policies still allow L2; fills L1 like a load.
    private func acceptL2Query(_ lookup: L2Tier.Lookup, key: ByteBuffer, stamp: UInt64) -> LoadedReply? {
        let policy = self.policy
        guard let l2, case .hit(let entry) = lookup, policy.resultUsesL2(entry.tables) else { return nil }
        let owner = policy.owner(ofTables: Set(entry.tables))
        let counters = owner?.counters ?? policy.defaultType.counters
        let nowMilliseconds = clock.wallClockMicroseconds() / 1000
        // As for keyed entries: sooner than its own expiry if the owner's TTL was lowered since.
        let longest = (owner?.lifetime ?? policy.defaultType.lifetime).longestMilliseconds
        let expiresAt = min(entry.expiresAtMilliseconds, entry.createdAtMilliseconds &+ longest)
        guard expiresAt > nowMilliseconds,
            l2.consistency.queryEntryIsFresh(tables: entry.tables, sequence: entry.sequence)
        else {
            l2.stats.stale.increment()
            return nil
        }
        counters.l1.misses.increment()
        counters.l2.hits.increment()
        let dependencies = tables.ids(for: entry.tables)
        if policy.resultUsesL1(entry.tables), tables.unchanged(dependencies, since: stamp) {
            let now = clock.monotonicNanoseconds()
            let remaining = (expiresAt - nowMilliseconds) * 1_000_000
            l1.store(
                key,
                reply: entry.reply,
                info: L1EntryInfo(
                    expiresAt: now &+ l1Lifetime(remaining),
                    stamp: stamp,
                    group: owner?.group ?? policy.defaultType.group,
                    dependencies: dependencies
                ),
                now: now
            )
        }
        return LoadedReply(reply: entry.reply, isAbsent: false)
    }

    private func queryFromBackend(
        _ sql: String,
        _ parameters: [SQLValue],
        _ key: ByteBuffer,
        stamp: UInt64,
        ticket: L2Consistency.Ticket?,
        started: UInt64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<LoadedReply> {
        onDatabase(eventLoop, statements: .client) { [self] in
            try performQuery(sql: sql, parameters: parameters, key: key, stamp: stamp, consultedL2: ticket != nil)
        }.map { [self] loaded in
            if let l2, let ticket, let lifetime = loaded.lifetime, mayFillL2(ticket, started: started) {
                l2.fillQuery(
                    key,
                    entry: l2Entry(loaded, lifetime: lifetime, sequence: ticket.sequence, tables: loaded.tables),
                    lifetimeMilliseconds: lifetime.milliseconds
                )
            }
            return loaded
        }
    }

    /// Runs on the thread pool.
    private func performQuery(
        sql: String,
        parameters: [SQLValue],
        key: ByteBuffer,
        stamp: UInt64,
        consultedL2: Bool
    ) throws -> LoadedReply {
        let started = clock.monotonicNanoseconds()
        let result: ReadResult
        do {
            result = try backend.read(sql, parameters: parameters, origin: .client)
        } catch {
            stats.backend.errors.increment()
            throw ProxyError(error)
        }
        let finished = clock.monotonicNanoseconds()
        stats.backend.query.record(nanoseconds: finished &- started)

        let reply = ResultEncoding.resultSet(result.resultSet)
        let owner = policy.owner(ofTables: result.tablesRead)
        let counters = owner?.counters ?? policy.defaultType.counters
        counters.l1.misses.increment()
        if consultedL2 { counters.l2.misses.increment() }
        counters.loads.increment()

        let lifetime = (owner?.lifetime ?? policy.defaultType.lifetime).next()
        if policy.resultUsesL1(result.tablesRead) {
            let dependencies = tables.ids(for: result.tablesRead)
            if tables.unchanged(dependencies, since: stamp) {
                l1.store(
                    key,
                    reply: reply,
                    info: L1EntryInfo(
                        expiresAt: finished &+ l1Lifetime(lifetime),
                        stamp: stamp,
                        group: owner?.group ?? policy.defaultType.group,
                        dependencies: dependencies
                    ),
                    now: finished
                )
            }
        }
        return LoadedReply(
            reply: reply,
            isAbsent: false,
            lifetime: policy.resultUsesL2(result.tablesRead) ? lifetime : nil,
            tables: result.tablesRead.sorted()
        )
    }
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
    fileprivate var milliseconds: UInt64 { (self + 999_999) / 1_000_000 }
}
