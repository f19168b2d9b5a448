import NIOCore
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheProtocol
import TierCacheRedis
import TierCacheStats
import TierCacheSupport

/// QUERY's read path: the same machine as a keyed read, with a result's own L1 key, L2 entries judged by the
/// tables they read, and the owning type known only once the statement ran.
extension ReadPath {
    /// One QUERY read. `key` is ``queryKey(sql:parameters:)``.
    struct QueryRead: Sendable {
        var sql: String
        var parameters: [SQLValue]
        var key: ByteBuffer
        var policy: PolicyState
    }

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

    /// Runs a read-only statement after an L1 miss: from L2 when QUERY results may live there, else (or on an L2
    /// miss) on the backend, joining an identical statement already running. Caches the rows under the policy of
    /// the type that owns the tables it read.
    func read(query: QueryRead, client: ClientRecord? = nil, on eventLoop: any EventLoop)
        -> EventLoopFuture<LoadedReply>
    {
        guard eventLoop.inEventLoop else {
            return eventLoop.flatSubmit { self.read(query: query, client: client, on: eventLoop) }
        }
        var plan = ReadMachine.Plan.backendOnly
        plan.consultsL2 = query.policy.anyQueryUsesL2 && l2?.mayRead == true
        var machine = ReadMachine(plan: plan)
        let action = machine.l1Missed(expired: false)
        let promise = eventLoop.makePromise(of: LoadedReply.self)
        ReadTask(
            path: self, read: query, machine: machine, stamp: sequencer.current, eventLoop: eventLoop, client: client
        ).run(action, completion: promise.completeWith)
        return promise.futureResult
    }

    /// Feeds an L2 look-up to a QUERY's machine: an entry counts only while the policies of the tables it read
    /// still allow L2, and is fresh only if none of them was written since. Fills L1 as the machine says.
    func l2Replied(
        _ lookup: L2Tier.Lookup,
        query: QueryRead,
        stamp: UInt64,
        machine: inout ReadMachine
    ) -> ReadMachine.Action {
        let policy = query.policy
        var entry: L2Entry?
        if case .hit(let found) = lookup, policy.resultUsesL2(found.tables) { entry = found }
        let owner = entry.map { policy.owner(ofTables: Set($0.tables)) } ?? nil
        let now = clock.monotonicNanoseconds()
        var step = machine.l2Replied(
            ReadMachine.L2Reply(
                entry: entry,
                isCurrent: entry.map { l2?.consistency.queryEntryIsFresh(tables: $0.tables, sequence: $0.sequence) }
                    == true,
                // As for keyed entries: sooner than its own expiry if the owner's TTL was lowered since.
                longestLifetimeMilliseconds: (owner?.lifetime ?? policy.defaultType.lifetime).longestMilliseconds,
                nowMilliseconds: clock.wallClockMilliseconds(),
                nowMonotonic: now,
                l1LifetimeLimit: l1LifetimeLimit
            ))
        switch step.verdict {
        case .hit:
            let counters = owner?.counters ?? policy.defaultType.counters
            counters.l1.misses.increment()
            counters.l2.hits.increment()
        case .stale:
            l2?.stats.stale.increment()
            (owner?.counters ?? policy.defaultType.counters).l2Stale.increment()
        case .miss:
            break  // counted with the load, once the owner is known
        }
        if let fill = step.fill, let entry {
            fillL1(
                query: query.key, reply: fill.reply, tables: entry.tables, policy: policy, expiresAt: fill.expiresAt,
                stamp: stamp, now: now)
        }
        return step.takeAction()
    }

    /// Runs the statement on the backend, joining an identical one running since the same write number.
    func load(_ query: QueryRead, consultedL2: Bool, client: ClientRecord?, on eventLoop: any EventLoop)
        -> EventLoopFuture<LoadedReply>
    {
        let stamp = sequencer.current
        // The owning type is known only once the statement ran, so joined QUERYs are not counted per type.
        return coalesced(key: query.key, stamp: stamp, counters: nil, on: eventLoop) { [self] in
            let started = clock.monotonicNanoseconds()
            let ticket = query.policy.anyQueryUsesL2 ? l2?.readTicket() : nil
            return database.run(eventLoop, statements: .client) { adapter, call in
                adapter.read(query.sql, parameters: query.parameters, origin: .client, call: call)
                    .flatMapErrorThrowing { [self] error in
                        throw Database.clientError(error, counting: stats.backend, as: "query")
                    }
                    .map { [self] result in
                        loaded(
                            query, result: result, stamp: stamp, consultedL2: consultedL2, call: call, client: client)
                    }
            }.map { [self] loaded in
                if let l2, let ticket, let lifetime = loaded.lifetime, mayFillL2(ticket, started: started) {
                    l2.fillQuery(
                        query.key,
                        entry: l2Entry(loaded, lifetime: lifetime, sequence: ticket.sequence, tables: loaded.tables),
                        lifetimeMilliseconds: lifetime.milliseconds
                    )
                }
                return loaded
            }
        }
    }

    /// A QUERY's rows as the reply, counted against the type owning its tables, and in L1.
    private func loaded(
        _ query: QueryRead, result: ReadResult, stamp: UInt64, consultedL2: Bool, call: BackendCall,
        client: ClientRecord?
    ) -> LoadedReply {
        let finished = clock.monotonicNanoseconds()
        let took = finished &- call.startedAt
        stats.backend.query.record(nanoseconds: took)

        let policy = query.policy
        let reply = ResultEncoding.resultSet(result.resultSet)
        let owner = policy.owner(ofTables: result.tablesRead)
        if slowLog.isSlow(took) {
            slowLog.record(
                operation: "QUERY", type: owner?.name, sql: query.sql, parameters: query.parameters, nanoseconds: took,
                client: client, unixMicroseconds: clock.wallClockMicroseconds())
        }
        let counters = owner?.counters ?? policy.defaultType.counters
        counters.l1.misses.increment()
        if consultedL2 { counters.l2.misses.increment() }
        counters.loads.increment()

        let lifetime = (owner?.lifetime ?? policy.defaultType.lifetime).next()
        fillL1(
            query: query.key, reply: reply, tables: result.tablesRead, policy: policy,
            expiresAt: finished &+ l1Lifetime(lifetime), stamp: stamp, now: finished)
        return LoadedReply(
            reply: reply,
            isAbsent: false,
            lifetime: policy.resultUsesL2(result.tablesRead) ? lifetime : nil,
            tables: result.tablesRead.sorted()
        )
    }

    // MARK: L1

    /// Serves a cached QUERY result; it must be newer than the last write to every table it read, and read only
    /// tables `admits` (given the names) lets this client see.
    func serveQueryFromL1(
        _ key: ByteBuffer,
        now: UInt64,
        version: RESPVersion,
        policy: PolicyState,
        admits: (([String]) -> Bool)? = nil,
        into out: inout ByteBuffer
    ) -> L1Lookup {
        let result = l1.lookup(key, now: now) { [tables] info, resp2, resp3 in
            guard tables.unchanged(info.dependencies, since: info.stamp) else { return false }
            if let admits, !admits(tables.names(of: info.dependencies)) { return false }
            out.writeBytes(version == .v3 ? resp3 : resp2)
            return true
        }
        if case .hit(let group) = result { policy.counters(ofGroup: group).l1.hits.increment() }
        return result
    }

    /// Fills L1 with a QUERY result, under the policy of the type owning the tables it read, unless one of them
    /// was written after `stamp`. The one place QUERY results enter L1.
    func fillL1(
        query key: ByteBuffer,
        reply: CachedReply,
        tables read: some Collection<String>,
        policy: PolicyState,
        expiresAt: UInt64,
        stamp: UInt64,
        now: UInt64
    ) {
        guard policy.resultUsesL1(read) else { return }
        let dependencies = tables.ids(for: read)
        guard tables.unchanged(dependencies, since: stamp) else { return }
        let owner = policy.owner(ofTables: Set(read))
        l1.store(
            key,
            reply: reply,
            info: L1EntryInfo(
                expiresAt: expiresAt, stamp: stamp, group: owner?.group ?? policy.defaultType.group,
                dependencies: dependencies),
            now: now
        )
    }
}

// MARK: - A QUERY result as a read target

extension ReadPath.QueryRead: ReadTarget {
    /// QUERY results go through `L2Tier.get` (their Redis key is the digest's hex): the two methods below are never
    /// called, and answer as an L2 failure (the read then goes to the database) if they were.
    static var usesConnection: Bool { false }

    func requestEntry(_ l2: L2Tier, on connection: L2Connection, completion: @escaping L2Connection.RawCompletion) {
        completion(.failure(RedisError(.protocolError, "QUERY results are not read on the loop's connection")))
    }

    func entry(from reply: Result<L2Connection.Reply, RedisError>, in l2: L2Tier) -> L2Tier.Lookup { .miss }

    func lookUp(in l2: L2Tier, on eventLoop: any EventLoop) -> EventLoopFuture<L2Tier.Lookup> {
        l2.get(l2.namespace.queryKey(key), on: eventLoop)
    }

    func l2Replied(
        _ lookup: consuming L2Tier.Lookup, path: ReadPath, stamp: UInt64, machine: inout ReadMachine
    ) -> ReadMachine.Action {
        path.l2Replied(lookup, query: self, stamp: stamp, machine: &machine)
    }

    func load(path: ReadPath, plan: ReadMachine.Plan, client: ClientRecord?, on eventLoop: any EventLoop)
        -> EventLoopFuture<LoadedReply>
    {
        path.load(self, consultedL2: plan.consultsL2, client: client, on: eventLoop)
    }

    /// QUERY results have no stale fallback.
    func staleEntry(path: ReadPath, maxAge: UInt64) -> LoadedReply? { nil }

    /// Counted with the load, once the owning type is known.
    func countL1Miss(path: ReadPath) {}

    func countStaleHit() {}
}
