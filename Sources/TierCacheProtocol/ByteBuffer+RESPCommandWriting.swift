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
        // *2\r\n $<n>\r\n name\r\n $<length>\r\n prefix argument \r\n
        let total = 4 + 1 + nameDigits + 2 + name.count + 2 + 1 + lengthDigits + 2 + length + 2
        writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            // NIO reserved `total` bytes; writing fewer would leave a waiter without its command.
            guard let base = out.baseAddress, out.count >= total else {
                preconditionFailure("ByteBuffer reserved \(out.count) bytes, not the \(total) asked for")
            }
            var at = 0
            func put(_ bytes: UnsafeRawBufferPointer) {
                guard let source = bytes.baseAddress else { return }
                (base + at).copyMemory(from: source, byteCount: bytes.count)
                at += bytes.count
            }
            func put(_ byte: UInt8) {
                base.storeBytes(of: byte, toByteOffset: at, as: UInt8.self)
                at += 1
            }
            func put(decimal value: Int, digits: Int) {
                var rest = value
                for position in stride(from: at + digits - 1, through: at, by: -1) {
                    base.storeBytes(
                        of: UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10), toByteOffset: position,
                        as: UInt8.self)
                    rest /= 10
                }
                at += digits
            }
            func crlf() {
                put(UInt8(ascii: "\r"))
                put(UInt8(ascii: "\n"))
            }
            put(UInt8(ascii: "*"))
            put(UInt8(ascii: "2"))
            crlf()
            put(UInt8(ascii: "$"))
            put(decimal: name.count, digits: nameDigits)
            crlf()
            name.withUnsafeBytes(put)
            crlf()
            put(UInt8(ascii: "$"))
            put(decimal: length, digits: lengthDigits)
            crlf()
            prefix.withUnsafeBytes(put)
            argument.withUnsafeReadableBytes(put)
            crlf()
            return total
        }
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
