import NIOCore

// Inline commands: one text line, as typed into telnet or `redis-cli` piped input.
extension RESPRequestParser {
    /// The outcome of reading one inline line.
    enum InlineStep {
        /// No newline yet; the state records how far the line was scanned.
        case needMoreData
        /// A blank line was consumed; look at the next command.
        case skipped
        /// A command is in `arguments`.
        case command
    }

    /// Reads one inline line ending in `\n` (a `\r` before it is dropped) and splits it into arguments.
    ///
    /// Only the bytes after `scanned` are searched, and never more than the limit allows, so a line dripped byte by
    /// byte costs linear time, and an overlong one is refused before its newline arrives.
    mutating func parseInline(
        from buffer: inout ByteBuffer,
        scanned: Int,
        into arguments: inout [ByteBuffer]
    ) throws(RESPProtocolError) -> InlineStep {
        let limit = self.limits.maxInlineLength
        let start = buffer.readerIndex
        let available = buffer.readableBytes
        // The line may hold `limit` bytes plus `\r\n`; there is no point searching further.
        let searchEnd = available - 2 < limit ? available : limit + 2
        guard let lineFeed = buffer.firstIndex(of: UInt8(ascii: "\n"), from: start + scanned, to: start + searchEnd)
        else {
            // The line is at least this long, less a `\r` that may yet turn out to precede the `\n`.
            var minimumLength = searchEnd
            if searchEnd > 0, buffer.getInteger(at: start + searchEnd - 1, as: UInt8.self) == UInt8(ascii: "\r") {
                minimumLength -= 1
            }
            guard minimumLength <= limit else {
                throw .inlineTooLong(limit: limit)
            }
            self.state = .scanningInline(scanned: max(scanned, searchEnd))
            return .needMoreData
        }
        var lineEnd = lineFeed
        if lineEnd > start, buffer.getInteger(at: lineEnd - 1, as: UInt8.self) == UInt8(ascii: "\r") {
            lineEnd -= 1
        }
        guard lineEnd - start <= limit else {
            throw .inlineTooLong(limit: limit)
        }
        arguments.removeAll(keepingCapacity: true)
        try Self.splitInlineArguments(buffer, from: start, to: lineEnd, into: &arguments)
        buffer.moveReaderIndex(to: lineFeed + 1)
        self.state = .idle
        return arguments.isEmpty ? .skipped : .command
    }

    /// Splits `start..<end` into words like Redis' `sdssplitargs`, so inline commands mean what they mean to Redis.
    ///
    /// Words are separated by whitespace. In double quotes, `\n \r \t \b \a \\ \"` and `\xHH` are escapes and any
    /// other escaped byte stands for itself; in single quotes only `\'` is an escape. A closing quote must be
    /// followed by whitespace or the end of the line. As in Redis, which reads the line as a C string, a NUL byte
    /// ends the line (inside quotes that makes them unbalanced). Plain words are slices of `buffer`; words with
    /// quotes are copied, since unescaping changes their bytes.
    /// - Parameters:
    ///   - buffer: The inbound bytes.
    ///   - start: Absolute index of the line's first byte.
    ///   - end: Absolute index just past the line, without its `\r\n`.
    ///   - arguments: Receives the words.
    static func splitInlineArguments(
        _ buffer: ByteBuffer,
        from start: Int,
        to end: Int,
        into arguments: inout [ByteBuffer]
    ) throws(RESPProtocolError) {
        // Like `*p` on a C string: past the line, or at an unreadable index, there is a terminating NUL.
        func byte(_ index: Int) -> UInt8 {
            index < end ? buffer.getInteger(at: index, as: UInt8.self) ?? 0 : 0
        }

        var position = start
        while true {
            while byte(position) != 0 && isSpace(byte(position)) {
                position += 1
            }
            guard byte(position) != 0 else {
                return
            }

            var word = Word(start: position)
            var inDoubleQuotes = false
            var inSingleQuotes = false
            var done = false
            while !done {
                let current = byte(position)
                if inDoubleQuotes {
                    if current == UInt8(ascii: "\\"), byte(position + 1) == UInt8(ascii: "x"),
                        let high = hexValue(byte(position + 2)), let low = hexValue(byte(position + 3))
                    {
                        word.append(high << 4 | low)
                        position += 3
                    } else if current == UInt8(ascii: "\\"), byte(position + 1) != 0 {
                        position += 1
                        word.append(unescape(byte(position)))
                    } else if current == UInt8(ascii: "\"") {
                        guard byte(position + 1) == 0 || isSpace(byte(position + 1)) else {
                            throw .unbalancedQuotes
                        }
                        done = true
                    } else if current == 0 {
                        throw .unbalancedQuotes
                    } else {
                        word.append(current)
                    }
                } else if inSingleQuotes {
                    if current == UInt8(ascii: "\\"), byte(position + 1) == UInt8(ascii: "'") {
                        position += 1
                        word.append(UInt8(ascii: "'"))
                    } else if current == UInt8(ascii: "'") {
                        guard byte(position + 1) == 0 || isSpace(byte(position + 1)) else {
                            throw .unbalancedQuotes
                        }
                        done = true
                    } else if current == 0 {
                        throw .unbalancedQuotes
                    } else {
                        word.append(current)
                    }
                } else {
                    switch current {
                    case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"), 0:
                        done = true
                    case UInt8(ascii: "\""):
                        inDoubleQuotes = true
                        word.materialize(from: buffer)
                    case UInt8(ascii: "'"):
                        inSingleQuotes = true
                        word.materialize(from: buffer)
                    default:
                        word.append(current)
                    }
                }
                if byte(position) != 0 {
                    position += 1
                }
            }
            arguments.append(word.finish(from: buffer))
        }
    }

    /// One inline word: a run of the line while it is plain, a new buffer once quoting or escapes change its bytes.
    private struct Word {
        /// Absolute index of the word's first byte.
        let start: Int
        /// Length of the plain run starting at `start`, while `copy` is nil.
        var plainLength = 0
        /// The unescaped bytes, once the word needed them.
        var copy: ByteBuffer?

        init(start: Int) {
            self.start = start
        }

        /// Switches to a copied word; plain bytes appended so far are carried over.
        mutating func materialize(from buffer: ByteBuffer) {
            guard self.copy == nil else {
                return
            }
            var copy = ByteBuffer()
            if let plain = buffer.getSlice(at: self.start, length: self.plainLength) {
                copy.writeImmutableBuffer(plain)
            }
            self.copy = copy
        }

        /// Appends a byte: the next byte of the plain run, or a byte of the copy.
        mutating func append(_ byte: UInt8) {
            if self.copy != nil {
                self.copy?.writeInteger(byte)
            } else {
                self.plainLength += 1
            }
        }

        /// The finished word as a slice of the plain run, or the copy.
        func finish(from buffer: ByteBuffer) -> ByteBuffer {
            self.copy ?? buffer.getSlice(at: self.start, length: self.plainLength) ?? ByteBuffer()
        }
    }
}

/// C's `isspace` in the "C" locale, which `sdssplitargs` uses between words and after a closing quote.
private func isSpace(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || (byte >= 0x09 && byte <= 0x0D)
}

/// The value of an ASCII hex digit, or nil.
private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// The byte a backslash escape in double quotes stands for; unknown escapes stand for themselves.
private func unescape(_ byte: UInt8) -> UInt8 {
    switch byte {
    case UInt8(ascii: "n"): 0x0A
    case UInt8(ascii: "r"): 0x0D
    case UInt8(ascii: "t"): 0x09
    case UInt8(ascii: "b"): 0x08
    case UInt8(ascii: "a"): 0x07
    default: byte
    }
}
