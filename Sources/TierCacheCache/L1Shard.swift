import NIOCore

/// One lock's worth of the L1: an open-addressing hash table, byte and entry accounting, and an eviction policy.
///
/// Layout for few cache misses and little memory (the target is ≤ 100 bytes per entry beyond key and value):
/// the table holds 8-byte buckets (the key hash's low 32 bits and a slot number), so probing never leaves it;
/// `slots` maps slot numbers to each entry's single allocation (`EntryStorage`, metadata and bytes together);
/// the eviction policy keeps its own links per slot. A hit reads one bucket, one slot pointer and one entry
/// block, and tells the policy (W-TinyLFU: one frequency-sketch cache line).
struct L1Shard<Policy: EvictionPolicy>: ~Copyable, @unchecked Sendable {
    // `@unchecked Sendable`: the entry pointers are owned by the shard, which lives inside a Mutex and is only
    // touched under it; nothing else holds them.

    typealias Bucket = L1Bucket

    private var slots: [EntryStorage?] = []
    private var freeSlots: [Int32] = []
    /// Table ids of QUERY results, by slot; kept aside because few entries have any.
    private var dependencies: [Int32: [Int32]] = [:]
    /// Open addressing with linear probing. Capacity is a power of two.
    private var table: [Bucket]
    private var count = 0
    private var policy: Policy
    private let hasher: KeyHash
    private let policySeed: UInt64

    let maxBytes: Int
    /// Entries, tombstones included; `Int.max` when only bytes bound the shard.
    let maxEntries: Int
    let entryOverhead: Int
    /// Bytes charged for entries (tombstones included).
    private(set) var bytes = 0
    /// Bytes the eviction policy's own structures take, also counted against `maxBytes`.
    var policyBytes: Int { policy.memoryBytes }
    /// Entries held, tombstones included.
    var entryCount: Int { count }
    /// The newest write stamp of any tombstone that left this shard. A fill whose load started before it may
    /// be older than a write we no longer remember, so it is refused.
    private var retiredTombstoneStamp: UInt64 = 0
    private(set) var groups: [L1GroupCounters] = []
    private var sweepCursor = 0
    /// How long past its expiry an entry of each group is kept to be served stale when a load fails
    /// (`max_stale`), in nanoseconds; groups beyond the array keep none.
    var staleGrace: [UInt64] = []

    @inline(__always)
    private func keptUntil(_ entry: EntryStorage) -> UInt64 {
        let group = Int(entry.group)
        return group >= 0 && group < staleGrace.count ? entry.expiresAt &+ staleGrace[group] : entry.expiresAt
    }

    init(maxBytes: Int, maxEntries: Int = .max, entryOverhead: Int, hasher: KeyHash, policySeed: UInt64 = 1) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
        self.entryOverhead = entryOverhead
        self.hasher = hasher
        self.policySeed = policySeed
        self.policy = Policy(limits: EvictionLimits(maxWeight: maxBytes, maxEntries: maxEntries), seed: policySeed)
        self.table = Array(repeating: .empty, count: 16)
    }

    deinit {
        for storage in slots { storage?.deallocate() }
    }

    // MARK: Lookup

    /// Finds a live entry and lets `body` judge and serve it. Expired entries are removed and reported as misses;
    /// entries `body` rejects (stale) are removed.
    mutating func lookup(
        _ key: UnsafeRawBufferPointer,
        hash: UInt64,
        now: UInt64,
        _ body: (L1EntryInfo, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool
    ) -> L1Lookup {
        policy.recordAccess(hash)
        guard let (position, slotIndex, entry) = find(key, hash: hash) else { return .miss }
        if entry.isTombstone { return .miss }
        let group = entry.group
        if entry.expiresAt <= now {
            // Past its life, but kept while it may still stand in for a load that fails.
            if now < keptUntil(entry) { return .expired(group: group) }
            removeEntry(at: position, slot: slotIndex, reason: .expired)
            return .miss
        }
        if offer(entry, slot: slotIndex, to: body) {
            policy.accessed(slotIndex)
            return .hit(group: group)
        }
        removeEntry(at: position, slot: slotIndex, reason: .invalidated)
        return .stale(group: group)
    }

    /// Serves an entry that has expired but is still within its group's stale grace (or has not expired at all),
    /// and expired at most `maxAge` ago: the fallback when a load fails, or stale-while-revalidate. `body` judges
    /// it as in `lookup`; an entry it rejects is removed, one older than `maxAge` is left alone.
    mutating func lookupStale(
        _ key: UnsafeRawBufferPointer,
        hash: UInt64,
        now: UInt64,
        maxAge: UInt64,
        _ body: (L1EntryInfo, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool
    ) -> L1Lookup {
        guard let (position, slotIndex, entry) = find(key, hash: hash), !entry.isTombstone, now < keptUntil(entry),
            entry.expiresAt > now || now - entry.expiresAt <= maxAge
        else { return .miss }
        if offer(entry, slot: slotIndex, to: body) { return .hit(group: entry.group) }
        removeEntry(at: position, slot: slotIndex, reason: .invalidated)
        return .stale(group: entry.group)
    }

    /// Hands an entry's metadata and replies to `body`; returns whether it served them.
    @inline(__always)
    private func offer(
        _ entry: EntryStorage,
        slot slotIndex: Int32,
        to body: (L1EntryInfo, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool
    ) -> Bool {
        let info = L1EntryInfo(
            expiresAt: entry.expiresAt,
            stamp: entry.stamp,
            group: entry.group,
            dependencies: entry.hasDependencies ? dependencies[slotIndex] ?? [] : []
        )
        let keyLength = entry.keyLength
        let resp2End = keyLength + entry.resp2Length
        return entry.withBytes { all -> Bool in
            let resp2 = UnsafeRawBufferPointer(rebasing: all[keyLength..<resp2End])
            let resp3 = resp2End == all.count ? resp2 : UnsafeRawBufferPointer(rebasing: all[resp2End...])
            return body(info, resp2, resp3)
        }
    }

    // MARK: Store

    /// Stores an entry unless something newer is known for the key, or the eviction policy prefers what it would
    /// displace. `warm`: warming loaded it.
    mutating func store(
        _ key: UnsafeRawBufferPointer,
        hash: UInt64,
        reply: CachedReply,
        info: L1EntryInfo,
        warm: Bool = false,
        now: UInt64
    ) -> L1StoreResult {
        if info.stamp < retiredTombstoneStamp { return .refusedStale }
        let resp2Length = reply.resp2.readableBytes
        let resp3Length = reply.resp3?.readableBytes ?? 0
        let total = key.count + resp2Length + resp3Length
        let flag = Int(EntryStorage.flag)
        guard total + entryOverhead + policy.memoryBytes <= maxBytes, key.count < flag, resp2Length < flag,
            total < flag,
            info.group <= EntryStorage.maxGroup
        else {
            return .refusedTooLarge
        }

        if let (position, existing, entry) = find(key, hash: hash) {
            // A newer load or a write after our load started wins.
            if entry.stamp > info.stamp { return .refusedStale }
            removeEntry(at: position, slot: existing, reason: .replaced)
        }
        let hasDependencies = !info.dependencies.isEmpty
        let storage = EntryStorage.allocate(
            expiresAt: info.expiresAt,
            stamp: info.stamp,
            group: info.group,
            keyField: UInt32(key.count),
            resp2Field: UInt32(resp2Length) | (hasDependencies ? EntryStorage.flag : 0),
            count: total
        ) { destination in
            destination.copyMemory(from: key)
            reply.resp2.withUnsafeReadableBytes { resp2 in
                UnsafeMutableRawBufferPointer(rebasing: destination[key.count...]).copyMemory(from: resp2)
            }
            reply.resp3?.withUnsafeReadableBytes { resp3 in
                UnsafeMutableRawBufferPointer(rebasing: destination[(key.count + resp2Length)...]).copyMemory(
                    from: resp3)
            }
        }
        let slotIndex = insert(storage, hash: hash, warm: warm, now: now)
        guard slots[Int(slotIndex)] != nil else { return .notAdmitted }
        if hasDependencies { dependencies[slotIndex] = info.dependencies }
        return .stored
    }

    /// Removes the key and remembers that it was written at `stamp`, so a load that started earlier cannot put
    /// the old value back. The tombstone lives until `tombstoneExpiresAt`.
    mutating func invalidate(
        _ key: UnsafeRawBufferPointer,
        hash: UInt64,
        stamp: UInt64,
        tombstoneExpiresAt: UInt64,
        now: UInt64
    ) {
        if let (position, existing, _) = find(key, hash: hash) {
            removeEntry(at: position, slot: existing, reason: .invalidated)
        }
        guard key.count + entryOverhead + policy.memoryBytes <= maxBytes, key.count < Int(EntryStorage.flag) else {
            retiredTombstoneStamp = max(retiredTombstoneStamp, stamp)
            return
        }
        let storage = EntryStorage.allocate(
            expiresAt: tombstoneExpiresAt,
            stamp: stamp,
            group: -1,
            keyField: UInt32(key.count) | EntryStorage.flag,
            resp2Field: 0,
            count: key.count
        ) { $0.copyMemory(from: key) }
        insert(storage, hash: hash, warm: false, now: now)
    }

    mutating func remove(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Bool {
        guard let (position, slotIndex, entry) = find(key, hash: hash) else { return false }
        removeEntry(at: position, slot: slotIndex, reason: .invalidated)
        return !entry.isTombstone
    }

    /// Drops every entry. Tombstones go too, so every in-flight fill older than `stamp` is refused.
    mutating func removeAll(stamp: UInt64) {
        retiredTombstoneStamp = max(retiredTombstoneStamp, stamp)
        for case let entry? in slots {
            retiredTombstoneStamp = max(retiredTombstoneStamp, entry.stamp)
            if !entry.isTombstone {
                account(group: entry.group, entries: -1, bytes: -charge(of: entry))
            }
            entry.deallocate()
        }
        slots.removeAll()
        freeSlots.removeAll()
        dependencies.removeAll()
        table = Array(repeating: .empty, count: 16)
        count = 0
        bytes = 0
        policy = Policy(limits: EvictionLimits(maxWeight: maxBytes, maxEntries: maxEntries), seed: policySeed)
    }

    /// Removes expired entries and tombstones, so memory held by entries nobody reads again is returned.
    /// Looks at up to `limit` slots from where the previous sweep stopped, so a periodic sweeper holds the lock
    /// for a bounded time however large the shard is.
    mutating func sweep(now: UInt64, limit: Int = .max) {
        let count = min(limit, slots.count)
        for _ in 0..<count {
            if sweepCursor >= slots.count { sweepCursor = 0 }
            let index = sweepCursor
            sweepCursor += 1
            guard let entry = slots[index], keptUntil(entry) <= now,
                let position = bucketPosition(of: Int32(index), entry)
            else { continue }
            removeEntry(at: position, slot: Int32(index), reason: .expired)
        }
    }

    /// Gives every entry of `group` the expiry `revise` returns for its current one, or removes it when that is
    /// nil. Visits every slot: for policy reloads, not for the request path.
    mutating func revise(group: Int32, _ revise: (UInt64) -> UInt64?) {
        for index in slots.indices {
            guard let entry = slots[index], !entry.isTombstone, entry.group == group else { continue }
            if let expiresAt = revise(entry.expiresAt) {
                entry.setExpiresAt(expiresAt)
            } else if let position = bucketPosition(of: Int32(index), entry) {
                removeEntry(at: position, slot: Int32(index), reason: .invalidated)
            }
        }
    }

    /// Keys of live entries of `group` (not expired at `now`), at most `limit` of them.
    func keys(group: Int32, now: UInt64, limit: Int) -> [[UInt8]] {
        var keys: [[UInt8]] = []
        for case let entry? in slots where keys.count < limit {
            guard !entry.isTombstone, entry.group == group, entry.expiresAt > now else { continue }
            let length = entry.keyLength
            keys.append(entry.withBytes { Array($0.prefix(length)) })
        }
        return keys
    }

    /// Live entries' keys (no tombstones, none expired, none starting with 0x00: QUERY results, none remembering
    /// that a key has no row) in slots
    /// `from ..< from + count`, each with the first byte of its RESP2 value (`$` one value, `*` several); and the
    /// slot to go on from, or nil past the last one. Slots keep their entries while they live, so an entry present
    /// throughout a scan is in one of its steps.
    func scan(from: Int, count: Int, now: UInt64) -> (keys: [(key: [UInt8], kind: UInt8)], next: Int?, visited: Int) {
        var keys: [(key: [UInt8], kind: UInt8)] = []
        let end = min(slots.count, from + count)
        var index = from
        while index < end {
            defer { index += 1 }
            guard let entry = slots[index], !entry.isTombstone, entry.expiresAt > now else { continue }
            let length = entry.keyLength
            let found = entry.withBytes { bytes -> (key: [UInt8], kind: UInt8)? in
                guard length > 0, bytes[0] != 0, length < bytes.count else { return nil }
                // `$-1`: a cached "no row".
                if length + 1 < bytes.count, bytes[length + 1] == UInt8(ascii: "-") { return nil }
                return (Array(bytes.prefix(length)), bytes[length])
            }
            if let found { keys.append(found) }
        }
        return (keys, end < slots.count ? end : nil, max(0, end - from))
    }

    // MARK: Internals

    private func charge(of entry: EntryStorage) -> Int {
        entry.count + entryOverhead
    }

    /// Stores `entry`, then evicts what the policy picks until the shard is within its bounds; the new entry
    /// itself may be what goes. Returns its slot, empty when it went.
    @discardableResult
    private mutating func insert(_ entry: EntryStorage, hash: UInt64, warm: Bool, now: UInt64) -> Int32 {
        let entryCharge = charge(of: entry)
        if (count + 1) * 4 > table.count * 3 { grow() }

        let slotIndex: Int32
        if let free = freeSlots.popLast() {
            slotIndex = free
            slots[Int(free)] = entry
        } else {
            slotIndex = Int32(slots.count)
            slots.append(entry)
        }
        let shortHash = UInt32(truncatingIfNeeded: hash)
        let mask = table.count - 1
        var position = Int(shortHash) & mask
        while table[position].slot >= 0 { position = (position + 1) & mask }
        table[position] = Bucket(hash: shortHash, slot: slotIndex)
        count += 1
        bytes += entryCharge
        policy.inserted(slotIndex, weight: entryCharge, warm: warm)
        if !entry.isTombstone { account(group: entry.group, entries: 1, bytes: entryCharge) }
        evictWhileOverBounds(now: now)
        return slotIndex
    }

    private var isOverBounds: Bool {
        bytes + policy.memoryBytes > maxBytes || count > maxEntries
    }

    private mutating func evictWhileOverBounds(now: UInt64) {
        let hasher = hasher
        while isOverBounds {
            let victim = slots.withUnsafeBufferPointer { slots in
                policy.victim { slot in
                    guard let entry = slots[Int(slot)] else { return 0 }
                    return entry.withBytes { hasher.hash(UnsafeRawBufferPointer(rebasing: $0[..<entry.keyLength])) }
                }
            }
            guard let victim else { break }
            guard let victimEntry = slots[Int(victim)], let position = bucketPosition(of: victim, victimEntry) else {
                preconditionFailure("L1 shard: eviction victim \(victim) not in the table")
            }
            let reason: L1RemovalReason =
                victimEntry.isTombstone || victimEntry.expiresAt <= now ? .expired : .evicted
            removeEntry(at: position, slot: victim, reason: reason)
        }
        policy.settle()
    }

    private mutating func removeEntry(at position: Int, slot slotIndex: Int32, reason: L1RemovalReason) {
        guard let entry = slots[Int(slotIndex)] else { return }
        let entryCharge = charge(of: entry)
        if entry.isTombstone {
            retiredTombstoneStamp = max(retiredTombstoneStamp, entry.stamp)
        } else {
            account(group: entry.group, entries: -1, bytes: -entryCharge)
            switch reason {
            case .evicted: countEviction(group: entry.group)
            case .expired: countExpiration(group: entry.group)
            case .invalidated, .replaced: break
            }
        }
        if entry.hasDependencies { dependencies[slotIndex] = nil }
        bytes -= entryCharge
        count -= 1
        policy.removed(slotIndex)
        entry.deallocate()
        slots[Int(slotIndex)] = nil
        freeSlots.append(slotIndex)
        deleteFromTable(at: position)
    }

    /// Backward-shift deletion keeps linear probing correct without deletion markers in the table.
    private mutating func deleteFromTable(at start: Int) {
        let mask = table.count - 1
        var hole = start
        var probe = start
        table[hole] = .empty
        while true {
            probe = (probe + 1) & mask
            let occupant = table[probe]
            if occupant.slot < 0 { return }
            let home = Int(occupant.hash) & mask
            // The occupant may move into the hole only if its home is not cyclically within (hole, probe].
            let staysPut = hole <= probe ? (hole < home && home <= probe) : (hole < home || home <= probe)
            if staysPut { continue }
            table[hole] = occupant
            table[probe] = .empty
            hole = probe
        }
    }

    /// Probes the table for `key`; only a bucket whose hash matches leads to the entry's bytes.
    private mutating func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> (Int, Int32, EntryStorage)? {
        Self.find(key, hash: hash, table: table, slots: slots)
    }

    /// `find`'s work, on the two arrays it reads, borrowed. Neither a non-mutating method (called from the mutating
    /// lookup, it got a bitwise copy of the whole shard: a 344-byte memcpy per W-TinyLFU lookup) nor reading the
    /// arrays inside a mutating one (a retain and release of the table per lookup) is free; passing them is.
    private static func find(
        _ key: UnsafeRawBufferPointer, hash: UInt64, table: borrowing [Bucket], slots: borrowing [EntryStorage?]
    ) -> (Int, Int32, EntryStorage)? {
        let shortHash = UInt32(truncatingIfNeeded: hash)
        return table.withUnsafeBufferPointer { table in
            slots.withUnsafeBufferPointer { slots in
                let mask = table.count - 1
                var position = Int(shortHash) & mask
                while true {
                    let bucket = table[position]
                    if bucket.slot < 0 { return nil }
                    if bucket.hash == shortHash, let entry = slots[Int(bucket.slot)], entry.keyEquals(key) {
                        return (position, bucket.slot, entry)
                    }
                    position = (position + 1) & mask
                }
            }
        }
    }

    /// The table position of `slot`, found by re-hashing its key.
    private func bucketPosition(of slot: Int32, _ entry: EntryStorage) -> Int? {
        let shortHash = entry.withBytes { all in
            UInt32(truncatingIfNeeded: hasher.hash(UnsafeRawBufferPointer(rebasing: all[..<entry.keyLength])))
        }
        let mask = table.count - 1
        var position = Int(shortHash) & mask
        while true {
            let bucket = table[position]
            if bucket.slot < 0 { return nil }
            if bucket.slot == slot { return position }
            position = (position + 1) & mask
        }
    }

    private mutating func grow() {
        let newCapacity = table.count * 2
        let mask = newCapacity - 1
        var newTable = [Bucket](repeating: .empty, count: newCapacity)
        for bucket in table where bucket.slot >= 0 {
            var position = Int(bucket.hash) & mask
            while newTable[position].slot >= 0 { position = (position + 1) & mask }
            newTable[position] = bucket
        }
        table = newTable
    }

    private mutating func ensureGroup(_ group: Int32) -> Int? {
        guard group >= 0 else { return nil }
        let index = Int(group)
        while groups.count <= index { groups.append(L1GroupCounters()) }
        return index
    }

    private mutating func account(group: Int32, entries: Int, bytes: Int) {
        guard let index = ensureGroup(group) else { return }
        groups[index].entries += entries
        groups[index].bytes += bytes
    }

    private mutating func countEviction(group: Int32) {
        guard let index = ensureGroup(group) else { return }
        groups[index].evictions += 1
    }

    private mutating func countExpiration(group: Int32) {
        guard let index = ensureGroup(group) else { return }
        groups[index].expirations += 1
    }
}

/// A table bucket of `L1Shard`: 8 bytes, so probing stays within the table.
struct L1Bucket {
    var hash: UInt32
    /// -1: empty.
    var slot: Int32
    static let empty = L1Bucket(hash: 0, slot: -1)
}

enum L1RemovalReason {
    case evicted, expired, invalidated, replaced
}

/// Whether a store went in, and why not.
public enum L1StoreResult: Sendable, Equatable {
    case stored
    /// Something newer (a later load or a write after this load began) is known for the key.
    case refusedStale
    /// The entry alone exceeds a shard's share of the memory budget.
    case refusedTooLarge
    /// The eviction policy kept the entries it would have displaced: W-TinyLFU's sketch has seen their keys more
    /// often than this one.
    case notAdmitted
}

/// Per-group counts kept by each shard and summed for stats.
public struct L1GroupCounters: Sendable, Hashable {
    public var entries = 0
    public var bytes = 0
    public var evictions = 0
    public var expirations = 0

    public init() {}

    mutating func add(_ other: L1GroupCounters) {
        entries += other.entries
        bytes += other.bytes
        evictions += other.evictions
        expirations += other.expirations
    }
}
