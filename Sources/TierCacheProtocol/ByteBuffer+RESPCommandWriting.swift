import NIOCore

extension ByteBuffer {
    /// Writes the two-word command `name` `prefix+argument` (`*2 $3 GET $<n> <prefix><key>`) in one reservation
    /// and one pass, the argument's prefix and bytes joined without building them into one buffer first. For
    /// commands sent per request (the L2 GET of every L1 miss): a `ByteBuffer` write per piece cost more than the
    /// rest of sending the look-up (profile under `-P 16`, issue 4). The bytes are those of
    /// `writeRESPArrayHeader(count: 2)` and two `writeRESPBulkString`s.
    public mutating func writeRESPCommand(_ name: [UInt8], prefixedArgument prefix: [UInt8], _ argument: ByteBuffer) {
        let length = prefix.count + argument.readableBytes
        let nameDigits = Self.decimalDigits(name.count)
        let lengthDigits = Self.decimalDigits(length)
        // *2\r\n$<n>\r\n name \r\n$<length>\r\n prefix argument \r\n
        let total = 5 + nameDigits + 2 + name.count + 3 + lengthDigits + 2 + length + 2
        writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            // NIO reserved `total` bytes; writing fewer would leave a waiter without its command.
            guard let base = out.baseAddress, out.count >= total else {
                preconditionFailure("ByteBuffer reserved \(out.count) bytes, not the \(total) asked for")
            }
            // The fixed pieces as integers (their bytes little-endian): one store each, not one per byte.
            let arrayOfTwo: (UInt32, UInt8) = (0x0A0D_322A, UInt8(ascii: "$"))  // *2\r\n$
            let crlf: UInt16 = 0x0A0D
            let crlfDollar: (UInt16, UInt8) = (0x0A0D, UInt8(ascii: "$"))
            var at = 0
            Self.store(arrayOfTwo, to: base, at: &at)
            Self.store(decimal: name.count, digits: nameDigits, to: base, at: &at)
            Self.store(crlf, to: base, at: &at)
            name.withUnsafeBytes { Self.store($0, to: base, at: &at) }
            Self.store(crlfDollar, to: base, at: &at)
            Self.store(decimal: length, digits: lengthDigits, to: base, at: &at)
            Self.store(crlf, to: base, at: &at)
            prefix.withUnsafeBytes { Self.store($0, to: base, at: &at) }
            argument.withUnsafeReadableBytes { Self.store($0, to: base, at: &at) }
            Self.store(crlf, to: base, at: &at)
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
    private static func store(_ pair: UInt16, to base: UnsafeMutableRawPointer, at offset: inout Int) {
        base.storeBytes(of: pair.littleEndian, toByteOffset: offset, as: UInt16.self)
        offset += 2
    }

    @inline(__always)
    private static func store(_ piece: (UInt32, UInt8), to base: UnsafeMutableRawPointer, at offset: inout Int) {
        base.storeBytes(of: piece.0.littleEndian, toByteOffset: offset, as: UInt32.self)
        base.storeBytes(of: piece.1, toByteOffset: offset + 4, as: UInt8.self)
        offset += 5
    }

    @inline(__always)
    private static func store(_ piece: (UInt16, UInt8), to base: UnsafeMutableRawPointer, at offset: inout Int) {
        base.storeBytes(of: piece.0.littleEndian, toByteOffset: offset, as: UInt16.self)
        base.storeBytes(of: piece.1, toByteOffset: offset + 2, as: UInt8.self)
        offset += 3
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
