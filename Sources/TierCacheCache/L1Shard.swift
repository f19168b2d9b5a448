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
struct L1Shard<Policy: EvictionPolicy>: ~Copyable {
    struct Slot {
        /// key ++ RESP2 reply ++ RESP3 reply (empty when it equals RESP2). Empty array: free slot.
        var bytes: [UInt8]
        var keyLength: UInt32
        var resp2Length: UInt32
        var hash: UInt64
        var info: L1EntryInfo
        /// A tombstone marks a key written at `info.stamp`: never served, it refuses older fills.
        var isTombstone: Bool
        var charge: Int
    }

    private var slots: [Slot] = []
    private var freeSlots: [Int32] = []
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
        let slot = slots[Int(slotIndex)]
        if slot.isTombstone { return .miss }
        let group = slot.info.group
        if slot.info.expiresAt <= now {
            removeEntry(at: position, slot: slotIndex, reason: .expired)
            return .miss
        }
        let served = slot.bytes.withUnsafeBytes { all -> Bool in
            let keyLength = Int(slot.keyLength)
            let resp2End = keyLength + Int(slot.resp2Length)
            let resp2 = UnsafeRawBufferPointer(rebasing: all[keyLength..<resp2End])
            let resp3 = resp2End == all.count ? resp2 : UnsafeRawBufferPointer(rebasing: all[resp2End...])
            return body(slot.info, resp2, resp3)
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
        let resp3Length = reply.resp3?.readableBytes ?? 0
        let valueLength = reply.resp2.readableBytes + resp3Length
        let charge = key.count + valueLength + entryOverhead
        guard charge <= maxBytes else { return .refusedTooLarge }

        if let (position, existing) = find(key, hash: hash) {
            // A newer load or a write after our load started wins.
            if slots[Int(existing)].info.stamp > info.stamp { return .refusedStale }
            removeEntry(at: position, slot: existing, reason: .replaced)
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(key.count + valueLength)
        bytes.append(contentsOf: key)
        reply.resp2.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
        if let resp3 = reply.resp3 { resp3.withUnsafeReadableBytes { bytes.append(contentsOf: $0) } }
        insert(
            Slot(
                bytes: bytes,
                keyLength: UInt32(key.count),
                resp2Length: UInt32(reply.resp2.readableBytes),
                hash: hash,
                info: info,
                isTombstone: false,
                charge: charge
            ),
            now: now
        )
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
        let charge = key.count + entryOverhead
        guard charge <= maxBytes else {
            retiredTombstoneStamp = max(retiredTombstoneStamp, stamp)
            return
        }
        insert(
            Slot(
                bytes: Array(key),
                keyLength: UInt32(key.count),
                resp2Length: 0,
                hash: hash,
                info: L1EntryInfo(expiresAt: tombstoneExpiresAt, stamp: stamp, group: -1),
                isTombstone: true,
                charge: charge
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
        for index in slots.indices where !slots[index].bytes.isEmpty {
            retiredTombstoneStamp = max(retiredTombstoneStamp, slots[index].info.stamp)
            if !slots[index].isTombstone {
                account(group: slots[index].info.group, entries: -1, bytes: -slots[index].charge)
            }
        }
        slots.removeAll()
        freeSlots.removeAll()
        table = Array(repeating: -1, count: 16)
        count = 0
        bytes = 0
        policy = Policy()
    }

    /// Removes expired entries and tombstones, so memory held by entries nobody reads again is returned.
    mutating func sweep(now: UInt64) {
        var index = 0
        while index < slots.count {
            let slot = slots[index]
            if !slot.bytes.isEmpty, slot.info.expiresAt <= now,
                let (position, _) = findSlot(Int32(index), hash: slot.hash)
            {
                removeEntry(at: position, slot: Int32(index), reason: .expired)
            }
            index += 1
        }
    }

    // MARK: Internals

    private mutating func insert(_ slot: Slot, now: UInt64) {
        // Make room first: evict from the cold end until the new entry fits.
        while bytes + slot.charge > maxBytes, let victim = policy.victim() {
            let victimSlot = slots[Int(victim)]
            guard let (position, _) = findSlot(victim, hash: victimSlot.hash) else {
                preconditionFailure("L1 shard: eviction victim \(victim) not in the table")
            }
            let reason: L1RemovalReason =
                victimSlot.isTombstone ? .expired : (victimSlot.info.expiresAt <= now ? .expired : .evicted)
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
        var position = Int(truncatingIfNeeded: slot.hash) & mask
        while table[position] >= 0 { position = (position + 1) & mask }
        table[position] = slotIndex
        count += 1
        bytes += slot.charge
        policy.inserted(slotIndex)
        if !slot.isTombstone { account(group: slot.info.group, entries: 1, bytes: slot.charge) }
    }

    private mutating func removeEntry(at position: Int, slot slotIndex: Int32, reason: L1RemovalReason) {
        let slot = slots[Int(slotIndex)]
        if slot.isTombstone {
            retiredTombstoneStamp = max(retiredTombstoneStamp, slot.info.stamp)
        } else {
            account(group: slot.info.group, entries: -1, bytes: -slot.charge)
            switch reason {
            case .evicted: countEviction(group: slot.info.group)
            case .expired: countExpiration(group: slot.info.group)
            case .invalidated, .replaced: break
            }
        }
        bytes -= slot.charge
        count -= 1
        policy.removed(slotIndex)
        slots[Int(slotIndex)].bytes = []
        slots[Int(slotIndex)].info.dependencies = []
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
            let home = Int(truncatingIfNeeded: slots[Int(occupant)].hash) & mask
            // The occupant may move into the hole only if its home is not cyclically within (hole, probe].
            let staysPut = hole <= probe ? (hole < home && home <= probe) : (hole < home || home <= probe)
            if staysPut { continue }
            table[hole] = occupant
            table[probe] = -1
            hole = probe
        }
    }

    private func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> (Int, Int32)? {
        let mask = table.count - 1
        var position = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slotIndex = table[position]
            if slotIndex < 0 { return nil }
            let slot = slots[Int(slotIndex)]
            if slot.hash == hash, Int(slot.keyLength) == key.count {
                let equal = slot.bytes.withUnsafeBytes { stored in
                    key.count == 0 || memcmpEqual(stored.baseAddress, key.baseAddress, key.count)
                }
                if equal { return (position, slotIndex) }
            }
            position = (position + 1) & mask
        }
    }

    private func findSlot(_ target: Int32, hash: UInt64) -> (Int, Int32)? {
        let mask = table.count - 1
        var position = Int(truncatingIfNeeded: hash) & mask
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
            var position = Int(truncatingIfNeeded: slots[Int(slotIndex)].hash) & mask
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

@inline(__always)
private func memcmpEqual(_ lhs: UnsafeRawPointer?, _ rhs: UnsafeRawPointer?, _ count: Int) -> Bool {
    guard let lhs, let rhs else { return false }
    return memcmp(lhs, rhs, count) == 0
}
