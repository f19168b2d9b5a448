import NIOCore
import Testing
import TestSupport

import TierCacheCache

@testable import TierCacheServer

@Suite("L2 entry encoding")
struct L2EntryTests {
    private let map = L2Entry(
        reply: CachedReply(
            resp2: ByteBuffer(string: "*2\r\n$1\r\na\r\n:1\r\n"), resp3: ByteBuffer(string: "%1\r\n$1\r\na\r\n:1\r\n")),
        isAbsent: false,
        createdAtMilliseconds: 1_767_225_600_000,
        expiresAtMilliseconds: 1_767_227_400_000,
        sequence: 42,
        tables: ["items", "owners"]
    )

    @Test("round trips with and without a RESP3 form, and for a cached miss")
    func roundTrip() throws {
        let plain = L2Entry(
            reply: CachedReply(resp2: ByteBuffer(bytes: [0x24, 0x31, 0x0D, 0x0A, 0x00, 0x0D, 0x0A])),
            isAbsent: false,
            createdAtMilliseconds: 1,
            expiresAtMilliseconds: .max
        )
        let absent = L2Entry(
            reply: CachedReply(resp2: ByteBuffer(string: "$-1\r\n"), resp3: ByteBuffer(string: "_\r\n")),
            isAbsent: true,
            createdAtMilliseconds: 5,
            expiresAtMilliseconds: 6
        )
        for entry in [map, plain, absent] {
            #expect(try L2Entry.decode(entry.encoded()) == entry)
        }
    }

    @Test("the layout is stable: version 1 bytes decode")
    func fixedBytes() throws {
        var bytes = ByteBuffer(bytes: [0x54, 0x43, 1, 0])
        bytes.writeInteger(UInt64(10))
        bytes.writeInteger(UInt64(20))
        bytes.writeInteger(UInt64(7))
        bytes.writeInteger(UInt16(1))
        bytes.writeInteger(UInt16(5))
        bytes.writeString("items")
        bytes.writeInteger(UInt32(5))
        bytes.writeString("+OK\r\n")
        let entry = try L2Entry.decode(bytes)
        #expect(entry.reply.resp2 == ByteBuffer(string: "+OK\r\n"))
        #expect(entry.reply.resp3 == nil)
        #expect((entry.createdAtMilliseconds, entry.expiresAtMilliseconds, entry.sequence) == (10, 20, 7))
        #expect(entry.tables == ["items"])
        #expect(!entry.isAbsent)
    }

    @Test("an unknown version is reported as such, not misread")
    func unknownVersion() {
        var bytes = map.encoded()
        bytes.setInteger(UInt8(2), at: bytes.readerIndex + 2)
        #expect(throws: L2Entry.DecodingFailure.unsupportedVersion(2)) { try L2Entry.decode(bytes) }
    }

    @Test("every truncation, extension and bad magic is refused")
    func corrupt() {
        let bytes = Array(map.encoded().readableBytesView)
        for length in 0..<bytes.count {
            #expect(throws: L2Entry.DecodingFailure.self) { try L2Entry.decode(ByteBuffer(bytes: bytes[..<length])) }
        }
        #expect(throws: L2Entry.DecodingFailure.self) { try L2Entry.decode(ByteBuffer(bytes: bytes + [0])) }
        #expect(throws: L2Entry.DecodingFailure.self) { try L2Entry.decode(ByteBuffer(string: "plain redis value")) }
    }

    @Test("random bytes never crash the decoder")
    func randomBytes() {
        var random = SplitMix64(seed: 7)
        let valid = Array(map.encoded().readableBytesView)
        for _ in 0..<20_000 {
            var bytes = valid
            // Flip a few bytes of a valid entry, or make one up entirely.
            if Bool.random(using: &random) {
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            } else {
                bytes = (0..<Int.random(in: 0..<64, using: &random)).map { _ in
                    UInt8.random(in: 0...255, using: &random)
                }
            }
            _ = try? L2Entry.decode(ByteBuffer(bytes: bytes))
        }
    }
}
