import NIOCore
import Synchronization
import Testing
import TierCacheBackend

@testable import TierCacheServer

/// The request path over a `BackendAdapter` with no thread pool (`NonBlockingTestAdapter`, shaped like a network
/// database's client, over the real SQLite file): what PostgreSQL's adapter will be.
@Suite("Non-blocking backend adapter")
struct NonBlockingAdapterTests {
    @Test("loads, writes with their invalidation, QUERY and SQL.EXEC run through an adapter with no thread pool")
    func readsAndWrites() async throws {
        let harness = try ProxyTestHarness(adapter: { NonBlockingTestAdapter($0) })
        #expect(try await harness.get("item:1") == "one")
        try await harness.set("item:1", "uno")
        #expect(try await harness.get("item:1") == "uno", "the write invalidated the cached value")
        #expect(try await harness.mget(["item:1", "item:2"]) == ["uno", "two"])
        #expect(try await harness.delete(["item:2"]) == 1)
        #expect(try await harness.get("item:2") == nil)
        let rows = try await harness.query("SELECT id, data FROM items ORDER BY id")
        #expect(rows.contains("uno") && !rows.contains("two"))
        #expect(try await harness.exec("UPDATE items SET data = 'one again' WHERE id = '1'") == 1)
        #expect(try await harness.get("item:1") == "one again", "SQL.EXEC invalidated the table's types")
        #expect(harness.proxy.database.breaker.allows(), "no failure counted against the database")
    }

    @Test("a transaction runs one statement per round trip: its writes commit together, a failed step rolls back all, a changed WATCHed row runs nothing")
    func transactions() async throws {
        var made: NonBlockingTestAdapter?
        let harness = try ProxyTestHarness(adapter: { backend in
            let adapter = NonBlockingTestAdapter(backend)
            made = adapter
            return adapter
        })
        let adapter = try #require(made)
        #expect(try await harness.get("item:1") == "one")

        let outcome = try await harness.transaction([
            .set(try harness.target("item:1"), value: ByteBuffer(string: "uno")),
            .get(try harness.target("item:1")),
            .set(try harness.target("number:1"), value: ByteBuffer(string: "eins")),
        ])
        guard case .committed(let replies) = outcome else {
            Issue.record("not committed: \(outcome)")
            return
        }
        #expect(replies.map { String(buffer: $0) } == ["+OK\r\n", "$3\r\nuno\r\n", "+OK\r\n"])
        #expect(adapter.transactionStatements.load(ordering: .relaxed) == 3)
        #expect(try await harness.get("item:1") == "uno", "the commit invalidated the cached value")
        #expect(try await harness.get("number:1") == "eins")

        await #expect(throws: TransactionStepFailed.self) {
            _ = try await harness.transaction([
                .set(try harness.target("item:1"), value: ByteBuffer(string: "lost")),
                .sqlExec(sql: "INSERT INTO nowhere VALUES (1)", parameters: []),
            ])
        }
        #expect(try await harness.get("item:1") == "uno", "the first step's write was rolled back")

        let snapshot = try await harness.proxy.writes.snapshot([try harness.target("item:1")], on: harness.eventLoop).get()
        try await harness.set("item:1", "changed")
        let watched = try await harness.transaction(
            [.set(try harness.target("item:1"), value: ByteBuffer(string: "never"))],
            watched: [WatchedKey(target: try harness.target("item:1"), snapshot: try #require(snapshot.first))])
        guard case .watchedKeyChanged = watched else {
            Issue.record("ran: \(watched)")
            return
        }
        #expect(try await harness.get("item:1") == "changed")
    }
}
