import NIOCore
import Testing

import TierCacheCache

@testable import TierCacheServer

@Suite("Invalidation message encoding")
struct InvalidationMessageTests {
    private let message = InvalidationMessage(
        origin: 0xDEAD_BEEF,
        sentAtMicroseconds: 1_767_225_600_000_000,
        types: ["item", "owner"],
        tables: ["items"],
        keys: [ByteBuffer(string: "item:1"), ByteBuffer(bytes: [0x69, 0x3A, 0x00, 0xFF])]
    )

    /// What the publishing script sends: the write number, a colon, the body.
    private func published(_ message: InvalidationMessage, number: UInt64) -> [UInt8] {
        Array("\(number):".utf8) + message.encodedBody()
    }

    @Test("round trips with the write number the script prepends")
    func roundTrip() throws {
        var expected = message
        expected.sequence = 42
        #expect(try InvalidationMessage.decode(published(message, number: 42)) == expected)

        let everything = InvalidationMessage(origin: 1, sentAtMicroseconds: 2, everything: true)
        var numbered = everything
        numbered.sequence = 7
        #expect(try InvalidationMessage.decode(published(everything, number: 7)) == numbered)
    }

    @Test("a missing or malformed write number, bad magic, truncation and trailing bytes are refused")
    func corrupt() {
        let body = message.encodedBody()
        #expect(throws: InvalidationMessage.DecodingFailure.self) { try InvalidationMessage.decode(body) }
        #expect(throws: InvalidationMessage.DecodingFailure.self) {
            try InvalidationMessage.decode(Array("x1:".utf8) + body)
        }
        let full = published(message, number: 3)
        for length in 0..<full.count {
            #expect(throws: InvalidationMessage.DecodingFailure.self) {
                try InvalidationMessage.decode(Array(full[..<length]))
            }
        }
        #expect(throws: InvalidationMessage.DecodingFailure.self) { try InvalidationMessage.decode(full + [0]) }
        var badMagic = full
        badMagic[2] = UInt8(ascii: "X")
        #expect(throws: InvalidationMessage.DecodingFailure.self) { try InvalidationMessage.decode(badMagic) }
    }

    @Test("a newer version is reported as such")
    func unknownVersion() {
        var bytes = published(message, number: 3)
        bytes[4] = 2  // "3:" then "TI", then the version byte
        #expect(throws: InvalidationMessage.DecodingFailure.unsupportedVersion(2)) {
            try InvalidationMessage.decode(bytes)
        }
    }
}
