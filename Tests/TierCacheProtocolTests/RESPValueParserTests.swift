import NIOCore
import Testing
import TierCacheProtocol

@Suite("RESPValueParser")
struct RESPValueParserTests {
    /// Parses exactly one value from `text`, expecting the buffer to be used up.
    private func parse(
        _ text: String,
        parser: RESPValueParser = RESPValueParser()
    ) throws(RESPProtocolError) -> RESPValue? {
        var parser = parser
        var buffer = ByteBuffer(string: text)
        let value = try parser.next(from: &buffer)
        if value != nil {
            #expect(buffer.readableBytes == 0)
        }
        return value
    }

    static let scalars: [RESPValue] = [
        .simpleString("OK"), .simpleString(""), .error("ERR something"), .integer(0), .integer(Int64.min),
        .integer(Int64.max), .bulkString([]), .bulkString([0x0D, 0x0A, 0x00, 0xFF]), .null, .double(1.5),
        .double(-0.125), .double(.infinity), .double(-.infinity), .boolean(true), .boolean(false),
        .bigNumber("-3492890328409238509324850943850943825024385"), .verbatimString(format: "txt", text: []),
        .verbatimString(format: "mkd", text: Array("# a\r\nb".utf8)),
    ]

    @Test("each scalar type round-trips through the RESP3 writer", arguments: Self.scalars)
    func scalarRoundTrip(value: RESPValue) throws {
        var buffer = ByteBuffer()
        buffer.writeRESPValue(value, .v3)
        var parser = RESPValueParser()
        #expect(try parser.next(from: &buffer) == value)
        #expect(buffer.readableBytes == 0)
    }

    @Test("NaN decodes as a NaN double")
    func nan() throws {
        guard case .double(let value) = try self.parse(",nan\r\n") else {
            Issue.record("not a double")
            return
        }
        #expect(value.isNaN)
    }

    static let nested: RESPValue = .array([
        .integer(1),
        .array([.bulkString(Array("a".utf8)), .array([]), .null]),
        .map([
            RESPPair(key: .bulkString(Array("k".utf8)), value: .set([.integer(2), .boolean(false)])),
            RESPPair(key: .integer(3), value: .map([])),
        ]),
        .push([.simpleString("message"), .array([.double(0.5)])]),
    ])

    @Test("nested arrays, maps, sets and pushes round-trip")
    func nestedRoundTrip() throws {
        var buffer = ByteBuffer()
        buffer.writeRESPValue(Self.nested, .v3)
        var parser = RESPValueParser()
        #expect(try parser.next(from: &buffer) == Self.nested)
    }

    @Test("RESP2 null bulk string and null array both decode as null")
    func resp2Nulls() throws {
        #expect(try self.parse("$-1\r\n") == .null)
        #expect(try self.parse("*-1\r\n") == .null)
        #expect(try self.parse("_\r\n") == .null)
    }

    @Test("a RESP2 map is an even array that reads back as pairs")
    func resp2Map() throws {
        let pairs = [
            RESPPair(key: .bulkString(Array("hits".utf8)), value: .integer(10)),
            RESPPair(key: .bulkString(Array("ratio".utf8)), value: .double(0.5)),
        ]
        var buffer = ByteBuffer()
        buffer.writeRESPValue(.map(pairs), .v2)
        var parser = RESPValueParser()
        let value = try parser.next(from: &buffer)
        #expect(
            value?.pairs == [
                RESPPair(key: .bulkString(Array("hits".utf8)), value: .integer(10)),
                RESPPair(key: .bulkString(Array("ratio".utf8)), value: .bulkString(Array("0.5".utf8))),
            ])
    }

    @Test("blob errors decode as errors; attributes are read and dropped")
    func blobErrorsAndAttributes() throws {
        #expect(try self.parse("!21\r\nSYNTAX invalid syntax\r\n") == .error("SYNTAX invalid syntax"))
        #expect(try self.parse("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n:5\r\n") == .integer(5))
        #expect(try self.parse("*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n") == .array([.integer(1), .integer(2)]))
    }

    @Test("a partial reply returns nil at every split point and leaves the reader index; the whole returns it")
    func partialInput() throws {
        var whole = ByteBuffer()
        whole.writeRESPValue(Self.nested, .v3)
        let bytes = Array(whole.readableBytesView)
        for split in 0..<bytes.count {
            var buffer = ByteBuffer(bytes: bytes[..<split])
            var parser = RESPValueParser()
            #expect(try parser.next(from: &buffer) == nil, "split \(split)")
            #expect(buffer.readerIndex == 0)
            buffer.writeBytes(bytes[split...])
            #expect(try parser.next(from: &buffer) == Self.nested)
        }
    }

    @Test("pipelined replies come out one per call")
    func pipelined() throws {
        var buffer = ByteBuffer(string: "+OK\r\n:1\r\n$3\r\nabc\r\n")
        var parser = RESPValueParser()
        #expect(try parser.next(from: &buffer) == .simpleString("OK"))
        #expect(try parser.next(from: &buffer) == .integer(1))
        #expect(try parser.next(from: &buffer) == .bulkString(Array("abc".utf8)))
        #expect(try parser.next(from: &buffer) == nil)
    }

    @Test("nesting deeper than maxDepth is refused, even very deep input, without exhausting the stack")
    func depthLimit() throws {
        let parser = RESPValueParser(maxDepth: 2)
        #expect(try self.parse("*1\r\n*1\r\n:1\r\n", parser: parser) == .array([.array([.integer(1)])]))
        #expect(throws: RESPProtocolError.depthExceeded(limit: 2)) {
            try self.parse("*1\r\n*1\r\n*1\r\n:1\r\n", parser: parser)
        }
        #expect(throws: RESPProtocolError.depthExceeded(limit: 2)) {
            try self.parse("*1\r\n%1\r\n+k\r\n~0\r\n", parser: parser)
        }
        #expect(throws: RESPProtocolError.depthExceeded(limit: 0)) {
            try self.parse("*0\r\n", parser: RESPValueParser(maxDepth: 0))
        }
        let deep = String(repeating: "*1\r\n", count: 100_000) + ":1\r\n"
        #expect(throws: RESPProtocolError.depthExceeded(limit: 64)) {
            try self.parse(deep)
        }
    }

    @Test("limits on bulk length, element count and line length apply to replies")
    func limits() throws {
        let limits = RESPLimits(maxInlineLength: 8, maxBulkLength: 4, maxArrayCount: 2)
        let parser = RESPValueParser(limits: limits)
        #expect(throws: RESPProtocolError.bulkTooLong(length: 5, limit: 4)) {
            try self.parse("$5\r\n", parser: parser)
        }
        #expect(throws: RESPProtocolError.multibulkTooLong(count: 3, limit: 2)) {
            try self.parse("*3\r\n", parser: parser)
        }
        #expect(throws: RESPProtocolError.lineTooLong(limit: 8)) {
            try self.parse("+123456789", parser: parser)
        }
        #expect(try self.parse("+12345678", parser: parser) == nil)
    }

    @Test(
        "malformed replies are refused",
        arguments: [
            "?x\r\n", ":12a\r\n", ":\r\n", ":99999999999999999999\r\n", "#x\r\n", ",abc\r\n", "_x\r\n", "$-2\r\n",
            "$3\r\nabcd\r\n", "*-2\r\n", "%-1\r\n", "=3\r\ntxt\r\n", "+OK\n", "!-1\r\n",
        ]
    )
    func malformed(text: String) {
        #expect(throws: RESPProtocolError.self) {
            try self.parse(text)
        }
    }

    /// What `nextReply` produced, comparable: a bulk string's bytes, or the value.
    private enum Read: Equatable {
        case bulk([UInt8])
        case value(RESPValue)

        init(_ reply: RESPValueParser.Reply) {
            switch reply {
            case .bulkString(let bytes): self = .bulk(Array(bytes.readableBytesView))
            case .value(let value): self = .value(value)
            }
        }
    }

    @Test("nextReply: every reply comes out whole and in order however the bytes are split")
    func nextReplyEverySplit() throws {
        let bytes = Array("+OK\r\n-ERR nope\r\n:42\r\n$5\r\nhe\r\no\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n$0\r\n\r\n".utf8)
        let expected: [Read] = [
            .value(.simpleString("OK")), .value(.error("ERR nope")), .value(.integer(42)), .bulk(Array("he\r\no".utf8)),
            .value(.null), .value(.array([.bulkString(Array("a".utf8)), .integer(1)])), .bulk([]),
        ]
        for split in 0...bytes.count {
            var parser = RESPValueParser()
            var buffer = ByteBuffer(bytes: bytes[..<split])
            var replies: [Read] = []
            while let reply = try parser.nextReply(from: &buffer) { replies.append(Read(reply)) }
            buffer.writeBytes(bytes[split...])
            while let reply = try parser.nextReply(from: &buffer) { replies.append(Read(reply)) }
            #expect(replies == expected, "split at \(split)")
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test("nextReply: a bulk string is a slice of the buffer read, not a copy")
    func nextReplySlices() throws {
        var parser = RESPValueParser()
        var buffer = ByteBuffer(string: "$3\r\nabc\r\n:7\r\n")
        guard case .bulkString(let bytes)? = try parser.nextReply(from: &buffer) else {
            Issue.record("expected a bulk string")
            return
        }
        #expect(String(buffer: bytes) == "abc")
        // The slice shares the buffer's storage: both point at the same bytes.
        let sliceStart = bytes.withUnsafeReadableBytes { $0.baseAddress }
        let bufferStart = buffer.withUnsafeReadableBytes { $0.baseAddress }
        #expect(sliceStart.map { $0 + 5 } == bufferStart)
        #expect(try parser.nextReply(from: &buffer).map(Read.init) == .value(.integer(7)))
        #expect(try parser.nextReply(from: &buffer) == nil)
    }

    @Test(
        "nextReply: malformed or oversized bulk strings are refused",
        arguments: ["$-2\r\n", "$3\r\nabcd\r\n", "$x\r\n", "$5\r\n", "$\r\n"]
    )
    func nextReplyMalformed(text: String) {
        var parser = RESPValueParser(limits: RESPLimits(maxBulkLength: 4))
        var buffer = ByteBuffer(string: text)
        #expect(throws: RESPProtocolError.self) {
            try parser.nextReply(from: &buffer)
        }
    }

    @Test("accessors read strings, integers, aggregates and pairs, and are nil for other types")
    func accessors() {
        #expect(RESPValue.simpleString("a").string == "a")
        #expect(RESPValue.bulkString(Array("b".utf8)).string == "b")
        #expect(RESPValue.verbatimString(format: "txt", text: Array("c".utf8)).string == "c")
        #expect(RESPValue.integer(1).string == nil)
        #expect(RESPValue.integer(-4).int == -4)
        #expect(RESPValue.bulkString(Array("4".utf8)).int == nil)
        #expect(RESPValue.array([.null]).array == [.null])
        #expect(RESPValue.set([.null]).array == [.null])
        #expect(RESPValue.push([.null]).array == [.null])
        #expect(RESPValue.null.array == nil)
        let pair = RESPPair(key: .simpleString("k"), value: .integer(1))
        #expect(RESPValue.map([pair]).pairs == [pair])
        #expect(RESPValue.array([.simpleString("k"), .integer(1)]).pairs == [pair])
        #expect(RESPValue.array([.simpleString("k")]).pairs == nil)
        #expect(RESPValue.integer(1).pairs == nil)
    }
}
