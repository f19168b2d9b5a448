import NIOCore
import PostgresNIO
import TierCacheBackend

/// PostgreSQL's values in the backend's own types, so a row reads the same from either backend: integers and
/// booleans (1, 0) as integers, floats as reals, `numeric` as its exact text, text-like types, JSON and UUIDs as
/// text, dates and times as PostgreSQL's own ISO text (`timestamptz` in UTC), arrays of these as PostgreSQL's
/// array text (`{1,2,NULL}`), `bytea` as a blob. postgres-nio
/// receives every column in the binary format; a type not listed here is refused by name, with the cast that makes
/// it readable (`col::text`), rather than guessed at.
enum PostgresCellValue {
    static func value(of cell: PostgresCell) throws(BackendError) -> SQLValue {
        guard var bytes = cell.bytes else { return .null }
        switch cell.dataType {
        case .int2:
            return try integer(bytes.readInteger(as: Int16.self).map(Int64.init), cell)
        case .int4:
            return try integer(bytes.readInteger(as: Int32.self).map(Int64.init), cell)
        case .int8:
            return try integer(bytes.readInteger(as: Int64.self), cell)
        case .oid:
            return try integer(bytes.readInteger(as: UInt32.self).map(Int64.init), cell)
        case .bool:
            return try integer(bytes.readInteger(as: UInt8.self).map { $0 == 0 ? 0 : 1 }, cell)
        case .float4:
            guard let bits = bytes.readInteger(as: UInt32.self) else { throw malformed(cell) }
            return .real(Double(Float(bitPattern: bits)))
        case .float8:
            guard let bits = bytes.readInteger(as: UInt64.self) else { throw malformed(cell) }
            return .real(Double(bitPattern: bits))
        case .numeric:
            guard let numeric = PostgresData(type: .numeric, formatCode: .binary, value: bytes).numeric else {
                throw malformed(cell)
            }
            return .text(numeric.string)
        case .text, .varchar, .bpchar, .name, .unknown, .json, .xml:
            return .text(Array(bytes.readableBytesView))
        case .jsonb:
            // A version byte (1), then the JSON text.
            guard bytes.readInteger(as: UInt8.self) == 1 else { throw malformed(cell) }
            return .text(Array(bytes.readableBytesView))
        case .uuid:
            guard let uuid = try? cell.decode(String.self) else { throw malformed(cell) }
            return .text(uuid.lowercased())
        case .bytea:
            return .blob(Array(bytes.readableBytesView))
        case .date:
            guard let days = bytes.readInteger(as: Int32.self) else { throw malformed(cell) }
            return .text(PostgresTimeText.date(days: days))
        case .timestamp, .timestamptz:
            guard let microseconds = bytes.readInteger(as: Int64.self) else { throw malformed(cell) }
            return .text(PostgresTimeText.timestamp(microseconds: microseconds, utc: cell.dataType == .timestamptz))
        case .time:
            guard let microseconds = bytes.readInteger(as: Int64.self) else { throw malformed(cell) }
            return .text(PostgresTimeText.time(microseconds: microseconds))
        case let type where PostgresArrayText.types.contains(type.rawValue):
            guard let text = try PostgresArrayText.text(&bytes, column: cell.columnName) else { throw malformed(cell) }
            return .text(text)
        default:
            throw BackendError(
                .statementError,
                "column '\(cell.columnName)' has type \(cell.dataType), which TierCache does not encode: cast it, "
                    + "e.g. \(cell.columnName)::text")
        }
    }

    private static func integer(_ value: Int64?, _ cell: PostgresCell) throws(BackendError) -> SQLValue {
        guard let value else { throw malformed(cell) }
        return .integer(value)
    }

    private static func malformed(_ cell: PostgresCell) -> BackendError {
        BackendError(.failed, "PostgreSQL sent a malformed \(cell.dataType) value for column '\(cell.columnName)'")
    }
}
