/// How often each key was asked for lately, in 8 bytes per entry the cache holds: W-TinyLFU's memory of
/// popularity, including keys the cache no longer (or never) held.
///
/// A **count-min sketch** of 4-bit counters (the TinyLFU paper, Einziger, Friedman, Manes; Caffeine's layout): a
/// key's four counters sit in one 64-byte block (one cache line), in four different words, so recording a request
/// touches one line. (The paper's doorkeeper, a Bloom filter that absorbs each key's first request, was dropped:
/// it cost a second cache line per request (recording took 6.0 ns with it, 4.3 ns without, in a loop where both
/// stay in cache), and the hit ratios of `bench/hit_ratio.py` moved by less than 0.004 either way without it.)
///
/// **Conservative update**: a request raises only those of the key's counters that are at its minimum, so keys
/// sharing a counter with a popular one are not inflated along with it.
///
/// **Aging**: after `samplePerEntry × capacity` recorded requests every counter is halved, so the counts follow
/// what is popular now (the owner may forget early with `clear()`). Counters saturate at 15: past that, more
/// requests say nothing useful for admission.
///
/// `@unchecked Sendable`: the counters are a manually allocated buffer (see `CounterWords`), which copies of a
/// sketch would share. That is safe because a sketch is never used from two places at once: each belongs to one
/// L1 shard's policy, read and written only under that shard's lock, and is never copied out of it (tests copy
/// none either).
struct FrequencySketch: @unchecked Sendable {
    /// Four 4-bit counters per key, in one block of 8 words: `storage`'s memory, which keeps it allocated.
    private var counters: UnsafeMutableBufferPointer<UInt64>
    private var storage: CounterWords
    private var blockMask: Int
    /// Requests recorded since the last halving (half of them after one), and how many trigger the next.
    private var additions = 0
    private(set) var sampleSize: Int
    /// The entries the sketch is sized for.
    private(set) var capacity: Int

    /// Requests per entry in a sample period. Caffeine uses 10; here 64 measured best on Zipf traces (at 1 % of
    /// 100,000 keys cached, α 0.99: 0.579 with 10, 0.587 with 32, 0.593 with 64): a key at the edge of the cache
    /// is seen a few times per period instead of less than once, so admission compares counts rather than noise.
    /// The cost, slower forgetting, is met by the policy clearing the sketch when its hit rate drops sharply.
    static let samplePerEntry = 64

    /// The highest `frequency`: saturated counters.
    static let maximumFrequency = 15

    private static let counterMask: UInt64 = 0x7777_7777_7777_7777

    /// A sketch sized for `capacity` entries (rounded up to a power of two, at least 64).
    init(capacity: Int) {
        let entries = Self.roundedCapacity(capacity)
        // One 8-word block per 8 entries: 8 bytes, 16 counters per entry for the 4 each key uses (Caffeine's
        // proportion; half as many let a scan of new keys collide its way up to a popular key's count).
        storage = CounterWords(count: entries)
        counters = storage.words
        blockMask = entries / 8 - 1
        sampleSize = Self.samplePerEntry * entries
        self.capacity = entries
    }

    private static func roundedCapacity(_ capacity: Int) -> Int {
        let wanted = max(64, min(capacity, 1 << 30))
        return 1 << (Int.bitWidth - (wanted - 1).leadingZeroBitCount)
    }

    /// Bytes the counters take.
    var memoryBytes: Int { counters.count * 8 }

    /// Sizes the sketch for `entries` if it is smaller, keeping every key's counts: each doubling copies the
    /// counters into the new half, because a key's block after it is either where it was or the same distance
    /// into the new half (one more bit of the hash decides which).
    mutating func ensureCapacity(_ entries: Int) {
        let wanted = Self.roundedCapacity(entries)
        while capacity < wanted {
            let doubled = CounterWords(count: capacity * 2)
            _ = UnsafeMutableBufferPointer(rebasing: doubled.words[..<capacity]).update(fromContentsOf: counters)
            _ = UnsafeMutableBufferPointer(rebasing: doubled.words[capacity...]).update(fromContentsOf: counters)
            storage = doubled
            counters = doubled.words
            capacity *= 2
            blockMask = capacity / 8 - 1
            sampleSize = Self.samplePerEntry * capacity
        }
    }

    /// Records one request for the key with `hash`.
    @inline(__always)
    mutating func record(_ keyHash: UInt64) {
        let hash = Self.spread(keyHash)
        additions &+= 1
        if additions >= sampleSize { halve() }
        let words = counters
        let block = (Int(truncatingIfNeeded: hash) & blockMask) &* 8
        var minimum: UInt64 = 15
        for row in 0..<4 {
            let (word, shift) = Self.position(hash, row: row)
            minimum = min(minimum, (words[block &+ word] >> shift) & 0xF)
        }
        guard minimum < 15 else { return }
        for row in 0..<4 {
            let (word, shift) = Self.position(hash, row: row)
            let index = block &+ word
            if (words[index] >> shift) & 0xF == minimum { words[index] &+= 1 << shift }
        }
    }

    /// The estimated number of requests for the key with `hash` in about the last sample period (0 to 15).
    func frequency(_ keyHash: UInt64) -> Int {
        let hash = Self.spread(keyHash)
        var estimate: UInt64 = 15
        let block = (Int(truncatingIfNeeded: hash) & blockMask) &* 8
        for row in 0..<4 {
            let (word, shift) = Self.position(hash, row: row)
            estimate = min(estimate, (counters[block &+ word] >> shift) & 0xF)
        }
        return Int(estimate)
    }

    /// Remixes a key hash: the L1 picks shards and table positions from some of its bits, which are then the same
    /// for every key a shard's sketch sees.
    @inline(__always)
    private static func spread(_ hash: UInt64) -> UInt64 {
        var mixed = (hash ^ (hash >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        mixed ^= mixed >> 33
        return mixed
    }

    /// Row `row`'s counter for `hash`: the word (two per row) and the bit offset within it, from the hash's high
    /// half, which the block index (the low bits) does not use.
    @inline(__always)
    private static func position(_ hash: UInt64, row: Int) -> (word: Int, shift: UInt64) {
        let bits = hash >> (32 &+ UInt64(row) &* 8)
        return (row &* 2 &+ Int(bits & 1), ((bits >> 1) & 0xF) << 2)
    }

    /// Forgets every count, for when popularity has moved as a whole.
    mutating func clear() {
        counters.update(repeating: 0)
        additions = 0
    }

    /// Aging: halves every counter.
    mutating func halve() {
        for index in counters.indices { counters[index] = (counters[index] >> 1) & Self.counterMask }
        additions /= 2
    }
}

/// Memory for a sketch's counters, freed with the last sketch holding it. Not an array: writing an array's
/// elements checks that it is not shared, and around that check the compiler retained and released the shard on
/// every request (115 more instructions per pipelined GET under callgrind, `bench/instructions.py`).
private final class CounterWords {
    let words: UnsafeMutableBufferPointer<UInt64>

    init(count: Int) {
        words = .allocate(capacity: count)
        words.initialize(repeating: 0)
    }

    deinit { words.deallocate() }
}
