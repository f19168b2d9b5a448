import NIOCore
import Synchronization

/// The L1's shards with one eviction policy: each shard behind its own lock, picked by the key hash's high bits.
final class L1ShardSet<Policy: EvictionPolicy>: Sendable {
    private final class Shard: Sendable {
        let state: Mutex<L1Shard<Policy>>
        init(maxBytes: Int, maxEntries: Int, entryOverhead: Int, hasher: KeyHash, policySeed: UInt64) {
            state = Mutex(
                L1Shard(
                    maxBytes: maxBytes, maxEntries: maxEntries, entryOverhead: entryOverhead, hasher: hasher,
                    policySeed: policySeed))
        }
    }

    let configuration: L1Cache.Configuration
    private let shards: [Shard]
    /// The same shards, unretained: `shards` keeps them alive for the cache's lifetime, so the hit path can call
    /// them without reference counting.
    private let unretainedShards: [Unmanaged<Shard>]
    private let hasher: KeyHash
    private let shardMask: UInt64

    init(configuration: L1Cache.Configuration) {
        self.configuration = configuration
        let perShard = max(1, configuration.maxBytes / configuration.shardCount)
        // Rounded up, so that N entries fit when keys spread evenly.
        let entriesPerShard =
            configuration.maxEntries.map { ($0 + configuration.shardCount - 1) / configuration.shardCount } ?? .max
        let seed = configuration.hashSeed ?? UInt64.random(in: .min ... .max)
        let hasher = KeyHash(seed: seed)
        self.shards = (0..<configuration.shardCount).map { index in
            Shard(
                maxBytes: perShard, maxEntries: entriesPerShard, entryOverhead: configuration.entryOverhead,
                hasher: hasher, policySeed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        }
        self.unretainedShards = shards.map { Unmanaged.passUnretained($0) }
        self.hasher = hasher
        self.shardMask = UInt64(configuration.shardCount - 1)
    }

    /// Inlined into `L1Cache.lookup`, so that the caller's closure reaches the shard without one more call level
    /// (which retained what the closure captures on every lookup).
    @inline(__always)
    func lookup(
        _ keyBytes: UnsafeRawBufferPointer,
        now: UInt64,
        _ body: (L1EntryInfo, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool
    ) -> L1Lookup {
        let hash = hasher.hash(keyBytes)
        return unretainedShards[Int(truncatingIfNeeded: (hash >> 48) & shardMask)]._withUnsafeGuaranteedRef {
            $0.state.withLock { shard in shard.lookup(keyBytes, hash: hash, now: now, body) }
        }
    }

    func lookupStale(
        _ key: ByteBuffer,
        now: UInt64,
        maxAge: UInt64,
        _ body: (L1EntryInfo, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool
    ) -> L1Lookup {
        key.withUnsafeReadableBytes { keyBytes in
            let hash = hasher.hash(keyBytes)
            return shard(for: hash).state.withLock { shard in
                shard.lookupStale(keyBytes, hash: hash, now: now, maxAge: maxAge, body)
            }
        }
    }

    func setStaleGrace(_ nanosecondsByGroup: [UInt64]) {
        for shard in shards {
            shard.state.withLock { $0.staleGrace = nanosecondsByGroup }
        }
    }

    func store(_ key: ByteBuffer, reply: CachedReply, info: L1EntryInfo, warm: Bool, now: UInt64) -> L1StoreResult {
        key.withUnsafeReadableBytes { keyBytes in
            let hash = hasher.hash(keyBytes)
            return shard(for: hash).state.withLock { shard in
                shard.store(keyBytes, hash: hash, reply: reply, info: info, warm: warm, now: now)
            }
        }
    }

    func invalidate(_ key: ByteBuffer, stamp: UInt64, now: UInt64) {
        let expiresAt = now &+ configuration.tombstoneLifetimeNanoseconds
        key.withUnsafeReadableBytes { keyBytes in
            let hash = hasher.hash(keyBytes)
            shard(for: hash).state.withLock { shard in
                shard.invalidate(keyBytes, hash: hash, stamp: stamp, tombstoneExpiresAt: expiresAt, now: now)
            }
        }
    }

    func remove(_ key: ByteBuffer) -> Bool {
        key.withUnsafeReadableBytes { keyBytes in
            let hash = hasher.hash(keyBytes)
            return shard(for: hash).state.withLock { shard in shard.remove(keyBytes, hash: hash) }
        }
    }

    func removeAll(stamp: UInt64) {
        for shard in shards {
            shard.state.withLock { $0.removeAll(stamp: stamp) }
        }
    }

    func revise(group: Int32, _ revise: (UInt64) -> UInt64?) {
        for shard in shards {
            shard.state.withLock { $0.revise(group: group, revise) }
        }
    }

    func keys(group: Int32, now: UInt64, limit: Int) -> [[UInt8]] {
        let perShard = limit / shards.count + 1
        var keys: [[UInt8]] = []
        for shard in shards {
            keys += shard.state.withLock { $0.keys(group: group, now: now, limit: perShard) }
        }
        return Array(keys.prefix(limit))
    }

    func scan(cursor: UInt64, count: Int, now: UInt64) -> (keys: [(key: [UInt8], kind: UInt8)], next: UInt64) {
        var shardIndex = Int(cursor >> 32)
        var slot = Int(cursor & 0xFFFF_FFFF)
        var keys: [(key: [UInt8], kind: UInt8)] = []
        var budget = max(1, count)
        while shardIndex < shards.count, budget > 0 {
            let step = shards[shardIndex].state.withLock { $0.scan(from: slot, count: budget, now: now) }
            keys += step.keys
            budget -= max(1, step.visited)
            if let next = step.next {
                slot = next
            } else {
                shardIndex += 1
                slot = 0
            }
        }
        let next = shardIndex >= shards.count ? 0 : UInt64(shardIndex) << 32 | UInt64(slot)
        return (keys, next)
    }

    func sweep(now: UInt64, slotsPerShard: Int) {
        for shard in shards {
            shard.state.withLock { $0.sweep(now: now, limit: slotsPerShard) }
        }
    }

    func snapshot() -> L1Snapshot {
        var snapshot = L1Snapshot(maxBytes: configuration.maxBytes)
        snapshot.maxEntries = configuration.maxEntries
        snapshot.eviction = Policy.name
        snapshot.entryOverhead = configuration.entryOverhead
        for shard in shards {
            shard.state.withLock { state in
                snapshot.bytes += state.bytes + state.policyBytes
                snapshot.policyBytes += state.policyBytes
                snapshot.storedEntries += state.entryCount
                for (index, counters) in state.groups.enumerated() {
                    while snapshot.groups.count <= index { snapshot.groups.append(L1GroupCounters()) }
                    snapshot.groups[index].add(counters)
                }
            }
        }
        for counters in snapshot.groups {
            snapshot.total.add(counters)
        }
        return snapshot
    }

    private func shard(for hash: UInt64) -> Shard {
        shards[Int(truncatingIfNeeded: (hash >> 48) & shardMask)]
    }
}
