import Foundation
import Synchronization
import Testing
import TierCacheBackend
import TierCacheSQLite

@Suite("SQLiteBackend pool and health")
struct SQLiteBackendPoolTests {
    /// A read that counts for a while (a few hundred ms here), long enough to be seen running.
    private static let slowRead = """
        SELECT count(*) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)
        SELECT i FROM n)
        """

    private static func readers(_ backend: SQLiteBackend) -> ConnectionPoolReport? {
        backend.pools.first { $0.name == "readers" }?.report
    }

    /// Starts `count` slow reads on their own threads; returns a group that finishes with them.
    private static func slowReads(_ backend: SQLiteBackend, _ count: Int) -> DispatchGroup {
        let group = DispatchGroup()
        for _ in 0..<count {
            group.enter()
            Thread {
                _ = try? backend.read(slowRead, parameters: [])
                group.leave()
            }.start()
        }
        return group
    }

    @Test("reads run on several readers at once; callers beyond them wait, and are counted waiting")
    func parallelReaders() throws {
        try withBackend(configuration: .init(readers: 2, acquireTimeout: .seconds(60))) { (backend, _) throws in
            #expect(backend.pools.map(\.name) == ["readers", "writer", "client_readers"])
            #expect(Self.readers(backend)?.size == 2)
            let group = Self.slowReads(backend, 3)
            var seen = ConnectionPoolReport(size: 0, inUse: 0, waiting: 0, acquired: 0, timedOut: 0)
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, let report = Self.readers(backend), !(report.inUse == 2 && report.waiting == 1) {
                seen = report
                usleep(500)
            }
            let report = Self.readers(backend)
            #expect(report?.inUse == 2 && report?.waiting == 1, "last seen \(seen)")
            // A write does not wait for the readers.
            #expect(try backend.write("INSERT INTO users (id, name) VALUES (3, 'carol')", parameters: []).changes == 1)
            group.wait()
            #expect(Self.readers(backend).map { ($0.inUse, $0.waiting, $0.acquired) } ?? (1, 1, 1) == (0, 0, 3))
        }
    }

    @Test("a read that finds every reader busy past the acquire timeout fails as busy; the others finish")
    func acquireTimeout() throws {
        try withBackend(configuration: .init(readers: 1, acquireTimeout: .milliseconds(20))) { (backend, _) throws in
            let group = Self.slowReads(backend, 1)
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, Self.readers(backend)?.inUse != 1 { usleep(200) }
            expectBackendError(.busy, containing: "no reader connection free within 20 ms (1 of 1 in use") {
                try backend.read("SELECT 1", parameters: [])
            }
            group.wait()
            #expect(Self.readers(backend)?.timedOut == 1)
            #expect(try backend.integer("SELECT 2") == 2)
        }
    }

    @Test("readers and pool sizes outside 1...64 are refused")
    func readerBounds() throws {
        try withDatabasePath { path in
            for readers in [0, 65] {
                expectBackendError(.failed, containing: "readers must be 1...64, got \(readers)") {
                    try SQLiteBackend(path: path, configuration: .init(readers: readers))
                }
            }
        }
    }

    @Test("a database file moved away is reported and calls go on using it; moved back, all is well")
    func movedAway() throws {
        try withBackend { (backend, path) throws in
            #expect(backend.checkHealth() == BackendHealthCheck())
            try FileManager.default.moveItem(atPath: path, toPath: path + ".away")
            let check = backend.checkHealth()
            #expect(check.problem?.contains("was moved or deleted: calls go on using the file as it was") == true)
            #expect(try backend.integer("SELECT count(*) FROM users") == 2)
            #expect(try backend.write("INSERT INTO users (id, name) VALUES (3, 'carol')", parameters: []).changes == 1)
            try FileManager.default.moveItem(atPath: path + ".away", toPath: path)
            #expect(backend.checkHealth() == BackendHealthCheck())
            #expect(try backend.integer("SELECT count(*) FROM users") == 3)
        }
    }

    @Test("a database file replaced by another (a restored backup) is reopened, every connection at once")
    func replaced() throws {
        try withBackend(configuration: .init(readers: 3)) { (backend, path) throws in
            #expect(try backend.integer("SELECT count(*) FROM users") == 2)
            // Frames in the WAL, not yet in the file: they belong to the old file, and must not show through.
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
            // The backup is made elsewhere and swapped in with a rename, as a restore should be.
            let restored = path + ".restored"
            let other = try SQLiteBackend(path: restored)
            try other.executeScript("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (7, 'zed')")
            other.close()
            try FileManager.default.removeItem(atPath: path)
            try FileManager.default.moveItem(atPath: restored, toPath: path)

            #expect(backend.checkHealth() == BackendHealthCheck(reopened: true))
            // Every reader sees the new file, not only the one picked first: three slow reads hold all three.
            let results = Mutex<[[[SQLValue]]]>([])
            let group = DispatchGroup()
            for _ in 0..<3 {
                group.enter()
                Thread {
                    let rows = try? backend.read(
                        "SELECT name FROM users WHERE (\(Self.slowRead)) > 0", parameters: []
                    ).resultSet.rows
                    results.withLock { $0.append(rows ?? []) }
                    group.leave()
                }.start()
            }
            var allThree = false
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, !allThree, results.withLock({ $0.count }) < 3 {
                allThree = Self.readers(backend)?.inUse == 3
                usleep(200)
            }
            group.wait()
            #expect(allThree, "the three reads never ran at once")
            #expect(results.withLock { $0 } == Array(repeating: [[.text("zed")]], count: 3))
            #expect(try backend.write("INSERT INTO users (id, name) VALUES (8, 'amy')", parameters: []).changes == 1)
            #expect(try backend.integer("SELECT count(*) FROM users") == 2)
            #expect(backend.checkHealth() == BackendHealthCheck())
        }
    }
}
