import Testing

@testable import TierCacheCache

@Suite("W-TinyLFU: telling a moved hot set from a scan")
struct PopularityShiftTests {
    /// Ends one stretch of 64 requests with `hits` hits and `promotions` promotions.
    private func stretch(_ shift: inout PopularityShift, hits: Int, promotions: Int = 0) -> PopularityShift.Verdict {
        shift.requests = 64
        shift.hits = hits
        shift.promotions = promotions
        return shift.endStretch()
    }

    @Test("a hit rate wavering around its average is steady; one 20 points under it is a drop")
    func dropIsSharp() {
        var shift = PopularityShift()
        for hits in [38, 33, 42, 36, 30, 40, 35, 44, 31, 38] {
            #expect(stretch(&shift, hits: hits) == .steady)
        }
        #expect(stretch(&shift, hits: 12) == .dropped)
    }

    @Test("after a drop, probation entries read again make it a move")
    func promotionsMakeAMove() {
        var shift = PopularityShift()
        for _ in 0..<10 { _ = stretch(&shift, hits: 38) }
        #expect(stretch(&shift, hits: 5) == .dropped)
        #expect(stretch(&shift, hits: 8, promotions: 1) == .steady, "one promotion is not enough")
        #expect(stretch(&shift, hits: 12, promotions: 3) == .moved)
    }

    @Test("a scan (no entry read again after the drop) is never a move, and the watch ends")
    func scanIsNoMove() {
        var shift = PopularityShift()
        for _ in 0..<10 { _ = stretch(&shift, hits: 38) }
        #expect(stretch(&shift, hits: 0) == .dropped)
        for _ in 0..<PopularityShift.watchedStretches {
            #expect(stretch(&shift, hits: 0) == .steady)
        }
        #expect(stretch(&shift, hits: 30, promotions: 5) == .steady, "promotions long after the drop")
    }

    @Test("after a move, the protected entries not read since the drop go first; after a scan they stay")
    func policyRetiresOnlyOnAMove() {
        // 64 entries (the sketch grows to 128 as a store goes one over before evicting): stretches of 128 requests.
        let limits = EvictionLimits(maxWeight: 1 << 30, maxEntries: 64)
        let old = Array(0..<48)
        func warmedUp() -> PolicyDriver {
            var driver = PolicyDriver(limits: limits)
            for _ in 0..<25 {
                for key in old { driver.read(key) }
            }
            #expect(driver.policy.regionEntries.protected == 48)
            return driver
        }

        // A new hot set as large as the old, read round after round: the hit rate drops, then the new keys that
        // got in are read again (promoted), and the old entries not read since the drop are retired.
        var moved = warmedUp()
        let new = Array(1_000..<1_048)
        var retired = 0
        for _ in 0..<8 {
            for key in new {
                moved.read(key)
                retired = max(retired, moved.policy.retiredEntries)
            }
        }
        #expect(retired > 0)
        #expect(new.allSatisfy { moved.holds($0) })

        // A scan: 2,000 keys read once each, nothing read again: a drop, but no move.
        var scanned = warmedUp()
        for key in 10_000..<12_000 {
            scanned.read(key)
            #expect(scanned.policy.retiredEntries == 0)
        }
        #expect(old.allSatisfy { scanned.holds($0) })
    }
}
