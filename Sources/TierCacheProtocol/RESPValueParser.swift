import NIOCore

/// Decodes RESP2 and RESP3 replies into ``RESPValue``s, for clients: the `tiercache stats` command and tests.
///
/// It re-parses a partial reply from its start on each call, which is fine for the small replies a client reads,
/// and it bounds nesting depth, bulk lengths, element counts and line lengths, since even a client should not let a
/// misbehaving server crash it. Attributes (`|`) are read and dropped. Streamed RESP3 strings and aggregates
/// (`$?`, `*?`) are not supported and throw.
public struct RESPValueParser: Sendable {
    /// Deepest aggregate nesting accepted: 0 allows no aggregates, 1 allows an array of scalars, and so on.
    public let maxDepth: Int
    /// Bounds on bulk lengths, aggregate counts, and line lengths (``RESPLimits/maxInlineLength``).
    public let limits: RESPLimits

    /// Creates a parser.
    ///
    /// - Parameters:
    ///   - maxDepth: Deepest aggregate nesting accepted; recursion stays well within the stack at the default 64.
    ///   - limits: Bounds on bulk lengths, aggregate counts and line lengths.
    public init(maxDepth: Int = 64, limits: RESPLimits = .default) {
        self.maxDepth = maxDepth
        self.limits = limits
    }

    /// Decodes the next complete reply from `buffer`.
    ///
    /// - Parameter buffer: Received bytes; on success the reader index moves past the reply, otherwise it stays.
    /// - Returns: The reply, or nil when more bytes are needed.
    /// - Throws: ``RESPProtocolError`` when the bytes are not valid RESP or breach a limit.
    public mutating func next(from buffer: inout ByteBuffer) throws(RESPProtocolError) -> RESPValue? {
        var reader = buffer
        guard let value = try self.parseValue(&reader, depth: 0) else {
            return nil
        }
        buffer.moveReaderIndex(to: reader.readerIndex)
        return value
    }

    /// A reply whose top-level bulk string stays in the received bytes: for a proxy that forwards or decodes
    /// values, where copying each into an array would be the largest cost of reading it.
    public enum Reply: Sendable {
        /// `$<length>`: a slice of the buffer the reply was read from (no copy).
        case bulkString(ByteBuffer)
        /// Any other reply, including a null bulk string, decoded as by ``next(from:)``.
        case value(RESPValue)
    }

    /// Decodes the next complete reply from `buffer`, leaving a top-level bulk string as a slice of it.
    ///
    /// - Parameter buffer: Received bytes; on success the reader index moves past the reply, otherwise it stays.
    /// - Returns: The reply, or nil when more bytes are needed.
    /// - Throws: ``RESPProtocolError`` when the bytes are not valid RESP or breach a limit.
    public mutating func nextReply(from buffer: inout ByteBuffer) throws(RESPProtocolError) -> Reply? {
        guard buffer.readableBytesView.first == UInt8(ascii: "$") else {
            return try self.next(from: &buffer).map { .value($0) }
        }
        var reader = buffer
        reader.moveReaderIndex(forwardBy: 1)
        guard let blob = try self.readBlobSlice(&reader, allowsNull: true) else {
            return nil
        }
        buffer.moveReaderIndex(to: reader.readerIndex)
        return blob.map { .bulkString($0) } ?? .value(.null)
    }

    /// Parses one value at the reader's index, skipping any attributes before it.
    private func parseValue(_ reader: inout ByteBuffer, depth: Int) throws(RESPProtocolError) -> RESPValue? {
        while true {
            guard let type = reader.readInteger(as: UInt8.self) else {
                return nil
            }
            switch type {
            case UInt8(ascii: "+"):
                return try self.readLine(&reader).map { .simpleString(String(buffer: $0)) }
            case UInt8(ascii: "-"):
                return try self.readLine(&reader).map { .error(String(buffer: $0)) }
            case UInt8(ascii: ":"):
                guard let line = try self.readLine(&reader) else {
                    return nil
                }
                return .integer(try Self.integer(line, what: "integer"))
            case UInt8(ascii: "_"):
                guard let line = try self.readLine(&reader) else {
                    return nil
                }
                guard line.readableBytes == 0 else {
                    throw .invalidReply("null with content")
                }
                return .null
            case UInt8(ascii: "#"):
                guard let line = try self.readLine(&reader) else {
                    return nil
                }
                switch String(buffer: line) {
                case "t": return .boolean(true)
                case "f": return .boolean(false)
                default: throw .invalidReply("boolean is not t or f")
                }
            case UInt8(ascii: ","):
                guard let line = try self.readLine(&reader) else {
                    return nil
                }
                guard let value = Double(String(buffer: line)) else {
                    throw .invalidReply("double is not a number")
                }
                return .double(value)
            case UInt8(ascii: "("):
                guard let line = try self.readLine(&reader) else {
                    return nil
                }
                return .bigNumber(String(buffer: line))
            case UInt8(ascii: "$"):
                return try self.readBlob(&reader, allowsNull: true).map { bytes in
                    bytes.map { .bulkString($0) } ?? .null
                }
            case UInt8(ascii: "!"):
                return try self.readBlob(&reader, allowsNull: false).map { bytes in
                    .error(String(decoding: bytes ?? [], as: UTF8.self))
                }
            case UInt8(ascii: "="):
                guard let blob = try self.readBlob(&reader, allowsNull: false) else {
                    return nil
                }
                let bytes = blob ?? []
                guard bytes.count >= 4, bytes[3] == UInt8(ascii: ":") else {
                    throw .invalidReply("verbatim string without a format")
                }
                return .verbatimString(
                    format: String(decoding: bytes[0..<3], as: UTF8.self),
                    text: Array(bytes[4...])
                )
            case UInt8(ascii: "*"):
                guard let count = try self.readCount(&reader, allowsNull: true, depth: depth) else {
                    return nil
                }
                guard let count else {
                    return .null
                }
                return try self.readElements(&reader, count: count, depth: depth).map { .array($0) }
            case UInt8(ascii: "~"):
                guard let count = try self.readCount(&reader, allowsNull: false, depth: depth) else {
                    return nil
                }
                return try self.readElements(&reader, count: count ?? 0, depth: depth).map { .set($0) }
            case UInt8(ascii: ">"):
                guard let count = try self.readCount(&reader, allowsNull: false, depth: depth) else {
                    return nil
                }
                return try self.readElements(&reader, count: count ?? 0, depth: depth).map { .push($0) }
            case UInt8(ascii: "%"):
                guard let count = try self.readCount(&reader, allowsNull: false, depth: depth) else {
                    return nil
                }
                return try self.readPairs(&reader, count: count ?? 0, depth: depth).map { .map($0) }
            case UInt8(ascii: "|"):
                // An attribute describes the value after it; we read it to stay in sync, drop it, and loop for
                // the value, so a run of attributes cannot deepen the recursion.
                guard let count = try self.readCount(&reader, allowsNull: false, depth: depth) else {
                    return nil
                }
                guard try self.readPairs(&reader, count: count ?? 0, depth: depth) != nil else {
                    return nil
                }
            default:
                throw .invalidReply("unknown type byte '\(RESPProtocolError.render(type))'")
            }
        }
    }

    /// Reads a line up to `\r\n`, returning it without the terminator, or nil if the terminator has not arrived.
    private func readLine(_ reader: inout ByteBuffer) throws(RESPProtocolError) -> ByteBuffer? {
        let limit = self.limits.maxInlineLength
        let start = reader.readerIndex
        let available = reader.readableBytes
        let searchEnd = available - 2 < limit ? available : limit + 2
        guard let lineFeed = reader.firstIndex(of: UInt8(ascii: "\n"), from: start, to: start + searchEnd) else {
            // The line is at least this long, less a `\r` that may yet turn out to precede the `\n`.
            var minimumLength = searchEnd
            if searchEnd > 0, reader.getInteger(at: start + searchEnd - 1, as: UInt8.self) == UInt8(ascii: "\r") {
                minimumLength -= 1
            }
            guard minimumLength <= limit else {
                throw .lineTooLong(limit: limit)
            }
            return nil
        }
        guard lineFeed > start, reader.getInteger(at: lineFeed - 1, as: UInt8.self) == UInt8(ascii: "\r") else {
            throw .invalidReply("line not terminated by CRLF")
        }
        guard lineFeed - 1 - start <= limit else {
            throw .lineTooLong(limit: limit)
        }
        let line = reader.readSlice(length: lineFeed - 1 - start)
        reader.moveReaderIndex(forwardBy: 2)
        return line
    }

    /// Reads `<length>\r\n<bytes>\r\n` as an array: nil if incomplete, `.some(nil)` for a `-1` length where null
    /// is allowed.
    private func readBlob(_ reader: inout ByteBuffer, allowsNull: Bool) throws(RESPProtocolError) -> [UInt8]?? {
        try self.readBlobSlice(&reader, allowsNull: allowsNull).map { blob in blob.map { Array($0.readableBytesView) } }
    }

    /// Reads `<length>\r\n<bytes>\r\n` as a slice of `reader` (no copy): nil if incomplete, `.some(nil)` for a `-1`
    /// length where null is allowed.
    private func readBlobSlice(_ reader: inout ByteBuffer, allowsNull: Bool) throws(RESPProtocolError) -> ByteBuffer?? {
        guard let line = try self.readLine(&reader) else {
            return nil
        }
        guard let length = try? Self.integer(line, what: "bulk length"), length >= -1 else {
            throw .invalidBulkLength
        }
        if length == -1 {
            guard allowsNull else {
                throw .invalidBulkLength
            }
            return .some(nil)
        }
        guard let payloadLength = Int(exactly: length), payloadLength <= self.limits.maxBulkLength else {
            throw .bulkTooLong(length: Int(clamping: length), limit: self.limits.maxBulkLength)
        }
        guard reader.readableBytes - 2 >= payloadLength else {
            return nil
        }
        guard reader.getInteger(at: reader.readerIndex + payloadLength, as: UInt16.self) == 0x0D0A,
            let bytes = reader.readSlice(length: payloadLength)
        else {
            throw .missingBulkTerminator
        }
        reader.moveReaderIndex(forwardBy: 2)
        return .some(bytes)
    }

    /// Reads an aggregate's count line: nil if incomplete, `.some(nil)` for `-1` where null is allowed.
    ///
    /// Checks the depth here, before any element is read, so an over-deep reply fails without recursing further.
    private func readCount(
        _ reader: inout ByteBuffer,
        allowsNull: Bool,
        depth: Int
    ) throws(RESPProtocolError) -> Int?? {
        guard let line = try self.readLine(&reader) else {
            return nil
        }
        guard let count = try? Self.integer(line, what: "count"), count >= -1 else {
            throw .invalidMultibulkLength
        }
        if count == -1 {
            guard allowsNull else {
                throw .invalidMultibulkLength
            }
            return .some(nil)
        }
        guard let elementCount = Int(exactly: count), elementCount <= self.limits.maxArrayCount else {
            throw .multibulkTooLong(count: Int(clamping: count), limit: self.limits.maxArrayCount)
        }
        guard depth < self.maxDepth else {
            throw .depthExceeded(limit: self.maxDepth)
        }
        return .some(elementCount)
    }

    /// Reads `count` values one level deeper; nil if any is incomplete.
    private func readElements(
        _ reader: inout ByteBuffer,
        count: Int,
        depth: Int
    ) throws(RESPProtocolError) -> [RESPValue]? {
        var elements: [RESPValue] = []
        // The count is checked against the limit but not yet backed by bytes: do not trust it for the allocation.
        elements.reserveCapacity(min(count, 1024))
        for _ in 0..<count {
            guard let element = try self.parseValue(&reader, depth: depth + 1) else {
                return nil
            }
            elements.append(element)
        }
        return elements
    }

    /// Reads `count` key-value pairs one level deeper; nil if any is incomplete.
    private func readPairs(
        _ reader: inout ByteBuffer,
        count: Int,
        depth: Int
    ) throws(RESPProtocolError) -> [RESPPair]? {
        var pairs: [RESPPair] = []
        pairs.reserveCapacity(min(count, 1024))
        for _ in 0..<count {
            guard let key = try self.parseValue(&reader, depth: depth + 1),
                let value = try self.parseValue(&reader, depth: depth + 1)
            else {
                return nil
            }
            pairs.append(RESPPair(key: key, value: value))
        }
        return pairs
    }

    /// Parses a reply integer: an optional `+` or `-`, then decimal digits, within `Int64`.
    private static func integer(_ line: ByteBuffer, what: String) throws(RESPProtocolError) -> Int64 {
        var view = line.readableBytesView[...]
        let negative = view.first == UInt8(ascii: "-")
        if negative || view.first == UInt8(ascii: "+") {
            view = view.dropFirst()
        }
        guard !view.isEmpty else {
            throw .invalidReply("\(what) is not a number")
        }
        var value: Int64 = 0
        for byte in view {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else {
                throw .invalidReply("\(what) is not a number")
            }
            // Accumulate towards the sign so that Int64.min parses.
            let (shifted, shiftOverflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, sumOverflow) =
                negative
                ? shifted.subtractingReportingOverflow(Int64(digit)) : shifted.addingReportingOverflow(Int64(digit))
            guard !shiftOverflow, !sumOverflow else {
                throw .invalidReply("\(what) overflows 64 bits")
            }
            value = sum
        }
        return value
    }
}
