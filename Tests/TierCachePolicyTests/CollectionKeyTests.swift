import Foundation
import Testing
import TierCachePolicy

/// Keys that are collections or aliases are refused before Yams composes the file: its report of repeated keys
/// orders them in time exponential in their nesting (a fuzzed 2.8 kB file of nested `?` keys ran for over 20
/// minutes).
@Suite("YAML keys that are not names")
struct CollectionKeyTests {
    private static let message =
        "invalid YAML: a mapping key must be a name, not a sequence, a mapping or an alias (YAML's `?` keys and "
        + "[...] or {...} as keys are not accepted here)"

    /// A fuzzer's input from the repository, as the harness reads it: any bytes, decoded as UTF-8 with replacements.
    private static func fuzzInput(_ path: String) throws -> String {
        let input = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(path)
        return String(decoding: try Data(contentsOf: input), as: UTF8.self)
    }

    @Test("the fuzzer's input (nested `?` keys, repeated): refused at once, at the first such key")
    func fuzzedNestedComplexKeys() throws {
        let text = try Self.fuzzInput("FuzzTesting/Corpus/FuzzPolicy/regression-nested-complex-keys")
        let lines = errorLines(text)
        #expect(lines.count == 1)
        #expect(lines.first?.hasSuffix(Self.message) == true)
    }

    @Test(
        "a sequence, a mapping or an alias as a key is refused, with where it is",
        arguments: [
            ("types:\n  [a, b]: 1\n", "t.yaml:2:3"),
            ("types:\n  {a: 1}: 2\n", "t.yaml:2:3"),
            ("default: &d\n  ttl: 1m\ntypes:\n  *d : 1\n", "t.yaml:4:3"),
            ("types:\n  a:\n    ? - x\n    : 1\n", "t.yaml:3:7"),
        ])
    func collectionKeys(yaml: String, location: String) {
        #expect(errorLines(yaml) == ["\(location): \(Self.message)"])
    }

    @Test("question marks elsewhere are fine: SQL placeholders, quoted and block text")
    func questionMarksInValues() {
        let yaml = """
            types:
              a:
                load: SELECT v FROM a WHERE id = ?
                store: "INSERT INTO a VALUES (?, ?)"
                delete: |
                  DELETE FROM a
                  ? extra line starting with a question mark
                tables: [a]
                ttl: 1m
            """
        #expect(!errorLines(yaml).contains { $0.contains("must be a name") })
    }

    @Test("the fuzzer's second input (BOM-led, 934 levels; Yams' hashing overflowed ASan's stack): refused at once")
    func fuzzedStackOverflowInput() throws {
        let text = try Self.fuzzInput("FuzzTesting/Corpus/FuzzPolicy/regression-bom-deep-sequence-keys")
        let lines = errorLines(text)
        #expect(lines.count == 1)
        #expect(lines.first?.hasSuffix(Self.message) == true)
    }

    /// With a byte-order mark, libyaml left to detect the encoding drops it, and with UTF-8 named (as Yams names
    /// it) keeps it as a column of the first line: the scan must read the document Yams composes.
    @Test("a byte-order mark: the scan sees the document Yams composes")
    func byteOrderMark() {
        #expect(errorLines("\u{FEFF}a: 1\n ? [x]\n : 1\n") == ["t.yaml:2:4: \(Self.message)"])
    }

    @Test("nesting: 32 levels parse as YAML, the 33rd is refused where it opens")
    func nestingDepth() {
        let ok = "alerts:\n  x: " + String(repeating: "[", count: 30) + String(repeating: "]", count: 30) + "\n"
        #expect(!errorLines(ok).contains { $0.contains("nested more than") })
        let deep = "alerts:\n  x: " + String(repeating: "[", count: 31) + String(repeating: "]", count: 31) + "\n"
        #expect(errorLines(deep) == ["t.yaml:2:36: invalid YAML: collections nested more than 32 levels deep"])
    }

    @Test("the users file refuses them too")
    func usersFile() {
        guard case .failure(let error) = UsersFile.parse(yaml: "users:\n  ? [a]\n  : 1\n", file: "u.yaml") else {
            Issue.record("parsed")
            return
        }
        #expect(error.errors.map(\.description) == ["u.yaml:2:5: \(Self.message)"])
    }
}
