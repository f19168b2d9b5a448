import Glibc
import NIOCore
import TierCacheCache
import TierCachePolicy

/// The policy set compiled for the request path: types by accounting group, key routing on bytes, and
/// which types read each table.
public final class PolicyState: Sendable {
    public let policies: PolicySet
    public let types: [DataTypeState]
    public let defaultType: DefaultTypeState
    /// Whether any QUERY result may live in L2: some type, or the default, uses it.
    public let anyQueryUsesL2: Bool
    /// Each type's prefix bytes, indexed by the prefix's length. A few comparisons of short byte strings cost less
    /// than hashing every candidate prefix for a dictionary, which was most of routing's cost under `-P 16`.
    private let prefixesByLength: [[(bytes: [UInt8], group: Int32)]]
    private let owners: [String: [Int32]]
    private let byName: [String: Int32]

    /// - Parameters:
    ///   - exactIDs: names of the types whose ids the backend compares byte for byte.
    public init(_ policies: PolicySet, exactIDs: Set<String>) {
        self.policies = policies
        let types = policies.types.enumerated().map { index, policy in
            DataTypeState(policy: policy, group: Int32(index), idsAreExact: exactIDs.contains(policy.name))
        }
        self.types = types
        self.defaultType = DefaultTypeState(policy: policies.defaultPolicy, group: Int32(types.count))
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
        self.anyQueryUsesL2 = defaultType.cachesInL2 || types.contains { $0.policy.l2 }
    }

    public func type(named name: String) -> DataTypeState? {
        byName[name].map { types[Int($0)] }
    }

    /// Whether a keyed entry is still valid: no write that could change entries of its type committed after the
    /// load that produced it began.
    @inline(__always)
    public func keyedEntryIsFresh(_ info: L1EntryInfo) -> Bool {
        let group = Int(info.group)
        return group >= 0 && group < types.count && types[group].stamp.current <= info.stamp
    }

    /// The type a key belongs to and the id within it: the longest prefix `P` such that the key is `P:id`.
    public func route(_ key: ByteBuffer) -> (type: DataTypeState, id: ByteBuffer)? {
        let match = key.withUnsafeReadableBytes { bytes -> (group: Int32, colon: Int)? in
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
        guard let match,
            let id = key.getSlice(at: key.readerIndex + match.colon + 1, length: key.readableBytes - match.colon - 1)
        else { return nil }
        return (types[Int(match.group)], id)
    }

    /// The type whose policy governs a result that read `tables`: among the types owning any of them, the one
    /// with the shortest TTL (so a cached result never outlives the most volatile data it contains).
    public func owner(ofTables tables: Set<String>) -> DataTypeState? {
        var best: DataTypeState?
        for table in tables {
            for group in owners[table] ?? [] {
                let candidate = types[Int(group)]
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
                if !tier(types[Int(group)].policy) { return false }
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
                result.append(types[Int(group)])
            }
        }
        return result
    }
}
