import Glibc
import NIOCore
import RedisTestSupport
import Testing
import TierCacheCache
import TierCacheRedis
@testable import TierCacheServer
import TierCacheStats
import TierCacheSupport


/// Two or three proxies on one SQLite file sharing one real redis-server: the L2 tier and cross-sidecar
/// invalidation end to end, below the network layer.
@Suite(
    "L2 tier and cross-sidecar invalidation",
    .enabled(if: RedisServerProcess.enabled, "redis-server not found on PATH; set CI=true to fail instead")
)
struct L2ProxyTests {
    static func configuration(_ redis: RedisServerProcess, degraded: Duration = .seconds(1)) -> L2Configuration {
        L2Configuration(url: redis.url, degradedL1Lifetime: degraded)
    }

    /// A proxy whose L2 link is up (subscribed and in sync).
    static func sidecar(
        _ redis: RedisServerProcess,
        sharing other: ProxyTestHarness? = nil,
        degraded: Duration = .seconds(1)
    ) async throws -> ProxyTestHarness {
        let harness = try ProxyTestHarness(sharing: other, l2: configuration(redis, degraded: degraded))
        try await waitUntil("L2 link up") { harness.l2.consistency.ticket() != nil }
        return harness
    }

    static func raw(_ redis: RedisServerProcess, _ arguments: String...) throws -> RedisReply {
        let connection = try RedisConnection(url: redis.url, connectTimeout: .seconds(1), commandTimeout: .seconds(1))
        return try connection.command(arguments.map { Array($0.utf8) })
    }

    @Test("a sidecar serves from L2 what another loaded, without touching the database")
    func sharedEntries() async throws {
        let redis = try RedisServerProcess()
        let a = try await Self.sidecar(redis)
        let b = try await Self.sidecar(redis, sharing: a)
        #expect(try await a.get("item:1") == "one")
        try await waitUntil("A's fill") { a.l2.stats.fills.current == 1 }
        guard case .bulk(let stored) = try Self.raw(redis, "GET", "tiercache:k:item:1") else {
            Issue.record("no L2 entry under tiercache:k:item:1")
            return
        }
        #expect(try L2Entry.decode(ByteBuffer(bytes: stored)).reply.resp2 == ByteBuffer(string: "$3\r\none\r\n"))

        #expect(try await b.get("item:1") == "one")
        let item = b.type("item")
        #expect(item.counters.loads.current == 0, "B never asked the database")
        #expect(item.counters.l2.hits.current == 1)
        #expect(try await b.get("item:1") == "one")
        #expect(item.counters.l1.hits.current == 1, "and filled its L1 from L2")
    }

    @Test("a write through one sidecar reaches the others: keys, types reading the table, QUERY results")
    func crossSidecarInvalidation() async throws {
        let redis = try RedisServerProcess()
        let a = try await Self.sidecar(redis)
        let b = try await Self.sidecar(redis, sharing: a)
        let sql = "SELECT id, data FROM items ORDER BY id"
        #expect(try await b.get("item:1") == "one")
        #expect(try await b.get("item:2") == "two")
        #expect(try await b.get("owner:1") == "x")
        #expect(try await b.query(sql).contains("one"))

        try await a.set("item:1", "uno")
        try await waitUntil("B hears the write") { b.l2.stats.invalidationsReceived.current == 1 }
        #expect(try await b.get("item:1") == "uno")
        #expect(try await b.query(sql).contains("uno"))
        let item = b.type("item")
        let loadsBefore = item.counters.loads.current
        #expect(try await b.get("item:2") == "two")
        #expect(item.counters.loads.current == loadsBefore, "a keyed write spares the type's other keys")
        let owner = b.type("owner")
        #expect(try await b.get("owner:1") == "x")
        #expect(owner.counters.loads.current + owner.counters.l2.hits.current == 2, "owner reads items: invalidated")

        #expect(try await a.exec("UPDATE items SET data = 'deux' WHERE id = '2'") == 1)
        try await waitUntil("B hears the SQL.EXEC") { b.l2.stats.invalidationsReceived.current == 2 }
        #expect(try await b.get("item:2") == "deux")
        #expect(try await b.query(sql).contains("deux"))

        #expect(try await a.delete(["item:2"]) == 1)
        try await waitUntil("B hears the DEL") { b.l2.stats.invalidationsReceived.current == 3 }
        #expect(try await b.get("item:2") == nil)
        #expect(b.l2.stats.invalidationLag.summary().count == 3)
    }

    @Test("MGET reads L1, then L2 in one round trip, then the database")
    func mgetAcrossTiers() async throws {
        let redis = try RedisServerProcess()
        let a = try await Self.sidecar(redis)
        let b = try await Self.sidecar(redis, sharing: a)
        #expect(try await b.get("item:1") == "one")
        #expect(try await a.get("item:2") == "two")
        try await waitUntil("fills") { a.l2.stats.fills.current == 1 && b.l2.stats.fills.current == 1 }
        let roundTrips = b.l2.stats.roundTrip.summary().count

        #expect(try await b.mget(["item:1", "item:2", "number:1", "item:9"]) == ["one", "two", "one", nil])
        let item = b.type("item")
        #expect(item.counters.l1.hits.current == 1)
        #expect(item.counters.l2.hits.current == 1)
        #expect(b.type("number").counters.loads.current == 1)
        #expect(b.l2.stats.roundTrip.summary().count >= roundTrips + 1)
        // One MGET for the three L1 misses, then two fills (number:1 and the absent item:9).
        try await waitUntil("fills after MGET") { b.l2.stats.fills.current == 3 }
        #expect(b.l2.stats.roundTrip.summary().count == roundTrips + 3)
    }

    @Test("a load that read before a keyed write can fill neither tier with the old value")
    func staleFillRaceKeyed() async throws {
        let redis = try RedisServerProcess()
        let a = try await Self.sidecar(redis)
        let b = try await Self.sidecar(redis, sharing: a)
        // B misses both tiers and reads the old row; the read is held before B can fill anything …
        b.gate.closeAfterNextRead()
        let reader = b.startLoad("item:1")
        await b.gate.waitForHeldRead()
        // … while A writes, commits and invalidates.
        try await a.set("item:1", "uno")
        b.gate.open()
        #expect(try await ProxyTestHarness.decodeBulk(reader.get().reply.resp2) == "one", "the read began before the write; its answer may be old")

        try await waitUntil("B's fill answered") { b.l2.stats.fillsRefused.current + b.l2.stats.fills.current == 1 }
        #expect(b.l2.stats.fillsRefused.current == 1, "Redis refused the fill: the key's tombstone is newer")
        #expect(try Self.raw(redis, "GET", "tiercache:k:item:1") == .null)
        try await waitUntil("B hears the write") { b.l2.stats.invalidationsReceived.current == 1 }
        #expect(try await b.get("item:1") == "uno")
        let c = try await Self.sidecar(redis, sharing: a)
        #expect(try await c.get("item:1") == "uno")
    }

    @Test("a load that read before a table-wide write fills L2, but every sidecar knows the entry is stale")
    func staleFillRaceTableWide() async throws {
        let redis = try RedisServerProcess()
        let a = try await Self.sidecar(redis)
        let b = try await Self.sidecar(redis, sharing: a)
        b.gate.closeAfterNextRead()
        let reader = b.startLoad("item:1")
        await b.gate.waitForHeldRead()
        #expect(try await a.exec("UPDATE items SET data = 'uno' WHERE id = '1'") == 1)
        b.gate.open()
        #expect(try await ProxyTestHarness.decodeBulk(reader.get().reply.resp2) == "one")
        try await waitUntil("B's fill stored") { b.l2.stats.fills.current == 1 }
        try await waitUntil("B hears the write") { b.l2.stats.invalidationsReceived.current == 1 }
        #expect(try await b.get("item:1") == "uno")

        let c = try await Self.sidecar(redis, sharing: a)
        #expect(try await c.get("item:1") == "uno")
        #expect(c.l2.stats.stale.current >= 1 || b.l2.stats.fills.current > 1, "the pre-write entry was refused")
    }

    @Test("a corrupted L2 value is a logged miss, then replaced by a good entry")
    func corruptedEntry() async throws {
        let redis = try RedisServerProcess()
        let a = try await Self.sidecar(redis)
        #expect(try Self.raw(redis, "SET", "tiercache:k:item:1", "not a TierCache entry") == .status("OK"))
        #expect(try await a.get("item:1") == "one")
        #expect(a.l2.stats.undecodable.current == 1)
        #expect(a.type("item").counters.l2.misses.current == 1)
        try await waitUntil("the fill replaced it") { a.l2.stats.fills.current == 1 }
        guard case .bulk(let stored) = try Self.raw(redis, "GET", "tiercache:k:item:1") else {
            Issue.record("no entry after the fill")
            return
        }
        #expect(try L2Entry.decode(ByteBuffer(bytes: stored)).reply.resp2 == ByteBuffer(string: "$3\r\none\r\n"))
    }

    @Test("Redis killed: reads go on from the database with short-lived L1 entries; writes replay when it returns")
    func redisKilledAndRestarted() async throws {
        let redis = try RedisServerProcess()
        let a = try await Self.sidecar(redis, degraded: .seconds(5))
        #expect(try await a.get("item:1") == "one")
        #expect(try await a.get("item:1") == "one")
        let item = a.type("item")
        #expect(item.counters.loads.current == 1)
        let hourLeft = try #require(a.l1Expiry("item:1"))
        #expect(hourLeft > .seconds(3000), "while Redis is up an entry gets the type's 1 h")

        redis.kill9()
        try await waitUntil("link down and L1 flushed") { a.l2.stats.channelLosses.current == 1 }
        #expect(a.l1Expiry("item:1") == nil, "L1 was flushed when the channel was lost")
        #expect(try await a.get("item:1") == "one")
        #expect(item.counters.loads.current == 2)
        // Still cached while Redis is down, but only for the degraded lifetime. (Read from the entry, not by
        // sleeping: on a loaded test machine a sleep-based check is a timing test.)
        let left = try #require(a.l1Expiry("item:1"), "L1 still serves while Redis is down")
        #expect(left <= .seconds(5))
        #expect(try await a.get("item:1") == "one")

        try await a.set("item:1", "uno")
        #expect(a.l2.stats.invalidationsDeferred.current == 1)
        #expect(try await a.get("item:1") == "uno")

        try redis.start()
        try await waitUntil("link up, write replayed") {
            a.l2.consistency.ticket() != nil && a.l2.stats.invalidationsReplayed.current == 1
        }
        #expect(a.l2.consistency.pendingCount == 0)
        guard case .bulk(let tombstone) = try Self.raw(redis, "GET", "tiercache:t:item:1") else {
            Issue.record("the replayed write left no tombstone")
            return
        }
        // The write number: the counter started from Redis' clock in microseconds, so a restart never reuses one.
        guard case .bulk(let counter) = try Self.raw(redis, "GET", "tiercache:seq") else {
            Issue.record("no write counter")
            return
        }
        #expect(tombstone == counter)
        #expect((UInt64(String(decoding: counter, as: UTF8.self)) ?? 0) > 1_000_000_000_000_000)
        let b = try await Self.sidecar(redis, sharing: a)
        #expect(try await b.get("item:1") == "uno")
    }

    @Test("Redis down at start-up: the proxy serves from the database and joins when Redis comes")
    func redisDownAtStart() async throws {
        let port = try RedisServerProcess.freePort()
        let url = try RedisURL(parsing: "redis://127.0.0.1:\(port)")
        let a = try ProxyTestHarness(l2: L2Configuration(url: url))
        #expect(try await a.get("item:1") == "one")
        // The first connect attempt may still be under way ("not connected yet"); its failure names the address.
        try await waitUntil("link down, naming the address") {
            guard case .down(_, let reason) = a.l2.consistency.link else { return false }
            return reason.contains("127.0.0.1:\(port)")
        }
        let redis = try RedisServerProcess(port: port)
        try await waitUntil("link up") { a.l2.consistency.ticket() != nil }
        #expect(try await a.get("item:2") == "two")
        try await waitUntil("fill") { a.l2.stats.fills.current == 1 }
        _ = redis
    }

    @Test("a hung Redis (SIGSTOP) is noticed by the heartbeat and L1 stops trusting old entries")
    func hungRedis() async throws {
        let redis = try RedisServerProcess()
        let a = try await Self.sidecar(redis)
        #expect(try await a.get("item:1") == "one")
        redis.send(signal: SIGSTOP)
        defer { redis.send(signal: SIGCONT) }
        try await waitUntil("link down and L1 flushed") { a.l2.stats.channelLosses.current == 1 }
        #expect(try await a.get("item:1") == "one")
        #expect(a.type("item").counters.loads.current == 2, "L1 was flushed")
        redis.send(signal: SIGCONT)
        try await waitUntil("link up again", timeout: .seconds(10)) { a.l2.consistency.ticket() != nil }
    }
}

extension ProxyTestHarness {
    /// The proxy's L2 tier (tests here always configure one).
    var l2: L2Tier { proxy.l2! }

    /// How long the L1 entry of `key` has left, or nil when L1 has none.
    func l1Expiry(_ key: String) -> Duration? {
        var left: Duration?
        let now = proxy.clock.monotonicNanoseconds()
        _ = proxy.l1.lookup(ByteBuffer(string: key), now: now) { info, _, _ in
            left = .nanoseconds(Int64(info.expiresAt &- now))
            return true
        }
        return left
    }

    /// Starts an L1-missing read of `key` and returns its future, for tests that interleave it with a write.
    func startLoad(_ key: String) -> EventLoopFuture<LoadedReply> {
        let buffer = ByteBuffer(string: key)
        guard let (type, id) = proxy.policy.route(buffer) else {
            return eventLoop.makeFailedFuture(HarnessError(message: "no type for \(key)"))
        }
        return proxy.reads.read(keyRead(type, id, buffer), on: eventLoop)
    }
}

/// Polls `condition` every 5 ms until it holds; fails the test after `timeout`.
func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(5),
    _ condition: () throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw HarnessError(message: "timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(5))
    }
}
