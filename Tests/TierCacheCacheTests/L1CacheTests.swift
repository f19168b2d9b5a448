import NIOCore
import Testing

@testable import TierCacheCache

/// Reads a key's RESP2 bytes as a String, or nil on a miss.
private func read(_ cache: L1Cache, _ key: String, now: UInt64 = 0, accept: Bool = true) -> String? {
    var value: String?
    let result = cache.lookup(ByteBuffer(string: key), now: now) { _, resp2, _ in
        if accept { value = String(decoding: resp2, as: UTF8.self) }
        return accept
    }
    if case .hit = result { return value }
    return nil
}

private func put(
    _ cache: L1Cache,
    _ key: String,
    _ value: String,
    expiresAt: UInt64 = .max,
    stamp: UInt64 = 0,
    group: Int32 = 0,
    now: UInt64 = 0
) -> L1StoreResult {
    cache.store(
        ByteBuffer(string: key),
        reply: CachedReply(resp2: ByteBuffer(string: value)),
        info: L1EntryInfo(expiresAt: expiresAt, stamp: stamp, group: group),
        now: now
    )
}

@Suite("L1 cache")
struct L1CacheTests {
    @Test("stores and serves, RESP3 form when it differs")
    func storesAndServes() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 20))
        #expect(put(cache, "a:1", "one") == .stored)
        #expect(read(cache, "a:1") == "one")
        #expect(read(cache, "a:2") == nil)

        cache.store(
            ByteBuffer(string: "m:1"),
            reply: CachedReply(resp2: ByteBuffer(string: "*2\r\n"), resp3: ByteBuffer(string: "%1\r\n")),
            info: L1EntryInfo(expiresAt: .max, stamp: 0, group: 0),
            now: 0
        )
        var resp3 = ""
        _ = cache.lookup(ByteBuffer(string: "m:1"), now: 0) { _, _, three in
            resp3 = String(decoding: three, as: UTF8.self)
            return true
        }
        #expect(resp3 == "%1\r\n")
    }

    @Test("a key is found through a slice of a larger buffer, as the server passes it")
    func sliceLookup() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 20))
        _ = put(cache, "user_sessions:42", "v")
        let request = ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$16\r\nuser_sessions:42\r\n")
        let key = try #require(request.getSlice(at: 18, length: 16))
        let result = cache.lookup(key, now: 0) { _, _, _ in true }
        #expect(result == .hit(group: 0))
    }

    @Test("revise(group:) moves or drops the expiry of one group's entries only, across shards; tombstones stay")
    func revise() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 20, shardCount: 4))
        for index in 0..<40 {
            _ = put(cache, "a:\(index)", "a", expiresAt: 1000 + UInt64(index), group: 1)
            _ = put(cache, "b:\(index)", "b", expiresAt: 1000, group: 2)
        }
        cache.invalidate(ByteBuffer(string: "a:99"), stamp: 7, now: 0)
        cache.revise(group: 1) { expiresAt in expiresAt >= 1020 ? expiresAt - 500 : nil }
        #expect(cache.snapshot().group(1).entries == 20 && cache.snapshot().group(2).entries == 40)
        #expect(read(cache, "a:19", now: 0) == nil, "dropped")
        #expect(read(cache, "a:20", now: 519) == "a" && read(cache, "a:21", now: 521) == nil, "moved 500 earlier")
        #expect(read(cache, "b:5", now: 999) == "b")
        #expect(put(cache, "a:99", "old", stamp: 6) == .refusedStale, "the tombstone still refuses an older fill")
    }

    @Test("keys(group:) lists one group's live keys across shards, up to a limit; not expired ones, not tombstones")
    func keysOfAGroup() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 20, shardCount: 4))
        for index in 0..<30 { _ = put(cache, "a:\(index)", "a", expiresAt: index < 25 ? 1000 : 10, group: 1) }
        _ = put(cache, "b:1", "b", expiresAt: 1000, group: 2)
        cache.invalidate(ByteBuffer(string: "a:99"), stamp: 1, now: 0)
        let keys = Set(cache.keys(group: 1, now: 100, limit: 1000).map { String(decoding: $0, as: UTF8.self) })
        #expect(keys == Set((0..<25).map { "a:\($0)" }))
        #expect(cache.keys(group: 1, now: 100, limit: 10).count == 10)
    }

    @Test("expired entries are never served and count as expirations")
    func expiry() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 20))
        _ = put(cache, "a:1", "one", expiresAt: 100)
        #expect(read(cache, "a:1", now: 99) == "one")
        #expect(read(cache, "a:1", now: 100) == nil)
        #expect(cache.snapshot().total.expirations == 1)
        #expect(cache.snapshot().total.entries == 0)
    }

    @Test("max_stale: an expired entry is kept for its group's grace, served only by lookupStale, then reclaimed")
    func staleGrace() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 20, shardCount: 1))
        cache.setStaleGrace([50, 0])  // group 0 keeps 50 ns past expiry; group 1 none
        #expect(put(cache, "a:1", "one", expiresAt: 100, group: 0) == .stored)
        #expect(put(cache, "b:1", "two", expiresAt: 100, group: 1) == .stored)
        #expect(put(cache, "c:1", "three", expiresAt: 100, group: 7) == .stored)  // beyond the array: none

        func stale(_ key: String, at now: UInt64, accept: Bool = true) -> (L1Lookup, String?) {
            var value: String?
            let result = cache.lookupStale(ByteBuffer(string: key), now: now) { _, resp2, _ in
                value = String(decoding: resp2, as: UTF8.self)
                return accept
            }
            return (result, value)
        }
        #expect(stale("a:1", at: 10).1 == "one", "an entry that has not expired serves too")
        #expect(cache.lookup(ByteBuffer(string: "a:1"), now: 120) { _, _, _ in true } == .expired(group: 0))
        #expect(read(cache, "a:1", now: 120) == nil, "never a normal hit once expired")
        #expect(stale("a:1", at: 149).0 == .hit(group: 0))
        // Past a caller's maximum age (stale-while-revalidate's window) the entry is neither served nor dropped.
        #expect(cache.lookupStale(ByteBuffer(string: "a:1"), now: 130, maxAge: 20) { _, _, _ in false } == .miss)
        let withinAge = cache.lookupStale(ByteBuffer(string: "a:1"), now: 130, maxAge: 30) { _, _, _ in true }
        #expect(withinAge == .hit(group: 0))
        #expect(cache.lookup(ByteBuffer(string: "b:1"), now: 120) { _, _, _ in true } == .miss)
        #expect(stale("c:1", at: 120).0 == .miss)

        cache.sweep(now: 140)
        #expect(cache.snapshot().total.entries == 1, "the sweeper keeps what is within its grace")
        cache.sweep(now: 150)
        #expect(cache.snapshot().total.entries == 0)
        #expect(stale("a:1", at: 149).0 == .miss)

        #expect(put(cache, "a:2", "x", expiresAt: 100, group: 0) == .stored)
        #expect(stale("a:2", at: 120, accept: false).0 == .stale(group: 0), "a rejected stale entry is removed")
        #expect(stale("a:2", at: 120).0 == .miss)
    }

    @Test("memory stays under the bound, evicting least recently used first (LRU)")
    func evictionByBytes() throws {
        // One shard so the order is global; each entry charges key 4 + value 100 + overhead 96 = 200 bytes.
        let cache = try L1Cache(configuration: .init(maxBytes: 1000, eviction: .lru, shardCount: 1, entryOverhead: 96))
        let value = String(repeating: "x", count: 100)
        for index in 0..<5 { _ = put(cache, "k:\(index)0", value) }
        #expect(cache.snapshot().bytes == 1000)
        _ = read(cache, "k:00")  // k:00 becomes most recently used; k:10 is now the eldest
        _ = put(cache, "k:50", value)
        #expect(read(cache, "k:10") == nil)
        #expect(read(cache, "k:00") == value)
        #expect(read(cache, "k:50") == value)
        let snapshot = cache.snapshot()
        #expect(snapshot.bytes <= 1000)
        #expect(snapshot.total.evictions == 1)
        #expect(snapshot.total.entries == 5)
    }

    @Test("an entry larger than a shard's budget is refused, not stored")
    func tooLarge() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1000, shardCount: 1))
        #expect(put(cache, "k", String(repeating: "x", count: 2000)) == .refusedTooLarge)
        #expect(cache.snapshot().total.entries == 0)
    }

    @Test("a rejected (stale) entry is removed")
    func staleRemoved() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 20))
        _ = put(cache, "a:1", "one")
        #expect(read(cache, "a:1", accept: false) == nil)
        #expect(cache.snapshot().total.entries == 0)
    }

    @Test("a write's tombstone refuses fills from loads that started before it")
    func tombstoneRefusesOlderFill() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 20))
        _ = put(cache, "a:1", "old", stamp: 3)
        cache.invalidate(ByteBuffer(string: "a:1"), stamp: 5, now: 0)
        #expect(read(cache, "a:1") == nil)
        // The load that began at stamp 4 read pre-write data: refused.
        #expect(put(cache, "a:1", "old", stamp: 4) == .refusedStale)
        // A load that began after the write: stored.
        #expect(put(cache, "a:1", "new", stamp: 5) == .stored)
        #expect(read(cache, "a:1") == "new")
        // An older load finishing late cannot replace a newer entry.
        #expect(put(cache, "a:1", "older", stamp: 4) == .refusedStale)
    }

    @Test("when a tombstone leaves the cache, older fills are still refused")
    func retiredTombstone() throws {
        let cache = try L1Cache(
            configuration: .init(
                maxBytes: 400, eviction: .lru, shardCount: 1, entryOverhead: 96, tombstoneLifetimeNanoseconds: 10)
        )
        cache.invalidate(ByteBuffer(string: "a:1"), stamp: 7, now: 0)
        cache.sweep(now: 100)  // the tombstone expired and was swept
        #expect(put(cache, "a:1", "old", stamp: 6, now: 100) == .refusedStale)
        #expect(put(cache, "a:1", "new", stamp: 7, now: 100) == .stored)
    }

    @Test("removeAll drops everything and refuses fills older than its stamp")
    func removeAll() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 20))
        for index in 0..<100 { _ = put(cache, "k:\(index)", "v", stamp: 1, group: Int32(index % 3)) }
        cache.removeAll(stamp: 9)
        let snapshot = cache.snapshot()
        #expect(snapshot.total.entries == 0)
        #expect(snapshot.bytes == snapshot.policyBytes, "only the (new, empty) frequency sketch")
        #expect(snapshot.groups.allSatisfy { $0.entries == 0 && $0.bytes == 0 })
        #expect(put(cache, "k:1", "v", stamp: 8) == .refusedStale)
        #expect(put(cache, "k:1", "v", stamp: 9) == .stored)
    }

    @Test("per-group entries and bytes add up to the totals")
    func groupAccounting() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 20))
        for index in 0..<30 { _ = put(cache, "k:\(index)", "value", group: Int32(index % 3)) }
        _ = cache.remove(ByteBuffer(string: "k:0"))
        let snapshot = cache.snapshot()
        #expect(snapshot.group(0).entries == 9)
        #expect(snapshot.group(1).entries == 10)
        #expect(snapshot.groups.map(\.entries).reduce(0, +) == snapshot.total.entries)
        #expect(snapshot.groups.map(\.bytes).reduce(0, +) == snapshot.bytes - snapshot.policyBytes)
    }

    @Test("configuration is validated")
    func configurationValidated() {
        #expect(throws: L1ConfigurationError.self) { try L1Cache(configuration: .init(maxBytes: 0)) }
        #expect(throws: L1ConfigurationError.self) { try L1Cache(configuration: .init(maxBytes: 10, shardCount: 3)) }
    }
}

@Suite("L1 sweeping")
struct L1SweepTests {
    @Test("an incremental sweep removes expired entries a bounded number of slots at a time")
    func incremental() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 20, shardCount: 1))
        for index in 0..<100 {
            cache.store(
                ByteBuffer(string: "k:\(index)"),
                reply: CachedReply(resp2: ByteBuffer(string: "v")),
                info: L1EntryInfo(expiresAt: index % 2 == 0 ? 10 : .max, stamp: 0, group: 0),
                now: 0
            )
        }
        cache.sweep(now: 20, slotsPerShard: 10)
        #expect(cache.snapshot().total.entries == 95, "10 slots examined, 5 of them expired")
        for _ in 0..<9 { cache.sweep(now: 20, slotsPerShard: 10) }
        let snapshot = cache.snapshot()
        #expect(snapshot.total.entries == 50)
        #expect(snapshot.total.expirations == 50)
    }
}
