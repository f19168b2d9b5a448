/// Counts the positional parameters of an SQL statement, so a `load` without its `?` is reported at the line
/// of the policy file instead of failing on the first request.
///
/// It follows SQLite's rules: `?` takes the next number after the largest used so far, `?NNN` takes NNN, and
/// question marks inside string literals, quoted identifiers and comments are not parameters. Named parameters
/// (`:id`, `@id`, `$id`) are not counted: the proxy binds by position. The database has the last word when the
/// server prepares the statement.
public enum SQLPlaceholders {
    public static func count(in sql: String) -> Int {
        let bytes = Array(sql.utf8)
        var largest = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"):
                index = end(of: bytes, from: index + 1, closer: byte)
            case UInt8(ascii: "["):
                index = end(of: bytes, from: index + 1, closer: UInt8(ascii: "]"))
            case UInt8(ascii: "-") where next(bytes, index) == UInt8(ascii: "-"):
                index = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            case UInt8(ascii: "/") where next(bytes, index) == UInt8(ascii: "*"):
                index = commentEnd(of: bytes, from: index + 2)
            case UInt8(ascii: "?"):
                index += 1
                var number = 0
                var hasDigits = false
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                    number = min(number * 10 + Int(bytes[index] - UInt8(ascii: "0")), 1_000_000)
                    hasDigits = true
                    index += 1
                }
                largest = hasDigits ? max(largest, number) : largest + 1
            default:
                index += 1
            }
        }
        return largest
    }

    static func next(_ bytes: [UInt8], _ index: Int) -> UInt8? {
        index + 1 < bytes.count ? bytes[index + 1] : nil
    }

    /// The index after the closing quote; a doubled quote inside reads as a close and a reopen, which lands in
    /// the same place.
    private static func end(of bytes: [UInt8], from start: Int, closer: UInt8) -> Int {
        guard let close = bytes[start...].firstIndex(of: closer) else { return bytes.count }
        return close + 1
    }

    private static func commentEnd(of bytes: [UInt8], from start: Int) -> Int {
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: "*"), bytes[index + 1] == UInt8(ascii: "/") { return index + 2 }
            index += 1
        }
        return bytes.count
    }
}
