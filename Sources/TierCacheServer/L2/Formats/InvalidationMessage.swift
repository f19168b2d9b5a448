import NIOCore

/// What one committed write made stale, as every sidecar sharing the Redis tier hears it over pub/sub.
///
/// The writer encodes the body; the Redis script that numbers the write publishes `"<sequence>:" + body`, so
/// the shared write number and the message can't disagree. Body layout (big-endian), version 1:
///
///     "TI" | version: u8 = 1 | flags: u8 | origin: u64 | sentAt: u64
///          | typeCount: u16 | (length: u16 | name)… | tableCount: u16 | (length: u16 | name)…
///          | keyCount: u32 | (length: u32 | key)…
///
/// `origin` identifies the sending process (it already applied the write locally); `sentAt` is its wall clock in
/// microseconds, for the invalidation-lag statistic.
public struct InvalidationMessage: Sendable, Hashable {
    /// The shared write number (0 until the Redis script assigned one).
    public var sequence: UInt64
    public var origin: UInt64
    public var sentAtMicroseconds: UInt64
    /// A schema change: every entry of every type and every QUERY result is stale.
    public var everything: Bool
    /// Types whose entries are all stale.
    public var types: [String]
    /// Tables written: QUERY results that read them are stale, and so is every type that reads them.
    public var tables: [String]
    /// Client keys (`prefix:id`) whose entries are stale.
    public var keys: [ByteBuffer]

    public static let currentVersion: UInt8 = 1
    private static let everythingFlag: UInt8 = 1 << 0

    public init(
        sequence: UInt64 = 0,
        origin: UInt64,
        sentAtMicroseconds: UInt64,
        everything: Bool = false,
        types: [String] = [],
        tables: [String] = [],
        keys: [ByteBuffer] = []
    ) {
        self.sequence = sequence
        self.origin = origin
        self.sentAtMicroseconds = sentAtMicroseconds
        self.everything = everything
        self.types = types
        self.tables = tables
        self.keys = keys
    }

    public enum DecodingFailure: Error, Sendable, Hashable {
        case corrupt(String)
        case unsupportedVersion(UInt8)
    }

    /// The body, without the sequence prefix the publishing script adds.
    public func encodedBody() -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "T"))
        buffer.writeInteger(UInt8(ascii: "I"))
        buffer.writeInteger(Self.currentVersion)
        buffer.writeInteger(everything ? Self.everythingFlag : 0)
        buffer.writeInteger(origin)
        buffer.writeInteger(sentAtMicroseconds)
        buffer.writeNameList(types)
        buffer.writeNameList(tables)
        buffer.writeInteger(UInt32(truncatingIfNeeded: keys.count))
        for key in keys {
            buffer.writeInteger(UInt32(truncatingIfNeeded: key.readableBytes))
            buffer.writeImmutableBuffer(key)
        }
        return Array(buffer.readableBytesView)
    }

    /// Reads a published payload: `"<sequence>:" + body`.
    public static func decode(_ payload: [UInt8]) throws(DecodingFailure) -> InvalidationMessage {
        guard let colon = payload.firstIndex(of: UInt8(ascii: ":")), colon > 0, colon <= 20,
            let sequence = UInt64(String(decoding: payload[..<colon], as: UTF8.self))
        else { throw .corrupt("no write number before ':'") }
        var buffer = ByteBuffer(bytes: payload[(colon + 1)...])
        guard buffer.readInteger(as: UInt8.self) == UInt8(ascii: "T"),
            buffer.readInteger(as: UInt8.self) == UInt8(ascii: "I")
        else { throw .corrupt("not a TierCache invalidation (bad magic)") }
        guard let version = buffer.readInteger(as: UInt8.self) else { throw .corrupt("no version byte") }
        guard version == currentVersion else { throw .unsupportedVersion(version) }
        guard let flags = buffer.readInteger(as: UInt8.self), flags & ~everythingFlag == 0,
            let origin = buffer.readInteger(as: UInt64.self),
            let sentAt = buffer.readInteger(as: UInt64.self),
            let types = buffer.readNameList(),
            let tables = buffer.readNameList(),
            let keyCount = buffer.readInteger(as: UInt32.self)
        else { throw .corrupt("header cut short") }
        var keys: [ByteBuffer] = []
        for _ in 0..<keyCount {
            guard let length = buffer.readInteger(as: UInt32.self), let key = buffer.readSlice(length: Int(length))
            else { throw .corrupt("keys cut short") }
            keys.append(key)
        }
        guard buffer.readableBytes == 0 else { throw .corrupt("\(buffer.readableBytes) trailing bytes") }
        return InvalidationMessage(
            sequence: sequence, origin: origin, sentAtMicroseconds: sentAt, everything: flags & everythingFlag != 0,
            types: types, tables: tables, keys: keys
        )
    }
}
