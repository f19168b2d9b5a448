import NIOCore
import PostgresNIO

/// A client's argument as a statement parameter whose type PostgreSQL works out from the statement (sent with no
/// type, as text): `id = $1` against an `integer` column takes `7` as 7, and refuses `abc` with 22P02 — the same
/// bytes SQLite would compare by its column's affinity.
struct PostgresParameter: PostgresDynamicTypeEncodable {
    var bytes: [UInt8]

    /// Type 0: "unspecified", for the server to infer.
    var psqlType: PostgresDataType { .null }
    var psqlFormat: PostgresFormat { .text }

    func encode<JSONEncoder: PostgresJSONEncoder>(
        into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>
    ) {
        buffer.writeBytes(bytes)
    }
}
