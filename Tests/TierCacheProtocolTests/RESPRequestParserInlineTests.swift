import NIOCore
import Testing
import TierCacheProtocol

@Suite("RESPRequestParser: inline commands")
struct RESPRequestParserInlineTests {
    /// Decodes one inline line and returns its arguments as bytes.
    private func split(_ line: String) throws(RESPProtocolError) -> [[UInt8]] {
        var driver = ParserDriver()
        let decoded = try driver.feed(line + "\r\n")
        #expect(decoded.count <= 1)
        return decoded.first ?? []
    }

    @Test("words are separated by spaces and tabs")
    func plainWords() throws {
        #expect(try self.split("PING") == [Array("PING".utf8)])
        #expect(try self.split("SET  key\tvalue ") == [Array("SET".utf8), Array("key".utf8), Array("value".utf8)])
    }

    @Test("a line ends at a bare LF as well as at CRLF")
    func bareLineFeed() throws {
        var driver = ParserDriver()
        #expect(try driver.feed("GET a\nGET b\r\n") == commands([["GET", "a"], ["GET", "b"]]))
    }

    @Test("only the CR right before the LF is dropped; another CR separates words")
    func carriageReturns() throws {
        var driver = ParserDriver()
        #expect(try driver.feed("GET a\rb\r\r\n") == commands([["GET", "a", "b"]]))
    }

    @Test("blank lines are skipped, and parsing goes on in the same call")
    func blankLinesSkipped() throws {
        var parser = RESPRequestParser()
        var buffer = ByteBuffer(string: "\r\n\n   \r\n\t\nPING\r\n")
        var arguments: [ByteBuffer] = []
        #expect(try parser.parseCommand(from: &buffer, into: &arguments))
        #expect(arguments.map { String(buffer: $0) } == ["PING"])
        #expect(buffer.readableBytes == 0)

        var blank = ByteBuffer(string: "  \r\n")
        #expect(try !parser.parseCommand(from: &blank, into: &arguments))
        #expect(blank.readableBytes == 0)
    }

    @Test("double quotes keep spaces and decode every escape")
    func doubleQuoteEscapes() throws {
        let line = #"SET "a key" "n\nr\rt\tb\ba\abs\\q\"o\z""#
        let expected: [UInt8] =
            Array("n".utf8) + [0x0A] + Array("r".utf8) + [0x0D] + Array("t".utf8) + [0x09] + Array("b".utf8) + [0x08]
            + Array("a".utf8) + [0x07] + Array("bs".utf8) + [0x5C] + Array("q".utf8) + [0x22] + Array("oz".utf8)
        #expect(try self.split(line) == [Array("SET".utf8), Array("a key".utf8), expected])
    }

    @Test(#"\xHH in double quotes is one byte; \x without two hex digits is a plain x"#)
    func hexEscapes() throws {
        #expect(try self.split(#""\x41\x7a\xFF\x00""#) == [[0x41, 0x7A, 0xFF, 0x00]])
        #expect(try self.split(#""\xZZ\x4""#) == [Array("xZZx4".utf8)])
    }

    @Test(#"single quotes keep backslashes, except in \'"#)
    func singleQuotes() throws {
        #expect(
            try self.split(#"SET 'it\'s' 'a\nb "c"'"#) == [
                Array("SET".utf8), Array("it's".utf8), Array(#"a\nb "c""#.utf8),
            ])
    }

    @Test("a quote may follow plain bytes in the same word, and empty quotes are an empty argument")
    func mixedAndEmptyQuotes() throws {
        #expect(try self.split(#"ab"cd ef" '' """#) == [Array("abcd ef".utf8), [], []])
    }

    @Test(
        "unbalanced quotes are refused",
        arguments: [#"SET "abc"#, "SET 'abc", #"SET "abc"def"#, "SET 'a'b", #"SET "abc\"#, #"SET "a\""#]
    )
    func unbalancedQuotes(line: String) {
        #expect(throws: RESPProtocolError.unbalancedQuotes) {
            try self.split(line)
        }
    }

    @Test("a NUL byte ends the line, as in Redis' C-string split")
    func nulEndsLine() throws {
        var driver = ParserDriver()
        #expect(try driver.feed(Array("GET a".utf8) + [0x00] + Array("b c\r\n".utf8)) == commands([["GET", "a"]]))
        #expect(throws: RESPProtocolError.unbalancedQuotes) {
            try driver.feed(Array("GET \"a".utf8) + [0x00] + Array("b\"\r\n".utf8))
        }
    }

    @Test("inline and multibulk commands can be pipelined together")
    func mixedPipeline() throws {
        var driver = ParserDriver()
        let input = Array("PING\r\n".utf8) + multibulk("GET", "k") + Array("ECHO \"hi there\"\n".utf8)
        #expect(try driver.feed(input) == commands([["PING"], ["GET", "k"], ["ECHO", "hi there"]]))
    }
}
