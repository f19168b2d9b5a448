import Synchronization

/// Gives every table name a small id and keeps, per table, the stamp of the last write to it.
///
/// Cached QUERY results carry the ids of the tables they read; a result is stale once any of them was
/// written after the result's load began. Tables are few, so one lock over a flat array is plenty.
public final class TableRegistry: Sendable {
    private struct State {
        var ids: [String: Int32] = [:]
        /// Each id's name: ids are positions here and in `stamps`.
        var names: [String] = []
        var stamps: [UInt64] = []

        /// The id of `name`, given out now when it is new.
        mutating func id(of name: String) -> Int32 {
            if let id = ids[name] { return id }
            let id = Int32(stamps.count)
            ids[name] = id
            names.append(name)
            stamps.append(0)
            return id
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// Ids for `tables`, creating ids for names not seen before.
    public func ids(for tables: some Sequence<String>) -> [Int32] {
        state.withLock { state in tables.map { state.id(of: $0) } }
    }

    /// The names of table ids `ids` (those it gave out).
    public func names(of ids: [Int32]) -> [String] {
        state.withLock { state in
            ids.compactMap { id in state.names.indices.contains(Int(id)) ? state.names[Int(id)] : nil }
        }
    }

    /// Records a write to `tables` numbered `stamp`.
    public func raise(_ tables: some Sequence<String>, to stamp: UInt64) {
        state.withLock { state in
            for name in tables {
                let id = Int(state.id(of: name))
                state.stamps[id] = max(state.stamps[id], stamp)
            }
        }
    }

    /// Whether none of `tables` was written after `stamp`.
    public func unchanged(_ tables: [Int32], since stamp: UInt64) -> Bool {
        state.withLock { state in
            tables.allSatisfy { id in
                Int(id) < state.stamps.count && state.stamps[Int(id)] <= stamp
            }
        }
    }
}
