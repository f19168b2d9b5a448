import Testing
import TierCachePolicy
import TierCacheSupport

/// What a type or default section gets for the keys it leaves out, and where it records what it has.
@Suite struct PolicyDefaultsTests {
    @Test func aMinimalTypeGetsTheDefaults() throws {
        let yaml = """
            types:
              user_sessions:
                load: SELECT data FROM user_sessions WHERE id = ?
                tables: [User_Sessions, audit, USER_SESSIONS_ARCHIVE]
                ttl: 30m
            """
        let file = try PolicyLoader.parse(yaml: yaml, file: "t.yaml").get()
        #expect(file.defaultPolicy == nil)
        let type = try #require(file.types.first)
        #expect(type.name == "user_sessions")
        #expect(type.prefix == "user_sessions")
        #expect(type.store == nil && type.delete == nil)
        #expect(type.tables == ["user_sessions", "audit", "user_sessions_archive"])
        #expect(type.ttl == .minutes(30))
        #expect(type.jitterPercent == 0)
        #expect(type.l1 && type.l2 && type.cacheMisses)
        #expect(type.location == SourceLocation(file: "t.yaml", line: 2, column: 3))
        #expect(
            type.fieldLocations == [
                "load": SourceLocation(file: "t.yaml", line: 3, column: 11),
                "tables": SourceLocation(file: "t.yaml", line: 4, column: 13),
                "ttl": SourceLocation(file: "t.yaml", line: 5, column: 10),
            ])
        #expect(type.location(of: .prefix) == nil)

        let set = try PolicySet.merge([file])
        #expect(set.defaultPolicy == .noCache)
        #expect(set.types(readingTable: "AUDIT").map(\.name) == ["user_sessions"])
        #expect(set.types(readingTable: "other").isEmpty)
    }

    @Test func everyKeyWritten() throws {
        let yaml = """
            types:
              sessions:
                prefix: sess:v2
                load: |
                  SELECT data
                  FROM user_sessions WHERE id = ?
                store: INSERT INTO user_sessions(id, data) VALUES (?, ?)
                delete: DELETE FROM user_sessions WHERE id = ?
                tables: [user_sessions]
                ttl: 1500ms
                jitter: 2.5%
                l1: false
                l2: yes
                cache_misses: off
                max_stale: 10m
                stale_while_revalidate: 30s
                refresh_ahead: 0.75
            default:
              cache: true
              ttl: 45
              jitter: 5
              l2: false
            """
        let file = try PolicyLoader.parse(yaml: yaml, file: "t.yaml").get()
        let type = try #require(file.types.first)
        #expect(type.prefix == "sess:v2")
        #expect(type.load == "SELECT data\nFROM user_sessions WHERE id = ?")
        #expect(type.store == "INSERT INTO user_sessions(id, data) VALUES (?, ?)")
        #expect(type.delete == "DELETE FROM user_sessions WHERE id = ?")
        #expect(type.ttl == TTL(milliseconds: 1500))
        #expect(type.jitterPercent == 2.5)
        #expect(!type.l1 && type.l2 && !type.cacheMisses)
        #expect(type.location(of: .cacheMisses) == SourceLocation(file: "t.yaml", line: 14, column: 19))
        #expect(type.maxStale == TTL.seconds(600))
        #expect(type.staleWhileRevalidate == TTL.seconds(30))
        #expect(type.refreshAhead == 0.75)
        #expect(type.fieldLocations.count == 13)
        #expect(
            file.defaultPolicy
                == DefaultPolicy(
                    cache: true, ttl: .seconds(45), jitterPercent: 5, l1: true, l2: false,
                    location: SourceLocation(file: "t.yaml", line: 18, column: 1)))
    }

    @Test func publicInitializerDefaults() {
        let location = SourceLocation(file: "x.yaml", line: 1, column: 1)
        let type = DataTypePolicy(name: "t", load: "SELECT 1", tables: ["t"], ttl: .seconds(1), location: location)
        #expect(type.prefix == "t" && type.l1 && type.l2 && type.cacheMisses && type.jitterPercent == 0)
        #expect(type.maxStale == nil && type.staleWhileRevalidate == nil)
        let set = PolicySet(types: [
            DataTypePolicy(name: "b", load: "", tables: [], ttl: .seconds(1), location: location), type,
        ])
        #expect(set.types.map(\.name) == ["b", "t"])
        #expect(set.defaultPolicy == .noCache)
        #expect(DefaultPolicy.noCache.cache == false && DefaultPolicy.noCache.ttl == nil)
    }

    @Test func errorDescriptions() {
        let first = PolicyError(.invalidValue, at: SourceLocation(file: "a.yaml", line: 7, column: 10), "bad")
        let second = PolicyError(.unknownKey, at: SourceLocation(file: "b.yaml", line: 1, column: 2), "worse")
        #expect(first.description == "a.yaml:7:10: bad")
        #expect(PolicyLoadError(errors: [first, second]).description == "a.yaml:7:10: bad\nb.yaml:1:2: worse")
        #expect(PolicyError.Code.duplicatePrefix.description == "duplicatePrefix")
    }
}
