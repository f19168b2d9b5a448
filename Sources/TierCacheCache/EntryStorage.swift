#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One entry in a single malloc'd block: its metadata, then the key, the RESP2 reply, and the RESP3 reply when
/// it differs.
///
/// Keeping the metadata beside the bytes means a hit touches one cold cache line block (this one) after the
/// shard's small, hot table and slot arrays. A plain allocation has no object header: a 25-byte entry takes a
/// 64-byte malloc chunk. The owning `L1Shard` frees it exactly once, under the shard's lock.
struct EntryStorage {
    private let base: UnsafeMutableRawPointer

    // Header layout (30 bytes): expiresAt, stamp, keyField, resp2Field, count, group (16 bits: 32767 groups).
    // 30 rather than 32 keeps a 25-byte key and value in a 64-byte malloc chunk instead of an 80-byte one.
    private static let expiresAtOffset = 0
    private static let stampOffset = 8
    private static let keyFieldOffset = 16
    private static let resp2FieldOffset = 20
    private static let countOffset = 24
    private static let groupOffset = 28
    private static let headerSize = 30

    /// The largest accounting group an entry can carry.
    static let maxGroup = Int32(Int16.max)

    /// Top bit of the key length: a tombstone. Top bit of the RESP2 length: the entry has table dependencies.
    static let flag: UInt32 = 1 << 31

    static func allocate(
        expiresAt: UInt64,
        stamp: UInt64,
        group: Int32,
        keyField: UInt32,
        resp2Field: UInt32,
        count: Int,
        _ fill: (UnsafeMutableRawBufferPointer) -> Void
    ) -> EntryStorage {
        let base = UnsafeMutableRawPointer.allocate(byteCount: headerSize + count, alignment: 8)
        base.storeBytes(of: expiresAt, toByteOffset: expiresAtOffset, as: UInt64.self)
        base.storeBytes(of: stamp, toByteOffset: stampOffset, as: UInt64.self)
        base.storeBytes(of: Int16(truncatingIfNeeded: group), toByteOffset: groupOffset, as: Int16.self)
        base.storeBytes(of: keyField, toByteOffset: keyFieldOffset, as: UInt32.self)
        base.storeBytes(of: resp2Field, toByteOffset: resp2FieldOffset, as: UInt32.self)
        base.storeBytes(of: UInt32(truncatingIfNeeded: count), toByteOffset: countOffset, as: UInt32.self)
        fill(UnsafeMutableRawBufferPointer(start: base + headerSize, count: count))
        return EntryStorage(base: base)
    }

    var expiresAt: UInt64 { base.load(fromByteOffset: Self.expiresAtOffset, as: UInt64.self) }

    /// Only under the owning shard's lock, like every access.
    func setExpiresAt(_ value: UInt64) {
        base.storeBytes(of: value, toByteOffset: Self.expiresAtOffset, as: UInt64.self)
    }
    var stamp: UInt64 { base.load(fromByteOffset: Self.stampOffset, as: UInt64.self) }
    var group: Int32 { Int32(base.loadUnaligned(fromByteOffset: Self.groupOffset, as: Int16.self)) }
    private var keyField: UInt32 { base.load(fromByteOffset: Self.keyFieldOffset, as: UInt32.self) }
    private var resp2Field: UInt32 { base.load(fromByteOffset: Self.resp2FieldOffset, as: UInt32.self) }
    /// Bytes after the header: key and replies.
    var count: Int { Int(base.load(fromByteOffset: Self.countOffset, as: UInt32.self)) }

    var keyLength: Int { Int(keyField & ~Self.flag) }
    var resp2Length: Int { Int(resp2Field & ~Self.flag) }
    var isTombstone: Bool { keyField & Self.flag != 0 }
    var hasDependencies: Bool { resp2Field & Self.flag != 0 }

    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(UnsafeRawBufferPointer(start: base + Self.headerSize, count: count))
    }

    @inline(__always)
    func keyEquals(_ key: UnsafeRawBufferPointer) -> Bool {
        guard keyLength == key.count else { return false }
        guard let keyBase = key.baseAddress else { return true }
        return memcmp(base + Self.headerSize, keyBase, key.count) == 0
    }

    func deallocate() {
        base.deallocate()
    }
}
