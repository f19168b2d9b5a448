import Testing
import TierCachePolicy

/// Each kind of problem in one file, with the exact line and column it is reported at.
@Suite struct PolicyParserErrorTests {
    static let keys =
        "prefix, load, store, delete, tables, ttl, jitter, l1, l2, cache_misses, max_stale, stale_while_revalidate, "
        + "refresh_ahead, ttl_max, warm, warm_rate"
    static let ttlHint = "expected seconds or a number with unit ms, s, m, h, d, e.g. 30s, 10m"

    @Test func badTTL() {
        let yaml = """
            types:
              user_sessions:
                load: SELECT data FROM user_sessions WHERE id = ?
                tables: [user_sessions]
                ttl: 30x
            """
        #expect(errorLines(yaml) == ["t.yaml:5:10: type 'user_sessions': invalid ttl '30x' (\(Self.ttlHint))"])
        #expect(errors(yaml).map(\.code) == [.invalidValue])
    }

    @Test func refreshAheadOutsideZeroToOne() {
        let yaml = """
            types:
              a:
                load: SELECT 1 WHERE ? = 1
                tables: [a]
                ttl: 1m
                refresh_ahead: 1
              b:
                load: SELECT 1 WHERE ? = 1
                tables: [b]
                ttl: 1m
                refresh_ahead: 80%
            """
        let hint = "expected a fraction of the TTL between 0 and 1, e.g. 0.8"
        #expect(
            errorLines(yaml) == [
                "t.yaml:6:20: type 'a': invalid refresh_ahead '1' (\(hint))",
                "t.yaml:11:20: type 'b': invalid refresh_ahead '80%' (\(hint))",
            ])
    }

    @Test func ttlThatIsZeroNegativeOrTooLarge() {
        let yaml = """
            types:
              a:
                load: SELECT 1 WHERE ? = 1
                tables: [a]
                ttl: "0s"
              b:
                load: SELECT 1 WHERE ? = 1
                tables: [b]
                ttl: -5
              c:
                load: SELECT 1 WHERE ? = 1
                tables: [c]
                ttl: 99999999999999999999
            """
        #expect(
            errorLines(yaml) == [
                "t.yaml:5:10: type 'a': invalid ttl '0s' (must be greater than zero)",
                "t.yaml:9:10: type 'b': invalid ttl '-5' (must be greater than zero)",
                "t.yaml:13:10: type 'c': invalid ttl '99999999999999999999' (must be at most 3650d)",
            ])
    }

    @Test func unknownKeySuggestsTheClosestOne() {
        let yaml = """
            types:
              user_sessions:
                load: SELECT data FROM user_sessions WHERE id = ?
                tables: [user_sessions]
                tll: 30m
                colour: blue
            """
        #expect(
            errorLines(yaml) == [
                "t.yaml:2:3: type 'user_sessions': missing required key 'ttl'",
                "t.yaml:5:5: type 'user_sessions': unknown key 'tll', did you mean 'ttl'? "
                    + "(expected one of: \(Self.keys))",
                "t.yaml:6:5: type 'user_sessions': unknown key 'colour' (expected one of: \(Self.keys))",
            ])
        #expect(errors(yaml).map(\.code) == [.missingKey, .unknownKey, .unknownKey])
    }

    @Test func missingRequiredKeysPointAtTheTypeName() {
        let yaml = """
            types:
              first:
                ttl: 1m
              x:
                ttl: 1m
                store: INSERT INTO x VALUES (?, ?)
            """
        #expect(
            errorLines(yaml) == [
                "t.yaml:2:3: type 'first': missing required key 'load'",
                "t.yaml:2:3: type 'first': missing required key 'tables'",
                "t.yaml:4:3: type 'x': missing required key 'load'",
                "t.yaml:4:3: type 'x': missing required key 'tables'",
            ])
    }

    @Test func valuesOfTheWrongShape() {
        let yaml = """
            types:
              a:
                load: [SELECT 1]
                tables: a
                ttl:
                l1: {x: 1}
              b: just a string
              c:
            """
        #expect(
            errorLines(yaml) == [
                "t.yaml:3:11: type 'a': invalid load: found a list "
                    + "(expected an SQL statement with 1 '?' placeholder: the id)",
                "t.yaml:4:13: type 'a': invalid tables: found 'a' "
                    + "(expected a list of table names, e.g. [user_sessions])",
                "t.yaml:5:5: type 'a': key 'ttl' has no value (\(Self.ttlHint))",
                "t.yaml:6:9: type 'a': invalid l1: found a mapping (expected true or false)",
                "t.yaml:7:6: type 'b': invalid settings: found 'just a string' "
                    + "(expected a mapping with at least load, tables and ttl)",
                "t.yaml:8:3: type 'c': no settings (expected a mapping with at least load, tables and ttl)",
            ])
        #expect(errors(yaml).allSatisfy { $0.code == .wrongType })
    }

    @Test func typesThatAreNotAMapping() {
        #expect(
            errorLines("types:\n  - a\n  - b\n") == [
                "t.yaml:2:3: invalid types: found a list (expected a mapping from type names to their settings)"
            ])
        #expect(errorLines("types:\n") == [])
        #expect(errorLines("types: {}\n") == [])
    }

    @Test func badJitter() {
        let yaml = """
            types:
              a:
                load: SELECT 1 WHERE ? = 1
                tables: [a]
                ttl: 1m
                jitter: 150%
              b:
                load: SELECT 1 WHERE ? = 1
                tables: [b]
                ttl: 1m
                jitter: -5
              c:
                load: SELECT 1 WHERE ? = 1
                tables: [c]
                ttl: 1m
                jitter: ten
            """
        let hint = "expected a percentage from 0 to 100, e.g. 10%"
        #expect(
            errorLines(yaml) == [
                "t.yaml:6:13: type 'a': invalid jitter '150%' (\(hint))",
                "t.yaml:11:13: type 'b': invalid jitter '-5' (\(hint))",
                "t.yaml:16:13: type 'c': invalid jitter 'ten' (\(hint))",
            ])
    }

    @Test func badBool() {
        let yaml = """
            types:
              a:
                load: SELECT 1 WHERE ? = 1
                tables: [a]
                ttl: 1m
                l1: maybe
                l2: 1
                cache_misses: "sometimes"
            """
        #expect(
            errorLines(yaml) == [
                "t.yaml:6:9: type 'a': invalid l1 'maybe' (expected true or false)",
                "t.yaml:7:9: type 'a': invalid l2 '1' (expected true or false)",
                "t.yaml:8:19: type 'a': invalid cache_misses 'sometimes' (expected true or false)",
            ])
    }

    @Test func badMaxStale() {
        let yaml = """
            types:
              a:
                load: SELECT 1 WHERE ? = 1
                tables: [a]
                ttl: 1m
                max_stale: 0s
              b:
                load: SELECT 1 WHERE ? = 1
                tables: [b]
                ttl: 1m
                max_stale: later
            """
        #expect(
            errorLines(yaml) == [
                "t.yaml:6:16: type 'a': invalid max_stale '0s' (must be greater than zero)",
                "t.yaml:11:16: type 'b': invalid max_stale 'later' "
                    + "(expected seconds or a number with unit ms, s, m, h, d, e.g. 30s, 10m)",
            ])
    }

    @Test func placeholderCounts() {
        let yaml = """
            types:
              a:
                load: SELECT data FROM a WHERE id = 'x?'
                store: INSERT INTO a(id, data) VALUES (?, 'v') -- ?
                delete: DELETE FROM a WHERE id = ? AND data = ?
                tables: [a]
                ttl: 1m
              b:
                load: "   "
                tables: [b]
                ttl: 1m
            """
        #expect(
            errorLines(yaml) == [
                "t.yaml:3:11: type 'a': load has 0 '?' placeholders, expected 1 (the id)",
                "t.yaml:4:12: type 'a': store has 1 '?' placeholder, expected 2 (the id, then the value)",
                "t.yaml:5:13: type 'a': delete has 2 '?' placeholders, expected 1 (the id)",
                "t.yaml:9:11: type 'b': invalid load: empty statement "
                    + "(expected an SQL statement with 1 '?' placeholder: the id)",
            ])
    }

    /// Numbered placeholders count as SQLite numbers them; quoted text and comments hold none.
    @Test func placeholdersCountedAsSQLiteDoes() throws {
        let yaml = """
            types:
              a:
                load: SELECT "q?", [b?], `c?` FROM a /* ? */ WHERE id = ?1 OR alias = ?1 -- ?
                store: INSERT INTO a(data, id) VALUES (?2, ?1)
                delete: DELETE FROM a WHERE id = ? AND 'it''s?' <> ''
                tables: [a]
                ttl: 1m
            """
        #expect(errorLines(yaml) == [])
        #expect(
            errorLines(yaml.replacing("?2, ?1", with: "?3, ?1")) == [
                "t.yaml:4:12: type 'a': store has 3 '?' placeholders, expected 2 (the id, then the value)"
            ])
    }

    @Test func badNamesAndTables() {
        let yaml = """
            types:
              user-sessions:
                load: SELECT 1 WHERE ? = 1
                tables: [ok, 2fast, Ok, [nested]]
                ttl: 1m
              b:
                load: SELECT 1 WHERE ? = 1
                tables: []
                ttl: 1m
            """
        let rule = "expected letters, digits and _, not starting with a digit"
        #expect(
            errorLines(yaml) == [
                "t.yaml:2:3: invalid type name 'user-sessions' (\(rule))",
                "t.yaml:4:18: type 'user-sessions': invalid table name '2fast' (\(rule))",
                "t.yaml:4:25: type 'user-sessions': table 'Ok' is listed twice",
                "t.yaml:4:29: type 'user-sessions': invalid table name: found a list (\(rule))",
                "t.yaml:8:13: type 'b': tables must list at least one table, e.g. [user_sessions]",
            ])
    }

    @Test func badPrefixes() {
        let yaml = """
            types:
              a:
                prefix: "sess ion"
                load: SELECT 1 WHERE ? = 1
                tables: [a]
                ttl: 1m
              b:
                prefix: "sess:"
                load: SELECT 1 WHERE ? = 1
                tables: [b]
                ttl: 1m
              c:
                prefix: ""
                load: SELECT 1 WHERE ? = 1
                tables: [c]
                ttl: 1m
            """
        #expect(
            errorLines(yaml) == [
                "t.yaml:3:13: type 'a': invalid prefix 'sess ion' (must not contain whitespace or control characters)",
                "t.yaml:8:13: type 'b': invalid prefix 'sess:' (must not end with ':'; "
                    + "TierCache puts ':' between prefix and id)",
                "t.yaml:13:13: type 'c': invalid prefix '' (must not be empty)",
            ])
    }

    @Test func unknownTopLevelKey() {
        let yaml = """
            type:
              a: {}
            defaults:
              cache: false
            extra: 1
            """
        #expect(
            errorLines(yaml) == [
                "t.yaml:1:1: unknown top-level key 'type', did you mean 'types'? (expected one of: types, default, alerts)",
                "t.yaml:3:1: unknown top-level key 'defaults', did you mean 'default'? "
                    + "(expected one of: types, default, alerts)",
                "t.yaml:5:1: unknown top-level key 'extra' (expected one of: types, default, alerts)",
            ])
        #expect(errors(yaml).allSatisfy { $0.code == .unknownKey })
    }

    @Test func defaultSectionProblems() {
        #expect(
            errorLines("default:\n  cache: true\n  jitter: 5%\n") == [
                "t.yaml:1:1: default: missing required key 'ttl' (required when cache is true)"
            ])
        #expect(
            errorLines("default:\n  ttl: 5m\n  cahce: true\n") == [
                "t.yaml:1:1: default: missing required key 'cache'",
                "t.yaml:3:3: default: unknown key 'cahce', did you mean 'cache'? "
                    + "(expected one of: cache, ttl, jitter, l1, l2)",
            ])
        #expect(
            errorLines("default:\n  cache: perhaps\n  ttl: 5 minutes\n") == [
                "t.yaml:2:10: default: invalid cache 'perhaps' (expected true or false)",
                "t.yaml:3:8: default: invalid ttl '5 minutes' (\(Self.ttlHint))",
            ])
        #expect(
            errorLines("default:\n") == [
                "t.yaml:1:1: default: no settings (expected a mapping with at least cache, e.g. cache: false)"
            ])
    }

    @Test func yamlSyntaxErrors() {
        let unterminated = """
            types:
              a:
                load: "SELECT 1
            """
        #expect(
            errorLines(unterminated) == [
                "t.yaml:3:20: invalid YAML: found unexpected end of stream "
                    + "(while scanning a quoted scalar at line 3, column 11)"
            ])
        #expect(errors(unterminated).map(\.code) == [.invalidYAML])

        let badIndent = """
            types:
              a:
                load: SELECT 1
               tables: [a]
            """
        #expect(
            errorLines(badIndent) == [
                "t.yaml:4:4: invalid YAML: did not find expected key "
                    + "(while parsing a block mapping at line 2, column 3)"
            ])
    }

    /// libyaml reports these by offset; columns count Unicode scalars like every other mark.
    @Test func controlCharactersArePlacedByLineAndColumn() {
        #expect(errorLines("types:\n  a: x\u{7}\n") == ["t.yaml:2:7: invalid YAML: control characters are not allowed"])
        #expect(errorLines("types:\n  a: 👍🏽\u{7}\n") == ["t.yaml:2:8: invalid YAML: control characters are not allowed"])
    }

    @Test func duplicateKeyInOneMappingIsAYAMLError() {
        let yaml = """
            types:
              a:
                load: SELECT 1 WHERE ? = 1
                tables: [a]
                ttl: 1m
                ttl: 2m
            """
        #expect(
            errorLines(yaml) == [
                "t.yaml:5:5: invalid YAML: duplicate key 'ttl' in one mapping (a key may appear only once; "
                    + "this one is written again further down)"
            ])
    }

    @Test func emptyFileAndNonMappingRoot() {
        let expectation = "expected a mapping with keys types, default and/or alerts"
        #expect(errorLines("") == ["t.yaml:1:1: policy file is empty (\(expectation))"])
        #expect(errorLines("# only a comment\n") == ["t.yaml:1:1: policy file is empty (\(expectation))"])
        #expect(errorLines("\n- a\n") == ["t.yaml:2:1: invalid policy file: found a list (\(expectation))"])
    }

    @Test func everyErrorOfAFileIsCollectedInOrder() {
        let yaml = """
            types:
              a:
                load: SELECT 1
                tables: [a]
                ttl: 1y
              b:
                load: SELECT 1 WHERE ? = 1
                tables: [b]
                ttl: 1m
                jitter: 200
                l1: nope
            extra: {}
            """
        #expect(
            errorLines(yaml) == [
                "t.yaml:3:11: type 'a': load has 0 '?' placeholders, expected 1 (the id)",
                "t.yaml:5:10: type 'a': invalid ttl '1y' (\(Self.ttlHint))",
                "t.yaml:10:13: type 'b': invalid jitter '200' (expected a percentage from 0 to 100, e.g. 10%)",
                "t.yaml:11:9: type 'b': invalid l1 'nope' (expected true or false)",
                "t.yaml:12:1: unknown top-level key 'extra' (expected one of: types, default, alerts)",
            ])
    }
}
