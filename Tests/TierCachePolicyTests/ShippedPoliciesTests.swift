import Foundation
import Testing
import TierCachePolicy

/// The policies shipped in `ttl-policies/`, which the demo database schema is written against.
@Suite struct ShippedPoliciesTests {
    /// The repository's `ttl-policies/`, found from this file through any symlinked checkout.
    static let directory = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ttl-policies").path

    static let expectedTTLs: [String: TTL] = [
        "user_sessions": .seconds(1800), "auth_tokens": .seconds(3600), "policy_decisions": .seconds(300),
        "governance_rules": .seconds(3600), "static_config": .seconds(86_400), "api_responses": .seconds(600),
        "compliance_checks": .seconds(900), "synthesis_results": .seconds(1200), "key": .seconds(600),
    ]

    @Test func loadsExactlyTheNineTypesWithTheirTTLs() throws {
        let set = try PolicyLoader.load(path: Self.directory)
        #expect(set.types.map(\.name) == Self.expectedTTLs.keys.sorted())
        #expect(Dictionary(uniqueKeysWithValues: set.types.map { ($0.name, $0.ttl) }) == Self.expectedTTLs)
        #expect(
            set.files.map { URL(fileURLWithPath: $0).lastPathComponent }
                == ["alerts.yaml", "benchmark.yaml", "content.yaml", "governance.yaml", "sessions.yaml"])
    }

    @Test func eachTypeReadsItsOwnTableUnderItsOwnName() throws {
        let set = try PolicyLoader.load(path: Self.directory)
        #expect(set.types.count == 9)
        for type in set.types {
            #expect(type.prefix == type.name)
            #expect(type.tables == [type.name])
            #expect(set.types(readingTable: type.name.uppercased()).map(\.name) == [type.name])
            #expect(type.load.contains("FROM \(type.name) WHERE id = ?"))
            #expect(type.delete == "DELETE FROM \(type.name) WHERE id = ?")
            #expect(type.l1 && type.l2 && type.cacheMisses)
            #expect(type.location.file.hasSuffix(".yaml"))
            #expect(type.location(of: .load) != nil)
        }
    }

    @Test func onlyAuthTokensIsReadOnly() throws {
        let set = try PolicyLoader.load(path: Self.directory)
        #expect(set.types.filter { $0.store == nil }.map(\.name) == ["auth_tokens"])
        for type in set.types {
            if let store = type.store {
                #expect(store.hasPrefix("INSERT INTO \(type.name)("))
                #expect(store.contains("ON CONFLICT(id) DO UPDATE SET"))
            }
        }
    }

    @Test func multiColumnTypes() throws {
        let set = try PolicyLoader.load(path: Self.directory)
        #expect(
            set.type(named: "auth_tokens")?.load
                == "SELECT user_id, scopes, expires_at FROM auth_tokens WHERE id = ?")
        #expect(
            set.type(named: "compliance_checks")?.load
                == "SELECT status, checked_at FROM compliance_checks WHERE id = ?")
        #expect(set.type(named: "user_sessions")?.load == "SELECT data FROM user_sessions WHERE id = ?")
    }

    @Test func shortTTLsHaveJitter() throws {
        let set = try PolicyLoader.load(path: Self.directory)
        for type in set.types {
            #expect(type.jitterPercent == (type.ttl <= .minutes(30) ? 10 : 0), "\(type.name)")
        }
    }

    @Test func uncachedByDefault() throws {
        let set = try PolicyLoader.load(path: Self.directory)
        #expect(set.defaultPolicy.cache == false)
        #expect(set.defaultPolicy.location?.file.hasSuffix("content.yaml") == true)
    }
}
