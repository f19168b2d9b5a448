import Foundation
import Synchronization
import Testing
import TierCacheBackend
import TierCacheSQLite

@Suite("SQLiteBackend concurrency")
struct SQLiteBackendConcurrencyTests {
    /// Runs `body(thread)` on `threads` real threads at once (not tasks: backend calls block) and returns the
    /// errors they threw.
    private static func onThreads(_ threads: Int, _ body: @escaping @Sendable (Int) throws -> Void) -> [String] {
        let errors = Mutex<[String]>([])
        let group = DispatchGroup()
        for thread in 0..<threads {
            group.enter()
            Thread {
                defer { group.leave() }
                do { try body(thread) } catch { errors.withLock { $0.append("thread \(thread): \(error)") } }
            }.start()
        }
        group.wait()
        return errors.withLock { $0 }
    }

    @Test("8 threads × 500 mixed reads and writes on one backend: no errors, every write counted")
    func oneBackend() throws {
        try withBackend { (backend, _) throws in
            try backend.executeScript("CREATE TABLE hits (thread INTEGER, n INTEGER)")
            let errors = Self.onThreads(8) { thread in
                for n in 0..<500 {
                    switch n % 4 {
                    case 0:
                        let result = try backend.write(
                            "INSERT INTO hits (thread, n) VALUES (?, ?)",
                            parameters: [.integer(Int64(thread)), .integer(Int64(n))]
                        )
                        guard result.changes == 1 else { throw BackendError(.failed, "changes \(result.changes)") }
                    case 1:
                        // Our own earlier writes are always visible to our next read.
                        let seen = try backend.integer(
                            "SELECT count(*) FROM hits WHERE thread = ?", [.integer(Int64(thread))])
                        guard seen == Int64(n / 4 + 1) else {
                            throw BackendError(.failed, "saw \(String(describing: seen))")
                        }
                    case 2:
                        _ = try backend.read(
                            "SELECT name FROM users WHERE id = ?", parameters: [.integer(Int64(n % 3))])
                    default:
                        _ = try backend.inspect("SELECT n FROM hits WHERE thread = \(thread)")
                    }
                }
            }
            #expect(errors == [])
            #expect(try backend.integer("SELECT count(*) FROM hits") == 8 * 125)
        }
    }

    @Test("two backends on one file writing from 4 threads each wait for each other's locks instead of failing")
    func twoBackends() throws {
        try withBackend { (first, path) throws in
            let second = try SQLiteBackend(path: path, configuration: .init(createIfMissing: false))
            defer { second.close() }
            let errors = Self.onThreads(8) { thread in
                let backend = thread.isMultiple(of: 2) ? first : second
                for n in 0..<200 {
                    _ = try backend.write(
                        "INSERT INTO orders (user_id, total) VALUES (?, ?)",
                        parameters: [.integer(Int64(thread)), .real(Double(n))]
                    )
                    _ = try backend.read("SELECT count(*) FROM orders", parameters: [])
                }
            }
            #expect(errors == [])
            #expect(try second.integer("SELECT count(*) FROM orders") == 3 + 8 * 200)
        }
    }

    @Test("during a long write, reads go on and see the last commit; another writer with no timeout gets .busy")
    func longWrite() throws {
        try withBackend { (backend, path) throws in
            let impatient = try SQLiteBackend(path: path, configuration: .init(busyTimeoutMilliseconds: 0))
            defer { impatient.close() }
            try backend.executeScript("CREATE TABLE big (x INTEGER)")
            let writing = Atomic<Bool>(true)
            let outcomes = Mutex<(readsDuringWrite: Int, dirtyReads: Int, busy: BackendError?)>((0, 0, nil))
            let errors = Self.onThreads(2) { thread in
                if thread == 0 {
                    defer { writing.store(false, ordering: .sequentiallyConsistent) }
                    let result = try backend.write(
                        """
                        WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 500000)
                        INSERT INTO big SELECT x FROM n
                        """,
                        parameters: []
                    )
                    guard result.changes == 500_000 else { throw BackendError(.failed, "changes \(result.changes)") }
                    return
                }
                while writing.load(ordering: .sequentiallyConsistent) {
                    // Once the impatient writer was refused, the long write held the lock when this read started.
                    let lockHeld = outcomes.withLock { $0.busy != nil }
                    let seen = try backend.integer("SELECT count(*) FROM big")
                    // Nothing, or everything once committed (possibly before `writing` turns false); never a part.
                    outcomes.withLock { outcome in
                        if seen == 0, lockHeld { outcome.readsDuringWrite += 1 }
                        if seen != 0, seen != 500_000 { outcome.dirtyReads += 1 }
                    }
                    do {
                        _ = try impatient.write("INSERT INTO orders (user_id) VALUES (1)", parameters: [])
                    } catch let error as BackendError where error.code == .busy {
                        outcomes.withLock { $0.busy = error }
                    }
                }
            }
            #expect(errors == [])
            let outcome = outcomes.withLock { $0 }
            #expect(outcome.readsDuringWrite > 5)
            #expect(outcome.dirtyReads == 0)
            #expect(outcome.busy?.message == "database is locked")
            #expect(try backend.integer("SELECT count(*) FROM big") == 500_000)
        }
    }
}
