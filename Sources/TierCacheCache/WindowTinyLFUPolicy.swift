/// W-TinyLFU (Einziger, Friedman, Manes; Caffeine's policy): a small LRU window in front of a segmented main
/// region whose door is kept by a frequency sketch.
///
/// - New entries enter the **window** (1 % of the bounds), so a key read a few times in a burst gets its chance.
/// - What overflows the window is a **candidate** for the main region. While the shard is over its bounds, the
///   candidate is compared with the main region's next victim (the oldest entry of *probation*): it gets in only
///   if the sketch has seen its key more often; otherwise the candidate itself goes. So a key read once cannot
///   push out a popular one, and a scan of new keys passes through without emptying the cache.
/// - The main region is a segmented LRU: **probation** (20 %) for entries not read since they got in, **protected**
///   (80 %) for those read again; protected's overflow goes back to probation.
/// - Weighted: the shares are of bytes (and of entries when `--l1-max-entries` bounds the shard), and a heavy
///   candidate must beat every victim it displaces in turn.
/// - Warmed entries start in protected, so the first cold scan after a restart does not undo the warming.
/// - A candidate that loses to a victim of equal or higher frequency is still admitted once in 128 when its own
///   frequency is high (≥ 6): without it, a client that knows the hash could keep a key out by reading colliding
///   keys (Caffeine's defence against hash flooding).
public struct WindowTinyLFUPolicy: EvictionPolicy {
    public static let name = L1Eviction.windowTinyLFU.rawValue

    private enum Region: Int, CaseIterable {
        case window, candidate, probation, protected
    }

    /// Bytes and entries held in one region.
    private struct Size {
        var weight = 0
        var entries = 0
    }

    private var lists = SlotList(regions: Region.allCases.count)
    /// Each slot's weight, to move it between regions without asking the shard.
    private var weights: [UInt32] = []
    private var sizes = [Size](repeating: Size(), count: Region.allCases.count)
    private var sketch: FrequencySketch
    private let window: EvictionLimits
    private let protected: EvictionLimits
    private var random: UInt64
    private var trend = HitRateTrend()

    public init(limits: EvictionLimits, seed: UInt64) {
        window = EvictionLimits(
            maxWeight: limits.maxWeight / 100, maxEntries: Self.share(limits.maxEntries, 1, of: 100))
        let mainWeight = limits.maxWeight - window.maxWeight
        let mainEntries = limits.maxEntries == .max ? Int.max : limits.maxEntries - window.maxEntries
        protected = EvictionLimits(maxWeight: mainWeight / 5 * 4, maxEntries: Self.share(mainEntries, 4, of: 5))
        // Sized for a small entry bound at once (up to 4,096 entries, 36 kB); otherwise grown with the entries
        // held (`inserted`), keeping its counts: sized up front for a large `--l1-max-entries`, it would take memory
        // (and bound) the cache may never fill. (Grown rather than sized, Zipf at 10 % lost 0.002.)
        sketch = FrequencySketch(capacity: limits.maxEntries == .max ? 64 : min(limits.maxEntries, 4096))
        random = seed | 1
    }

    private static func share(_ entries: Int, _ part: Int, of whole: Int) -> Int {
        entries == .max ? .max : entries / whole * part + entries % whole * part / whole
    }

    public var memoryBytes: Int { sketch.memoryBytes }

    /// The entries held in each region, for tests and `STATS`: window, probation (candidates included), protected.
    public var regionEntries: (window: Int, probation: Int, protected: Int) {
        (size(.window).entries, size(.candidate).entries + size(.probation).entries, size(.protected).entries)
    }

    @inline(__always)
    public mutating func recordAccess(_ hash: UInt64) {
        sketch.record(hash)
        trend.requests &+= 1
        if trend.requests >= sketch.sampleSize / 8, trend.dropped() {
            // Popularity moved (a new hot set): forget faster than the periodic halving would.
            sketch.halve()
            sketch.halve()
        }
    }

    public mutating func inserted(_ slot: Int32, weight: Int, warm: Bool) {
        if warm {
            add(slot, weight: weight, to: .protected)
            demoteProtectedOverflow()
        } else {
            add(slot, weight: weight, to: .window)
        }
        let held = sizes.reduce(0) { $0 + $1.entries }
        if held > sketch.capacity { sketch.ensureCapacity(held) }
    }

    public mutating func accessed(_ slot: Int32) {
        trend.hits &+= 1
        guard let index = lists.region(of: slot), let region = Region(rawValue: index) else { return }
        switch region {
        case .window, .protected, .candidate:
            lists.moveToBack(slot)
        case .probation:
            move(slot, from: .probation, to: .protected)
            demoteProtectedOverflow()
        }
    }

    public mutating func removed(_ slot: Int32) {
        guard let index = lists.region(of: slot), let region = Region(rawValue: index) else { return }
        take(slot, weight: Int(weights[Int(slot)]), from: region)
    }

    public mutating func victim(keyHash: (Int32) -> UInt64) -> Int32? {
        moveWindowOverflow(to: .candidate)
        let victim = lists.first(of: Region.probation.rawValue) ?? lists.first(of: Region.protected.rawValue)
        guard let candidate = lists.first(of: Region.candidate.rawValue) else {
            return victim ?? lists.first(of: Region.window.rawValue)
        }
        guard let victim else { return candidate }
        return admits(keyHash(candidate), over: keyHash(victim)) ? victim : candidate
    }

    public mutating func settle() {
        // Candidates that won (or the shard had room): into probation, the newest last.
        while let candidate = lists.first(of: Region.candidate.rawValue) {
            move(candidate, from: .candidate, to: .probation)
        }
        moveWindowOverflow(to: .probation)
    }

    // MARK: Admission

    private mutating func admits(_ candidate: UInt64, over victim: UInt64) -> Bool {
        let candidateFrequency = sketch.frequency(candidate)
        let victimFrequency = sketch.frequency(victim)
        if candidateFrequency > victimFrequency { return true }
        if candidateFrequency < 6 { return false }
        return nextRandom() & 127 == 0
    }

    /// xorshift64: cheap, and enough for a 1-in-128 coin.
    private mutating func nextRandom() -> UInt64 {
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        return random
    }

    // MARK: Regions

    @inline(__always)
    private func size(_ region: Region) -> Size { sizes[region.rawValue] }

    private mutating func add(_ slot: Int32, weight: Int, to region: Region) {
        let index = Int(slot)
        while weights.count <= index { weights.append(0) }
        weights[index] = UInt32(truncatingIfNeeded: weight)
        lists.append(slot, to: region.rawValue)
        sizes[region.rawValue].weight += weight
        sizes[region.rawValue].entries += 1
    }

    private mutating func take(_ slot: Int32, weight: Int, from region: Region) {
        lists.remove(slot)
        sizes[region.rawValue].weight -= weight
        sizes[region.rawValue].entries -= 1
    }

    private mutating func move(_ slot: Int32, from source: Region, to destination: Region) {
        let weight = Int(weights[Int(slot)])
        take(slot, weight: weight, from: source)
        add(slot, weight: weight, to: destination)
    }

    private func isOver(_ region: Region, _ limits: EvictionLimits) -> Bool {
        let size = size(region)
        return size.entries > 0 && (size.weight > limits.maxWeight || size.entries > limits.maxEntries)
    }

    /// Moves the window's oldest entries to `region` until the window is within its share.
    private mutating func moveWindowOverflow(to region: Region) {
        while isOver(.window, window), let oldest = lists.first(of: Region.window.rawValue) {
            move(oldest, from: .window, to: region)
        }
    }

    /// Moves protected's oldest entries back to probation until protected is within its share.
    private mutating func demoteProtectedOverflow() {
        while isOver(.protected, protected), let oldest = lists.first(of: Region.protected.rawValue) {
            move(oldest, from: .protected, to: .probation)
        }
    }
}

/// A shard's hit rate over successive stretches of requests, to tell when popularity moved: the rate falling 5
/// points below its recent average (a shift of the hot set; noise at a stretch of a few hundred requests per shard
/// rarely does). Measured on a Zipf 0.99 trace whose popular keys change every 100,000 requests, 1 % cached: 0.543
/// without the early aging, 0.550 with it, Zipf traces unchanged (±0.001).
struct HitRateTrend {
    var requests = 0
    var hits = 0
    private var average = -1.0

    /// Ends a stretch; returns whether its hit rate fell well below the average of those before it.
    mutating func dropped() -> Bool {
        let rate = Double(hits) / Double(max(1, requests))
        requests = 0
        hits = 0
        if average >= 0, rate < average - 0.05 {
            average = rate
            return true
        }
        average = average < 0 ? rate : (average + rate) / 2
        return false
    }
}
