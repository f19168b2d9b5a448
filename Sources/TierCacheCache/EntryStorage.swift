/// One entry's bytes in a single heap object: key, then the RESP2 reply, then the RESP3 reply when it differs.
///
/// A `ManagedBuffer` has a 16-byte object header where `[UInt8]` has 32, and the byte count lives in our own
/// 4-byte header; on a 25-byte entry that is the difference between a 64- and an 80-byte allocation.
///
/// `@unchecked Sendable` is safe: `make` writes the header and every byte before the value exists, and nothing
/// writes to the buffer afterwards (there is no mutating API), so any thread may read it.
struct EntryStorage: @unchecked Sendable {
    private final class Buffer: ManagedBuffer<UInt32, UInt8> {}

    private let buffer: Buffer

    static func make(count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> EntryStorage {
        let created = Buffer.create(minimumCapacity: count) { _ in UInt32(truncatingIfNeeded: count) }
        let buffer = unsafeDowncast(created, to: Buffer.self)
        buffer.withUnsafeMutablePointerToElements { elements in
            fill(UnsafeMutableRawBufferPointer(start: elements, count: count))
        }
        return EntryStorage(buffer: buffer)
    }

    var count: Int { Int(buffer.header) }

    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        buffer.withUnsafeMutablePointerToElements { elements in
            body(UnsafeRawBufferPointer(start: elements, count: Int(buffer.header)))
        }
    }
}
