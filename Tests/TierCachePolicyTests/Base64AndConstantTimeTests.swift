import Testing

@testable import TierCacheSupport

@Suite("Base64 and constant-time comparison (admin authentication)")
struct Base64AndConstantTimeTests {
    @Test(
        "decodes RFC 4648's vectors",
        arguments: [
            ("", ""), ("Zg==", "f"), ("Zm8=", "fo"), ("Zm9v", "foo"), ("Zm9vYg==", "foob"), ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"), ("ZGVmYXVsdDpzM2NyZXQ=", "default:s3cret"),
        ])
    func decodes(text: String, expected: String) {
        #expect(Base64.decode(text[...]) == Array(expected.utf8))
    }

    @Test("refuses what is not base64", arguments: ["!!!", "Zg=a", "Zg===", "Z m9v", "Zm9vY"])
    func refuses(text: String) {
        #expect(Base64.decode(text[...]) == nil)
    }

    @Test("equal only when every byte and the length agree")
    func constantTime() {
        #expect(ConstantTime.equal("s3cret".utf8, "s3cret".utf8))
        #expect(!ConstantTime.equal("s3cre".utf8, "s3cret".utf8))
        #expect(!ConstantTime.equal("s3cret!".utf8, "s3cret".utf8))
        #expect(!ConstantTime.equal("s3creT".utf8, "s3cret".utf8))
        #expect(ConstantTime.equal("".utf8, "".utf8))
        #expect(!ConstantTime.equal([0], []))
    }
}
