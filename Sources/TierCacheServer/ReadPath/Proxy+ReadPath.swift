import NIOCore
import TierCacheBackend
import TierCacheCache
import TierCachePolicy
import TierCacheProtocol
import TierCacheStats

/// The read path: L1, then one coalesced load from the backend that fills L1 with the type's TTL.
extension Proxy {
    /// Serves a keyed entry from L1 into `out`. The entry must be newer than the last write that could have
    /// changed any entry of its type. Takes the key as raw bytes so the hit path copies nothing, and leaves
    /// counting the hit to the caller (a connection tallies its hits and adds them up once per batch).
    @inline(__always)
    func serveKeyFromL1Uncounted(
        _ key: UnsafeRawBufferPointer,
        now: UInt64,
        version: RESPVersion,
        into out: inout ByteBuffer
    ) -> L1Lookup {
        let policy = self.policy
        return l1.lookup(key, now: now) { info, resp2, resp3 in
            guard policy.keyedEntryIsFresh(info) else { return false }
            out.writeBytes(version == .v3 ? resp3 : resp2)
            return true
        }
    }

    /// `serveKeyFromL1Uncounted` that counts its hit.
    func serveKeyFromL1(
        _ key: ByteBuffer,
        now: UInt64,
        version: RESPVersion,
        into out: inout ByteBuffer
    ) -> L1Lookup {
        let result = key.withUnsafeReadableBytes {
            serveKeyFromL1Uncounted($0, now: now, version: version, into: &out)
        }
        if case .hit(let group) = result { counters(ofGroup: group).l1.hits.increment() }
        return result
    }

    /// Whether a keyed entry is in L1 and says "row exists" (for EXISTS); nil when L1 doesn't know.
    func existsInL1(_ key: ByteBuffer, now: UInt64) -> Bool? {
        let policy = self.policy
        var present = false
        let result = l1.lookup(key, now: now) { info, resp2, _ in
            guard policy.keyedEntryIsFresh(info) else { return false }
            present = !ResultEncoding.isNull(resp2)
            return true
        }
        guard case .hit(let group) = result else { return nil }
        counters(ofGroup: group).l1.hits.increment()
        return present
    }

    /// Loads `id` of `type` from the backend (joining an identical load already running) and fills L1.
    func loadKey(
        type: DataTypeState,
        id: ByteBuffer,
        key: ByteBuffer,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<LoadedReply> {
        type.counters.l1.misses.increment()
        let stamp = sequencer.current
        // The request's bytes are slices of the connection's read buffer; the flight outlives them.
        let ownedKey = ByteBuffer(bytes: key.readableBytesView)
        let parameter = SQLValue(parameter: id)
        return coalescedLoad(key: ownedKey, stamp: stamp, counters: type.counters, on: eventLoop) { [self] in
            try performLoad(type: type, parameter: parameter, key: ownedKey, stamp: stamp)
        }
    }

    /// Runs `load` on the backend pool unless an identical load that began at the same write number is
    /// running; then the request waits for that one's result instead.
    private func coalescedLoad(
        key: ByteBuffer,
        stamp: UInt64,
        counters: TypeCounters?,
        on eventLoop: any EventLoop,
        _ load: @escaping @Sendable () throws -> LoadedReply
    ) -> EventLoopFuture<LoadedReply> {
        switch coalescer.joinOrLead(key: key, stamp: stamp, on: eventLoop) {
        case .join(let future):
            counters?.coalesced.increment()
            return future.hop(to: eventLoop)
        case .lead(let flight, let promise):
            let work = onBackend(eventLoop, load)
            work.whenComplete { [coalescer] _ in coalescer.finish(key: key, id: flight) }
            promise.completeWith(work)
            return promise.futureResult
        }
    }

    /// Runs on the thread pool.
    private func performLoad(
        type: DataTypeState,
        parameter: SQLValue,
        key: ByteBuffer,
        stamp: UInt64
    ) throws -> LoadedReply {
        let started = monotonicNanoseconds()
        let result: ReadResult
        do {
            result = try backend.read(type.policy.load, parameters: [parameter])
        } catch {
            type.counters.loadErrors.increment()
            stats.backend.errors.increment()
            throw ProxyError(error)
        }
        let finished = monotonicNanoseconds()
        stats.backend.load.record(nanoseconds: finished &- started)
        type.counters.loads.increment()

        let isAbsent = result.resultSet.rows.isEmpty
        if isAbsent { type.counters.loadsAbsent.increment() }
        let reply = isAbsent ? ResultEncoding.nullReply : ResultEncoding.keyedValue(result.resultSet)
        if type.policy.l1, !isAbsent || type.policy.cacheMisses, type.stamp.current <= stamp {
            l1.store(
                key,
                reply: reply,
                info: L1EntryInfo(
                    expiresAt: finished &+ type.lifetime.next(),
                    stamp: stamp,
                    group: type.group
                ),
                now: finished
            )
        }
        // EXISTS agrees with GET: a row whose single column is NULL reads as nil, so it does not exist.
        return LoadedReply(reply: reply, isAbsent: reply.resp2.withUnsafeReadableBytes(ResultEncoding.isNull))
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
        into out: inout ByteBuffer
    ) -> L1Lookup {
        let result = l1.lookup(key, now: now) { [tables] info, resp2, resp3 in
            guard tables.unchanged(info.dependencies, since: info.stamp) else { return false }
            out.writeBytes(version == .v3 ? resp3 : resp2)
            return true
        }
        if case .hit(let group) = result { counters(ofGroup: group).l1.hits.increment() }
        return result
    }

    /// Runs a read-only statement (joining an identical one already running) and caches its rows under the
    /// policy of the type that owns the tables it read.
    func loadQuery(
        sql: String,
        parameters: [SQLValue],
        key: ByteBuffer,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<LoadedReply> {
        let stamp = sequencer.current
        // The owning type is known only once the statement ran, so joined QUERYs are not counted per type.
        return coalescedLoad(key: key, stamp: stamp, counters: nil, on: eventLoop) { [self] in
            try performQuery(sql: sql, parameters: parameters, key: key, stamp: stamp)
        }
    }

    private func performQuery(sql: String, parameters: [SQLValue], key: ByteBuffer, stamp: UInt64) throws -> LoadedReply
    {
        let started = monotonicNanoseconds()
        let result: ReadResult
        do {
            result = try backend.read(sql, parameters: parameters)
        } catch {
            stats.backend.errors.increment()
            throw ProxyError(error)
        }
        let finished = monotonicNanoseconds()
        stats.backend.query.record(nanoseconds: finished &- started)

        let reply = ResultEncoding.resultSet(result.resultSet)
        let owner = policy.owner(ofTables: result.tablesRead)
        let counters = owner?.counters ?? policy.defaultType.counters
        counters.l1.misses.increment()
        counters.loads.increment()

        let lifetime: UInt64?
        let group: Int32
        if let owner {
            lifetime = policy.allOwnersCache(result.tablesRead) ? owner.lifetime.next() : nil
            group = owner.group
        } else {
            lifetime = policy.defaultType.caches ? policy.defaultType.lifetime.next() : nil
            group = policy.defaultType.group
        }
        if let lifetime {
            let dependencies = tables.ids(for: result.tablesRead)
            if tables.unchanged(dependencies, since: stamp) {
                l1.store(
                    key,
                    reply: reply,
                    info: L1EntryInfo(
                        expiresAt: finished &+ lifetime,
                        stamp: stamp,
                        group: group,
                        dependencies: dependencies
                    ),
                    now: finished
                )
            }
        }
        return LoadedReply(reply: reply, isAbsent: false)
    }

    func counters(ofGroup group: Int32) -> TypeCounters {
        let types = policy.types
        return Int(group) < types.count && group >= 0 ? types[Int(group)].counters : policy.defaultType.counters
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
