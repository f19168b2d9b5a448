import TierCacheSupport
import NIOCore
import Testing
import TierCacheCache
import TierCachePolicy

@testable import TierCacheServer

/// Policy versions built over one `TypeRegistry`, as reloads build them.
@Suite("Policy versions")
struct PolicyVersionTests {
    private static func version(_ yaml: String, _ registry: TypeRegistry) throws -> PolicyState {
        let file = try PolicyLoader.parse(yaml: yaml, file: "types.yaml").get()
        return try PolicyState(try PolicySet.merge([file]), exactIDs: [], registry: registry)
    }

    private static func type(_ name: String, ttl: String = "1m", l1: Bool = true) -> String {
        """
          \(name):
            load: SELECT v FROM t WHERE id = ?
            tables: [t]
            ttl: \(ttl)
            l1: \(l1)

        """
    }

    @Test("a type keeps its group, counters and write stamp across versions; a new type gets a new group")
    func stableSlots() throws {
        let registry = TypeRegistry()
        let first = try Self.version("types:\n" + Self.type("a") + Self.type("b"), registry)
        let second = try Self.version("types:\n" + Self.type("b", ttl: "5s") + Self.type("c"), registry)
        let third = try Self.version("types:\n" + Self.type("a") + Self.type("c"), registry)
        let (a, b, c) = try (
            #require(first.type(named: "a")), #require(first.type(named: "b")), #require(second.type(named: "c"))
        )
        #expect(Set([a.group, b.group, c.group]).count == 3 && !([a.group, b.group, c.group].contains(0)))
        #expect(second.type(named: "b")?.group == b.group)
        #expect(second.type(named: "b")?.counters === b.counters)
        #expect(second.type(named: "b")?.stamp === b.stamp)
        #expect(second.type(named: "b")?.lifetime.ttlNanoseconds == 5_000_000_000)
        #expect(third.type(named: "a")?.group == a.group, "removed and added back: the same group")
        #expect(second.type(named: "a") == nil)
        #expect(first.defaultType.group == 0 && second.defaultType.counters === first.defaultType.counters)
    }

    @Test("an entry is servable only while its type is in the version and caches in L1, and no write came after it")
    func servable() throws {
        let registry = TypeRegistry()
        let first = try Self.version("types:\n" + Self.type("a") + Self.type("b"), registry)
        let a = try #require(first.type(named: "a"))
        let b = try #require(first.type(named: "b"))
        let entryA = L1EntryInfo(expiresAt: .max, stamp: 5, group: a.group)
        let entryB = L1EntryInfo(expiresAt: .max, stamp: 5, group: b.group)
        #expect(first.keyedEntryIsFresh(entryA) && first.keyedEntryIsFresh(entryB))
        #expect(!first.keyedEntryIsFresh(L1EntryInfo(expiresAt: .max, stamp: 5, group: 0)), "the default's group")
        #expect(!first.keyedEntryIsFresh(L1EntryInfo(expiresAt: .max, stamp: 5, group: 999)))

        let second = try Self.version("types:\n" + Self.type("a", l1: false), registry)
        #expect(!second.keyedEntryIsFresh(entryA), "a switched off L1")
        #expect(!second.keyedEntryIsFresh(entryB), "b removed")
        #expect(second.route(ByteBuffer(string: "b:1")) == nil)

        let third = try Self.version("types:\n" + Self.type("a"), registry)
        #expect(third.keyedEntryIsFresh(entryA))
        a.stamp.raise(to: 6)  // a write, under any version: the stamp is the type's, not the version's
        #expect(!third.keyedEntryIsFresh(entryA))
    }

    @Test("more distinct type names than the registry holds are refused, naming the limit")
    func capacity() throws {
        let registry = TypeRegistry()
        for index in 1..<TypeRegistry.capacity { #expect(registry.slot(for: "t\(index)") != nil) }
        #expect(registry.slot(for: "t1") != nil, "a name seen before still has its slot")
        #expect(registry.slot(for: "one-too-many") == nil)
        #expect(throws: PolicyState.TooManyTypes.self) {
            try Self.version("types:\n" + Self.type("fresh"), registry)
        }
    }

    @Test("L2 consistency: a type registered after writes to it starts from its last write number")
    func lateRegistration() {
        let consistency = L2Consistency(clock: SystemClock())
        consistency.register([("a", 1)])
        consistency.record(
            InvalidationMessage(sequence: 40, origin: 1, sentAtMicroseconds: 0, types: ["a", "b"]))
        #expect(!consistency.keyedEntryIsFresh(group: 1, sequence: 39))
        #expect(consistency.keyedEntryIsFresh(group: 2, sequence: 10), "b has no group yet")
        consistency.register([("b", 2)])
        #expect(!consistency.keyedEntryIsFresh(group: 2, sequence: 39))
        #expect(consistency.keyedEntryIsFresh(group: 2, sequence: 40))
    }
}

@Suite("Adaptive TTL")
struct AdaptiveTTLTests {
    private static func type(_ settings: String) throws -> DataTypeState {
        let yaml = "types:\n  a:\n    load: SELECT v FROM t WHERE id = ?\n    tables: [t]\n" + settings
        let file = try PolicyLoader.parse(yaml: yaml, file: "t.yaml").get()
        let state = try PolicyState(try PolicySet.merge([file]), exactIDs: [], registry: TypeRegistry())
        return try #require(state.type(named: "a"))
    }

    @Test("a key read R times per TTL lives ttl × R / 10, at least ttl and at most ttl_max; without ttl_max, ttl")
    func rule() throws {
        let adaptive = try Self.type("    ttl: 1m\n    ttl_max: 10m\n")
        let minute: UInt64 = 60_000_000_000
        #expect(adaptive.nextLifetime(readsPerSecond: 0) == minute)
        #expect(adaptive.nextLifetime(readsPerSecond: 5.0 / 60) == minute, "5 reads a minute: below 10")
        #expect(adaptive.nextLifetime(readsPerSecond: 30.0 / 60) == 3 * minute)
        #expect(adaptive.nextLifetime(readsPerSecond: 1000) == 10 * minute, "capped at ttl_max")
        #expect(adaptive.longestLifetimeMilliseconds == 600_000)
        let fixed = try Self.type("    ttl: 1m\n")
        #expect(fixed.nextLifetime(readsPerSecond: 1000) == minute)
    }

    @Test("adaptive TTL counts a key only once it was seen in two samples: one sampled read stretches nothing")
    func sampledOnce() {
        let tracker = AccessTracker(window: .seconds(1), groups: 1, now: 0)
        let key: [UInt8] = Array("a:1".utf8)
        key.withUnsafeBytes { tracker.record(group: 0, key: $0) }
        let once = key.withUnsafeBytes { tracker.sustainedReadsPerSecond(group: 0, key: $0) }
        let estimated = key.withUnsafeBytes { tracker.readsPerSecond(group: 0, key: $0) }
        #expect(once == 0)
        #expect(estimated == Double(AccessTracker.sampleEvery) / 2, "STATS HOT still sees it")
        key.withUnsafeBytes { tracker.record(group: 0, key: $0) }
        let twice = key.withUnsafeBytes { tracker.sustainedReadsPerSecond(group: 0, key: $0) }
        #expect(twice == Double(AccessTracker.sampleEvery))
    }

    @Test("ttl_max shorter than ttl is refused where it is written")
    func refused() {
        let yaml = "types:\n  a:\n    load: SELECT v FROM t WHERE id = ?\n    tables: [t]\n    ttl: 1h\n    ttl_max: 5m\n"
        guard case .failure(let error) = PolicyLoader.parse(yaml: yaml, file: "t.yaml") else {
            Issue.record("accepted")
            return
        }
        #expect(
            error.description
                == "t.yaml:6:14: type 'a': ttl_max (5m) must be at least ttl (1h): it is the longest life a read-often key gets")
    }
}
