/// Adds up a result's size as its rows arrive, so a statement that would return more than a client may be sent
/// is stopped at the row that crosses the limit instead of after it filled the memory.
///
/// The size is about what the rows take in memory, which is more than their encoded reply: each text or blob's
/// bytes, 16 bytes per cell and 32 per row (a row of one NULL costs about that much as an array of `SQLValue`).
/// So a result of many tiny rows is bounded by the memory it takes, not only by its bytes.
public struct ResultSize: Sendable {
    public let limit: Int
    public private(set) var bytes = 0

    public init(limit: Int) {
        self.limit = limit
    }

    /// Adds a row; false once the total is over the limit.
    public mutating func add(_ row: [SQLValue]) -> Bool {
        var size = 32
        for cell in row {
            size += 16
            switch cell {
            case .null, .integer, .real: break
            case .text(let bytes), .blob(let bytes): size += bytes.count
            }
        }
        bytes += size
        return bytes <= limit
    }
}

extension BackendError {
    /// A read stopped by its `ResultSize` limit after `rows` rows, in the words every backend uses.
    public static func resultTooLarge(limit: Int, rows: Int) -> BackendError {
        BackendError(
            .resultTooLarge,
            "result too large: over \(limit) bytes after \(rows) rows; add a LIMIT or select fewer columns")
    }
}
