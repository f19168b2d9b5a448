import NIOCore
import Testing

@testable import TierCacheServer

@Suite("Key id canonical form")
struct KeyedIDTests {
    @Test(
        "text and canonical integers have one spelling",
        arguments: ["1", "42", "-5", "0", "abc", "user-1", "1a", "", "0x10", "1e", "e5", "-", "12ab", "01-02"]
    )
    func canonical(id: String) {
        #expect(KeyedID.isCanonical(ByteBuffer(string: id)))
    }

    @Test(
        "numbers SQLite may read as another spelling are not canonical",
        arguments: ["01", "1.0", "+1", " 1", "1 ", "1e3", "-0", ".5", "5.", "1E+2", "0000", "1234567890123456789"]
    )
    func notCanonical(id: String) {
        #expect(!KeyedID.isCanonical(ByteBuffer(string: id)))
    }
}
