/// Decides which entry of a full shard goes first.
///
/// The shard owns the entries and calls these hooks with slot numbers; the policy keeps only its own
/// ordering. LRU is the first policy; a frequency-aware one (W-TinyLFU) can replace it behind this interface.
public protocol EvictionPolicy: Sendable {
    init()
    /// A new entry was stored in `slot`.
    mutating func inserted(_ slot: Int32)
    /// The entry in `slot` was read.
    mutating func accessed(_ slot: Int32)
    /// The entry in `slot` is gone (removed, expired or evicted); the slot may be reused.
    mutating func removed(_ slot: Int32)
    /// The entry to evict next, if any.
    func victim() -> Int32?
}
