import NIOCore
import Testing
import TierCacheProtocol

@Suite("RESPRequestParser: multibulk requests")
struct RESPRequestParserMultibulkTests {
    @Test("a single command is decoded and consumed")
    func singleCommand() throws {
        var parser = RESPRequestParser()
        var buffer = ByteBuffer(string: "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
        var arguments: [ByteBuffer] = []

        #expect(try parser.parseCommand(from: &buffer, into: &arguments))
        #expect(arguments.map { String(buffer: $0) } == ["SET", "key", "value"])
        #expect(buffer.readableBytes == 0)
        #expect(try !parser.parseCommand(from: &buffer, into: &arguments))
    }

    @Test("arguments are slices of the inbound buffer, not copies")
    func argumentsAreSlices() throws {
        var parser = RESPRequestParser()
        var buffer = ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$8\r\nsome-key\r\n")
        var arguments: [ByteBuffer] = []
        #expect(try parser.parseCommand(from: &buffer, into: &arguments))

        let storage = buffer.withVeryUnsafeBytes { bytes in
            let start = UInt(bitPattern: bytes.baseAddress)
            return start..<start + UInt(bytes.count)
        }
        for argument in arguments {
            let address = argument.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
            #expect(storage.contains(address))
        }
        #expect(arguments.map { String(buffer: $0) } == ["GET", "some-key"])
    }

    @Test("the arguments array is emptied before a command is added, keeping its capacity")
    func argumentsAreReplaced() throws {
        var parser = RESPRequestParser()
        var buffer = ByteBuffer(bytes: multibulk("PING"))
        var arguments = [ByteBuffer(string: "stale"), ByteBuffer(string: "values")]
        arguments.reserveCapacity(100)
        let capacity = arguments.capacity

        #expect(try parser.parseCommand(from: &buffer, into: &arguments))
        #expect(arguments.map { String(buffer: $0) } == ["PING"])
        #expect(arguments.capacity == capacity)
    }

    @Test("1000 pipelined commands in one buffer come out in order")
    func pipelined() throws {
        var input: [UInt8] = []
        for index in 0..<1000 {
            input += multibulk("SET", "key:\(index)", "value-\(index)")
        }
        var driver = ParserDriver()
        let decoded = try driver.feed(input)

        #expect(decoded.count == 1000)
        #expect(decoded == commands((0..<1000).map { ["SET", "key:\($0)", "value-\($0)"] }))
        #expect(driver.buffer.readableBytes == 0)
    }

    @Test("bulk strings are binary safe: CR, LF and NUL inside are payload")
    func binarySafe() throws {
        let payload: [UInt8] = [0x0D, 0x0A, 0x00, 0xFF, UInt8(ascii: "*"), UInt8(ascii: "$"), 0x0D, 0x0A]
        var driver = ParserDriver()
        let decoded = try driver.feed(multibulk([Array("SET".utf8), Array("k".utf8), payload]))
        #expect(decoded == [[Array("SET".utf8), Array("k".utf8), payload]])
    }

    @Test("an empty bulk string is an empty argument")
    func emptyBulk() throws {
        var driver = ParserDriver()
        #expect(try driver.feed("*2\r\n$3\r\nGET\r\n$0\r\n\r\n") == [[Array("GET".utf8), []]])
    }

    @Test(
        "*0 and *-1 are consumed and skipped, and parsing goes on in the same call", arguments: ["*0\r\n", "*-1\r\n"])
    func emptyMultibulkSkipped(empty: String) throws {
        var parser = RESPRequestParser()
        var arguments: [ByteBuffer] = []

        var onlyEmpty = ByteBuffer(string: empty)
        #expect(try !parser.parseCommand(from: &onlyEmpty, into: &arguments))
        #expect(onlyEmpty.readableBytes == 0)

        var buffer = ByteBuffer(string: empty + empty)
        buffer.writeBytes(multibulk("PING"))
        #expect(try parser.parseCommand(from: &buffer, into: &arguments))
        #expect(arguments.map { String(buffer: $0) } == ["PING"])
        #expect(buffer.readableBytes == 0)
    }

    @Test("a partial command returns false, keeps the reader index and leaves no arguments")
    func partialCommand() throws {
        var parser = RESPRequestParser()
        var buffer = ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$3\r\nke")
        var arguments = [ByteBuffer(string: "stale")]
        let readerIndex = buffer.readerIndex

        #expect(try !parser.parseCommand(from: &buffer, into: &arguments))
        #expect(buffer.readerIndex == readerIndex)
        #expect(arguments.isEmpty)
    }

    @Test("a large argument count is decoded")
    func manyArguments() throws {
        let arguments = (0..<5000).map { Array("member-\($0)".utf8) }
        var driver = ParserDriver()
        #expect(try driver.feed(multibulk([Array("SADD".utf8)] + arguments)) == [[Array("SADD".utf8)] + arguments])
    }
}
