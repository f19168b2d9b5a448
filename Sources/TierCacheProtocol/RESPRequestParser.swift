import NIOCore

/// Decodes client commands from a connection's inbound bytes, one parser per connection.
///
/// Multibulk arguments come out as zero-copy slices of the inbound buffer; inline commands (telnet style) are split
/// like Redis' `sdssplitargs`. The parser is resumable: on partial input it returns `false` without moving the
/// reader index, and remembers how far it got so that a slow client dripping a long line or a large payload is not
/// rescanned from the start on each read. It checks ``RESPLimits`` as soon as a header or line shows a breach.
///
/// A slice keeps the whole inbound buffer alive: copy an argument into an exactly sized buffer before storing it.
public struct RESPRequestParser: Sendable {
    /// Longest `*` or `$` header line we wait for, type byte and digits, without `\r\n`.
    ///
    /// Any valid count or length fits in 21 bytes (`$` plus 20 digits), so a longer line without `\r` is garbage.
    package static let maxHeaderLength = 32

    /// Where the parser is inside the next command.
    ///
    /// Every offset is relative to the buffer's `readerIndex` when the command started: the caller may compact the
    /// buffer (`discardReadBytes`) between calls, which moves absolute indices but not relative ones.
    package enum State: Sendable, Hashable {
        /// Between commands; nothing of the next one has been looked at.
        ///
        /// Goes to ``scanningArrayHeader(scanned:)`` when the first byte is `*`, to ``scanningInline(scanned:)``
        /// for any other byte; stays while the buffer is empty.
        case idle

        /// Reading an inline command line; the first `scanned` bytes hold no `\n`.
        ///
        /// Stays while the line is incomplete (throwing once it must exceed the inline limit); goes to ``idle``
        /// when the line is complete, returning the command or, for a blank line, looking at the next one.
        case scanningInline(scanned: Int)

        /// Reading the `*<count>\r\n` header; the first `scanned` bytes hold no `\r`.
        ///
        /// Stays while the header is incomplete; goes to ``idle`` for a count of zero or less (Redis skips those),
        /// to ``readingArgumentHeader(_:scanned:)`` otherwise.
        case scanningArrayHeader(scanned: Int)

        /// Reading the `$<length>\r\n` header of argument `progress.parsed` at `progress.offset`; the `scanned`
        /// bytes after that offset hold no `\r`.
        ///
        /// Stays while the header is incomplete; goes to ``readingBulk(_:length:)``.
        case readingArgumentHeader(Progress, scanned: Int)

        /// Waiting for `length` payload bytes plus `\r\n` at `progress.offset`; only `readableBytes` is compared.
        ///
        /// Stays while the payload is incomplete; goes to ``readingArgumentHeader(_:scanned:)`` for the next
        /// argument, or to ``idle`` after the last one, returning the command.
        case readingBulk(Progress, length: Int)
    }

    /// How far a multibulk command has been validated.
    package struct Progress: Sendable, Hashable {
        /// Arguments the `*` header announced.
        package var count: Int
        /// Arguments validated so far.
        package var parsed: Int
        /// Relative offset of the next unread header or payload.
        package var offset: Int
        /// Relative offset of the first argument header, where slicing restarts once a resumed command completes.
        package var firstArgumentOffset: Int
    }

    /// The limits this parser enforces. May change between commands (a client that authenticates gets more),
    /// never while one is partly read.
    public var limits: RESPLimits

    /// The parser's progress inside the next command; visible to tests in this package.
    package internal(set) var state: State = .idle

    /// Creates a parser for one connection.
    ///
    /// - Parameter limits: The bounds to enforce on inline lines, bulk lengths and argument counts.
    public init(limits: RESPLimits = .default) {
        self.limits = limits
    }

    /// Decodes the next command from `buffer`, if it is complete.
    ///
    /// Empty multibulks (`*0`, `*-1`) and blank inline lines are consumed and skipped, as Redis does, and parsing
    /// goes on with the next command in the same call.
    ///
    /// - Parameters:
    ///   - buffer: The connection's inbound bytes. On success its reader index moves past the command; on partial
    ///     input it is left unchanged. Between a `false` return and the next call, the caller may only append bytes
    ///     or compact the buffer.
    ///   - arguments: Emptied (keeping its capacity) and filled with the command's arguments: slices of `buffer`
    ///     for multibulk requests and plain inline words, new buffers for inline words that were unquoted. It is also
    ///     emptied on a `false` return, so no slice keeps the storage shared while the caller compacts it.
    /// - Returns: `true` when a command was decoded into `arguments`, `false` when more bytes are needed.
    /// - Throws: ``RESPProtocolError`` on malformed input or a breached limit; the parser cannot recover, the
    ///   connection should be closed after sending the error.
    public mutating func parseCommand(
        from buffer: inout ByteBuffer,
        into arguments: inout [ByteBuffer]
    ) throws(RESPProtocolError) -> Bool {
        guard try self.parseNextCommand(from: &buffer, into: &arguments) else {
            arguments.removeAll(keepingCapacity: true)
            return false
        }
        return true
    }

    /// ``parseCommand(from:into:)`` without emptying `arguments` on a `false` return.
    private mutating func parseNextCommand(
        from buffer: inout ByteBuffer,
        into arguments: inout [ByteBuffer]
    ) throws(RESPProtocolError) -> Bool {
        while true {
            switch self.state {
            case .idle:
                guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else {
                    return false
                }
                self.state = first == UInt8(ascii: "*") ? .scanningArrayHeader(scanned: 0) : .scanningInline(scanned: 0)

            case .scanningInline(let scanned):
                switch try self.parseInline(from: &buffer, scanned: scanned, into: &arguments) {
                case .needMoreData:
                    return false
                case .skipped:
                    continue
                case .command:
                    return true
                }

            case .scanningArrayHeader(let scanned):
                switch try Self.scanHeader(in: buffer, at: 0, scanned: scanned, kind: .array) {
                case .incomplete(let scanned):
                    self.state = .scanningArrayHeader(scanned: scanned)
                    return false
                case .complete(let count, let next):
                    guard count > 0 else {
                        // Redis treats any count of zero or less as an empty request and skips it.
                        buffer.moveReaderIndex(forwardBy: next)
                        self.state = .idle
                        continue
                    }
                    guard count <= self.limits.maxArrayCount else {
                        throw .multibulkTooLong(count: count, limit: self.limits.maxArrayCount)
                    }
                    arguments.removeAll(keepingCapacity: true)
                    arguments.reserveCapacity(min(count, 64))
                    let progress = Progress(count: count, parsed: 0, offset: next, firstArgumentOffset: next)
                    return try self.readArguments(
                        from: &buffer,
                        progress: progress,
                        phase: .header(scanned: 0),
                        collecting: true,
                        into: &arguments
                    )
                }

            case .readingArgumentHeader(let progress, let scanned):
                return try self.readArguments(
                    from: &buffer,
                    progress: progress,
                    phase: .header(scanned: scanned),
                    collecting: false,
                    into: &arguments
                )

            case .readingBulk(let progress, let length):
                return try self.readArguments(
                    from: &buffer,
                    progress: progress,
                    phase: .bulk(length: length),
                    collecting: false,
                    into: &arguments
                )
            }
        }
    }
}

// MARK: - Multibulk

extension RESPRequestParser {
    /// Which part of an argument ``readArguments(from:progress:phase:collecting:into:)`` reads next.
    private enum Phase {
        case header(scanned: Int)
        case bulk(length: Int)
    }

    /// Which header is being read, for its error messages.
    enum HeaderKind {
        case array
        case bulk

        var invalidLength: RESPProtocolError {
            switch self {
            case .array: .invalidMultibulkLength
            case .bulk: .invalidBulkLength
            }
        }

        var tooLong: RESPProtocolError {
            switch self {
            case .array: .multibulkHeaderTooLong
            case .bulk: .bulkHeaderTooLong
            }
        }
    }

    /// The outcome of looking for a header line.
    enum HeaderScan: Equatable {
        /// No `\r\n` yet; the first `scanned` bytes of the header hold no `\r`.
        case incomplete(scanned: Int)
        /// The header's integer, and the relative offset just past its `\r\n`.
        case complete(value: Int, next: Int)
    }

    /// Reads a `*<n>\r\n` or `$<n>\r\n` header line at a relative offset; the type byte is not checked here.
    ///
    /// - Parameters:
    ///   - buffer: The inbound bytes.
    ///   - offset: Relative offset of the header's type byte.
    ///   - scanned: Bytes of the header already known to hold no `\r`.
    ///   - kind: Which header, for the error thrown.
    static func scanHeader(
        in buffer: ByteBuffer,
        at offset: Int,
        scanned: Int,
        kind: HeaderKind
    ) throws(RESPProtocolError) -> HeaderScan {
        let start = buffer.readerIndex + offset
        let available = buffer.readableBytes - offset
        let searchEnd = min(available, Self.maxHeaderLength + 1)
        let carriageReturn = buffer.firstIndex(of: UInt8(ascii: "\r"), from: start + scanned, to: start + searchEnd)
        guard let carriageReturn else {
            guard available <= Self.maxHeaderLength else {
                throw kind.tooLong
            }
            return .incomplete(scanned: max(scanned, searchEnd))
        }
        let lineLength = carriageReturn - start
        guard let lineFeed = buffer.getInteger(at: carriageReturn + 1, as: UInt8.self) else {
            return .incomplete(scanned: lineLength)
        }
        guard lineFeed == UInt8(ascii: "\n"), let value = buffer.getRedisInteger(from: start + 1, to: carriageReturn)
        else {
            throw kind.invalidLength
        }
        return .complete(value: value, next: offset + lineLength + 2)
    }

    /// Validates the arguments of a multibulk command from `progress` on, and slices them out once it is complete.
    ///
    /// A command that arrives whole is validated and sliced in one pass (`collecting`). A command resumed after
    /// partial input is only validated from where it stopped; when it completes, the walk restarts at the first
    /// argument to cut the slices, so no slice is held across calls.
    /// - Returns: `true` when the command is complete in `arguments`, `false` when more bytes are needed.
    private mutating func readArguments(
        from buffer: inout ByteBuffer,
        progress startProgress: Progress,
        phase startPhase: Phase,
        collecting startCollecting: Bool,
        into arguments: inout [ByteBuffer]
    ) throws(RESPProtocolError) -> Bool {
        var progress = startProgress
        var phase = startPhase
        var collecting = startCollecting
        let base = buffer.readerIndex

        while true {
            switch phase {
            case .header(let scanned):
                guard progress.parsed < progress.count else {
                    guard collecting else {
                        // Resumed command, now complete: walk it again from the start to cut the slices.
                        arguments.removeAll(keepingCapacity: true)
                        arguments.reserveCapacity(min(progress.count, 64))
                        progress.parsed = 0
                        progress.offset = progress.firstArgumentOffset
                        phase = .header(scanned: 0)
                        collecting = true
                        continue
                    }
                    buffer.moveReaderIndex(forwardBy: progress.offset)
                    self.state = .idle
                    return true
                }
                guard let type = buffer.getInteger(at: base + progress.offset, as: UInt8.self) else {
                    self.state = .readingArgumentHeader(progress, scanned: 0)
                    return false
                }
                guard type == UInt8(ascii: "$") else {
                    throw .unexpectedByte(expected: UInt8(ascii: "$"), got: type)
                }
                switch try Self.scanHeader(in: buffer, at: progress.offset, scanned: scanned, kind: .bulk) {
                case .incomplete(let scanned):
                    self.state = .readingArgumentHeader(progress, scanned: scanned)
                    return false
                case .complete(let length, let next):
                    guard length >= 0 else {
                        throw .invalidBulkLength
                    }
                    guard length <= self.limits.maxBulkLength else {
                        throw .bulkTooLong(length: length, limit: self.limits.maxBulkLength)
                    }
                    progress.offset = next
                    phase = .bulk(length: length)
                }

            case .bulk(let length):
                // Written so that a huge `length` cannot overflow: readableBytes >= offset always holds here.
                guard buffer.readableBytes - progress.offset - 2 >= length else {
                    self.state = .readingBulk(progress, length: length)
                    return false
                }
                let payload = base + progress.offset
                guard buffer.getInteger(at: payload + length, as: UInt16.self) == 0x0D0A else {
                    throw .missingBulkTerminator
                }
                if collecting {
                    guard let slice = buffer.getSlice(at: payload, length: length) else {
                        throw .invalidBulkLength  // Unreachable: the bytes were just checked to be readable.
                    }
                    arguments.append(slice)
                }
                progress.offset += length + 2
                progress.parsed += 1
                phase = .header(scanned: 0)
            }
        }
    }
}
