/// Decides which entry of a full shard goes, and which new entry may stay.
///
/// The shard owns the entries and calls these hooks with slot numbers (and a new entry's weight, the bytes it is
/// charged); the policy keeps only its own order and counts. A shard stores a new entry first and then, while it is
/// over its bounds, evicts `victim()` after `victim()`; `settle()` ends each store.
public protocol EvictionPolicy: Sendable {
    /// The name `--l1-eviction`, `STATS` and the log use.
    static var name: String { get }
    init(limits: EvictionLimits, seed: UInt64)
    /// Bytes the policy's own structures take beyond the per-entry overhead (a frequency sketch); the shard counts
    /// them in its bound.
    var memoryBytes: Int { get }
    /// A request for the key with `hash` (a lookup, hit or miss).
    mutating func recordAccess(_ hash: UInt64)
    /// A new entry of `weight` bytes was stored in `slot`; `warm` when warming loaded it.
    mutating func inserted(_ slot: Int32, weight: Int, warm: Bool)
    /// The entry in `slot` was read.
    mutating func accessed(_ slot: Int32)
    /// The entry in `slot` is gone (removed, expired or evicted); the slot may be reused.
    mutating func removed(_ slot: Int32)
    /// The entry to evict next while the shard is over its bounds, if any. `keyHash` gives a stored entry's key
    /// hash, for policies that compare popularity.
    mutating func victim(keyHash: (Int32) -> UInt64) -> Int32?
    /// The store that called `inserted` is done evicting.
    mutating func settle()
}

/// A shard's bounds, which a policy divides among its regions.
public struct EvictionLimits: Sendable, Hashable {
    /// Bytes: keys, encoded values and the per-entry overhead.
    public var maxWeight: Int
    /// Entries (tombstones included); `Int.max` when only bytes bound the shard.
    public var maxEntries: Int

    public init(maxWeight: Int, maxEntries: Int = .max) {
        self.maxWeight = maxWeight
        self.maxEntries = maxEntries
    }
}

/// The policies `--l1-eviction` offers.
public enum L1Eviction: String, Sendable, CaseIterable, Hashable {
    /// W-TinyLFU (`WindowTinyLFUPolicy`), the default.
    case windowTinyLFU = "w-tinylfu"
    /// Least recently used (`LRUPolicy`).
    case lru
}
