import Testing
import TierCacheRedis

@Suite struct RedisReplyReaderTests {
    private let stream = Array(
        "+OK\r\n-ERR nope\r\n:42\r\n$5\r\nhe\r\no\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n$0\r\n\r\n".utf8)

    private func feed(_ reader: RedisReplyReader, _ bytes: ArraySlice<UInt8>) throws {
        try bytes.withUnsafeBytes { try reader.feed($0) }
    }

    @Test("replies come out whole however the bytes are split")
    func everySplit() throws {
        let expected: [RedisReply] = [
            .status("OK"), .error("ERR nope"), .integer(42), .bulk(Array("he\r\no".utf8)), .null,
            .array([.bulk(Array("a".utf8)), .integer(1)]), .bulk([]),
        ]
        for split in 0...stream.count {
            let reader = RedisReplyReader()
            var replies: [RedisReply] = []
            try feed(reader, stream[..<split])
            while let reply = try reader.next() { replies.append(reply) }
            try feed(reader, stream[split...])
            while let reply = try reader.next() { replies.append(reply) }
            #expect(replies == expected, "split at \(split)")
        }
    }

    @Test("a bulk string can be taken straight from hiredis' memory; other replies as usual")
    func rawBulk() throws {
        let reader = RedisReplyReader()
        try feed(reader, Array("$3\r\nabc\r\n:7\r\n".utf8)[...])
        guard case .bulk(let bytes)? = try reader.next(bulk: { Array($0) }) else {
            Issue.record("expected a raw bulk")
            return
        }
        #expect(bytes == Array("abc".utf8))
        guard case .other(.integer(7))? = try reader.next(bulk: { Array($0) }) else {
            Issue.record("expected an integer")
            return
        }
        #expect(try reader.next(bulk: { Array($0) }) == nil)
    }

    @Test("bytes that are not RESP are a protocol error")
    func garbage() throws {
        let reader = RedisReplyReader()
        try feed(reader, Array("?what\r\n".utf8)[...])
        #expect(throws: RedisError.self) { try reader.next() }
    }
}
