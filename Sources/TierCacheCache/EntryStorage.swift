/// One entry's bytes in a single malloc'd block: a 4-byte length, the key, the RESP2 reply, and the RESP3 reply
/// when it differs.
///
/// A plain allocation has no object header: a 25-byte entry takes a 48-byte malloc chunk, where a
/// `ManagedBuffer` took 64 and an `[UInt8]` 80. The owning `L1Shard` frees it exactly once, when the entry
/// leaves the shard (or the shard is destroyed), always under the shard's lock.
struct EntryStorage {
    private let base: UnsafeMutableRawPointer

    private static let headerSize = MemoryLayout<UInt32>.size

    static func allocate(count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> EntryStorage {
        let base = UnsafeMutableRawPointer.allocate(
            byteCount: headerSize + count,
            alignment: MemoryLayout<UInt32>.alignment
        )
        base.storeBytes(of: UInt32(truncatingIfNeeded: count), as: UInt32.self)
        fill(UnsafeMutableRawBufferPointer(start: base + headerSize, count: count))
        return EntryStorage(base: base)
    }

    var count: Int { Int(base.load(as: UInt32.self)) }

    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(UnsafeRawBufferPointer(start: base + Self.headerSize, count: count))
    }

    func deallocate() {
        base.deallocate()
    }
}
