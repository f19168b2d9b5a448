/// Approximate read counts per key in bounded memory: a count-min sketch estimates any key's count, and the keys
/// with the highest estimates (at most `capacity`) are kept with their bytes for a top-K list. `decay()` halves
/// every count, so counts follow what is read now: with a steady rate of r reads per decay period, a key's count
/// settles near 2r.
///
/// A count-min estimate never undercounts; it overcounts by at most `2 × total / width` with probability
/// `1 - (1/2)^depth` (hash collisions). Not thread-safe: its owner keeps it behind a lock.
public struct HotKeySketch: Sendable {
    public let width: Int
    public let depth: Int
    public let capacity: Int
    private var counts: [UInt32]
    /// The top list, by the key's 64-bit hash (so a read of a listed key allocates nothing).
    private var tracked: [UInt64: (key: [UInt8], count: UInt32)] = [:]
    /// The smallest count in a full top list: a key must beat it to enter.
    private var floor: UInt32 = 0
    private let hasher = KeyHash(seed: UInt64.random(in: 0...UInt64.max))

    public init(width: Int = 2048, depth: Int = 4, capacity: Int = 64) {
        precondition(width > 0 && width & (width - 1) == 0, "width must be a power of two")
        self.width = width
        self.depth = depth
        self.capacity = capacity
        counts = [UInt32](repeating: 0, count: width * depth)
    }

    /// Counts `weight` reads of `key`; returns its new estimate.
    @discardableResult
    public mutating func record(_ key: UnsafeRawBufferPointer, weight: UInt32 = 1) -> UInt32 {
        let hash = hasher.hash(key)
        var estimate = UInt32.max
        for row in 0..<depth {
            let index = row * width + slot(hash, row)
            counts[index] = counts[index] &+ weight < counts[index] ? .max : counts[index] &+ weight
            estimate = min(estimate, counts[index])
        }
        if tracked[hash] != nil {
            tracked[hash]?.count = estimate
        } else if tracked.count < capacity {
            tracked[hash] = (Array(key), estimate)
            if tracked.count == capacity { floor = tracked.values.map(\.count).min() ?? 0 }
        } else if estimate > floor, let coldest = tracked.min(by: { $0.value.count < $1.value.count }) {
            tracked[coldest.key] = nil
            tracked[hash] = (Array(key), estimate)
            floor = tracked.values.map(\.count).min() ?? 0
        }
        return estimate
    }

    /// The estimated count of `key` (0 if never recorded, or decayed away).
    public func estimate(_ key: UnsafeRawBufferPointer) -> UInt32 {
        let hash = hasher.hash(key)
        var estimate = UInt32.max
        for row in 0..<depth { estimate = min(estimate, counts[row * width + slot(hash, row)]) }
        return estimate
    }

    /// Halves every count; keys whose count reaches 0 leave the top list.
    public mutating func decay() {
        for index in counts.indices { counts[index] >>= 1 }
        for (hash, entry) in tracked {
            tracked[hash] = entry.count > 1 ? (entry.key, entry.count >> 1) : nil
        }
        floor = tracked.count < capacity ? 0 : tracked.values.map(\.count).min() ?? 0
    }

    /// The tracked keys, highest estimate first (ties by key bytes, so the order is stable).
    public func top(_ limit: Int) -> [(key: [UInt8], count: UInt32)] {
        tracked.values.map { (key: $0.key, count: $0.count) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.key.lexicographicallyPrecedes($1.key) }
            .prefix(limit).map { $0 }
    }

    /// Row `row`'s column for `hash`: double hashing over the two halves of the 64-bit hash.
    @inline(__always)
    private func slot(_ hash: UInt64, _ row: Int) -> Int {
        let low = hash & 0xFFFF_FFFF
        let high = hash >> 32 | 1
        return Int(truncatingIfNeeded: (low &+ UInt64(row) &* high) & UInt64(width - 1))
    }
}
