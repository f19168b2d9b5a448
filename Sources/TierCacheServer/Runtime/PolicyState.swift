import NIOCore
import TierCacheCache
import TierCachePolicy

/// The policy set compiled for the request path: types by accounting group, key routing on bytes, and
/// which types read each table.
public final class PolicyState: Sendable {
    public let policies: PolicySet
    public let types: [DataTypeState]
    public let defaultType: DefaultTypeState
    private let prefixes: [ByteBuffer: Int32]
    private let owners: [String: [Int32]]

    /// - Parameters:
    ///   - exactIDs: names of the types whose ids the backend compares byte for byte.
    public init(_ policies: PolicySet, exactIDs: Set<String>) {
        self.policies = policies
        let types = policies.types.enumerated().map { index, policy in
            DataTypeState(policy: policy, group: Int32(index), idsAreExact: exactIDs.contains(policy.name))
        }
        self.types = types
        self.defaultType = DefaultTypeState(policy: policies.defaultPolicy, group: Int32(types.count))
        var prefixes: [ByteBuffer: Int32] = [:]
        var owners: [String: [Int32]] = [:]
        for type in types {
            prefixes[ByteBuffer(string: type.policy.prefix)] = type.group
            for table in type.policy.tables {
                owners[table, default: []].append(type.group)
            }
        }
        self.prefixes = prefixes
        self.owners = owners
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
        key.withUnsafeReadableBytes { bytes -> (DataTypeState, ByteBuffer)? in
            var index = bytes.count - 1
            while index > 0 {
                if bytes[index] == UInt8(ascii: ":"),
                    let prefix = key.getSlice(at: key.readerIndex, length: index),
                    let group = prefixes[prefix],
                    let id = key.getSlice(at: key.readerIndex + index + 1, length: bytes.count - index - 1)
                {
                    return (types[Int(group)], id)
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
                let candidate = types[Int(group)]
                if let current = best, current.lifetime.ttlNanoseconds <= candidate.lifetime.ttlNanoseconds { continue }
                best = candidate
            }
        }
        return best
    }

    /// Whether a result reading `tables` may be cached at all: every owning type must allow L1.
    public func allOwnersCache(_ tables: Set<String>) -> Bool {
        tables.allSatisfy { table in
            (owners[table] ?? []).allSatisfy { types[Int($0)].policy.l1 }
        }
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
