import NIOCore
import Testing
import TierCacheProtocol

@testable import TierCacheServer

/// The hand-written encoding of an entry's GET matches the general RESP writer for every length of prefix and key.
@Suite("L2 entry GET encoding")
struct L2EntryGETEncodingTests {
    @Test(
        "same bytes as a RESP array of GET and <prefix>k:<key>, appended after what the buffer held",
        arguments: ["", "tiercache:", String(repeating: "p", count: 300)],
        [0, 1, 5, 85, 86, 87, 88, 1_000, 100_000]
    )
    func matchesGeneralWriter(prefix: String, keyLength: Int) {
        let key = ByteBuffer(bytes: (0..<keyLength).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let redisKey = Array(prefix.utf8) + Array("k:".utf8) + Array(key.readableBytesView)
        var expected = ByteBuffer(string: "earlier")
        expected.writeRESPArrayHeader(count: 2)
        expected.writeRESPBulkString(Array("GET".utf8))
        expected.writeRESPBulkString(redisKey)

        var written = ByteBuffer(string: "earlier")
        let keyHead = Array("\r\n".utf8) + Array(prefix.utf8) + Array("k:".utf8)
        L2Tier.writeEntryGET(keyHead: keyHead, key: key, into: &written)
        #expect(written == expected)
    }
}
