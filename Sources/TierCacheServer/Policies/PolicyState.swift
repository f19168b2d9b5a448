import Glibc
import NIOCore
import TierCacheCache
import TierCachePolicy
import TierCacheStats

/// One version of the policy, compiled for the request path: types by accounting group, key routing on bytes,
/// and which types read each table. Immutable: a reload builds a new one, and a request keeps the one it began
/// with.
public final class PolicyState: Sendable {
    public let policies: PolicySet
    /// In the policy's order.
    public let types: [DataTypeState]
    /// Indexed by accounting group; nil for groups of types this version does not have (and for the default's).
    public let typesByGroup: [DataTypeState?]
    public let defaultType: DefaultTypeState
    /// Whether any QUERY result may live in L2: some type, or the default, uses it.
    public let anyQueryUsesL2: Bool
    /// Each type's prefix bytes, indexed by the prefix's length. A few comparisons of short byte strings cost less
    /// than hashing every candidate prefix for a dictionary, which was most of routing's cost under `-P 16`.
    private let prefixesByLength: [[(bytes: [UInt8], group: Int32)]]
    private let owners: [String: [Int32]]
    private let byName: [String: Int32]

    /// A policy with more type names than a process can hold over its life (`TypeRegistry.capacity`).
    public struct TooManyTypes: Error, CustomStringConvertible {
        public var description: String {
            "more than \(TypeRegistry.capacity - 1) distinct type names since start-up; restart TierCache to reuse them"
        }
    }

    /// - Parameters:
    ///   - exactIDs: names of the types whose ids the backend compares byte for byte.
    ///   - registry: the slots types keep across versions.
    public init(_ policies: PolicySet, exactIDs: Set<String>, registry: TypeRegistry) throws(TooManyTypes) {
        self.policies = policies
        var types: [DataTypeState] = []
        for policy in policies.types {
            guard let slot = registry.slot(for: policy.name) else { throw TooManyTypes() }
            types.append(DataTypeState(policy: policy, slot: slot, idsAreExact: exactIDs.contains(policy.name)))
        }
        self.types = types
        var typesByGroup = [DataTypeState?](repeating: nil, count: Int(types.map(\.group).max() ?? 0) + 1)
        for type in types { typesByGroup[Int(type.group)] = type }
        self.typesByGroup = typesByGroup
        self.defaultType = DefaultTypeState(policy: policies.defaultPolicy, slot: registry.defaultSlot)
        var prefixesByLength: [[(bytes: [UInt8], group: Int32)]] = []
        var owners: [String: [Int32]] = [:]
        for type in types {
            let prefix = Array(type.policy.prefix.utf8)
            while prefixesByLength.count <= prefix.count { prefixesByLength.append([]) }
            prefixesByLength[prefix.count].append((prefix, type.group))
            for table in type.policy.tables {
                owners[table, default: []].append(type.group)
            }
        }
        self.prefixesByLength = prefixesByLength
        self.owners = owners
        self.byName = Dictionary(uniqueKeysWithValues: types.map { ($0.name, $0.group) })
        // (Types' groups are not their positions any more: lookups below go through `typesByGroup`.)
        self.anyQueryUsesL2 = defaultType.cachesInL2 || types.contains { $0.policy.l2 }
    }

    public func type(named name: String) -> DataTypeState? {
        byName[name].flatMap { typesByGroup[Int($0)] }
    }

    /// Whether a keyed entry may be served: its type is in this policy and caches in L1, and no write that could
    /// change entries of its type committed after the load that produced it began.
    @inline(__always)
    public func keyedEntryIsFresh(_ info: L1EntryInfo) -> Bool {
        servableType(info) != nil
    }

    /// The type of an entry that `keyedEntryIsFresh` accepts; nil for one it refuses.
    @inline(__always)
    public func servableType(_ info: L1EntryInfo) -> DataTypeState? {
        let group = Int(info.group)
        guard group >= 0, group < typesByGroup.count, let type = typesByGroup[group], type.servesL1,
            type.stamp.current <= info.stamp
        else { return nil }
        return type
    }

    /// The counters L1 hits of `group` count under: its type's, or the default's (QUERY results no type owns).
    public func counters(ofGroup group: Int32) -> TypeCounters {
        guard group >= 0, Int(group) < typesByGroup.count, let type = typesByGroup[Int(group)] else {
            return defaultType.counters
        }
        return type.counters
    }

    /// The stale grace of each group, for `L1Cache.setStaleGrace`.
    public var staleGraceByGroup: [UInt64] { typesByGroup.map { $0?.staleGraceNanoseconds ?? 0 } }

    /// The type a key belongs to and the id within it: the longest prefix `P` such that the key is `P:id`.
    public func route(_ key: ByteBuffer) -> (type: DataTypeState, id: ByteBuffer)? {
        guard let match = prefixMatch(key),
            let id = key.getSlice(at: key.readerIndex + match.colon + 1, length: key.readableBytes - match.colon - 1)
        else { return nil }
        guard let type = typesByGroup[Int(match.group)] else { return nil }
        return (type, id)
    }

    /// The accounting group of the type a key belongs to, as `route` finds it, without taking the id's slice or
    /// the type: what a permission check needs, on every key of a user limited to some types.
    @inline(__always)
    public func group(of key: ByteBuffer) -> Int32? {
        prefixMatch(key)?.group
    }

    /// The group of the longest prefix `P` such that the key is `P:id`, and where its colon is.
    private func prefixMatch(_ key: ByteBuffer) -> (group: Int32, colon: Int)? {
        key.withUnsafeReadableBytes { bytes -> (group: Int32, colon: Int)? in
            guard let base = bytes.baseAddress else { return nil }
            // A colon at `index` ends a prefix of that length; none is longer than the table.
            var index = min(bytes.count, prefixesByLength.count) - 1
            while index > 0 {
                if bytes[index] == UInt8(ascii: ":") {
                    for candidate in prefixesByLength[index] {
                        let same = candidate.bytes.withUnsafeBytes { prefix in
                            prefix.baseAddress.map { memcmp(base, $0, index) == 0 } ?? false
                        }
                        if same { return (candidate.group, index) }
                    }
                }
                index -= 1
            }
            return nil
        }
    }

    /// The type whose policy governs a result that read `tables`: among the types owning any of them, the one
    /// with the shortest TTL (so a cached result never outlives the most volatile data it contains).
    public func owner(ofTables tables: Set<String>) -> DataTypeState? {
        var best: DataTypeState?
        for table in tables {
            for group in owners[table] ?? [] {
                guard let candidate = typesByGroup[Int(group)] else { continue }
                if let current = best, current.lifetime.ttlNanoseconds <= candidate.lifetime.ttlNanoseconds { continue }
                best = candidate
            }
        }
        return best
    }

    /// Whether a result reading `tables` may be cached in L1 (or L2): every owning type must allow that tier; a
    /// result no type owns follows the default policy.
    public func resultUsesL1(_ tables: some Collection<String>) -> Bool {
        resultUses(tables, default: defaultType.cachesInL1) { $0.l1 }
    }

    public func resultUsesL2(_ tables: some Collection<String>) -> Bool {
        resultUses(tables, default: defaultType.cachesInL2) { $0.l2 }
    }

    private func resultUses(
        _ tables: some Collection<String>,
        default: Bool,
        _ tier: (DataTypePolicy) -> Bool
    ) -> Bool {
        var owned = false
        for table in tables {
            for group in owners[table] ?? [] {
                owned = true
                if let type = typesByGroup[Int(group)], !tier(type.policy) { return false }
            }
        }
        return owned || `default`
    }

    /// Types that read any of `tables`.
    public func types(readingAnyOf tables: Set<String>) -> [DataTypeState] {
        var seen = Set<Int32>()
        var result: [DataTypeState] = []
        for table in tables {
            for group in owners[table] ?? [] where seen.insert(group).inserted {
                if let type = typesByGroup[Int(group)] { result.append(type) }
            }
        }
        return result
    }
}
