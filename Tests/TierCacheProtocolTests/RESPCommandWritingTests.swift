import NIOCore
import Testing
import TierCacheProtocol

/// The one-pass command writer (a template and an argument) matches the general RESP writers for every length of
/// name, prefix and argument.
@Suite("RESP command writing")
struct RESPCommandWritingTests {
    @Test(
        "same bytes as a RESP array of the name and <prefix><argument>, appended after what the buffer held",
        arguments: ["", "tiercache:k:", String(repeating: "p", count: 300)],
        [0, 1, 5, 85, 86, 87, 88, 1_000, 100_000]
    )
    func matchesGeneralWriter(prefix: String, argumentLength: Int) {
        let argument = ByteBuffer(bytes: (0..<argumentLength).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        for name in ["GET", String(repeating: "N", count: 12)] {
            var expected = ByteBuffer(string: "earlier")
            expected.writeRESPArrayHeader(count: 2)
            expected.writeRESPBulkString(Array(name.utf8))
            expected.writeRESPBulkString(Array(prefix.utf8) + Array(argument.readableBytesView))

            var written = ByteBuffer(string: "earlier")
            let template = RESPCommandTemplate(name: Array(name.utf8), argumentPrefix: Array(prefix.utf8))
            written.writeRESPCommand(template, argument: argument)
            #expect(written == expected)
        }
    }
}
