import NIOCore
import PostgresNIO
import TierCacheBackend

/// A PostgreSQL array as the text PostgreSQL itself shows (`{1,2,NULL}`, `{{a,b},{c,d}}`, `[0:1]={x,y}`), from its
/// binary form: SQLite has no arrays, so the text is what both backends give. Elements of the types
/// `PostgresCellValue` reads; any other element type is refused by name as the array itself would be.
enum PostgresArrayText {
    /// The array types whose elements `PostgresCellValue` reads: bool, bytea, name, int2, int4, text, bpchar,
    /// varchar, int8, float4, float8, oid, timestamp, date, time, timestamptz, numeric, uuid, json, jsonb.
    static let types: Set<UInt32> = [
        1000, 1001, 1003, 1005, 1007, 1009, 1014, 1015, 1016, 1021, 1022, 1028, 1115, 1182, 1183, 1185, 1231, 2951,
        199, 3807,
    ]

    /// nil when the bytes are not a well-formed array.
    static func text(_ bytes: inout ByteBuffer, column: String) throws(BackendError) -> String? {
        guard let dimensionCount = bytes.readInteger(as: Int32.self), (0...6).contains(dimensionCount),
            bytes.readInteger(as: Int32.self) != nil,  // whether any element is NULL: the lengths say it too
            let elementOID = bytes.readInteger(as: UInt32.self)
        else { return nil }
        var sizes: [Int] = []
        var lowerBounds: [Int32] = []
        for _ in 0..<dimensionCount {
            guard let size = bytes.readInteger(as: Int32.self), size >= 0,
                let lowerBound = bytes.readInteger(as: Int32.self)
            else { return nil }
            sizes.append(Int(size))
            lowerBounds.append(lowerBound)
        }
        if sizes.isEmpty || sizes.contains(0) { return "{}" }
        // Each element takes at least its 4-byte length: sizes claiming more than the bytes hold are malformed
        // (and their product could overflow).
        var count = 1
        for size in sizes {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, product <= bytes.readableBytes / 4 else { return nil }
            count = product
        }
        let elementType = PostgresDataType(elementOID)
        var elements: [String?] = []
        for _ in 0..<count {
            guard let length = bytes.readInteger(as: Int32.self) else { return nil }
            if length < 0 {
                elements.append(nil)
                continue
            }
            guard let element = bytes.readSlice(length: Int(length)) else { return nil }
            let cell = PostgresCell(
                bytes: element, dataType: elementType, format: .binary, columnName: column, columnIndex: 0)
            elements.append(try elementText(PostgresCellValue.value(of: cell), type: elementType))
        }
        var text = ""
        if lowerBounds.contains(where: { $0 != 1 }) {
            for (size, lowerBound) in zip(sizes, lowerBounds) {
                text += "[\(lowerBound):\(Int(lowerBound) + size - 1)]"
            }
            text += "="
        }
        var next = elements.makeIterator()
        write(dimension: 0, sizes: sizes, elements: &next, into: &text)
        return text
    }

    private static func write(
        dimension: Int, sizes: [Int], elements: inout IndexingIterator<[String?]>, into text: inout String
    ) {
        text += "{"
        for index in 0..<sizes[dimension] {
            if index > 0 { text += "," }
            if dimension + 1 < sizes.count {
                write(dimension: dimension + 1, sizes: sizes, elements: &elements, into: &text)
            } else if let element = elements.next() {
                text += element.map(quoted) ?? "NULL"
            }
        }
        text += "}"
    }

    /// An element's text as its type's output shows it (booleans `t`/`f`, `bytea` as `\x…`).
    private static func elementText(_ value: SQLValue, type: PostgresDataType) -> String? {
        switch value {
        case .null: return nil
        case .integer(let number): return type == .bool ? (number == 0 ? "f" : "t") : String(number)
        case .real(let number): return type == .float4 ? floatText(Float(number)) : floatText(number)
        case .text(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .blob(let bytes):
            let digits = Array("0123456789abcdef".utf8)
            return "\\x"
                + String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
        }
    }

    /// A float as PostgreSQL writes it: the shortest text that reads back the same, no `.0` on whole numbers,
    /// `Infinity`/`NaN` spelled out.
    private static func floatText(_ number: some BinaryFloatingPoint & LosslessStringConvertible) -> String {
        if number.isNaN { return "NaN" }
        if number.isInfinite { return number > 0 ? "Infinity" : "-Infinity" }
        var text = "\(number)"
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }

    /// Quoted when PostgreSQL would quote it: empty, `NULL`, or holding a brace, comma, quote, backslash or space.
    private static func quoted(_ element: String) -> String {
        let special: Set<Character> = ["{", "}", ",", "\"", "\\", " ", "\t", "\n", "\r", "\u{0B}", "\u{0C}"]
        guard element.isEmpty || element.uppercased() == "NULL" || element.contains(where: special.contains) else {
            return element
        }
        var text = "\""
        for character in element {
            if character == "\"" || character == "\\" { text += "\\" }
            text.append(character)
        }
        return text + "\""
    }
}
