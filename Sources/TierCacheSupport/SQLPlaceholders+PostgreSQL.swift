extension SQLPlaceholders {
    /// A statement written for SQLite's placeholders, as PostgreSQL numbers them, and how many it takes.
    public struct Numbered: Equatable, Sendable {
        /// The statement with each `?` as `$n` and each `?NNN` as `$NNN`.
        public var sql: String
        /// The largest parameter number used (`$n` or `?`): the parameters the statement takes.
        public var count: Int
    }

    /// Translates `?` placeholders to PostgreSQL's `$n`, so one policy file serves both backends: `?` takes the
    /// next number after the largest used so far and `?NNN` takes NNN, as in SQLite. Question marks and dollar
    /// signs inside string literals (`'…'`, `E'…'` with backslash escapes, `$tag$…$tag$`), quoted identifiers and
    /// comments (`--`, nested `/* */`) are left alone.
    ///
    /// A statement that already uses `$n` is taken as written for PostgreSQL and its `?` are left alone too:
    /// there `?` is jsonb's "has key" operator, not a placeholder.
    public static func numbered(_ sql: String) -> Numbered {
        let bytes = Array(sql.utf8)
        var largestDollar = 0
        scan(bytes) { _, kind in
            if case .dollar(let number, _) = kind { largestDollar = max(largestDollar, number) }
        }
        if largestDollar > 0 { return Numbered(sql: sql, count: largestDollar) }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + 8)
        var copied = 0
        var largest = 0
        scan(bytes) { index, kind in
            guard case .question(let number, let end) = kind else { return }
            output.append(contentsOf: bytes[copied..<index])
            let assigned = number ?? largest + 1
            largest = max(largest, assigned)
            output.append(UInt8(ascii: "$"))
            output.append(contentsOf: Array(String(assigned).utf8))
            copied = end
        }
        output.append(contentsOf: bytes[copied...])
        return Numbered(sql: String(decoding: output, as: UTF8.self), count: largest)
    }

    private enum Placeholder {
        /// `?` (number nil) or `?NNN`, ending before `end`.
        case question(number: Int?, end: Int)
        /// `$NNN`, ending before `end`.
        case dollar(number: Int, end: Int)
    }

    /// Calls `found` with the start of each placeholder outside literals, quoted identifiers and comments, in
    /// order.
    private static func scan(_ bytes: [UInt8], found: (Int, Placeholder) -> Void) {
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "'"):
                let escapes =
                    index > 0 && (bytes[index - 1] | 0x20) == UInt8(ascii: "e")
                    && (index < 2 || !isIdentifierByte(bytes[index - 2]))
                index = stringEnd(bytes, from: index + 1, backslashEscapes: escapes)
            case UInt8(ascii: "\""):
                index = stringEnd(bytes, from: index + 1, quote: UInt8(ascii: "\""))
            case UInt8(ascii: "-") where next(bytes, index) == UInt8(ascii: "-"):
                index = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            case UInt8(ascii: "/") where next(bytes, index) == UInt8(ascii: "*"):
                index = nestedCommentEnd(bytes, from: index + 2)
            case UInt8(ascii: "?"):
                let (number, end) = digits(bytes, from: index + 1)
                found(index, .question(number: number, end: end))
                index = end
            case UInt8(ascii: "$") where index == 0 || !isIdentifierByte(bytes[index - 1]):
                let (number, end) = digits(bytes, from: index + 1)
                if let number {
                    found(index, .dollar(number: number, end: end))
                    index = end
                } else if let close = dollarQuoteEnd(bytes, from: index) {
                    index = close
                } else {
                    index += 1
                }
            default:
                index += 1
            }
        }
    }

    private static func isIdentifierByte(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "_") || byte >= 0x80 || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
    }

    /// The number in the digits at `start` (nil when none) and the index after them.
    private static func digits(_ bytes: [UInt8], from start: Int) -> (Int?, Int) {
        var index = start
        var number = 0
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
            number = min(number * 10 + Int(bytes[index] - UInt8(ascii: "0")), 1_000_000)
            index += 1
        }
        return (index > start ? number : nil, index)
    }

    /// The index after a literal's closing quote. A doubled quote inside reads as a close and a reopen, which
    /// lands in the same place; with backslash escapes (`E'…'`), an escaped quote does not close it.
    private static func stringEnd(
        _ bytes: [UInt8], from start: Int, quote: UInt8 = UInt8(ascii: "'"), backslashEscapes: Bool = false
    ) -> Int {
        var index = start
        while index < bytes.count {
            if backslashEscapes, bytes[index] == UInt8(ascii: "\\") {
                index += 2
                continue
            }
            if bytes[index] == quote { return index + 1 }
            index += 1
        }
        return bytes.count
    }

    /// The index after a dollar-quoted string starting at `start` (`$tag$…$tag$`, the tag possibly empty), or nil
    /// when no tag opens there.
    private static func dollarQuoteEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var index = start + 1
        while index < bytes.count, bytes[index] != UInt8(ascii: "$") {
            guard isIdentifierByte(bytes[index]) else { return nil }
            index += 1
        }
        guard index < bytes.count else { return nil }
        let tag = bytes[start...index]
        var search = index + 1
        while search + tag.count <= bytes.count {
            if bytes[search] == UInt8(ascii: "$"), bytes[search..<search + tag.count].elementsEqual(tag) {
                return search + tag.count
            }
            search += 1
        }
        return bytes.count
    }

    /// The index after a `/* … */` comment whose text starts at `start`; PostgreSQL's comments nest.
    private static func nestedCommentEnd(_ bytes: [UInt8], from start: Int) -> Int {
        var depth = 1
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: "*"), bytes[index + 1] == UInt8(ascii: "/") {
                depth -= 1
                index += 2
                if depth == 0 { return index }
            } else if bytes[index] == UInt8(ascii: "/"), bytes[index + 1] == UInt8(ascii: "*") {
                depth += 1
                index += 2
            } else {
                index += 1
            }
        }
        return bytes.count
    }
}
