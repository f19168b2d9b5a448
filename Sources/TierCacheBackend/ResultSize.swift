/// Adds up a result's size as its rows arrive, so a statement that would return more than a client may be sent
/// is stopped at the row that crosses the limit instead of after it filled the memory.
///
/// The size is about what the reply takes in RESP: each text or blob's bytes, 20 bytes per number, and 8 bytes of
/// framing per cell and per row. Within a few percent of the encoded reply, and never less than the values.
public struct ResultSize: Sendable {
    public let limit: Int
    public private(set) var bytes = 0

    public init(limit: Int) {
        self.limit = limit
    }

    /// Adds a row; false once the total is over the limit.
    public mutating func add(_ row: [SQLValue]) -> Bool {
        var size = 8
        for cell in row {
            switch cell {
            case .null: size += 8
            case .integer, .real: size += 28
            case .text(let bytes), .blob(let bytes): size += 8 + bytes.count
            }
        }
        bytes += size
        return bytes <= limit
    }
}
