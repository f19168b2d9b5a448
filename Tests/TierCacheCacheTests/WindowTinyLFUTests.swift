import NIOCore
import TestSupport
import Testing

@testable import TierCacheCache

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads `key` through the cache (a lookup the policy counts); returns whether it hit.
@discardableResult
private func get(_ cache: L1Cache, _ key: String) -> Bool {
    if case .hit = cache.lookup(ByteBuffer(string: key), now: 0, { _, _, _ in true }) { return true }
    return false
}

/// Reads `key` and, on a miss, stores `value` for it, as the read path does after a load.
@discardableResult
private func getOrLoad(_ cache: L1Cache, _ key: String, value: String = "v", warm: Bool = false) -> Bool {
    if get(cache, key) { return true }
    cache.store(
        ByteBuffer(string: key), reply: CachedReply(resp2: ByteBuffer(string: value)),
        info: L1EntryInfo(expiresAt: .max, stamp: 0, group: 0), warm: warm, now: 0)
    return false
}

/// Keys drawn from a Zipf distribution over `count` keys (rank r has weight 1/r^alpha), ranks shuffled so that
/// popularity has nothing to do with a key's name.
private struct ZipfKeys {
    private var cumulative: [Double] = []
    private var names: [Int]

    init(count: Int, alpha: Double, random: inout SplitMix64) {
        var total = 0.0
        for rank in 1...count {
            total += 1 / pow(Double(rank), alpha)
            cumulative.append(total)
        }
        names = Array(0..<count).shuffled(using: &random)
    }

    func next(_ random: inout SplitMix64) -> Int {
        let target = Double.random(in: 0..<(cumulative.last ?? 1), using: &random)
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < target { low = middle + 1 } else { high = middle }
        }
        return names[low]
    }
}

@Suite("W-TinyLFU eviction")
struct WindowTinyLFUTests {
    @Test("the sketch counts a key's requests, up to 15")
    func sketchCounts() {
        var sketch = FrequencySketch(capacity: 1024)
        let key: UInt64 = 0x1234_5678_9ABC_DEF0
        #expect(sketch.frequency(key) == 0)
        sketch.record(key)
        #expect(sketch.frequency(key) == 1)
        for _ in 0..<3 { sketch.record(key) }
        #expect(sketch.frequency(key) == 4)
        for _ in 0..<40 { sketch.record(key) }
        #expect(sketch.frequency(key) == FrequencySketch.maximumFrequency, "4-bit counters saturate at 15")
        #expect(sketch.frequency(key &+ 1) <= 1, "another key is not counted with it")
    }

    @Test("aging halves every count after a sample period of requests; clearing forgets them")
    func sketchAges() {
        var sketch = FrequencySketch(capacity: 64)
        #expect(sketch.sampleSize == 64 * FrequencySketch.samplePerEntry)
        let hot: UInt64 = 0xDEAD_BEEF_0000_0001
        for _ in 0..<9 { sketch.record(hot) }
        #expect(sketch.frequency(hot) == 9)
        var random = SplitMix64(seed: 3)
        // Other keys fill the rest of the sample period.
        for _ in 0..<(sketch.sampleSize - 9) { sketch.record(random.next()) }
        #expect(sketch.frequency(hot) == 4, "9 requests halve to 4")
        sketch.halve()
        #expect(sketch.frequency(hot) == 2, "and the owner may age it early")
        sketch.clear()
        #expect(sketch.frequency(hot) == 0)
    }

    @Test("the sketch grows without forgetting: every key keeps its count")
    func sketchGrowsKeepingCounts() {
        var sketch = FrequencySketch(capacity: 64)
        var random = SplitMix64(seed: 11)
        let keys = (0..<40).map { _ in random.next() }
        for (index, key) in keys.enumerated() {
            for _ in 0...(index % 7) { sketch.record(key) }
        }
        let before = keys.map { sketch.frequency($0) }
        sketch.ensureCapacity(5000)
        #expect(sketch.capacity == 8192)
        #expect(sketch.sampleSize == 8192 * FrequencySketch.samplePerEntry)
        #expect(keys.map { sketch.frequency($0) } == before)
    }

    @Test("a growing cache resizes its sketch and counts its bytes in the bound")
    func sketchGrowsAndIsCounted() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 22, shardCount: 1, hashSeed: 7))
        let small = cache.snapshot().policyBytes
        for index in 0..<1000 { getOrLoad(cache, "k:\(index)") }
        let grown = cache.snapshot()
        #expect(grown.eviction == "w-tinylfu")
        #expect(grown.policyBytes > small)
        #expect(grown.policyBytes <= 1024 * 9, "9 bytes per entry, for 1,000 entries rounded up to 1,024")
        #expect(grown.bytes == grown.total.bytes + grown.policyBytes)
    }

    @Test("a key read often keeps its place against a scan of keys read once (LRU loses it)")
    func scanResistance() throws {
        for eviction in [L1Eviction.windowTinyLFU, .lru] {
            let cache = try L1Cache(
                configuration: .init(
                    maxBytes: 1 << 24, maxEntries: 100, eviction: eviction, shardCount: 1, hashSeed: 7))
            for _ in 0..<5 {
                for index in 0..<50 { getOrLoad(cache, "hot:\(index)") }
            }
            for index in 0..<1000 { getOrLoad(cache, "scan:\(index)") }
            let kept = (0..<50).filter { get(cache, "hot:\($0)") }.count
            if eviction == .lru {
                #expect(kept == 0)
            } else {
                // A scan key may share sketch counters with a hot one (the sketch is small here): the target is
                // 90 % of the hot set's hits after a scan, not all of them. (With this seed: all of them.)
                #expect(kept >= 45, "the hot keys survive the scan")
            }
        }
    }

    @Test("a new key reaches the main region only when read more often than what it would displace")
    func frequencyAdmission() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 24, maxEntries: 100, shardCount: 1, hashSeed: 7))
        for _ in 0..<3 {
            for index in 0..<100 { getOrLoad(cache, "old:\(index)") }
        }
        // Read once: stays in the window at most, then loses to an old key read three times.
        getOrLoad(cache, "new:once")
        for index in 0..<5 { getOrLoad(cache, "new:filler:\(index)") }
        #expect(!get(cache, "new:once"))
        // Read four times (while absent, each a miss the sketch counts): beats a key read three times.
        for _ in 0..<4 { _ = get(cache, "new:often") }
        getOrLoad(cache, "new:often")
        for index in 0..<5 { getOrLoad(cache, "new:filler2:\(index)") }
        #expect(get(cache, "new:often"))
        #expect(cache.snapshot().storedEntries <= 100)
    }

    @Test("the window gives a new key its chance: read again at once, it is served before admission judges it")
    func windowServesANewKey() throws {
        let cache = try L1Cache(
            configuration: .init(maxBytes: 1 << 24, maxEntries: 100, shardCount: 1, hashSeed: 7))
        for _ in 0..<3 {
            for index in 0..<100 { getOrLoad(cache, "old:\(index)") }
        }
        getOrLoad(cache, "burst")
        #expect(get(cache, "burst"), "in the window: served though old keys were read more often")
        // Leaving the window, it meets admission: two requests lose to keys read three or four times.
        for index in 0..<3 { getOrLoad(cache, "next:\(index)") }
        #expect(!get(cache, "burst"))
    }

    @Test("weights: a large value read once, or a few times, does not push out many small popular ones")
    func weightedAdmission() throws {
        // One shard of 64 kB; small entries take 96 + ~8 bytes.
        let cache = try L1Cache(configuration: .init(maxBytes: 64 * 1024, shardCount: 1, hashSeed: 7))
        for _ in 0..<3 {
            for index in 0..<700 { getOrLoad(cache, "s:\(index)") }
        }
        let smallBefore = (0..<700).filter { get(cache, "s:\($0)") }.count
        let large = String(repeating: "x", count: 8 * 1024)
        getOrLoad(cache, "large:once", value: large)
        for index in 0..<3 { getOrLoad(cache, "filler:\(index)") }
        #expect(!get(cache, "large:once"))
        // At most the few small entries the window held (and the fillers' turns) went; not the 80 its bytes need.
        #expect((0..<700).filter { get(cache, "s:\($0)") }.count >= smallBefore - 10)

        // Read 11 times it is asked for more often than any small entry, but per byte (the bound here) it saves
        // far fewer reads than the 80 small entries it would displace.
        for _ in 0..<10 { _ = get(cache, "large:often") }
        getOrLoad(cache, "large:often", value: large)
        for index in 0..<3 { getOrLoad(cache, "filler2:\(index)") }
        #expect(!get(cache, "large:often"))
        #expect((0..<700).filter { get(cache, "s:\($0)") }.count >= smallBefore - 20)
        #expect(cache.snapshot().bytes <= 64 * 1024)
    }

    @Test("warmed entries start protected: the first cold scan after warming does not evict them")
    func warmedEntriesSurviveAScan() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 24, maxEntries: 100, shardCount: 1, hashSeed: 7))
        for index in 0..<60 { getOrLoad(cache, "warm:\(index)", warm: true) }
        for index in 0..<2000 { getOrLoad(cache, "cold:\(index)") }
        #expect((0..<60).filter { get(cache, "warm:\($0)") }.count == 60)
    }

    @Test("aging: yesterday's popular keys give way to today's")
    func popularityShifts() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 24, maxEntries: 100, shardCount: 1, hashSeed: 7))
        for _ in 0..<10 {
            for index in 0..<80 { getOrLoad(cache, "before:\(index)") }
        }
        for _ in 0..<30 {
            for index in 0..<80 { getOrLoad(cache, "after:\(index)") }
        }
        #expect((0..<80).filter { get(cache, "after:\($0)") }.count >= 75)
    }

    @Test("on a Zipf 0.99 trace with 1 % of the keys cached, W-TinyLFU hits far more often than LRU")
    func zipfHitRatio() throws {
        var ratios: [L1Eviction: Double] = [:]
        for eviction in [L1Eviction.windowTinyLFU, .lru] {
            var random = SplitMix64(seed: 2026)
            let keys = ZipfKeys(count: 20000, alpha: 0.99, random: &random)
            let cache = try L1Cache(
                configuration: .init(maxBytes: 1 << 26, maxEntries: 200, eviction: eviction, shardCount: 4, hashSeed: 7)
            )
            var hits = 0
            let requests = 200_000
            for _ in 0..<requests where getOrLoad(cache, "k:\(keys.next(&random))") { hits += 1 }
            ratios[eviction] = Double(hits) / Double(requests)
        }
        let tinyLFU = ratios[.windowTinyLFU] ?? 0
        let lru = ratios[.lru] ?? 0
        print("zipf 0.99, 1 %: w-tinylfu \(tinyLFU), lru \(lru)")
        #expect(tinyLFU > lru + 0.05)
    }

    @Test("LRU stays selectable and names itself")
    func lruSelectable() throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 1 << 20, eviction: .lru, hashSeed: 7))
        #expect(cache.snapshot().eviction == "lru")
        #expect(cache.snapshot().policyBytes == 0)
    }

    @Test("an entry bound holds however small the values", arguments: [L1Eviction.windowTinyLFU, .lru])
    func entryBound(eviction: L1Eviction) throws {
        let cache = try L1Cache(
            configuration: .init(maxBytes: 1 << 24, maxEntries: 64, eviction: eviction, shardCount: 4, hashSeed: 7))
        for index in 0..<1000 { getOrLoad(cache, "k:\(index)") }
        #expect(cache.snapshot().storedEntries <= 64)
        #expect(cache.snapshot().storedEntries >= 40)
    }
}
