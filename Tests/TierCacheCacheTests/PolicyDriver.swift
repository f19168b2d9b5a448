@testable import TierCacheCache

/// Drives a `WindowTinyLFUPolicy` as an L1 shard does (store, then evict victims while over the bounds, then
/// settle), with keys named by number, so admission can be checked decision by decision.
struct PolicyDriver {
    var policy: WindowTinyLFUPolicy
    let limits: EvictionLimits
    private var slotOfKey: [Int: Int32] = [:]
    private var keyOfSlot: [Int32: Int] = [:]
    private var weightOfSlot: [Int32: Int] = [:]
    private var freeSlots: [Int32] = []
    private var nextSlot: Int32 = 0
    private(set) var weight = 0

    init(limits: EvictionLimits) {
        self.limits = limits
        policy = WindowTinyLFUPolicy(limits: limits, seed: 7)
    }

    static func hash(_ key: Int) -> UInt64 { UInt64(key) &* 0x9E37_79B9_7F4A_7C15 ^ 0x5555 }

    func holds(_ key: Int) -> Bool { slotOfKey[key] != nil }

    /// A request for `key`; returns whether it hit.
    @discardableResult
    mutating func request(_ key: Int) -> Bool {
        policy.recordAccess(Self.hash(key))
        guard let slot = slotOfKey[key] else { return false }
        policy.accessed(slot)
        return true
    }

    /// A request, and on a miss the load's store of `weight` bytes.
    @discardableResult
    mutating func read(_ key: Int, weight: Int = 100) -> Bool {
        if request(key) { return true }
        store(key, weight: weight)
        return false
    }

    mutating func store(_ key: Int, weight entryWeight: Int) {
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = nextSlot
            nextSlot += 1
        }
        slotOfKey[key] = slot
        keyOfSlot[slot] = key
        weightOfSlot[slot] = entryWeight
        weight += entryWeight
        policy.inserted(slot, weight: entryWeight, warm: false)
        while weight + policy.memoryBytes > limits.maxWeight || slotOfKey.count > limits.maxEntries {
            let keys = keyOfSlot
            guard let victim = policy.victim(keyHash: { Self.hash(keys[$0] ?? -1) }) else { break }
            remove(slot: victim)
        }
        policy.settle()
    }

    private mutating func remove(slot: Int32) {
        guard let key = keyOfSlot.removeValue(forKey: slot) else { return }
        slotOfKey[key] = nil
        weight -= weightOfSlot.removeValue(forKey: slot) ?? 0
        policy.removed(slot)
        freeSlots.append(slot)
    }
}
