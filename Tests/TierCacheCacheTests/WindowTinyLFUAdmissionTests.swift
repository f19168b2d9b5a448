import Testing

@testable import TierCacheCache

@Suite("W-TinyLFU admission by weight")
struct WindowTinyLFUAdmissionTests {
    @Test("bytes bound: a small new key read less often than large entries still displaces one (requests per byte)")
    func perByteAdmitsSmall() {
        // 9 × 2,040 bytes and the sketch's 512 fill 19,000 but for 128; the window holds 190.
        var driver = PolicyDriver(limits: EvictionLimits(maxWeight: 19_000))
        let large = Array(0..<9)
        for _ in 0..<5 {
            for key in large { driver.read(key, weight: 2_040) }
        }
        #expect(large.allSatisfy { driver.holds($0) })
        // Requested once, then loaded (200 bytes, more than the window holds, so judged at once): 2 requests per
        // 200 bytes against a large entry's 5 per 2,040. By count alone it would lose.
        driver.request(100)
        driver.read(100, weight: 200)
        #expect(driver.holds(100))
        #expect(large.filter { driver.holds($0) }.count == large.count - 1)
    }

    @Test("entry bound: every entry costs one slot, so counts are compared, not bytes")
    func entryBoundComparesCounts() {
        var driver = PolicyDriver(limits: EvictionLimits(maxWeight: 1 << 30, maxEntries: 9))
        let large = Array(0..<9)
        for _ in 0..<5 {
            for key in large { driver.read(key, weight: 2_000) }
        }
        driver.request(100)
        driver.read(100)
        #expect(!driver.holds(100), "2 requests do not beat 5, however small the value")
        #expect(large.allSatisfy { driver.holds($0) })
    }

    @Test("bytes bound: a value as frequent as the sketch tells and small next to the shard is judged by count")
    func saturatedCandidateByCount() {
        var driver = PolicyDriver(limits: EvictionLimits(maxWeight: 256_000))
        // Small entries of 100 bytes fill it (the sketch, grown to 4,096 entries, takes 32 kB of it).
        let small = Array(0..<2_400)
        for _ in 0..<3 {
            for key in small { driver.read(key) }
        }
        #expect(driver.weight + driver.policy.memoryBytes > 256_000 - 100, "full")
        // 3,000 bytes (under 1/64 of the shard), read 20 times: per byte it would lose to the small entries (3-4
        // requests per 100 bytes), but its count is saturated, so it may be far hotter than 15.
        for _ in 0..<20 { driver.request(10_000) }
        driver.read(10_000, weight: 3_000)
        #expect(driver.holds(10_000))
        driver.request(10_000)  // promoted: protected, not among the next victims
        // 5,000 bytes (over 1/64 of the shard), read as often: judged per byte, kept out.
        for _ in 0..<20 { driver.request(20_000) }
        driver.read(20_000, weight: 5_000)
        #expect(!driver.holds(20_000))
    }
}
