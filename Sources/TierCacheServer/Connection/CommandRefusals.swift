import Synchronization

/// Commands refused because TierCache does not have them (unknown, or Redis commands it refuses on purpose), counted
/// by name, so an operator sees what clients try (`STATS commands.refused`, the 20 most tried) and each name is
/// logged once.
final class CommandRefusals: Sendable {
    /// Names kept at most; past this, new names are counted under `other` (a client sending random names must not
    /// grow this without bound).
    static let maxNames = 256

    private let counts = Mutex<[String: Int]>([:])

    /// Counts one refusal of `name` (upper-cased); true the first time the name is seen.
    func record(_ name: String) -> Bool {
        counts.withLock { counts in
            let key = counts[name] != nil || counts.count < Self.maxNames ? name : "other"
            let first = counts[key] == nil
            counts[key, default: 0] += 1
            return first
        }
    }

    /// The most refused names, most first.
    func top(_ limit: Int) -> [(String, Int)] {
        counts.withLock { counts in
            counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(limit).map {
                ($0.key, $0.value)
            }
        }
    }
}
