import Foundation
import Synchronization
import Testing
import TierCacheBackend

/// A connection that notices being used by two callers at once.
private final class FakeConnection: Sendable {
    let id: Int
    private let users = Atomic<Int>(0)
    let overlaps = Atomic<Int>(0)

    init(id: Int) { self.id = id }

    func use(_ body: () -> Void) {
        if users.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue > 1 {
            overlaps.wrappingAdd(1, ordering: .relaxed)
        }
        body()
        users.wrappingSubtract(1, ordering: .sequentiallyConsistent)
    }
}

@Suite("BlockingPool")
struct BlockingPoolTests {
    /// Polls `condition` until it holds; fails the test after 10 s (a deadline, not a measurement).
    private static func waitUntil(_ what: String, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(10)
        while !condition() {
            if Date() > deadline {
                Issue.record("not within 10 s: \(what)")
                return
            }
            usleep(1000)
        }
    }

    private static func thread(_ body: @escaping @Sendable () -> Void) -> DispatchGroup {
        let group = DispatchGroup()
        group.enter()
        Thread {
            body()
            group.leave()
        }.start()
        return group
    }

    @Test("a connection freed goes to the callers that waited, in the order they asked")
    func firstComeFirstServed() throws {
        let pool = BlockingPool(name: "test", connections: [FakeConnection(id: 0)], acquireTimeout: .seconds(30))
        let order = Mutex<[Int]>([])
        let release = DispatchSemaphore(value: 0)
        let holder = Self.thread {
            try? pool.withConnection { _ in release.wait() }
        }
        Self.waitUntil("the holder has the connection") { pool.report.inUse == 1 }
        var waiters: [DispatchGroup] = []
        for caller in 1...4 {
            waiters.append(Self.thread { try? pool.withConnection { _ in order.withLock { $0.append(caller) } } })
            Self.waitUntil("caller \(caller) waits") { pool.report.waiting == caller }
        }
        release.signal()
        holder.wait()
        waiters.forEach { $0.wait() }
        #expect(order.withLock { $0 } == [1, 2, 3, 4])
        #expect(pool.report == ConnectionPoolReport(size: 1, inUse: 0, waiting: 0, acquired: 5, timedOut: 0))
    }

    @Test("a caller waits at most the acquire timeout, then gets busy with the pool's state, and leaves the queue")
    func acquireTimeout() throws {
        let pool = BlockingPool(name: "reader", connections: [FakeConnection(id: 0)], acquireTimeout: .milliseconds(50))
        let release = DispatchSemaphore(value: 0)
        let holder = Self.thread { try? pool.withConnection { _ in release.wait() } }
        Self.waitUntil("the holder has the connection") { pool.report.inUse == 1 }
        expectBackendError(.busy, containing: "no reader connection free within 50 ms (1 of 1 in use, 0 waiting)") {
            try pool.withConnection { _ in }
        }
        #expect(pool.report.timedOut == 1 && pool.report.waiting == 0)
        release.signal()
        holder.wait()
        #expect(try pool.withConnection { $0.id } == 0)
    }

    @Test("8 threads × 2000 turns on 3 connections, with timeouts racing hand-overs: never two users of one connection")
    func stress() throws {
        let connections = (0..<3).map(FakeConnection.init)
        let pool = BlockingPool(name: "test", connections: connections, acquireTimeout: .microseconds(200))
        let failures = Atomic<Int>(0)
        let groups = (0..<8).map { _ in
            Self.thread {
                for turn in 0..<2000 {
                    do {
                        try pool.withConnection { connection in
                            connection.use { if turn % 7 == 0 { usleep(100) } }
                        }
                    } catch {
                        failures.wrappingAdd(1, ordering: .relaxed)
                    }
                }
            }
        }
        groups.forEach { $0.wait() }
        let report = pool.report
        #expect(connections.map { $0.overlaps.load(ordering: .relaxed) } == [0, 0, 0])
        #expect(report.acquired + report.timedOut == 16_000)
        #expect(report.timedOut == UInt64(failures.load(ordering: .relaxed)))
        #expect(report.inUse == 0 && report.waiting == 0)
        // Every connection is back: all three can be held at once.
        #expect(try pool.withAllConnections { $0.map(\.id).sorted() } == [0, 1, 2])
    }

    @Test("forEachIdle visits only the connections nobody holds, and puts them back")
    func idleOnly() throws {
        let pool = BlockingPool(
            name: "test", connections: (0..<3).map(FakeConnection.init), acquireTimeout: .seconds(30))
        let release = DispatchSemaphore(value: 0)
        let holder = Self.thread { try? pool.withConnection { _ in release.wait() } }
        Self.waitUntil("the holder has a connection") { pool.report.inUse == 1 }
        #expect(pool.forEachIdle { $0.id }.count == 2)
        #expect(pool.report.inUse == 1)
        release.signal()
        holder.wait()
        #expect(pool.forEachIdle { $0.id }.sorted() == [0, 1, 2])
    }
}
