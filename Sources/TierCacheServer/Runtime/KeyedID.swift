import NIOCore

/// Whether an id has one spelling per row.
///
/// SQLite converts a numeric-looking text id to a number when the id column has INTEGER, REAL or NUMERIC
/// affinity, so `items:1`, `items:01` and `items:1.0` may all name one row. The proxy only knows keys by their
/// bytes, so it caches numeric ids in canonical integer form only (`1`, `-42`): a read of `items:01` is served
/// but not cached, and a write through `items:01` invalidates the whole type instead of one key. Text ids
/// (anything SQLite would not read as a number) are always canonical.
enum KeyedID {
    static func isCanonical(_ id: ByteBuffer) -> Bool {
        id.withUnsafeReadableBytes { bytes in
            switch classify(bytes) {
            case .text, .canonicalInteger: true
            case .otherNumeric: false
            }
        }
    }

    enum Form: Equatable {
        case text
        case canonicalInteger
        case otherNumeric
    }

    /// Classifies like SQLite's text-to-number conversion: optional surrounding spaces, a sign, digits, a
    /// fraction and an exponent.
    static func classify(_ bytes: UnsafeRawBufferPointer) -> Form {
        var start = 0
        var end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        guard start < end else { return .text }
        let trimmed = start != 0 || end != bytes.count

        var index = start
        var sign: UInt8?
        if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            sign = bytes[index]
            index += 1
        }
        let integerStart = index
        while index < end, isDigit(bytes[index]) { index += 1 }
        let integerDigits = index - integerStart
        var fractionDigits = 0
        var hasPoint = false
        if index < end, bytes[index] == UInt8(ascii: ".") {
            hasPoint = true
            index += 1
            let fractionStart = index
            while index < end, isDigit(bytes[index]) { index += 1 }
            fractionDigits = index - fractionStart
        }
        guard integerDigits + fractionDigits > 0 else { return .text }
        var hasExponent = false
        if index < end, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            hasExponent = true
            index += 1
            if index < end, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let exponentStart = index
            while index < end, isDigit(bytes[index]) { index += 1 }
            guard index > exponentStart else { return .text }
        }
        guard index == end else { return .text }

        let leadingZero = integerDigits > 1 && bytes[integerStart] == UInt8(ascii: "0")
        let negativeZero = sign == UInt8(ascii: "-") && integerDigits == 1 && bytes[integerStart] == UInt8(ascii: "0")
        if trimmed || hasPoint || hasExponent || sign == UInt8(ascii: "+") || leadingZero || negativeZero
            || integerDigits > 18
        {
            return .otherNumeric
        }
        return .canonicalInteger
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
            || byte == UInt8(ascii: "\r") || byte == 0x0B || byte == 0x0C
    }
}
