import Testing
import TierCachePolicy

/// Errors show as little of a file as locates the problem: a file that is not a policy (a secret linked or copied
/// into the directory) must not come back in `POLICY RELOAD`, `STATS`, `POLICY SHOW` or the log.
@Suite struct PolicyErrorExcerptTests {
    static let expectation = "expected a mapping with keys types, default and/or alerts"
    static let secret = "S3cr3tH4shD0NotLeak"
    /// 40 characters: longer than an excerpt.
    static let long = "abcdefghijklmnopqrstuvwxyz0123456789ABCD"
    static let cut = "'abcdefghijklmnopqrstuvwxyz012345…'"

    @Test func aFileThatIsNotAMappingIsNamedByKindOnly() {
        // passwd-like lines (no ": ", no trailing ":") read as one plain text value spanning the file.
        let passwd = """
            root:x:0:0:\(Self.secret):/root:/bin/bash
            daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
            """
        let lines = errorLines(passwd)
        #expect(lines == ["t.yaml:1:1: invalid policy file: found a text value (\(Self.expectation))"])
        #expect(errors(passwd).map(\.code) == [.wrongType])
        #expect(!lines.contains { $0.contains(Self.secret) || $0.contains("root") })

        let list = "- \(Self.secret)\n"
        #expect(errorLines(list) == ["t.yaml:1:1: invalid policy file: found a list (\(Self.expectation))"])
        let quoted = "\"\(Self.secret)\"\n"
        #expect(errorLines(quoted) == ["t.yaml:1:1: invalid policy file: found a text value (\(Self.expectation))"])
    }

    @Test func keysThatAreNotNamesAreNotShown() {
        // shadow lines end in ":", so each reads as a mapping key holding the user name and the password hash.
        let shadow = """
            root:$y$j9T$\(Self.secret)/Qx7Zp0:19000:0:99999:7:::
            daemon:*:19000:0:99999:7:::
            alice:$6$rounds=5000$\(Self.secret)2:19000:0:99999:7:::
            root:$y$j9T$\(Self.secret)/Qx7Zp0:19000:0:99999:7:::
            """
        #expect(
            errorLines(shadow) == [
                "t.yaml:1:1: invalid YAML: duplicate key in one mapping (a key may appear only once; "
                    + "this one is written again further down)"
            ])
        let unique = shadow.split(separator: "\n").prefix(3).joined(separator: "\n")
        let unknown = "unknown top-level key (not a key name; expected one of: types, default, alerts)"
        #expect(errorLines(unique) == ["t.yaml:1:1: \(unknown)", "t.yaml:2:1: \(unknown)", "t.yaml:3:1: \(unknown)"])
        #expect(errors(unique).map(\.code) == [.unknownKey, .unknownKey, .unknownKey])

        let nested =
            "types:\n  a:\n    load: SELECT 1 WHERE ? = 1\n    tables: [a]\n    ttl: 1m\n"
            + "    $\(Self.secret): 1\n"
        #expect(
            errorLines(nested) == [
                "t.yaml:6:5: type 'a': unknown key (not a key name; expected one of: \(PolicyParserErrorTests.keys))"
            ])
    }

    @Test func longValuesAreCutToTheirFirst32Characters() {
        let exactly32 = String(Self.long.prefix(32))
        let yaml = """
            types:
              a:
                load: SELECT 1 WHERE ? = 1
                tables: [a, \(Self.long)-x]
                ttl: \(Self.long)
                prefix: |
                  s p
                  \(Self.secret)
              b: \(Self.long)
            default:
              cache: "yes\\n\(Self.secret)"
              ttl: \(exactly32)
            """
        let lines = errorLines(yaml)
        #expect(
            lines == [
                "t.yaml:4:17: type 'a': invalid table name \(Self.cut) "
                    + "(expected letters, digits and _, not starting with a digit)",
                "t.yaml:5:10: type 'a': invalid ttl \(Self.cut) "
                    + "(expected seconds or a number with unit ms, s, m, h, d, e.g. 30s, 10m)",
                "t.yaml:6:13: type 'a': invalid prefix 's p…' (must not contain whitespace or control characters)",
                "t.yaml:9:6: type 'b': invalid settings: found \(Self.cut) "
                    + "(expected a mapping with at least load, tables and ttl)",
                "t.yaml:11:10: default: invalid cache 'yes…' (expected true or false)",
                "t.yaml:12:8: default: invalid ttl '\(exactly32)' "
                    + "(expected seconds or a number with unit ms, s, m, h, d, e.g. 30s, 10m)",
            ])
        #expect(!lines.contains { $0.contains(Self.secret) })
    }

    @Test func longKeysAndTypeNamesAreCutToo() {
        let name = "\(Self.long)-with-dashes"
        let yaml = """
            types:
              \(name):
                ttl: 1m
            \(Self.long): 1
            \(Self.long)x: 2
            """
        #expect(
            errorLines(yaml) == [
                "t.yaml:2:3: invalid type name \(Self.cut) (expected letters, digits and _, not starting with a digit)",
                "t.yaml:2:3: type \(Self.cut): missing required key 'load'",
                "t.yaml:2:3: type \(Self.cut): missing required key 'tables'",
                "t.yaml:4:1: unknown top-level key \(Self.cut) (expected one of: types, default, alerts)",
                "t.yaml:5:1: unknown top-level key \(Self.cut) (expected one of: types, default, alerts)",
            ])
        let duplicate = "types: {}\n\(Self.long): 1\n\(Self.long): 2\n"
        #expect(
            errorLines(duplicate) == [
                "t.yaml:2:1: invalid YAML: duplicate key \(Self.cut) in one mapping (a key may appear only once; "
                    + "this one is written again further down)"
            ])
    }
}
