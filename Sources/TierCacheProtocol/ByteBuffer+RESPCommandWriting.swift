import NIOCore

/// A command of two words whose first word and the start of the second are fixed (`GET <prefix><key>`),
/// encoded once: a request then writes only the second word's length and its own bytes
/// (``ByteBuffer/writeRESPCommand(_:argument:)``).
public struct RESPCommandTemplate: Sendable {
    /// `*2\r\n$<n>\r\n<name>\r\n$`, then `\r\n<prefix>`: the bytes before and after the argument's length.
    fileprivate let bytes: [UInt8]
    /// Where the argument's length goes.
    fileprivate let lengthAt: Int
    fileprivate let prefixCount: Int

    /// The command `name` `<prefix><argument>`.
    public init(name: [UInt8], argumentPrefix prefix: [UInt8]) {
        var head = ByteBuffer()
        head.writeRESPArrayHeader(count: 2)
        head.writeRESPBulkString(name)
        head.writeString("$")
        lengthAt = head.readableBytes
        prefixCount = prefix.count
        bytes = Array(head.readableBytesView) + Array("\r\n".utf8) + prefix
    }
}

extension ByteBuffer {
    /// Writes `template`'s command with `argument` after its prefix, in one reservation and one pass, the prefix
    /// and the argument joined without building them into one buffer first. For commands sent per request (the
    /// L2 GET of every L1 miss): a `ByteBuffer` write per piece cost more than the rest of sending the look-up
    /// (profile under `-P 16`, issue 4). The bytes are those of `writeRESPArrayHeader(count: 2)` and two
    /// `writeRESPBulkString`s.
    public mutating func writeRESPCommand(_ template: RESPCommandTemplate, argument: ByteBuffer) {
        let length = template.prefixCount + argument.readableBytes
        let lengthDigits = Self.decimalDigits(length)
        // <head> <length> \r\n<prefix> <argument> \r\n
        let total = template.bytes.count + lengthDigits + argument.readableBytes + 2
        writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            // NIO reserved `total` bytes; writing fewer would leave a waiter without its command.
            guard let base = out.baseAddress, out.count >= total else {
                preconditionFailure("ByteBuffer reserved \(out.count) bytes, not the \(total) asked for")
            }
            var at = 0
            template.bytes.withUnsafeBytes { bytes in
                guard let start = bytes.baseAddress else { return }
                let lengthAt = template.lengthAt
                Self.store(UnsafeRawBufferPointer(start: start, count: lengthAt), to: base, at: &at)
                Self.store(decimal: length, digits: lengthDigits, to: base, at: &at)
                let rest = UnsafeRawBufferPointer(start: start + lengthAt, count: bytes.count - lengthAt)
                Self.store(rest, to: base, at: &at)
            }
            argument.withUnsafeReadableBytes { Self.store($0, to: base, at: &at) }
            base.storeBytes(of: UInt16(0x0A0D).littleEndian, toByteOffset: at, as: UInt16.self)  // \r\n
            return total
        }
    }

    @inline(__always)
    private static func store(_ bytes: UnsafeRawBufferPointer, to base: UnsafeMutableRawPointer, at offset: inout Int) {
        guard let source = bytes.baseAddress else { return }
        (base + offset).copyMemory(from: source, byteCount: bytes.count)
        offset += bytes.count
    }

    @inline(__always)
    private static func store(decimal value: Int, digits: Int, to base: UnsafeMutableRawPointer, at offset: inout Int) {
        var rest = value
        var position = offset + digits - 1
        while position >= offset {
            base.storeBytes(
                of: UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10), toByteOffset: position, as: UInt8.self)
            rest /= 10
            position -= 1
        }
        offset += digits
    }

    /// How many decimal digits a non-negative `value` has.
    @inline(__always)
    static func decimalDigits(_ value: Int) -> Int {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }
}
