import NIOCore
import TierCacheCache
import TierCacheProtocol
import TierCacheStats
import TierCacheSupport

/// L1's part of the read path: the hit path (in place, on the request's bytes, counting left to the caller), the
/// stale entries stale-while-revalidate and the fail-safe serve, and every fill of L1 from L2 and the backend.
extension ReadPath {
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
            now: now)
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
