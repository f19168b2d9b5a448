import NIOCore
import TierCacheCache

/// A cached value as stored in the shared Redis tier: the encoded replies plus the times every sidecar needs to
/// judge it, in a compact, versioned binary form.
///
/// Layout (big-endian), version 1:
///
///     "TC" | version: u8 = 1 | flags: u8 | createdAt: u64 | expiresAt: u64 | sequence: u64
///          | tableCount: u16 | (nameLength: u16 | name)…
///          | resp2Length: u32 | resp2 [ | resp3Length: u32 | resp3 ]   (resp3 present when flags has `hasRESP3`)
///
/// Times are Unix milliseconds (wall clock: the entry is shared between processes). `expiresAt` is the logical
/// expiry the policy gave the entry; Redis' own `PX` may outlive it, and readers compare against it, so a
/// lowered TTL can take effect on entries already stored. `sequence` is the shared write number the loading
/// sidecar had seen when the load began: every write numbered up to it had committed, so a reader treats the
/// entry as stale once it knows of a later write that affects it. `tables` are the tables a QUERY result read
/// (empty for keyed entries, whose type says what affects them). A future format bumps `version`; a reader that
/// meets a version it doesn't know treats the entry as a miss instead of misreading it.
public struct L2Entry: Sendable, Hashable {
    public var reply: CachedReply
    /// The load found no row (a cached miss).
    public var isAbsent: Bool
    public var createdAtMilliseconds: UInt64
    public var expiresAtMilliseconds: UInt64
    /// The shared write number seen when the load began.
    public var sequence: UInt64
    /// Tables a QUERY result read; empty for keyed entries.
    public var tables: [String]

    public static let currentVersion: UInt8 = 1
    private static let magic: (UInt8, UInt8) = (UInt8(ascii: "T"), UInt8(ascii: "C"))
    private static let absentFlag: UInt8 = 1 << 0
    private static let resp3Flag: UInt8 = 1 << 1
    private static let knownFlags: UInt8 = absentFlag | resp3Flag

    public init(
        reply: CachedReply,
        isAbsent: Bool,
        createdAtMilliseconds: UInt64,
        expiresAtMilliseconds: UInt64,
        sequence: UInt64 = 0,
        tables: [String] = []
    ) {
        self.reply = reply
        self.isAbsent = isAbsent
        self.createdAtMilliseconds = createdAtMilliseconds
        self.expiresAtMilliseconds = expiresAtMilliseconds
        self.sequence = sequence
        self.tables = tables
    }

    /// Why bytes from Redis could not be read as an entry.
    public enum DecodingFailure: Error, Sendable, Hashable {
        /// Not written by TierCache (wrong magic), or cut short or padded.
        case corrupt(String)
        /// Written by a newer (or older, retired) format.
        case unsupportedVersion(UInt8)
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        let resp3 = reply.resp3
        let tableBytes = tables.reduce(2) { $0 + 2 + min($1.utf8.count, Int(UInt16.max)) }
        buffer.reserveCapacity(
            28 + tableBytes + 4 + reply.resp2.readableBytes + (resp3.map { 4 + $0.readableBytes } ?? 0))
        buffer.writeInteger(Self.magic.0)
        buffer.writeInteger(Self.magic.1)
        buffer.writeInteger(Self.currentVersion)
        buffer.writeInteger((isAbsent ? Self.absentFlag : 0) | (resp3 != nil ? Self.resp3Flag : 0))
        buffer.writeInteger(createdAtMilliseconds)
        buffer.writeInteger(expiresAtMilliseconds)
        buffer.writeInteger(sequence)
        buffer.writeNameList(tables)
        buffer.writeInteger(UInt32(truncatingIfNeeded: reply.resp2.readableBytes))
        buffer.writeImmutableBuffer(reply.resp2)
        if let resp3 {
            buffer.writeInteger(UInt32(truncatingIfNeeded: resp3.readableBytes))
            buffer.writeImmutableBuffer(resp3)
        }
        return buffer
    }

    /// Reads an entry; every length is checked against the bytes present, and trailing bytes are refused.
    public static func decode(_ bytes: ByteBuffer) throws(DecodingFailure) -> L2Entry {
        var buffer = bytes
        guard let first = buffer.readInteger(as: UInt8.self), let second = buffer.readInteger(as: UInt8.self),
            first == magic.0, second == magic.1
        else { throw .corrupt("not a TierCache entry (bad magic)") }
        guard let version = buffer.readInteger(as: UInt8.self) else { throw .corrupt("no version byte") }
        guard version == currentVersion else { throw .unsupportedVersion(version) }
        guard let flags = buffer.readInteger(as: UInt8.self), flags & ~knownFlags == 0 else {
            throw .corrupt("unknown flags")
        }
        guard let createdAt = buffer.readInteger(as: UInt64.self),
            let expiresAt = buffer.readInteger(as: UInt64.self),
            let sequence = buffer.readInteger(as: UInt64.self)
        else { throw .corrupt("header cut short") }
        guard let tables = buffer.readNameList() else { throw .corrupt("table names cut short") }
        guard let resp2 = readPart(&buffer) else { throw .corrupt("RESP2 reply cut short") }
        var resp3: ByteBuffer?
        if flags & resp3Flag != 0 {
            guard let part = readPart(&buffer) else { throw .corrupt("RESP3 reply cut short") }
            resp3 = part
        }
        guard buffer.readableBytes == 0 else { throw .corrupt("\(buffer.readableBytes) trailing bytes") }
        return L2Entry(
            reply: CachedReply(resp2: resp2, resp3: resp3),
            isAbsent: flags & absentFlag != 0,
            createdAtMilliseconds: createdAt,
            expiresAtMilliseconds: expiresAt,
            sequence: sequence,
            tables: tables
        )
    }

    private static func readPart(_ buffer: inout ByteBuffer) -> ByteBuffer? {
        guard let length = buffer.readInteger(as: UInt32.self), Int(length) <= buffer.readableBytes else {
            return nil
        }
        return buffer.readSlice(length: Int(length))
    }
}
