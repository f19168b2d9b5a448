import Synchronization

/// The bytes all connections hold of commands received and not yet executed, against `--max-input-buffers`
/// (Redis' `maxmemory-clients` for input). Each connection's own limits (`--max-bulk-length`, the request
/// timeout) bound one client; this bounds them all together: past the budget, the connections holding the most are
/// closed, largest first, until the rest fit.
///
/// A connection reports its holdings when they change (`update`), which for the usual client (every read decoded
/// whole) is never: only input left waiting costs an atomic add. Connections holding at least
/// `trackedAbove` bytes are also listed, as the candidates to close; smaller ones can't be worth closing.
final class InputBudget: Sendable {
    /// How a connection that is over budget is closed: on its own event loop, from any thread.
    struct Holder: Sendable {
        var bytes: Int
        let close: @Sendable () -> Void
    }

    static let trackedAbove = 64 * 1024

    /// Nil: no budget (the total is still kept, for `STATS`).
    let limit: Int?
    private let held = Atomic<Int>(0)
    private let large = Mutex<[Int64: Holder]>([:])

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
        if bytes >= Self.trackedAbove || previous >= Self.trackedAbove {
            large.withLock { large in
                if bytes >= Self.trackedAbove {
                    large[id] = Holder(bytes: bytes, close: close)
                } else {
                    large[id] = nil
                }
            }
        }
        guard let limit, total > limit else { return }
        let victims = large.withLock { large -> [Holder] in
            var excess = total - limit
            var victims: [Holder] = []
            for (id, holder) in large.sorted(by: { $0.value.bytes > $1.value.bytes }) where excess > 0 {
                // Taken off the list at once, so a connection is closed once however many notice the excess.
                large[id] = nil
                victims.append(holder)
                excess -= holder.bytes
            }
            return victims
        }
        for victim in victims { victim.close() }
    }
}
