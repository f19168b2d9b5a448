import NIOCore
import TierCacheBackend
import TierCacheCache
import TierCacheProtocol
import TierCacheStats
import TierCacheSupport

/// Turns database rows into encoded replies, once per protocol version, so cache hits only copy bytes.
enum ResultEncoding {
    /// The reply to `GET type:id`: nil for no row; the value itself for one column, so TierCache works as a
    /// key-value cache for any client; field/value pairs (a map in RESP3) for several columns.
    static func keyedValue(_ result: ResultSet) -> CachedReply {
        guard let row = result.rows.first else { return nullReply }
        if result.columns.count == 1, let cell = row.first {
            if cell == .null { return nullReply }
            var buffer = ByteBuffer()
            writePlain(cell, into: &buffer)
            return CachedReply(resp2: buffer)
        }
        return CachedReply(
            resp2: map(columns: result.columns, row: row, .v2),
            resp3: map(columns: result.columns, row: row, .v3)
        )
    }

    /// The reply to `QUERY`: an array whose first element is the column names and each further element a row.
    static func resultSet(_ result: ResultSet) -> CachedReply {
        CachedReply(resp2: table(result, .v2), resp3: table(result, .v3))
    }

    static let nullReply: CachedReply = {
        var resp2 = ByteBuffer()
        resp2.writeRESPNull(.v2)
        var resp3 = ByteBuffer()
        resp3.writeRESPNull(.v3)
        return CachedReply(resp2: resp2, resp3: resp3)
    }()

    /// Whether a cached reply says "no row".
    static func isNull(_ resp2: UnsafeRawBufferPointer) -> Bool {
        resp2.count == 5 && resp2[0] == UInt8(ascii: "$") && resp2[1] == UInt8(ascii: "-")
    }

    private static func map(columns: [String], row: [SQLValue], _ version: RESPVersion) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeRESPMapHeader(count: columns.count, version)
        for (column, cell) in zip(columns, row) {
            buffer.writeRESPBulkString(column)
            writeTyped(cell, into: &buffer, version)
        }
        return buffer
    }

    private static func table(_ result: ResultSet, _ version: RESPVersion) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeRESPArrayHeader(count: result.rows.count + 1)
        buffer.writeRESPArrayHeader(count: result.columns.count)
        for column in result.columns { buffer.writeRESPBulkString(column) }
        for row in result.rows {
            buffer.writeRESPArrayHeader(count: row.count)
            for cell in row { writeTyped(cell, into: &buffer, version) }
        }
        return buffer
    }

    /// A cell as a Redis GET would return it: always a bulk string (numbers in decimal), or nil.
    private static func writePlain(_ cell: SQLValue, into buffer: inout ByteBuffer) {
        switch cell {
        case .null: break  // handled by the caller: nil differs between RESP2 and RESP3
        case .integer(let value): buffer.writeRESPBulkString(String(value))
        case .real(let value): buffer.writeRESPBulkString(String(value))
        case .text(let bytes), .blob(let bytes): buffer.writeRESPBulkString(bytes)
        }
    }

    /// A cell with its type: integers as integers, reals as doubles (RESP3) or decimal strings, NULL as nil.
    private static func writeTyped(_ cell: SQLValue, into buffer: inout ByteBuffer, _ version: RESPVersion) {
        switch cell {
        case .null: buffer.writeRESPNull(version)
        case .integer(let value): buffer.writeRESPInteger(value)
        case .real(let value): buffer.writeRESPDouble(value, version)
        case .text(let bytes), .blob(let bytes): buffer.writeRESPBulkString(bytes)
        }
    }
}
