import NIOCore
import Testing
import TierCacheProtocol

@Suite("ByteBuffer RESP writers")
struct ByteBufferRESPWritingTests {
    /// The text a writer produced.
    private func written(_ write: (inout ByteBuffer) -> Void) -> String {
        var buffer = ByteBuffer()
        write(&buffer)
        return String(buffer: buffer)
    }

    @Test("simple strings, from a String or a StaticString, with CR and LF made spaces")
    func simpleStrings() {
        #expect(self.written { $0.writeRESPSimpleString("OK") } == "+OK\r\n")
        #expect(self.written { $0.writeRESPSimpleString(staticString: "PONG") } == "+PONG\r\n")
        #expect(self.written { $0.writeRESPSimpleString("a\r\nb") } == "+a  b\r\n")
        #expect(self.written { $0.writeRESPSimpleString("") } == "+\r\n")
    }

    @Test("errors keep their prefix and are always one line")
    func errors() {
        #expect(self.written { $0.writeRESPError("ERR unknown command 'x'") } == "-ERR unknown command 'x'\r\n")
        #expect(self.written { $0.writeRESPError("ERR bad\r\ninput\nhere\r") } == "-ERR bad  input here \r\n")
        #expect(self.written { $0.writeRESPError("WRONGTYPE é") } == "-WRONGTYPE é\r\n")
    }

    @Test(
        "integers are written as decimal digits, including the extremes",
        arguments: [
            (Int64(0), ":0\r\n"), (7, ":7\r\n"), (-7, ":-7\r\n"), (10, ":10\r\n"), (-10, ":-10\r\n"),
            (1_234_567_890, ":1234567890\r\n"), (Int64.max, ":9223372036854775807\r\n"),
            (Int64.min, ":-9223372036854775808\r\n"),
        ]
    )
    func integers(value: Int64, expected: String) {
        #expect(self.written { $0.writeRESPInteger(value) } == expected)
        #expect(self.written { $0.writeRESPInteger(Int(value)) } == expected)
    }

    @Test("bulk strings from a ByteBuffer, bytes or a String; a ByteBuffer's readable bytes only, left unchanged")
    func bulkStrings() {
        var source = ByteBuffer(string: "skip-value")
        source.moveReaderIndex(forwardBy: 5)
        let sourceCopy = source
        #expect(self.written { $0.writeRESPBulkString(source) } == "$5\r\nvalue\r\n")
        #expect(source == sourceCopy && source.readerIndex == 5)

        #expect(self.written { $0.writeRESPBulkString([0x0D, 0x0A, 0x00]) } == "$3\r\n\r\n\u{0}\r\n")
        #expect(self.written { $0.writeRESPBulkString("héllo") } == "$6\r\nhéllo\r\n")
        #expect(self.written { $0.writeRESPBulkString(ByteBuffer()) } == "$0\r\n\r\n")
        #expect(self.written { $0.writeRESPBulkString([UInt8]()) } == "$0\r\n\r\n")
    }

    @Test("a bulk string header, then the caller's bytes and CRLF")
    func bulkStringHeader() {
        let text = self.written { buffer in
            buffer.writeRESPBulkStringHeader(length: 12)
            buffer.writeString("cached value")
            buffer.writeRESPCRLF()
        }
        #expect(text == "$12\r\ncached value\r\n")
    }

    @Test("nulls and null arrays in RESP2 and RESP3")
    func nulls() {
        #expect(self.written { $0.writeRESPNull(.v2) } == "$-1\r\n")
        #expect(self.written { $0.writeRESPNull(.v3) } == "_\r\n")
        #expect(self.written { $0.writeRESPNullArray(.v2) } == "*-1\r\n")
        #expect(self.written { $0.writeRESPNullArray(.v3) } == "_\r\n")
    }

    @Test("aggregate headers: array, map (pairs in RESP3, flat in RESP2), set, push")
    func aggregateHeaders() {
        #expect(self.written { $0.writeRESPArrayHeader(count: 0) } == "*0\r\n")
        #expect(self.written { $0.writeRESPArrayHeader(count: 3) } == "*3\r\n")
        #expect(self.written { $0.writeRESPMapHeader(count: 2, .v3) } == "%2\r\n")
        #expect(self.written { $0.writeRESPMapHeader(count: 2, .v2) } == "*4\r\n")
        #expect(self.written { $0.writeRESPSetHeader(count: 5, .v3) } == "~5\r\n")
        #expect(self.written { $0.writeRESPSetHeader(count: 5, .v2) } == "*5\r\n")
        #expect(self.written { $0.writeRESPPushHeader(count: 3, .v3) } == ">3\r\n")
        #expect(self.written { $0.writeRESPPushHeader(count: 3, .v2) } == "*3\r\n")
    }

    @Test(
        "doubles: shortest text without .0; a RESP3 double, or a RESP2 bulk string",
        arguments: [
            (1.5, "1.5"), (3.0, "3"), (-0.25, "-0.25"), (0.1, "0.1"), (1e20, "1e+20"), (Double.infinity, "inf"),
            (-Double.infinity, "-inf"), (Double.nan, "nan"),
        ]
    )
    func doubles(value: Double, text: String) {
        #expect(self.written { $0.writeRESPDouble(value, .v3) } == ",\(text)\r\n")
        #expect(self.written { $0.writeRESPDouble(value, .v2) } == "$\(text.utf8.count)\r\n\(text)\r\n")
    }

    @Test("booleans: #t/#f in RESP3, :1/:0 in RESP2")
    func booleans() {
        #expect(self.written { $0.writeRESPBoolean(true, .v3) } == "#t\r\n")
        #expect(self.written { $0.writeRESPBoolean(false, .v3) } == "#f\r\n")
        #expect(self.written { $0.writeRESPBoolean(true, .v2) } == ":1\r\n")
        #expect(self.written { $0.writeRESPBoolean(false, .v2) } == ":0\r\n")
    }

    @Test("a whole RESPValue in RESP3, and downgraded in RESP2")
    func values() {
        let value = RESPValue.array([
            .map([RESPPair(key: .simpleString("a"), value: .boolean(true))]),
            .set([.integer(-1)]),
            .double(2.5),
            .null,
            .bigNumber("123456789012345678901234567890"),
            .verbatimString(format: "txt", text: Array("hi".utf8)),
            .push([.error("ERR x")]),
        ])
        let v3 =
            "*7\r\n%1\r\n+a\r\n#t\r\n~1\r\n:-1\r\n,2.5\r\n_\r\n(123456789012345678901234567890\r\n=6\r\ntxt:hi\r\n"
            + ">1\r\n-ERR x\r\n"
        let v2 =
            "*7\r\n*2\r\n+a\r\n:1\r\n*1\r\n:-1\r\n$3\r\n2.5\r\n$-1\r\n$30\r\n123456789012345678901234567890\r\n"
            + "$2\r\nhi\r\n*1\r\n-ERR x\r\n"
        #expect(self.written { $0.writeRESPValue(value, .v3) } == v3)
        #expect(self.written { $0.writeRESPValue(value, .v2) } == v2)
    }
}
