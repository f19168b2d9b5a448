/// Least-recently-used order as an intrusive doubly linked list over slot numbers.
///
/// A slot's two links sit side by side in one array, so an access touches one cache line per node it relinks,
/// and allocates nothing. Keeps no history: every new entry is admitted, and a scan of new keys empties the
/// cache of its popular ones.
public struct LRUPolicy: EvictionPolicy {
    public static let name = L1Eviction.lru.rawValue

    private var list = SlotList(regions: 1)

    public init(limits: EvictionLimits, seed: UInt64) {}

    public var memoryBytes: Int { 0 }

    @inline(__always)
    public mutating func recordAccess(_ hash: UInt64) {}

    public mutating func inserted(_ slot: Int32, weight: Int, warm: Bool) {
        list.append(slot, to: 0)
    }

    public mutating func accessed(_ slot: Int32) {
        list.moveToBack(slot)
    }

    public mutating func removed(_ slot: Int32) {
        list.remove(slot)
    }

    public mutating func victim(keyHash: (Int32) -> UInt64) -> Int32? {
        list.first(of: 0)
    }

    public mutating func settle() {}
}
