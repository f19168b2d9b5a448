import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One lock's worth of the L1: an open-addressing hash table over slots, byte accounting, and an eviction order.
///
/// Memory per entry is kept small on purpose (the target is ≤ 100 bytes beyond key and value): one
/// `[UInt8]` holds key and encoded replies together, the table stores 4-byte slot numbers, and the
/// eviction policy keeps two 4-byte links per slot.
struct L1Shard<Policy: EvictionPolicy>: ~Copyable, Sendable {
    typealias Slot = L1Slot

    private var slots: [Slot] = []
    private var freeSlots: [Int32] = []
    /// Table ids of QUERY results, by slot; kept aside because few entries have any.
    private var dependencies: [Int32: [Int32]] = [:]
    /// Open addressing with linear probing; -1 is empty. Capacity is a power of two.
    private var table: [Int32]
    private var count = 0
    private var policy = Policy()

    let maxBytes: Int
    let entryOverhead: Int
    private(set) var bytes = 0
    /// The newest write stamp of any tombstone that left this shard. A fill whose load started before it may
    /// be older than a write we no longer remember, so it is refused.
    private var retiredTombstoneStamp: UInt64 = 0
    private(set) var groups: [L1GroupCounters] = []

    init(maxBytes: Int, entryOverhead: Int) {
        self.maxBytes = maxBytes
        self.entryOverhead = entryOverhead
        self.table = Array(repeating: -1, count: 16)
    }

    deinit {
        for slot in slots { slot.storage?.deallocate() }
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
        guard let (position, slotIndex) = find(key, hash: hash) else { return .miss }
        let index = Int(slotIndex)
        let (served, group, expired) = slots.withUnsafeBufferPointer { slots -> (Bool, Int32, Bool) in
            let slot = slots[index]
            if slot.isTombstone { return (false, -1, false) }
            if slot.expiresAt <= now { return (false, slot.group, true) }
            let info = L1EntryInfo(
                expiresAt: slot.expiresAt,
                stamp: slot.stamp,
                group: slot.group,
                dependencies: slot.hasDependencies ? dependencies[slotIndex] ?? [] : []
            )
            let keyLength = slot.keyLength
            let resp2End = keyLength + slot.resp2Length
            let served = slot.storage?.withBytes { all -> Bool in
                let resp2 = UnsafeRawBufferPointer(rebasing: all[keyLength..<resp2End])
                let resp3 = resp2End == all.count ? resp2 : UnsafeRawBufferPointer(rebasing: all[resp2End...])
                return body(info, resp2, resp3)
            }
            return (served ?? false, slot.group, false)
        }
        if group < 0 { return .miss }  // tombstone
        if expired {
            removeEntry(at: position, slot: slotIndex, reason: .expired)
            return .miss
        }
        if served {
            policy.accessed(slotIndex)
            return .hit(group: group)
        }
        removeEntry(at: position, slot: slotIndex, reason: .invalidated)
        return .stale(group: group)
    }

    // MARK: Store

    /// Stores an entry unless something newer is known for the key. Returns whether it was stored.
    mutating func store(
        _ key: UnsafeRawBufferPointer,
        hash: UInt64,
        reply: CachedReply,
        info: L1EntryInfo,
        now: UInt64
    ) -> L1StoreResult {
        if info.stamp < retiredTombstoneStamp { return .refusedStale }
        let resp2Length = reply.resp2.readableBytes
        let resp3Length = reply.resp3?.readableBytes ?? 0
        let total = key.count + resp2Length + resp3Length
        guard total + entryOverhead <= maxBytes, key.count < Int(Slot.flag), resp2Length < Int(Slot.flag) else {
            return .refusedTooLarge
        }

        if let (position, existing) = find(key, hash: hash) {
            // A newer load or a write after our load started wins.
            if slots[Int(existing)].stamp > info.stamp { return .refusedStale }
            removeEntry(at: position, slot: existing, reason: .replaced)
        }
        let storage = EntryStorage.allocate(count: total) { destination in
            destination.copyMemory(from: key)
            reply.resp2.withUnsafeReadableBytes { resp2 in
                UnsafeMutableRawBufferPointer(rebasing: destination[key.count...]).copyMemory(from: resp2)
            }
            reply.resp3?.withUnsafeReadableBytes { resp3 in
                UnsafeMutableRawBufferPointer(rebasing: destination[(key.count + resp2Length)...]).copyMemory(from: resp3)
            }
        }
        let hasDependencies = !info.dependencies.isEmpty
        let slotIndex = insert(
            Slot(
                storage: storage,
                expiresAt: info.expiresAt,
                stamp: info.stamp,
                hash: UInt32(truncatingIfNeeded: hash),
                keyField: UInt32(key.count),
                resp2Field: UInt32(resp2Length) | (hasDependencies ? Slot.flag : 0),
                group: info.group
            ),
            now: now
        )
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
        if let (position, existing) = find(key, hash: hash) {
            removeEntry(at: position, slot: existing, reason: .invalidated)
        }
        guard key.count + entryOverhead <= maxBytes, key.count < Int(Slot.flag) else {
            retiredTombstoneStamp = max(retiredTombstoneStamp, stamp)
            return
        }
        let storage = EntryStorage.allocate(count: key.count) { $0.copyMemory(from: key) }
        insert(
            Slot(
                storage: storage,
                expiresAt: tombstoneExpiresAt,
                stamp: stamp,
                hash: UInt32(truncatingIfNeeded: hash),
                keyField: UInt32(key.count) | Slot.flag,
                resp2Field: 0,
                group: -1
            ),
            now: now
        )
    }

    mutating func remove(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Bool {
        guard let (position, slotIndex) = find(key, hash: hash) else { return false }
        let wasLive = !slots[Int(slotIndex)].isTombstone
        removeEntry(at: position, slot: slotIndex, reason: .invalidated)
        return wasLive
    }

    /// Drops every entry. Tombstones go too, so every in-flight fill older than `stamp` is refused.
    mutating func removeAll(stamp: UInt64) {
        retiredTombstoneStamp = max(retiredTombstoneStamp, stamp)
        for slot in slots where slot.storage != nil {
            retiredTombstoneStamp = max(retiredTombstoneStamp, slot.stamp)
            if !slot.isTombstone {
                account(group: slot.group, entries: -1, bytes: -charge(of: slot))
            }
            slot.storage?.deallocate()
        }
        slots.removeAll()
        freeSlots.removeAll()
        dependencies.removeAll()
        table = Array(repeating: -1, count: 16)
        count = 0
        bytes = 0
        policy = Policy()
    }

    /// Removes expired entries and tombstones, so memory held by entries nobody reads again is returned.
    mutating func sweep(now: UInt64) {
        for index in slots.indices {
            let slot = slots[index]
            if slot.storage != nil, slot.expiresAt <= now, let (position, _) = findSlot(Int32(index), hash: slot.hash) {
                removeEntry(at: position, slot: Int32(index), reason: .expired)
            }
        }
    }

    // MARK: Internals

    private func charge(of slot: Slot) -> Int {
        slot.byteCount + entryOverhead
    }

    @discardableResult
    private mutating func insert(_ slot: Slot, now: UInt64) -> Int32 {
        let slotCharge = charge(of: slot)
        // Make room first: evict from the cold end until the new entry fits.
        while bytes + slotCharge > maxBytes, let victim = policy.victim() {
            let victimSlot = slots[Int(victim)]
            guard let (position, _) = findSlot(victim, hash: victimSlot.hash) else {
                preconditionFailure("L1 shard: eviction victim \(victim) not in the table")
            }
            let reason: L1RemovalReason =
                victimSlot.isTombstone || victimSlot.expiresAt <= now ? .expired : .evicted
            removeEntry(at: position, slot: victim, reason: reason)
        }
        if (count + 1) * 4 > table.count * 3 { grow() }

        let slotIndex: Int32
        if let free = freeSlots.popLast() {
            slotIndex = free
            slots[Int(free)] = slot
        } else {
            slotIndex = Int32(slots.count)
            slots.append(slot)
        }
        let mask = table.count - 1
        var position = Int(slot.hash) & mask
        while table[position] >= 0 { position = (position + 1) & mask }
        table[position] = slotIndex
        count += 1
        bytes += slotCharge
        policy.inserted(slotIndex)
        if !slot.isTombstone { account(group: slot.group, entries: 1, bytes: slotCharge) }
        return slotIndex
    }

    private mutating func removeEntry(at position: Int, slot slotIndex: Int32, reason: L1RemovalReason) {
        let slot = slots[Int(slotIndex)]
        let slotCharge = charge(of: slot)
        if slot.isTombstone {
            retiredTombstoneStamp = max(retiredTombstoneStamp, slot.stamp)
        } else {
            account(group: slot.group, entries: -1, bytes: -slotCharge)
            switch reason {
            case .evicted: countEviction(group: slot.group)
            case .expired: countExpiration(group: slot.group)
            case .invalidated, .replaced: break
            }
        }
        if slot.hasDependencies { dependencies[slotIndex] = nil }
        bytes -= slotCharge
        count -= 1
        policy.removed(slotIndex)
        slot.storage?.deallocate()
        slots[Int(slotIndex)].storage = nil
        freeSlots.append(slotIndex)
        deleteFromTable(at: position)
    }

    /// Backward-shift deletion keeps linear probing correct without tombstone markers in the table.
    private mutating func deleteFromTable(at start: Int) {
        let mask = table.count - 1
        var hole = start
        var probe = start
        table[hole] = -1
        while true {
            probe = (probe + 1) & mask
            let occupant = table[probe]
            if occupant < 0 { return }
            let home = Int(slots[Int(occupant)].hash) & mask
            // The occupant may move into the hole only if its home is not cyclically within (hole, probe].
            let staysPut = hole <= probe ? (hole < home && home <= probe) : (hole < home || home <= probe)
            if staysPut { continue }
            table[hole] = occupant
            table[probe] = -1
            hole = probe
        }
    }

    /// Probes for `key` reading slots in place: no slot is copied, so nothing is retained per probe.
    private func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> (Int, Int32)? {
        let shortHash = UInt32(truncatingIfNeeded: hash)
        let keyCount = key.count
        return table.withUnsafeBufferPointer { table in
            slots.withUnsafeBufferPointer { slots in
                let mask = table.count - 1
                var position = Int(shortHash) & mask
                while true {
                    let slotIndex = table[position]
                    if slotIndex < 0 { return nil }
                    if slots[Int(slotIndex)].hash == shortHash, slots[Int(slotIndex)].keyLength == keyCount,
                        let storage = slots[Int(slotIndex)].storage,
                        storage.withBytes({ stored in
                            guard keyCount > 0 else { return true }
                            guard let storedBase = stored.baseAddress, let keyBase = key.baseAddress else { return false }
                            return memcmp(storedBase, keyBase, keyCount) == 0
                        })
                    {
                        return (position, slotIndex)
                    }
                    position = (position + 1) & mask
                }
            }
        }
    }

    private func findSlot(_ target: Int32, hash: UInt32) -> (Int, Int32)? {
        let mask = table.count - 1
        var position = Int(hash) & mask
        while true {
            let slotIndex = table[position]
            if slotIndex < 0 { return nil }
            if slotIndex == target { return (position, slotIndex) }
            position = (position + 1) & mask
        }
    }

    private mutating func grow() {
        let newCapacity = table.count * 2
        let mask = newCapacity - 1
        var newTable = [Int32](repeating: -1, count: newCapacity)
        for slotIndex in table where slotIndex >= 0 {
            var position = Int(slots[Int(slotIndex)].hash) & mask
            while newTable[position] >= 0 { position = (position + 1) & mask }
            newTable[position] = slotIndex
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

/// One L1 entry's metadata: 40 bytes. Flags share the length fields' top bits so the slot stays small.
/// `@unchecked Sendable`: the storage pointer is owned by the shard and only touched under its lock.
struct L1Slot: @unchecked Sendable {
    /// nil: a free slot.
    var storage: EntryStorage?
    var expiresAt: UInt64
    var stamp: UInt64
    /// The key hash's low 32 bits: enough to place the slot in the table (at most 2^31 slots) and to skip
    /// most non-matching keys without touching their bytes.
    var hash: UInt32
    /// Key length; the top bit marks a tombstone.
    var keyField: UInt32
    /// RESP2 reply length; the top bit marks an entry with table dependencies (in `dependencies`).
    var resp2Field: UInt32
    var group: Int32

    static let flag: UInt32 = 1 << 31

    var keyLength: Int { Int(keyField & ~Self.flag) }
    var resp2Length: Int { Int(resp2Field & ~Self.flag) }
    var isTombstone: Bool { keyField & Self.flag != 0 }
    var hasDependencies: Bool { resp2Field & Self.flag != 0 }
    var byteCount: Int { storage?.count ?? 0 }
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
