import NIOCore
import Synchronization

/// The in-process tier: byte-bounded, sharded by key hash, each shard behind its own lock.
///
/// Event loops share one instance. A lookup hashes the key once, takes one shard lock, and lets the caller
/// copy the encoded reply straight into its output buffer while the lock is held, so a hit allocates nothing.
public final class L1Cache: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Upper bound on the bytes held: keys, encoded values and `entryOverhead` per entry.
        public var maxBytes: Int
        /// Number of independently locked shards (a power of two).
        public var shardCount: Int
        /// Bytes charged per entry for bookkeeping, on top of key and value.
        public var entryOverhead: Int
        /// How long a write's tombstone guards its key against fills from loads that began before the write.
        public var tombstoneLifetimeNanoseconds: UInt64

        public init(
            maxBytes: Int,
            shardCount: Int = 16,
            entryOverhead: Int = 96,
            tombstoneLifetimeNanoseconds: UInt64 = 60_000_000_000
        ) {
            self.maxBytes = maxBytes
            self.shardCount = shardCount
            self.entryOverhead = entryOverhead
            self.tombstoneLifetimeNanoseconds = tombstoneLifetimeNanoseconds
        }

        func validated() throws(L1ConfigurationError) -> Configuration {
            guard maxBytes > 0 else { throw L1ConfigurationError("L1 max memory must be positive, got \(maxBytes)") }
            guard shardCount > 0, shardCount & (shardCount - 1) == 0, shardCount <= 1024 else {
                throw L1ConfigurationError("L1 shard count must be a power of two from 1 to 1024, got \(shardCount)")
            }
            return self
        }
    }

    private final class Shard: Sendable {
        let state: Mutex<L1Shard<LRUPolicy>>
        init(maxBytes: Int, entryOverhead: Int, hasher: KeyHash) {
            state = Mutex(L1Shard(maxBytes: maxBytes, entryOverhead: entryOverhead, hasher: hasher))
        }
    }

    public let configuration: Configuration
    private let shards: [Shard]
    /// The same shards, unretained: `shards` keeps them alive for the cache's lifetime, so the hit path can call
    /// them without reference counting.
    private let unretainedShards: [Unmanaged<Shard>]
    private let hasher: KeyHash
    private let shardMask: UInt64

    public init(configuration: Configuration) throws(L1ConfigurationError) {
        self.configuration = try configuration.validated()
        let perShard = max(1, configuration.maxBytes / configuration.shardCount)
        let hasher = KeyHash(seed: UInt64.random(in: .min ... .max))
        self.shards = (0..<configuration.shardCount).map { _ in
            Shard(maxBytes: perShard, entryOverhead: configuration.entryOverhead, hasher: hasher)
        }
        self.unretainedShards = shards.map { Unmanaged.passUnretained($0) }
        self.hasher = hasher
        self.shardMask = UInt64(configuration.shardCount - 1)
    }

    /// Looks `key` up. For a live entry, `body` receives its metadata and its RESP2 and RESP3 encodings and
    /// returns whether it served it; `false` means stale, and the entry is dropped.
    public func lookup(
        _ key: ByteBuffer,
        now: UInt64,
        _ body: (L1EntryInfo, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool
    ) -> L1Lookup {
        key.withUnsafeReadableBytes { keyBytes in
            lookup(keyBytes, now: now, body)
        }
    }

    public func lookup(
        _ keyBytes: UnsafeRawBufferPointer,
        now: UInt64,
        _ body: (L1EntryInfo, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool
    ) -> L1Lookup {
        let hash = hasher.hash(keyBytes)
        return unretainedShards[Int(truncatingIfNeeded: (hash >> 48) & shardMask)]._withUnsafeGuaranteedRef {
            $0.state.withLock { shard in shard.lookup(keyBytes, hash: hash, now: now, body) }
        }
    }

    /// Serves `key`'s entry if it is within its group's stale grace, expired or not, and expired at most `maxAge`
    /// ago (the fallback for a failed load; stale-while-revalidate). `body` judges it as in `lookup`; an entry
    /// older than `maxAge` stays for the next caller.
    public func lookupStale(
        _ key: ByteBuffer,
        now: UInt64,
        maxAge: UInt64 = .max,
        _ body: (L1EntryInfo, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool
    ) -> L1Lookup {
        key.withUnsafeReadableBytes { keyBytes in
            let hash = hasher.hash(keyBytes)
            return shard(for: hash).state.withLock { shard in
                shard.lookupStale(keyBytes, hash: hash, now: now, maxAge: maxAge, body)
            }
        }
    }

    /// Sets how long past expiry entries of each group are kept to be served stale when a load fails
    /// (nanoseconds, indexed by group; groups beyond the array keep none).
    public func setStaleGrace(_ nanosecondsByGroup: [UInt64]) {
        for shard in shards {
            shard.state.withLock { $0.staleGrace = nanosecondsByGroup }
        }
    }

    /// Stores an entry unless the key was written, or loaded again, after `info.stamp`.
    @discardableResult
    public func store(_ key: ByteBuffer, reply: CachedReply, info: L1EntryInfo, now: UInt64) -> L1StoreResult {
        key.withUnsafeReadableBytes { keyBytes in
            let hash = hasher.hash(keyBytes)
            return shard(for: hash).state.withLock { shard in
                shard.store(keyBytes, hash: hash, reply: reply, info: info, now: now)
            }
        }
    }

    /// Drops `key` after a write that committed with sequence number `stamp`, and refuses fills from loads
    /// that started before it.
    public func invalidate(_ key: ByteBuffer, stamp: UInt64, now: UInt64) {
        let expiresAt = now &+ configuration.tombstoneLifetimeNanoseconds
        key.withUnsafeReadableBytes { keyBytes in
            let hash = hasher.hash(keyBytes)
            shard(for: hash).state.withLock { shard in
                shard.invalidate(keyBytes, hash: hash, stamp: stamp, tombstoneExpiresAt: expiresAt, now: now)
            }
        }
    }

    /// Drops `key` without remembering a write. Returns whether a live entry was there.
    @discardableResult
    public func remove(_ key: ByteBuffer) -> Bool {
        key.withUnsafeReadableBytes { keyBytes in
            let hash = hasher.hash(keyBytes)
            return shard(for: hash).state.withLock { shard in shard.remove(keyBytes, hash: hash) }
        }
    }

    /// Drops everything; fills from loads that started before write sequence `stamp` are refused.
    public func removeAll(stamp: UInt64) {
        for shard in shards {
            shard.state.withLock { $0.removeAll(stamp: stamp) }
        }
    }

    /// Gives every entry of `group` the expiry `revise` returns for its current one (monotonic nanoseconds), or
    /// removes it when that is nil; one shard lock at a time. For policy reloads: a type dropped, or its TTL
    /// lowered.
    public func revise(group: Int32, _ revise: (UInt64) -> UInt64?) {
        for shard in shards {
            shard.state.withLock { $0.revise(group: group, revise) }
        }
    }

    /// Keys of live entries of `group`, at most about `limit` (shared out among the shards), one shard lock at a
    /// time: for the hot-key snapshot, not the request path.
    public func keys(group: Int32, now: UInt64, limit: Int) -> [[UInt8]] {
        let perShard = limit / shards.count + 1
        var keys: [[UInt8]] = []
        for shard in shards {
            keys += shard.state.withLock { $0.keys(group: group, now: now, limit: perShard) }
        }
        return Array(keys.prefix(limit))
    }

    /// One step of a `SCAN` over L1's live keys: about `count` slots from `cursor` (0 to start), one shard lock at a
    /// time. Returns the keys found, each with the first byte of its RESP2 value, and the cursor to go on from (0
    /// when the scan is complete). A cursor is the shard's index in the high 32 bits and a slot in the low ones.
    public func scan(cursor: UInt64, count: Int, now: UInt64) -> (keys: [(key: [UInt8], kind: UInt8)], next: UInt64) {
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

    /// Removes expired entries from every shard, one shard lock at a time.
    ///
    /// - Parameters:
    ///   - slotsPerShard: how many slots each shard examines this time (continuing where it stopped), which
    ///     bounds how long each lock is held. The default examines everything.
    public func sweep(now: UInt64, slotsPerShard: Int = .max) {
        for shard in shards {
            shard.state.withLock { $0.sweep(now: now, limit: slotsPerShard) }
        }
    }

    /// Totals and per-group counts, summed over shards.
    public func snapshot() -> L1Snapshot {
        var snapshot = L1Snapshot(maxBytes: configuration.maxBytes)
        for shard in shards {
            shard.state.withLock { state in
                snapshot.bytes += state.bytes
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

/// Counts across the whole L1.
public struct L1Snapshot: Sendable, Hashable {
    public var maxBytes: Int
    /// Bytes charged, tombstones included.
    public var bytes = 0
    /// Sums over groups (tombstones excluded).
    public var total = L1GroupCounters()
    /// Indexed by group.
    public var groups: [L1GroupCounters] = []

    public init(maxBytes: Int) { self.maxBytes = maxBytes }

    public func group(_ index: Int32) -> L1GroupCounters {
        index >= 0 && Int(index) < groups.count ? groups[Int(index)] : L1GroupCounters()
    }
}

public struct L1ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
