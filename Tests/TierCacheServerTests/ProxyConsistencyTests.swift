import NIOCore
import Testing
import TierCacheBackend
import TierCacheCache
@testable import TierCacheServer
import TierCacheStats
import TierCacheSupport


@Suite("Read path and invalidation")
struct ProxyConsistencyTests {
    @Test("a second GET is an L1 hit; a SET is read back at once")
    func readYourWrites() async throws {
        let harness = try ProxyTestHarness()
        #expect(try await harness.get("item:1") == "one")
        #expect(try await harness.get("item:1") == "one")
        let item = harness.type("item")
        #expect(item.counters.loads.current == 1)
        #expect(item.counters.l1.hits.current == 1)

        try await harness.set("item:1", "uno")
        #expect(try await harness.get("item:1") == "uno")
        #expect(item.counters.loads.current == 2)
    }

    @Test("a keyed write leaves the type's other keys cached but invalidates other types reading the table")
    func keyedWriteScope() async throws {
        let harness = try ProxyTestHarness()
        _ = try await harness.get("item:2")
        _ = try await harness.get("owner:2")
        try await harness.set("item:1", "uno")
        _ = try await harness.get("item:2")
        _ = try await harness.get("owner:2")
        #expect(harness.type("item").counters.loads.current == 1, "item:2 stays cached")
        #expect(harness.type("owner").counters.loads.current == 2, "owner reads items, so it was invalidated")
    }

    @Test("SQL.EXEC on a table invalidates cached keys and QUERY results that read it, and no others")
    func execInvalidates() async throws {
        let harness = try ProxyTestHarness()
        #expect(try await harness.get("item:2") == "two")
        let before = try await harness.query("SELECT id, data FROM items ORDER BY id")
        let notes = try await harness.query("SELECT body FROM notes ORDER BY id")
        #expect(try await harness.exec("UPDATE items SET data = ? WHERE id = '2'", [.text("deux")]) == 1)
        #expect(try await harness.get("item:2") == "deux")
        let after = try await harness.query("SELECT id, data FROM items ORDER BY id")
        #expect(before.contains("two"))
        #expect(after.contains("deux"))
        // The notes result was not touched by the write: still the same, and served from L1.
        let loadsBefore = harness.proxy.policy.defaultType.counters.loads.current
        #expect(try await harness.query("SELECT body FROM notes ORDER BY id") == notes)
        #expect(harness.proxy.policy.defaultType.counters.loads.current == loadsBefore)
    }

    @Test("a load that began before a write cannot fill L1 with pre-write data")
    func staleFillRefused() async throws {
        let harness = try ProxyTestHarness()
        let proxy = harness.proxy
        let key = ByteBuffer(string: "item:1")
        // A reader missed and read the old row at this stamp …
        let stamp = proxy.sequencer.current
        let oldReply = ResultEncoding.keyedValue(.init(columns: ["data"], rows: [[.text("one")]]))
        // … then a writer committed and invalidated …
        try await harness.set("item:1", "uno")
        // … then the reader tries to store what it read.
        let result = proxy.l1.store(
            key,
            reply: oldReply,
            info: L1EntryInfo(expiresAt: .max, stamp: stamp, group: harness.type("item").group),
            now: proxy.clock.monotonicNanoseconds()
        )
        #expect(result == .refusedStale)
        #expect(try await harness.get("item:1") == "uno")
    }

    @Test("an entry stored before a table write is never served after it (type stamp)")
    func typeStampInvalidates() async throws {
        let harness = try ProxyTestHarness()
        _ = try await harness.get("owner:1")
        _ = try await harness.exec("UPDATE items SET owner = 'y' WHERE id = '1'")
        #expect(try await harness.get("owner:1") == "y")
    }

    @Test("concurrent misses for one key make one backend load")
    func coalescing() async throws {
        let harness = try ProxyTestHarness()
        let proxy = harness.proxy
        let item = harness.type("item")
        let eventLoop = harness.eventLoop
        let read = harness.keyRead(item, ByteBuffer(string: "1"), ByteBuffer(string: "item:1"))
        // Issue all loads from the event loop so they race for the same flight.
        let futures = try await eventLoop.submit {
            (0..<200).map { _ in proxy.reads.read(read, on: eventLoop) }
        }.get()
        for future in futures {
            let loaded = try await future.get()
            #expect(ProxyTestHarness.decodeBulk(loaded.reply.resp2) == "one")
        }
        #expect(item.counters.loads.current == 1)
        #expect(item.counters.coalesced.current == 199)
    }

    @Test("with an INTEGER key, a write through another spelling of the id invalidates the cached key")
    func inexactIDs() async throws {
        let harness = try ProxyTestHarness()
        #expect(harness.type("item").idsAreExact)
        #expect(!harness.type("number").idsAreExact)
        #expect(try await harness.get("number:1") == "one")
        try await harness.set("number:01", "uno")  // the same row: id 01 is 1 in an INTEGER column
        #expect(try await harness.get("number:1") == "uno")
    }

    @Test("a schema change through SQL.EXEC drops every cached entry")
    func schemaChange() async throws {
        let harness = try ProxyTestHarness()
        _ = try await harness.query("SELECT body FROM notes")
        _ = try await harness.exec("CREATE TABLE extra (x)")
        #expect(harness.proxy.l1.snapshot().total.entries == 0)
    }
}
