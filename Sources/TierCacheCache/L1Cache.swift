import NIOCore
import Synchronization

/// The in-process tier: bounded in bytes (and optionally entries), sharded by key hash, each shard behind its own
/// lock, with W-TinyLFU (or LRU) choosing what stays.
///
/// Event loops share one instance. A lookup hashes the key once, takes one shard lock, and lets the caller
/// copy the encoded reply straight into its output buffer while the lock is held, so a hit allocates nothing.
public final class L1Cache: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Upper bound on the bytes held: keys, encoded values, `entryOverhead` per entry and the eviction
        /// policy's own structures (W-TinyLFU's frequency sketch).
        public var maxBytes: Int
        /// Upper bound on the entries held (tombstones included), shared out evenly among the shards; nil: only
        /// bytes bound the L1. With both, the tighter wins.
        public var maxEntries: Int?
        /// Which entry goes when a shard is full, and whether a new one may displace it.
        public var eviction: L1Eviction
        /// Number of independently locked shards (a power of two).
        public var shardCount: Int
        /// Bytes charged per entry for bookkeeping, on top of key and value.
        public var entryOverhead: Int
        /// How long a write's tombstone guards its key against fills from loads that began before the write.
        public var tombstoneLifetimeNanoseconds: UInt64
        /// Seeds the key hash and the policies' coin, so that a test replays the same decisions; nil (the
        /// default): random per process, so that clients cannot aim keys at one shard or one sketch counter.
        public var hashSeed: UInt64?

        public init(
            maxBytes: Int,
            maxEntries: Int? = nil,
            eviction: L1Eviction = .windowTinyLFU,
            shardCount: Int = 16,
            entryOverhead: Int = 96,
            tombstoneLifetimeNanoseconds: UInt64 = 60_000_000_000,
            hashSeed: UInt64? = nil
        ) {
            self.maxBytes = maxBytes
            self.maxEntries = maxEntries
            self.eviction = eviction
            self.shardCount = shardCount
            self.entryOverhead = entryOverhead
            self.tombstoneLifetimeNanoseconds = tombstoneLifetimeNanoseconds
            self.hashSeed = hashSeed
        }

        func validated() throws(L1ConfigurationError) -> Configuration {
            guard maxBytes > 0 else { throw L1ConfigurationError("L1 max memory must be positive, got \(maxBytes)") }
            if let maxEntries, maxEntries <= 0 {
                throw L1ConfigurationError("L1 max entries must be positive, got \(maxEntries)")
            }
            guard shardCount > 0, shardCount & (shardCount - 1) == 0, shardCount <= 1024 else {
                throw L1ConfigurationError("L1 shard count must be a power of two from 1 to 1024, got \(shardCount)")
            }
            return self
        }
    }

    /// The shards with their policy. An enum of the concrete sets rather than a protocol existential, so each
    /// call below is a branch into code specialized for the policy (through an existential the generic set ran
    /// unspecialized: Swift looked its metadata up at run time on every lookup, ~5 % of an L1 hit's CPU).
    private enum Shards {
        case windowTinyLFU(L1ShardSet<WindowTinyLFUPolicy>)
        case lru(L1ShardSet<LRUPolicy>)
    }

    public let configuration: Configuration
    private let shards: Shards

    /// The same set, unretained, for the hit path: `shards` keeps it alive for the cache's lifetime. Binding the
    /// payload of `shards` cost 39 more instructions per pipelined GET under callgrind (`bench/instructions.py`):
    /// a retain and a release of the set; an `Unmanaged` payload is a plain pointer.
    private enum UnretainedShards {
        case windowTinyLFU(Unmanaged<L1ShardSet<WindowTinyLFUPolicy>>)
        case lru(Unmanaged<L1ShardSet<LRUPolicy>>)
    }

    private let unretainedShards: UnretainedShards

    public init(configuration: Configuration) throws(L1ConfigurationError) {
        self.configuration = try configuration.validated()
        switch configuration.eviction {
        case .windowTinyLFU:
            let set = L1ShardSet<WindowTinyLFUPolicy>(configuration: self.configuration)
            shards = .windowTinyLFU(set)
            unretainedShards = .windowTinyLFU(Unmanaged.passUnretained(set))
        case .lru:
            let set = L1ShardSet<LRUPolicy>(configuration: self.configuration)
            shards = .lru(set)
            unretainedShards = .lru(Unmanaged.passUnretained(set))
        }
    }

    /// Looks `key` up. For a live entry, `body` receives its metadata and its RESP2 and RESP3 encodings and
    /// returns whether it served it; `false` means stale, and the entry is dropped. Hit or miss, the eviction
    /// policy counts the request.
    public func lookup(
        _ key: ByteBuffer,
        now: UInt64,
        _ body: (L1EntryInfo, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool
    ) -> L1Lookup {
        key.withUnsafeReadableBytes { keyBytes in lookup(keyBytes, now: now, body) }
    }

    public func lookup(
        _ keyBytes: UnsafeRawBufferPointer,
        now: UInt64,
        _ body: (L1EntryInfo, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool
    ) -> L1Lookup {
        switch unretainedShards {
        case .windowTinyLFU(let set): set._withUnsafeGuaranteedRef { $0.lookup(keyBytes, now: now, body) }
        case .lru(let set): set._withUnsafeGuaranteedRef { $0.lookup(keyBytes, now: now, body) }
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
        switch shards {
        case .windowTinyLFU(let set): set.lookupStale(key, now: now, maxAge: maxAge, body)
        case .lru(let set): set.lookupStale(key, now: now, maxAge: maxAge, body)
        }
    }

    /// Sets how long past expiry entries of each group are kept to be served stale when a load fails
    /// (nanoseconds, indexed by group; groups beyond the array keep none).
    public func setStaleGrace(_ nanosecondsByGroup: [UInt64]) {
        switch shards {
        case .windowTinyLFU(let set): set.setStaleGrace(nanosecondsByGroup)
        case .lru(let set): set.setStaleGrace(nanosecondsByGroup)
        }
    }

    /// Stores an entry unless the key was written, or loaded again, after `info.stamp`, or the eviction policy
    /// keeps what it would displace. `warm`: warming loaded it (W-TinyLFU starts it among the protected entries).
    @discardableResult
    public func store(
        _ key: ByteBuffer, reply: CachedReply, info: L1EntryInfo, warm: Bool = false, now: UInt64
    ) -> L1StoreResult {
        switch shards {
        case .windowTinyLFU(let set): set.store(key, reply: reply, info: info, warm: warm, now: now)
        case .lru(let set): set.store(key, reply: reply, info: info, warm: warm, now: now)
        }
    }

    /// Drops `key` after a write that committed with sequence number `stamp`, and refuses fills from loads
    /// that started before it.
    public func invalidate(_ key: ByteBuffer, stamp: UInt64, now: UInt64) {
        switch shards {
        case .windowTinyLFU(let set): set.invalidate(key, stamp: stamp, now: now)
        case .lru(let set): set.invalidate(key, stamp: stamp, now: now)
        }
    }

    /// Drops `key` without remembering a write. Returns whether a live entry was there.
    @discardableResult
    public func remove(_ key: ByteBuffer) -> Bool {
        switch shards {
        case .windowTinyLFU(let set): set.remove(key)
        case .lru(let set): set.remove(key)
        }
    }

    /// Drops everything; fills from loads that started before write sequence `stamp` are refused.
    public func removeAll(stamp: UInt64) {
        switch shards {
        case .windowTinyLFU(let set): set.removeAll(stamp: stamp)
        case .lru(let set): set.removeAll(stamp: stamp)
        }
    }

    /// Gives every entry of `group` the expiry `revise` returns for its current one (monotonic nanoseconds), or
    /// removes it when that is nil; one shard lock at a time. For policy reloads: a type dropped, or its TTL
    /// lowered.
    public func revise(group: Int32, _ revise: (UInt64) -> UInt64?) {
        switch shards {
        case .windowTinyLFU(let set): set.revise(group: group, revise)
        case .lru(let set): set.revise(group: group, revise)
        }
    }

    /// Keys of live entries of `group`, at most about `limit` (shared out among the shards), one shard lock at a
    /// time: for the hot-key snapshot, not the request path.
    public func keys(group: Int32, now: UInt64, limit: Int) -> [[UInt8]] {
        switch shards {
        case .windowTinyLFU(let set): set.keys(group: group, now: now, limit: limit)
        case .lru(let set): set.keys(group: group, now: now, limit: limit)
        }
    }

    /// One step of a `SCAN` over L1's live keys: about `count` slots from `cursor` (0 to start), one shard lock at a
    /// time. Returns the keys found, each with the first byte of its RESP2 value, and the cursor to go on from (0
    /// when the scan is complete). A cursor is the shard's index in the high 32 bits and a slot in the low ones.
    public func scan(cursor: UInt64, count: Int, now: UInt64) -> (keys: [(key: [UInt8], kind: UInt8)], next: UInt64) {
        switch shards {
        case .windowTinyLFU(let set): set.scan(cursor: cursor, count: count, now: now)
        case .lru(let set): set.scan(cursor: cursor, count: count, now: now)
        }
    }

    /// Removes expired entries from every shard, one shard lock at a time.
    ///
    /// - Parameters:
    ///   - slotsPerShard: how many slots each shard examines this time (continuing where it stopped), which
    ///     bounds how long each lock is held. The default examines everything.
    public func sweep(now: UInt64, slotsPerShard: Int = .max) {
        switch shards {
        case .windowTinyLFU(let set): set.sweep(now: now, slotsPerShard: slotsPerShard)
        case .lru(let set): set.sweep(now: now, slotsPerShard: slotsPerShard)
        }
    }

    /// Totals and per-group counts, summed over shards.
    public func snapshot() -> L1Snapshot {
        switch shards {
        case .windowTinyLFU(let set): set.snapshot()
        case .lru(let set): set.snapshot()
        }
    }
}

/// Counts across the whole L1.
public struct L1Snapshot: Sendable, Hashable {
    public var maxBytes: Int
    public var maxEntries: Int?
    /// The eviction policy's name (`w-tinylfu`, `lru`).
    public var eviction = ""
    /// Bytes charged: entries (tombstones included) and the policy's structures.
    public var bytes = 0
    /// Of `bytes`, what the eviction policy's own structures take (W-TinyLFU's frequency sketch).
    public var policyBytes = 0
    /// Entries held, tombstones included.
    public var storedEntries = 0
    /// Bytes charged per entry for bookkeeping (`Configuration.entryOverhead`).
    public var entryOverhead = 0

    /// Of `bytes`, what is not keys and values: every entry's overhead and the policy's structures.
    public var overheadBytes: Int { storedEntries * entryOverhead + policyBytes }
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
