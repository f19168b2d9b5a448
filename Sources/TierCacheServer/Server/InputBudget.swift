import Synchronization

/// The bytes all connections hold of commands received and not yet executed, against `--max-input-buffers`
/// (Redis' `maxmemory-clients` for input). Each connection's own limits (`--max-bulk-length`, the request
/// timeout) bound one client; this bounds them all together: past the budget, the connections holding the most are
/// closed, largest first, until the rest fit.
///
/// A connection reports its holdings when they change (`update`), which for the usual client (every read decoded
/// whole) is never: only input left waiting costs an atomic add. Connections holding at least `trackedAbove`
/// bytes are also listed, as the candidates to close; smaller ones can't be worth closing.
final class InputBudget: Sendable {
    /// How a connection that is over budget is closed: on its own event loop, from any thread.
    struct Holder: Sendable {
        var bytes: Int
        let close: @Sendable () -> Void
    }

    /// The large holders, and the ones picked to close whose bytes are not released yet: counted as gone, so
    /// that connections reading meanwhile don't pick more victims for the same excess.
    private struct Large {
        var holders: [Int64: Holder] = [:]
        var closing: [Int64: Int] = [:]
        var closingBytes = 0
    }

    static let trackedAbove = 64 * 1024

    /// Nil: no budget (the total is still kept, for `STATS`).
    let limit: Int?
    private let held = Atomic<Int>(0)
    private let large = Mutex(Large())

    init(limit: Int?) {
        self.limit = limit
    }

    /// Bytes held by all connections now.
    var total: Int { held.load(ordering: .relaxed) }

    /// Records that connection `id` holds `bytes` where it held `previous`; when that puts the total over the
    /// budget, closes the largest holders (perhaps `id` itself) until the rest fit.
    ///
    /// - Parameter close: closes connection `id`; kept only while it holds `trackedAbove` bytes or more.
    func update(id: Int64, from previous: Int, to bytes: Int, close: @escaping @Sendable () -> Void) {
        let total = held.wrappingAdd(bytes - previous, ordering: .relaxed).newValue
        let isLarge = bytes >= Self.trackedAbove || previous >= Self.trackedAbove
        guard isLarge || (limit.map { total > $0 } ?? false) else { return }
        let victims = large.withLock { large -> [Holder] in
            if isLarge {
                if bytes == 0, let condemned = large.closing.removeValue(forKey: id) {
                    large.closingBytes -= condemned
                } else if bytes >= Self.trackedAbove, large.closing[id] == nil {
                    large.holders[id] = Holder(bytes: bytes, close: close)
                } else {
                    large.holders[id] = nil
                }
            }
            guard let limit else { return [] }
            var excess = total - large.closingBytes - limit
            guard excess > 0 else { return [] }
            var victims: [Holder] = []
            for (id, holder) in large.holders.sorted(by: { $0.value.bytes > $1.value.bytes }) where excess > 0 {
                large.holders[id] = nil
                large.closing[id] = holder.bytes
                large.closingBytes += holder.bytes
                victims.append(holder)
                excess -= holder.bytes
            }
            return victims
        }
        for victim in victims { victim.close() }
    }
}
