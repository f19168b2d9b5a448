import NIOCore
import PostgresNIO
import TierCacheBackend

/// A load's parameters in the binary format, for a statement prepared on its connection: postgres-nio 1.33 sends a
/// prepared statement's parameters in the binary format only, so a value goes this way only when its binary form
/// means exactly what its text would have meant to PostgreSQL; otherwise the load runs unnamed, with text
/// parameters PostgreSQL reads itself (and answers for, `22P02` included).
enum PostgresPreparedBinds {
    /// The binds, or nil when any parameter can't be sent in binary with the same meaning.
    ///
    /// - Parameter types: the parameters' types as PostgreSQL inferred them (`regtype` text: `integer`, `text`, …).
    static func binary(_ parameters: [SQLValue], types: [String]) -> [PostgresData]? {
        guard parameters.count == types.count else { return nil }
        var binds: [PostgresData] = []
        binds.reserveCapacity(parameters.count)
        for (parameter, type) in zip(parameters, types) {
            guard let bind = binary(parameter, type: type) else { return nil }
            binds.append(bind)
        }
        return binds
    }

    private static func binary(_ parameter: SQLValue, type: String) -> PostgresData? {
        switch (parameter, type) {
        case (.null, _):
            return PostgresData(type: .null, formatCode: .binary, value: nil)
        // Text as text: the same bytes either way (bytea is left out: its text form has escapes).
        case (.text(let bytes), "text"), (.text(let bytes), "character varying"):
            return PostgresData(type: .text, formatCode: .binary, value: ByteBuffer(bytes: bytes))
        case (.blob(let bytes), "bytea"):
            return PostgresData(type: .bytea, formatCode: .binary, value: ByteBuffer(bytes: bytes))
        case (.text(let bytes), "smallint"):
            return decimal(bytes, as: Int16.self).map { integer($0, .int2) }
        case (.text(let bytes), "integer"):
            return decimal(bytes, as: Int32.self).map { integer($0, .int4) }
        case (.text(let bytes), "bigint"):
            return decimal(bytes, as: Int64.self).map { integer($0, .int8) }
        case (.integer(let value), "bigint"):
            return integer(value, .int8)
        default:
            return nil
        }
    }

    private static func integer<T: FixedWidthInteger>(_ value: T, _ type: PostgresDataType) -> PostgresData {
        var buffer = ByteBuffer()
        buffer.writeInteger(value)
        return PostgresData(type: type, formatCode: .binary, value: buffer)
    }

    /// Only plain decimals (`7`, `-12`, `007`) in range: anything PostgreSQL might read differently (spaces, `+`,
    /// `1_000`, out of range) goes the text way, for PostgreSQL to judge.
    private static func decimal<T: FixedWidthInteger>(_ bytes: [UInt8], as type: T.Type) -> T? {
        guard !bytes.isEmpty, bytes.count <= 20,
            bytes.enumerated().allSatisfy({ index, byte in
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (index == 0 && byte == UInt8(ascii: "-"))
            })
        else { return nil }
        return T(String(decoding: bytes, as: UTF8.self))
    }
}
