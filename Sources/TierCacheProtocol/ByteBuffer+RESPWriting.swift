import NIOCore

/// RESP reply writers: each appends one reply (or one header) to a connection's reusable output buffer.
///
/// Integers are written as ASCII digits straight into the buffer, never through `String`, since lengths and counts
/// are on every reply.
extension ByteBuffer {
    /// Writes the `\r\n` that ends every RESP line; also ends a bulk string written after its header.
    @inlinable
    public mutating func writeRESPCRLF() {
        self.writeInteger(UInt16(0x0D0A))
    }

    /// Writes a simple string such as `+OK\r\n`; CR and LF become spaces, since a simple string is one line.
    ///
    /// - Parameter string: The text, without the `+`.
    @inlinable
    public mutating func writeRESPSimpleString(_ string: String) {
        self.writeInteger(UInt8(ascii: "+"))
        self.writeRESPLine(string)
    }

    /// Writes a constant simple string such as `+OK\r\n` or `+PONG\r\n` without looking at it.
    ///
    /// - Parameter staticString: The text, without the `+`; must not contain CR or LF.
    @inlinable
    public mutating func writeRESPSimpleString(staticString: StaticString) {
        self.writeInteger(UInt8(ascii: "+"))
        self.writeStaticString(staticString)
        self.writeRESPCRLF()
    }

    /// Writes an error reply such as `-ERR unknown command 'x'\r\n`.
    ///
    /// CR and LF in the message become spaces, so one error is always one line even when it quotes client input.
    /// - Parameter message: The message including its prefix (`ERR`, `WRONGTYPE`, ...), without the `-`.
    @inlinable
    public mutating func writeRESPError(_ message: String) {
        self.writeInteger(UInt8(ascii: "-"))
        self.writeRESPLine(message)
    }

    /// Writes an integer reply such as `:42\r\n`.
    ///
    /// - Parameter value: The integer.
    @inlinable
    public mutating func writeRESPInteger(_ value: Int64) {
        self.writeInteger(UInt8(ascii: ":"))
        self.writeRESPDecimal(value)
        self.writeRESPCRLF()
    }

    /// Writes an integer reply such as `:42\r\n`.
    ///
    /// - Parameter value: The integer.
    @inlinable
    public mutating func writeRESPInteger(_ value: Int) {
        self.writeRESPInteger(Int64(value))
    }

    /// Writes the `$<length>\r\n` header of a bulk string; the caller then writes `length` bytes and
    /// ``writeRESPCRLF()``, e.g. to copy a cached value without building an intermediate buffer.
    ///
    /// - Parameter length: The number of payload bytes that will follow.
    @inlinable
    public mutating func writeRESPBulkStringHeader(length: Int) {
        self.writeInteger(UInt8(ascii: "$"))
        self.writeRESPDecimal(Int64(length))
        self.writeRESPCRLF()
    }

    /// Writes the readable bytes of `bytes` as a bulk string; `bytes` itself is not changed.
    ///
    /// - Parameter bytes: The payload.
    @inlinable
    public mutating func writeRESPBulkString(_ bytes: ByteBuffer) {
        self.writeRESPBulkStringHeader(length: bytes.readableBytes)
        self.writeImmutableBuffer(bytes)
        self.writeRESPCRLF()
    }

    /// Writes `bytes` as a bulk string.
    ///
    /// - Parameter bytes: The payload.
    @inlinable
    public mutating func writeRESPBulkString(_ bytes: [UInt8]) {
        self.writeRESPBulkStringHeader(length: bytes.count)
        self.writeBytes(bytes)
        self.writeRESPCRLF()
    }

    /// Writes the UTF-8 bytes of `string` as a bulk string.
    ///
    /// - Parameter string: The payload.
    @inlinable
    public mutating func writeRESPBulkString(_ string: String) {
        self.writeRESPBulkStringHeader(length: string.utf8.count)
        self.writeString(string)
        self.writeRESPCRLF()
    }

    /// Writes a RESP3 verbatim string, `=<length>\r\n<format>:<text>\r\n`, as Redis answers `INFO` in RESP3.
    ///
    /// - Parameters:
    ///   - string: The text.
    ///   - format: Three letters: `txt` or `mkd`.
    @inlinable
    public mutating func writeRESPVerbatimString(_ string: String, format: StaticString) {
        self.writeInteger(UInt8(ascii: "="))
        self.writeRESPDecimal(Int64(string.utf8.count + format.utf8CodeUnitCount + 1))
        self.writeRESPCRLF()
        self.writeStaticString(format)
        self.writeInteger(UInt8(ascii: ":"))
        self.writeString(string)
        self.writeRESPCRLF()
    }

    /// Writes a null reply: `$-1\r\n` (the RESP2 null bulk string) or `_\r\n`.
    ///
    /// - Parameter version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPNull(_ version: RESPVersion) {
        switch version {
        case .v2: self.writeStaticString("$-1\r\n")
        case .v3: self.writeStaticString("_\r\n")
        }
    }

    /// Writes a null array reply: `*-1\r\n` (the RESP2 null array) or `_\r\n`.
    ///
    /// - Parameter version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPNullArray(_ version: RESPVersion) {
        switch version {
        case .v2: self.writeStaticString("*-1\r\n")
        case .v3: self.writeStaticString("_\r\n")
        }
    }

    /// Writes an array header `*<count>\r\n`; the caller then writes `count` elements.
    ///
    /// - Parameter count: The number of elements that will follow.
    @inlinable
    public mutating func writeRESPArrayHeader(count: Int) {
        self.writeRESPAggregateHeader(UInt8(ascii: "*"), count: count)
    }

    /// Writes a map header: `%<count>\r\n`, or in RESP2 `*<2 * count>\r\n`, a flat array of keys and values.
    ///
    /// - Parameters:
    ///   - count: The number of key-value pairs that will follow.
    ///   - version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPMapHeader(count: Int, _ version: RESPVersion) {
        switch version {
        case .v2: self.writeRESPAggregateHeader(UInt8(ascii: "*"), count: count * 2)
        case .v3: self.writeRESPAggregateHeader(UInt8(ascii: "%"), count: count)
        }
    }

    /// Writes a set header: `~<count>\r\n`, or in RESP2 `*<count>\r\n`.
    ///
    /// - Parameters:
    ///   - count: The number of elements that will follow.
    ///   - version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPSetHeader(count: Int, _ version: RESPVersion) {
        switch version {
        case .v2: self.writeRESPAggregateHeader(UInt8(ascii: "*"), count: count)
        case .v3: self.writeRESPAggregateHeader(UInt8(ascii: "~"), count: count)
        }
    }

    /// Writes a push header `><count>\r\n` (RESP3 only; RESP2 pushes are plain arrays).
    ///
    /// - Parameters:
    ///   - count: The number of elements that will follow.
    ///   - version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPPushHeader(count: Int, _ version: RESPVersion) {
        switch version {
        case .v2: self.writeRESPAggregateHeader(UInt8(ascii: "*"), count: count)
        case .v3: self.writeRESPAggregateHeader(UInt8(ascii: ">"), count: count)
        }
    }

    /// Writes a double: `,1.5\r\n`, `,inf\r\n`, `,-inf\r\n`, `,nan\r\n`, or in RESP2 a bulk string of that text.
    ///
    /// The text is the shortest that reads back as the same double, without a trailing `.0` (`3`, not `3.0`),
    /// like Redis. Unlike integers it goes through `String`: doubles are rare in replies.
    /// - Parameters:
    ///   - value: The double.
    ///   - version: The connection's protocol version.
    public mutating func writeRESPDouble(_ value: Double, _ version: RESPVersion) {
        let text = Self.respDoubleText(value)
        switch version {
        case .v2:
            self.writeRESPBulkString(text)
        case .v3:
            self.writeInteger(UInt8(ascii: ","))
            self.writeString(text)
            self.writeRESPCRLF()
        }
    }

    /// Writes a boolean: `#t\r\n` / `#f\r\n`, or in RESP2 the integer `:1\r\n` / `:0\r\n`, as Redis does.
    ///
    /// - Parameters:
    ///   - value: The boolean.
    ///   - version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPBoolean(_ value: Bool, _ version: RESPVersion) {
        switch (version, value) {
        case (.v2, true): self.writeStaticString(":1\r\n")
        case (.v2, false): self.writeStaticString(":0\r\n")
        case (.v3, true): self.writeStaticString("#t\r\n")
        case (.v3, false): self.writeStaticString("#f\r\n")
        }
    }

    // MARK: - Helpers

    /// Writes `<type><count>\r\n`.
    @inlinable
    mutating func writeRESPAggregateHeader(_ type: UInt8, count: Int) {
        self.writeInteger(type)
        self.writeRESPDecimal(Int64(count))
        self.writeRESPCRLF()
    }

    /// Writes `text` and `\r\n`, with any CR or LF in `text` replaced by a space so the line cannot be split.
    @inlinable
    mutating func writeRESPLine(_ text: String) {
        let utf8 = text.utf8
        if utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            self.reserveCapacity(minimumWritableBytes: utf8.count + 2)
            for byte in utf8 {
                self.writeInteger(byte == 0x0D || byte == 0x0A ? UInt8(ascii: " ") : byte)
            }
        } else {
            self.writeString(text)
        }
        self.writeRESPCRLF()
    }

    /// Writes `value` as ASCII decimal digits, with a leading `-` when negative, straight into the buffer.
    @inlinable
    mutating func writeRESPDecimal(_ value: Int64) {
        var magnitude = value.magnitude
        var digits = 1
        var probe = magnitude
        while probe >= 10 {
            probe /= 10
            digits += 1
        }
        let negative = value < 0
        let total = negative ? digits + 1 : digits
        self.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { bytes in
            var index = total - 1
            repeat {
                bytes[index] = UInt8(truncatingIfNeeded: magnitude % 10) &+ UInt8(ascii: "0")
                magnitude /= 10
                index -= 1
            } while magnitude > 0
            if negative {
                bytes[0] = UInt8(ascii: "-")
            }
            return total
        }
    }

    /// The RESP text of a double: `inf`, `-inf`, `nan`, or the shortest round-tripping decimal without `.0`.
    static func respDoubleText(_ value: Double) -> String {
        if value.isNaN {
            return "nan"
        }
        if value.isInfinite {
            return value < 0 ? "-inf" : "inf"
        }
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}
