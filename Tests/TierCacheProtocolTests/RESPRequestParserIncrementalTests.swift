import NIOCore
import NIOTestUtils
import Testing
import TierCacheProtocol

@Suite("RESPRequestParser: partial input")
struct RESPRequestParserIncrementalTests {
    /// Requests of every shape, each with the one command it holds.
    static let samples: [(input: [UInt8], command: [[UInt8]])] = [
        (multibulk("SET", "key", "value"), [Array("SET".utf8), Array("key".utf8), Array("value".utf8)]),
        (multibulk([Array("SET".utf8), [0x0D, 0x0A, 0x00], []]), [Array("SET".utf8), [0x0D, 0x0A, 0x00], []]),
        (Array("*0\r\n".utf8) + multibulk("PING"), [Array("PING".utf8)]),
        (Array("GET key\r\n".utf8), [Array("GET".utf8), Array("key".utf8)]),
        (
            Array("\r\n  \nECHO \"a\\x41\\n\" 'b c'\n".utf8),
            [Array("ECHO".utf8), [0x61, 0x41, 0x0A], Array("b c".utf8)]
        ),
    ]

    @Test("every split point: the prefix yields nothing and keeps the reader index, the rest yields the command")
    func everySplitPoint() throws {
        for sample in Self.samples {
            for split in 0..<sample.input.count {
                var parser = RESPRequestParser()
                var arguments: [ByteBuffer] = []
                var buffer = ByteBuffer(bytes: sample.input[..<split])

                let complete = try parser.parseCommand(from: &buffer, into: &arguments)
                #expect(!complete, "split \(split) of \(sample.input)")
                // A leading skipped `*0` or blank line may be consumed; the command itself must not be.
                let consumed = buffer.readerIndex
                #expect(sample.input.count - consumed >= sample.command.count)

                buffer.writeBytes(sample.input[split...])
                #expect(try parser.parseCommand(from: &buffer, into: &arguments))
                #expect(arguments.map { Array($0.readableBytesView) } == sample.command)
                #expect(buffer.readableBytes == 0)
            }
        }
    }

    @Test("byte-by-byte feeding of a pipeline yields every command once, in order")
    func byteByByte() throws {
        var driver = ParserDriver()
        var decoded: [[[UInt8]]] = []
        for sample in Self.samples {
            for byte in sample.input {
                decoded += try driver.feed([byte])
            }
        }
        #expect(decoded == Self.samples.map(\.command))
        #expect(driver.buffer.readableBytes == 0)
    }

    @Test("discardReadBytes between partial calls does not lose the parser's place")
    func compactionBetweenCalls() throws {
        for sample in Self.samples {
            var driver = ParserDriver()
            // A consumed command first, so the partial one does not start at index 0 and compaction moves it.
            #expect(try driver.feed(multibulk("PING")).count == 1)
            var decoded: [[[UInt8]]] = []
            for (offset, byte) in sample.input.enumerated() {
                decoded += try driver.feed([byte])
                if offset % 3 == 0 {
                    driver.buffer.discardReadBytes()
                    #expect(driver.buffer.readerIndex == 0)
                }
            }
            #expect(decoded == [sample.command])
        }
    }

    @Test("a long inline line dripped byte by byte is scanned once, not from its start on every call")
    func inlineScanResumes() throws {
        var driver = ParserDriver()
        let line = Array(repeating: UInt8(ascii: "a"), count: 1000)
        for (index, byte) in line.enumerated() {
            #expect(try driver.feed([byte]).isEmpty)
            #expect(driver.parser.state == .scanningInline(scanned: index + 1))
        }
        #expect(try driver.feed("\r\n") == [[line]])
        #expect(driver.parser.state == .idle)
    }

    @Test("while a large payload arrives, the parser waits in readingBulk and then returns it whole")
    func bulkWaitsForPayload() throws {
        var driver = ParserDriver()
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let input = multibulk([Array("SET".utf8), Array("big".utf8), payload])
        var decoded: [[[UInt8]]] = []
        for chunkStart in stride(from: 0, to: input.count, by: 4096) {
            decoded += try driver.feed(input[chunkStart..<min(chunkStart + 4096, input.count)])
            if decoded.isEmpty, chunkStart > 64 {
                guard case .readingBulk(_, let length) = driver.parser.state else {
                    Issue.record("expected readingBulk, got \(driver.parser.state)")
                    return
                }
                #expect(length == payload.count)
            }
        }
        #expect(decoded == [[Array("SET".utf8), Array("big".utf8), payload]])
    }

    @Test("NIO's ByteToMessageDecoderVerifier: drip fed, whole, and many at once")
    func verifier() throws {
        let pairs: [(ByteBuffer, [[ByteBuffer]])] = [
            (ByteBuffer(bytes: multibulk("SET", "k", "v")), [["SET", "k", "v"].map { ByteBuffer(string: $0) }]),
            (
                ByteBuffer(bytes: multibulk("GET", "k") + multibulk("DEL", "k")),
                [
                    ["GET", "k"].map { ByteBuffer(string: $0) }, ["DEL", "k"].map { ByteBuffer(string: $0) },
                ]
            ),
            (ByteBuffer(string: "*0\r\n"), []),
            (ByteBuffer(string: "PING\r\n"), [[ByteBuffer(string: "PING")]]),
            (ByteBuffer(string: "\r\n"), []),
            (
                ByteBuffer(string: "SET 'a b' \"c\\td\"\n"),
                [
                    [ByteBuffer(string: "SET"), ByteBuffer(string: "a b"), ByteBuffer(string: "c\td")]
                ]
            ),
            (ByteBuffer(bytes: multibulk([[0x0D, 0x0A], []])), [[ByteBuffer(bytes: [0x0D, 0x0A]), ByteBuffer()]]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            RESPRequestDecoder()
        }
    }
}
