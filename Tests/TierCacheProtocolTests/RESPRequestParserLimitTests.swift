import NIOCore
import Testing
import TierCacheProtocol
import TierCacheSupport

@Suite("RESPRequestParser: limits and malformed input")
struct RESPRequestParserLimitTests {
    /// Feeds `input` to a fresh parser and returns the error it throws, or nil.
    private func error(
        _ input: [UInt8],
        limits: RESPLimits = .default
    ) -> RESPProtocolError? {
        var driver = ParserDriver(limits: limits)
        do {
            _ = try driver.feed(input)
            return nil
        } catch {
            return error
        }
    }

    private func error(_ input: String, limits: RESPLimits = .default) -> RESPProtocolError? {
        self.error(Array(input.utf8), limits: limits)
    }

    private let small = RESPLimits(maxInlineLength: 16, maxBulkLength: 100, maxArrayCount: 10)

    @Test("a complete inline line over the limit is refused; one at the limit is accepted")
    func inlineLimitComplete() throws {
        let atLimit = String(repeating: "a", count: 16)
        var driver = ParserDriver(limits: self.small)
        #expect(try driver.feed(atLimit + "\r\n") == [[Array(atLimit.utf8)]])
        #expect(try driver.feed(atLimit + "\n") == [[Array(atLimit.utf8)]])

        let error = self.error(atLimit + "b\r\n", limits: self.small)
        #expect(error == .inlineTooLong(limit: 16))
        #expect(error?.message == "Protocol error: too big inline request (limit 16 bytes)")
        #expect(self.error(atLimit + "b\n", limits: self.small)?.code == .inlineTooLong)
    }

    @Test("an incomplete inline line is refused as soon as it must exceed the limit")
    func inlineLimitIncomplete() throws {
        var driver = ParserDriver(limits: self.small)
        #expect(try driver.feed(String(repeating: "a", count: 16)).isEmpty)
        // A CR may still be followed by the LF, so it does not count yet.
        #expect(try driver.feed("\r").isEmpty)
        #expect(throws: RESPProtocolError.inlineTooLong(limit: 16)) {
            try driver.feed("x")
        }

        var other = ParserDriver(limits: self.small)
        #expect(try other.feed(String(repeating: "a", count: 16)).isEmpty)
        #expect(throws: RESPProtocolError.inlineTooLong(limit: 16)) {
            try other.feed("a")
        }
    }

    @Test("the default inline limit is 64 KiB and is named in the message")
    func defaultInlineLimit() {
        let error = self.error(String(repeating: "x", count: 64 * 1024 + 1))
        #expect(error?.message == "Protocol error: too big inline request (limit 65536 bytes)")
    }

    @Test("a bulk length over the limit is refused before the payload arrives")
    func bulkLengthLimit() {
        let error = self.error("*1\r\n$99999999\r\n")
        #expect(error?.code == .bulkTooLong)
        #expect(error?.message == "Protocol error: bulk length 99999999 exceeds limit 67108864 bytes")
        #expect(self.error("*1\r\n$101\r\n", limits: self.small) == .bulkTooLong(length: 101, limit: 100))
        #expect(self.error(multibulk([Array(repeating: 0x61, count: 100)]), limits: self.small) == nil)
    }

    @Test("an argument count over the limit is refused before any argument arrives")
    func arrayCountLimit() {
        let error = self.error("*2000000\r\n")
        #expect(error?.code == .multibulkTooLong)
        #expect(error?.message == "Protocol error: multibulk length 2000000 exceeds limit 1048576")
        #expect(self.error("*11\r\n", limits: self.small) == .multibulkTooLong(count: 11, limit: 10))
        #expect(self.error("*10\r\n", limits: self.small) == nil)
    }

    @Test(
        "a count that is not a Redis decimal integer is an invalid multibulk length",
        arguments: [
            "*abc\r\n", "*1x\r\n", "*+1\r\n", "*01\r\n", "* 1\r\n", "*\r\n", "*-0\r\n", "*1\rx",
            "*99999999999999999999\r\n",
        ]
    )
    func invalidCount(input: String) {
        let error = self.error(input)
        #expect(error == .invalidMultibulkLength)
        #expect(error?.message == "Protocol error: invalid multibulk length")
    }

    @Test(
        "a bulk length that is negative or not a decimal integer is an invalid bulk length",
        arguments: ["$-1\r\n", "$-5\r\n", "$abc\r\n", "$01\r\n", "$-0\r\n", "$\r\n", "$3 \r\n", "$3\rx"]
    )
    func invalidBulkLength(header: String) {
        let error = self.error("*1\r\n" + header)
        #expect(error == .invalidBulkLength)
        #expect(error?.message == "Protocol error: invalid bulk length")
    }

    @Test("a bulk string not followed by CRLF is refused")
    func missingTerminator() {
        #expect(self.error("*1\r\n$3\r\nabcde\r\n") == .missingBulkTerminator)
        #expect(self.error("*1\r\n$3\r\nabc\n\r") == .missingBulkTerminator)
        #expect(self.error("*1\r\n$3\r\nabc\r") == nil)
    }

    @Test("an argument that does not start with $ is refused, naming the byte")
    func elementWithoutDollar() {
        let error = self.error("*2\r\n$3\r\nGET\r\n:1\r\n")
        #expect(error?.code == .unexpectedByte)
        #expect(error?.message == "Protocol error: expected '$', got ':'")
        #expect(self.error([UInt8]("*1\r\n".utf8) + [0x0A])?.message == #"Protocol error: expected '$', got '\x0a'"#)
    }

    @Test("a header line with no CRLF within 32 bytes is refused before it ends")
    func headerTooLong() {
        let digits = String(repeating: "1", count: 40)
        #expect(self.error("*" + digits) == .multibulkHeaderTooLong)
        #expect(self.error("*" + digits)?.message == "Protocol error: too big mbulk count string")
        #expect(self.error("*1\r\n$" + digits) == .bulkHeaderTooLong)
        #expect(self.error("*1\r\n$" + digits)?.message == "Protocol error: too big bulk count string")
        // 31 digits after the type byte still fit; they are just not a valid number.
        #expect(self.error("*" + String(repeating: "1", count: 31)) == nil)
        #expect(self.error("*" + String(repeating: "0", count: 31) + "\r\n") == .invalidMultibulkLength)
    }

    @Test("errors are single lines, so the server can send them as -ERR replies")
    func errorsAreSingleLines() {
        let errors: [RESPProtocolError] = [
            .invalidMultibulkLength, .invalidBulkLength, .multibulkHeaderTooLong, .bulkHeaderTooLong, .unbalancedQuotes,
            .missingBulkTerminator, .unexpectedByte(expected: 0x24, got: 0x0D), .inlineTooLong(limit: 1),
            .bulkTooLong(length: 2, limit: 1), .multibulkTooLong(count: 2, limit: 1), .lineTooLong(limit: 1),
            .invalidReply("x"), .depthExceeded(limit: 1),
        ]
        for error in errors {
            #expect(!error.message.contains("\r") && !error.message.contains("\n"), "\(error)")
            #expect(error.description == error.message)
        }
    }
}
