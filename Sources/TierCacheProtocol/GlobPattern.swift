/// A Redis glob pattern (`KEYS`, `SCAN … MATCH`): `*` any run of bytes, `?` one byte, `[abc]`, `[^abc]` and
/// `[a-z]` one byte of (or not of) a set, `\x` the byte `x` itself. Bytes, not characters, as in Redis.
///
/// Matching takes time proportional to the key's length times the pattern's, whatever the pattern: every element
/// but `*` matches exactly one byte, so one backtracking point (the last `*`) is enough, and a hostile pattern
/// (`*a*a*a*…b`) can't make it exponential.
public struct GlobPattern: Sendable {
    private enum Element: Sendable {
        case star
        case anyByte
        case byte(UInt8)
        case set(negated: Bool, ranges: [ClosedRange<UInt8>])

        func matches(_ byte: UInt8) -> Bool {
            switch self {
            case .star: true
            case .anyByte: true
            case .byte(let expected): byte == expected
            case .set(let negated, let ranges): ranges.contains { $0.contains(byte) } != negated
            }
        }
    }

    private let elements: [Element]
    /// `*` alone: every key matches, so callers can skip the work.
    public let matchesEverything: Bool

    public init<Bytes: Collection>(_ pattern: Bytes) where Bytes.Element == UInt8 {
        let bytes = Array(pattern)
        var elements: [Element] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "*"):
                if case .star? = elements.last { continue }
                elements.append(.star)
            case UInt8(ascii: "?"):
                elements.append(.anyByte)
            case UInt8(ascii: "\\") where index < bytes.count:
                elements.append(.byte(bytes[index]))
                index += 1
            case UInt8(ascii: "["):
                var negated = false
                if index < bytes.count, bytes[index] == UInt8(ascii: "^") {
                    negated = true
                    index += 1
                }
                var ranges: [ClosedRange<UInt8>] = []
                // As Redis: a set runs to the next `]` (or the pattern's end); `\` escapes; `a-z` is a range, in
                // either order.
                while index < bytes.count, bytes[index] != UInt8(ascii: "]") {
                    var low = bytes[index]
                    if low == UInt8(ascii: "\\"), index + 1 < bytes.count {
                        index += 1
                        low = bytes[index]
                    }
                    if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "-"), bytes[index + 2] != UInt8(ascii: "]") {
                        let high = bytes[index + 2]
                        ranges.append(min(low, high)...max(low, high))
                        index += 3
                    } else {
                        ranges.append(low...low)
                        index += 1
                    }
                }
                index += 1  // the `]`
                elements.append(.set(negated: negated, ranges: ranges))
            default:
                elements.append(.byte(byte))
            }
        }
        self.elements = elements
        if elements.count == 1, case .star = elements[0] { matchesEverything = true } else { matchesEverything = false }
    }

    /// Whether `key` matches the whole pattern.
    public func matches<Bytes: RandomAccessCollection>(_ key: Bytes) -> Bool where Bytes.Element == UInt8, Bytes.Index == Int {
        if matchesEverything { return true }
        var element = 0
        var position = key.startIndex
        // The last `*` seen, and where in the key it started matching: on a mismatch, it takes one more byte.
        var backtrack: (element: Int, position: Int)?
        while position < key.endIndex {
            if element < elements.count {
                if case .star = elements[element] {
                    backtrack = (element, position)
                    element += 1
                    continue
                }
                if elements[element].matches(key[position]) {
                    element += 1
                    position += 1
                    continue
                }
            }
            guard let star = backtrack else { return false }
            backtrack = (star.element, star.position + 1)
            element = star.element + 1
            position = star.position + 1
        }
        while element < elements.count, case .star = elements[element] { element += 1 }
        return element == elements.count
    }
}
