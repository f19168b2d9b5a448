/// A stats report as a tree of named values: the one shape that `STATS` encodes to RESP, and that the CLI
/// renders as a table or JSON. Order is kept, so reports read the same every time.
public indirect enum StatsNode: Sendable, Hashable {
    case integer(Int64)
    case double(Double)
    case text(String)
    case map([(String, StatsNode)])

    public static func == (lhs: StatsNode, rhs: StatsNode) -> Bool {
        switch (lhs, rhs) {
        case (.integer(let a), .integer(let b)): a == b
        case (.double(let a), .double(let b)): a == b || (a.isNaN && b.isNaN)
        case (.text(let a), .text(let b)): a == b
        case (.map(let a), .map(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .integer(let value): hasher.combine(value)
        case .double(let value): hasher.combine(value)
        case .text(let value): hasher.combine(value)
        case .map(let pairs):
            hasher.combine(pairs.count)
            for (key, value) in pairs {
                hasher.combine(key)
                hasher.combine(value)
            }
        }
    }

    /// The child named `key` of a map node.
    public subscript(key: String) -> StatsNode? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    /// A ratio that reads 0 rather than NaN when nothing was counted.
    public static func ratio(_ part: Int, of whole: Int) -> StatsNode {
        .double(whole == 0 ? 0 : Double(part) / Double(whole))
    }
}
