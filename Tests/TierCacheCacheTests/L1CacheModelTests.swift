import NIOCore
import Testing
import TestSupport

@testable import TierCacheCache

@Suite("L1 cache against a model")
struct L1CacheModelTests {
    /// Random puts, gets, removes and time steps against a dictionary-plus-LRU-list model of one shard.
    @Test("matches an LRU model under random operations", arguments: [1, 2, 3, 42, 2026] as [UInt64])
    func matchesModel(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let overhead = 16
        let budget = 2000
        let cache = try L1Cache(
            configuration: .init(maxBytes: budget, eviction: .lru, shardCount: 1, entryOverhead: overhead))
        // Model: key → (value, expiresAt), and recency order (last = most recent).
        var model: [String: (String, UInt64)] = [:]
        var order: [String] = []
        var now: UInt64 = 0

        func charge(_ key: String, _ value: String) -> Int { key.utf8.count + value.utf8.count + overhead }
        func touch(_ key: String) {
            order.removeAll { $0 == key }
            order.append(key)
        }
        func drop(_ key: String) {
            model[key] = nil
            order.removeAll { $0 == key }
        }

        for step in 0..<5000 {
            let key = "k:\(Int.random(in: 0..<60, using: &random))"
            switch Int.random(in: 0..<10, using: &random) {
            case 0...3:
                let value = String(repeating: "v", count: Int.random(in: 0..<120, using: &random))
                let expiresAt = now + UInt64.random(in: 1..<200, using: &random)
                #expect(put(cache, key, value, expiresAt: expiresAt, now: now) == .stored)
                drop(key)
                // Evict from the cold end until it fits, as the shard does.
                var used = model.reduce(0) { $0 + charge($1.key, $1.value.0) }
                while used + charge(key, value) > budget, let eldest = order.first {
                    used -= charge(eldest, model[eldest]!.0)
                    drop(eldest)
                }
                model[key] = (value, expiresAt)
                touch(key)
            case 4...7:
                let expected: String?
                if let (value, expiresAt) = model[key] {
                    if expiresAt <= now {
                        drop(key)
                        expected = nil
                    } else {
                        touch(key)
                        expected = value
                    }
                } else {
                    expected = nil
                }
                let actual = readValue(cache, key, now: now)
                #expect(actual == expected, "seed \(seed) step \(step) key \(key)")
            case 8:
                _ = cache.remove(ByteBuffer(string: key))
                drop(key)
            default:
                now += UInt64.random(in: 0..<20, using: &random)
            }
            let snapshot = cache.snapshot()
            #expect(snapshot.bytes <= budget)
        }
    }

    @Test("concurrent readers and writers keep byte accounting exact and never serve a wrong value")
    func concurrency() async throws {
        let cache = try L1Cache(configuration: .init(maxBytes: 64 * 1024, shardCount: 8))
        let wrong = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var wrong = 0
                    var random = SplitMix64(seed: UInt64(worker))
                    for _ in 0..<20_000 {
                        let id = Int.random(in: 0..<2000, using: &random)
                        let key = "key:\(id)"
                        if Bool.random(using: &random) {
                            _ = put(cache, key, "value-of-\(id)")
                        } else if let value = readValue(cache, key, now: 0), value != "value-of-\(id)" {
                            wrong += 1
                        }
                    }
                    return wrong
                }
            }
            return await group.reduce(0, +)
        }
        #expect(wrong == 0)
        let snapshot = cache.snapshot()
        #expect(snapshot.bytes <= 64 * 1024)
        #expect(snapshot.total.entries > 0)
        #expect(snapshot.groups.map(\.bytes).reduce(0, +) == snapshot.bytes - snapshot.policyBytes)
    }
}

private func put(_ cache: L1Cache, _ key: String, _ value: String, expiresAt: UInt64 = .max, now: UInt64 = 0)
    -> L1StoreResult
{
    cache.store(
        ByteBuffer(string: key),
        reply: CachedReply(resp2: ByteBuffer(string: value)),
        info: L1EntryInfo(expiresAt: expiresAt, stamp: 0, group: 0),
        now: now
    )
}

private func readValue(_ cache: L1Cache, _ key: String, now: UInt64) -> String? {
    var value: String?
    let result = cache.lookup(ByteBuffer(string: key), now: now) { _, resp2, _ in
        value = String(decoding: resp2, as: UTF8.self)
        return true
    }
    if case .hit = result { return value }
    return nil
}
