import Testing
import TierCacheProtocol

@Suite("Redis glob patterns")
struct GlobPatternTests {
    static let cases: [(pattern: String, key: String, matches: Bool)] = [
        ("*", "", true), ("*", "anything", true),
        ("user_sessions:*", "user_sessions:42", true), ("user_sessions:*", "auth_tokens:1", false),
        ("h?llo", "hello", true), ("h?llo", "hllo", false), ("h*llo", "hllo", true), ("h*llo", "heeeello", true),
        ("h[ae]llo", "hallo", true), ("h[ae]llo", "hillo", false), ("h[^e]llo", "hallo", true),
        ("h[^e]llo", "hello", false), ("h[a-b]llo", "hbllo", true), ("h[b-a]llo", "hallo", true),
        ("h[a-b]llo", "hcllo", false), ("h\\*llo", "h*llo", true), ("h\\*llo", "hello", false),
        ("*:1?", "items:10", true), ("*:1?", "items:1", false), ("a*b*c", "aXbYc", true), ("a*b*c", "aXbY", false),
        ("**x", "yx", true),
    ]

    @Test("patterns match as in Redis", arguments: cases)
    func matching(pattern: String, key: String, matches: Bool) {
        #expect(GlobPattern(Array(pattern.utf8)).matches(Array(key.utf8)) == matches)
    }

    @Test("a pattern of many stars can't make matching blow up")
    func noBlowUp() {
        let pattern = GlobPattern(Array((String(repeating: "*a", count: 40) + "b").utf8))
        #expect(!pattern.matches(Array(repeating: UInt8(ascii: "a"), count: 5000)))
    }
}
