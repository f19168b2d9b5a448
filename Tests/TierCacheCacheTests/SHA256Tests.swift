import Testing

@testable import TierCacheCache

@Suite("SHA-256")
struct SHA256Tests {
    private func hex(_ input: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(input)
        return hasher.finalize().map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    @Test("FIPS 180-4 test vectors")
    func vectors() {
        #expect(hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        )
        #expect(
            hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        )
    }

    @Test("feeding in pieces gives the same digest as at once")
    func incremental() {
        let input = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var whole = SHA256()
        whole.update(input)
        for split in [0, 1, 55, 56, 63, 64, 65, 127, 999] {
            var pieces = SHA256()
            pieces.update(Array(input[..<split]))
            pieces.update(Array(input[split...]))
            var copy = whole
            #expect(pieces.finalize() == copy.finalize(), "split at \(split)")
        }
    }
}
