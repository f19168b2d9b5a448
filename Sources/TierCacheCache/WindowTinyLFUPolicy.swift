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
///   candidate must beat every victim it displaces in turn. When bytes are what bounds the shard, the comparison
///   is of requests **per byte** (frequency ÷ weight): a miss costs one database read whatever the value's size,
///   so the bytes are best spent on the keys that save the most reads per byte (with 1 B–64 kB values at 1 % of
///   the bytes: 0.582 of requests hit comparing counts alone, 0.606 per byte). With an entry bound, every entry
///   costs one slot, and counts are compared.
/// - **Popularity moves** (`PopularityShift`): when the shard's hit rate falls sharply, the sketch is cleared, so
///   new keys are not judged by counts from before; and if entries admitted since are then read again (new keys
///   repeating, which a scan's keys do not), the protected entries not read since the drop are **retired**: they
///   become the first victims, instead of each leaving only when a new key is promoted past it.
/// - Warmed entries start in protected, so the first cold scan after a restart does not undo the warming.
/// - A candidate that loses to a victim of equal or higher frequency is still admitted once in 128 when its own
///   frequency is high (≥ 6): without it, a client that knows the hash could keep a key out by reading colliding
///   keys (Caffeine's defence against hash flooding).
public struct WindowTinyLFUPolicy: EvictionPolicy {
    public static let name = L1Eviction.windowTinyLFU.rawValue

    private enum Region: Int, CaseIterable {
        case window, candidate, probation, protected
        /// Protected entries not read since popularity moved: victims before probation's.
        case retired
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
    private var shift = PopularityShift()
    /// The shard's bounds, to tell which of them is the tighter.
    private let limits: EvictionLimits

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
        self.limits = limits
    }

    private static func share(_ entries: Int, _ part: Int, of whole: Int) -> Int {
        entries == .max ? .max : entries / whole * part + entries % whole * part / whole
    }

    public var memoryBytes: Int { sketch.memoryBytes }

    /// The entries held in each region, for tests and `STATS`: window, probation (candidates and retired entries
    /// included), protected.
    public var regionEntries: (window: Int, probation: Int, protected: Int) {
        (
            size(.window).entries, size(.candidate).entries + size(.probation).entries + size(.retired).entries,
            size(.protected).entries
        )
    }

    /// Protected entries retired when popularity moved and not yet evicted or read again (for tests).
    var retiredEntries: Int { size(.retired).entries }

    @inline(__always)
    public mutating func recordAccess(_ hash: UInt64) {
        sketch.record(hash)
        shift.requests &+= 1
        if shift.requests >= sketch.sampleSize / PopularityShift.stretchesPerSample { endStretch() }
    }

    private mutating func endStretch() {
        switch shift.endStretch() {
        case .steady:
            break
        case .dropped:
            // Counts from before the drop would keep the new keys out: forget them. And mark the protected
            // entries: a read (or any move) unmarks one, so those still marked were not read since.
            sketch.clear()
            lists.markAll(in: Region.protected.rawValue)
        case .moved:
            // Not read since the drop, and new keys are being read again: these go first. Protected is in order of
            // reads, so they are its oldest.
            while let oldest = lists.first(of: Region.protected.rawValue), lists.isMarked(oldest) {
                move(oldest, from: .protected, to: .retired)
            }
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
        shift.hits &+= 1
        guard let index = lists.region(of: slot), let region = Region(rawValue: index) else { return }
        switch region {
        case .window, .candidate, .protected:
            lists.moveToBack(slot)
        case .probation, .retired:
            if region == .probation { shift.promotions &+= 1 }
            move(slot, from: region, to: .protected)
            demoteProtectedOverflow()
        }
    }

    public mutating func removed(_ slot: Int32) {
        guard let index = lists.region(of: slot), let region = Region(rawValue: index) else { return }
        take(slot, weight: Int(weights[Int(slot)]), from: region)
    }

    public mutating func victim(keyHash: (Int32) -> UInt64) -> Int32? {
        moveWindowOverflow(to: .candidate)
        let victim =
            lists.first(of: Region.retired.rawValue) ?? lists.first(of: Region.probation.rawValue)
            ?? lists.first(of: Region.protected.rawValue)
        guard let candidate = lists.first(of: Region.candidate.rawValue) else {
            return victim ?? lists.first(of: Region.window.rawValue)
        }
        guard let victim else { return candidate }
        return admits(candidate, keyHash(candidate), over: victim, keyHash(victim)) ? victim : candidate
    }

    public mutating func settle() {
        // Candidates that won (or the shard had room): into probation, the newest last.
        while let candidate = lists.first(of: Region.candidate.rawValue) {
            move(candidate, from: .candidate, to: .probation)
        }
        moveWindowOverflow(to: .probation)
    }

    // MARK: Admission

    private mutating func admits(_ candidate: Int32, _ candidateHash: UInt64, over victim: Int32, _ victimHash: UInt64)
        -> Bool
    {
        let candidateFrequency = sketch.frequency(candidateHash)
        let victimFrequency = sketch.frequency(victimHash)
        let candidateWeight = Int(weights[Int(candidate)])
        let wins: Bool
        // Per byte when bytes bound the shard; but a candidate as frequent as the sketch can tell (its counters
        // saturated) and small next to the shard (≤ 1/64 of it) is judged by count: its requests per byte may be
        // far more than the count shows, and a hot value kept out for good costs a database read per request.
        // (1 B–64 kB values, 1 % and 10 % of the bytes: 0.603 and 0.767 with no exception, 0.606 and 0.766 with
        // this one; up to 1/16 of the shard 0.606 and 0.765, for any size 0.588 at 1 %.)
        let bySaturatedCount =
            candidateFrequency >= FrequencySketch.maximumFrequency && candidateWeight <= limits.maxWeight / 64
        if isBoundByBytes, !bySaturatedCount {
            // Cross-multiplied: frequencies ≤ 15, weights < 2^32.
            wins = candidateFrequency * Int(weights[Int(victim)]) > victimFrequency * candidateWeight
        } else {
            wins = candidateFrequency > victimFrequency
        }
        if wins { return true }
        if candidateFrequency < 6 { return false }
        return nextRandom() & 127 == 0
    }

    /// Whether the shard is fuller by bytes than by entries, so that bytes are what a victim frees.
    private var isBoundByBytes: Bool {
        guard limits.maxEntries != .max else { return true }
        let weight = sizes.reduce(0) { $0 + $1.weight }
        let entries = sizes.reduce(0) { $0 + $1.entries }
        return Double(weight) / Double(max(1, limits.maxWeight))
            >= Double(entries) / Double(max(1, limits.maxEntries))
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

/// Tells, from a shard's hit rate and reads, when popularity has moved as a whole (a new hot set), as opposed to a
/// scan passing through, which looks the same at first: the hit rate falls sharply in both.
///
/// Requests are counted in stretches of 1/64 of the sketch's sample period (as many as the sketch has entries).
/// A stretch whose hit rate is 20 points below the running average of those before it (weight 1/8) is a **drop**:
/// the policy clears the sketch. In the few stretches after a drop, if entries of probation are read again
/// (promoted), the keys missed since are repeating — a new hot set, not a scan, whose keys come once — and the
/// verdict is **moved**: the protected entries not read since the drop are retired.
///
/// Measured on the traces of `bench/hit_ratio.py` (16 shards, three seeds): a Zipf 0.99 trace whose popular keys
/// change every 100,000 requests, 1 % cached: 0.550 with the earlier rule (halve twice on a 5-point drop over 8 times
/// longer stretches), 0.560 clearing and retiring on every drop (but a one-off scan then emptied the hot set: 78 %
/// of its hit ratio after the scan), 0.567 with the promotion test (scan: 97 %, as without it); Zipf traces within
/// ±0.0005.
struct PopularityShift {
    enum Verdict: Equatable {
        case steady
        /// The hit rate fell sharply.
        case dropped
        /// After a drop, new keys are being read again: the protected entries not read since the drop are stale.
        case moved
    }

    static let stretchesPerSample = 64
    /// Points of hit rate below the average that make a drop. Per-stretch rates at 64 requests vary by ±6 points
    /// (one standard deviation), so 20 is rarely noise; a shift of the hot set falls 30 or more.
    static let dropThreshold = 0.2
    /// Stretches after a drop in which promotions make it a move.
    static let watchedStretches = 4
    /// Promotions in one watched stretch that make it a move (1 let a scan through now and then).
    static let promotionsForMove = 2

    var requests = 0
    var hits = 0
    var promotions = 0
    private var average = -1.0
    private var watching = 0

    mutating func endStretch() -> Verdict {
        let rate = Double(hits) / Double(max(1, requests))
        let promoted = promotions
        requests = 0
        hits = 0
        promotions = 0
        if watching > 0 {
            watching -= 1
            if promoted >= Self.promotionsForMove {
                watching = 0
                return .moved
            }
        }
        if average < 0 {
            average = rate
        } else if rate < average - Self.dropThreshold {
            average = rate
            watching = Self.watchedStretches
            return .dropped
        } else {
            average += (rate - average) / 8
        }
        return .steady
    }
}
