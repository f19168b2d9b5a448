import NIOCore
import Testing
import TierCacheBackend
import TierCachePolicy
import TierCacheProtocol

@testable import TierCacheServer

/// `TransactionRun` as a value: the statements it asks for, given the results it is told, and its output. No
/// database: this is what any backend (blocking or not) drives.
@Suite("Transaction script")
struct TransactionRunTests {
    private let policy: HarnessPolicy

    init() throws { policy = try HarnessPolicy() }

    private func target(_ key: String) throws -> TransactionStep.Target { try policy.target(key) }

    private func load(_ id: String) -> TransactionStatement {
        .read(sql: "SELECT data FROM items WHERE id = ?", parameters: [.text(id)])
    }

    private static func rows(_ values: String...) -> Result<TransactionStatementResult, BackendError> {
        .success(
            .read(
                ReadResult(
                    resultSet: ResultSet(columns: ["data"], rows: values.map { [.text($0)] }), tablesRead: ["items"])))
    }

    private static func written(_ changes: Int, tables: Set<String> = ["items"], readOnly: Bool = false)
        -> Result<TransactionStatementResult, BackendError>
    {
        .success(.written(WriteResult(changes: changes, tablesWritten: tables, isReadOnly: readOnly)))
    }

    private static let store =
        "INSERT INTO items(id, data) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data"

    /// The replies of a committed output as text, and what it wrote; nil for any other action.
    private static func committed(_ action: TransactionAction<TransactionRun.Output>) -> (
        replies: [String], writes: [TransactionRun.Write]
    )? {
        guard case .commit(.committed(let replies, let writes)) = action else { return nil }
        return (replies.map { String(buffer: $0) }, writes)
    }

    @Test("asks for each step's statements in order, then commits with their replies and what they wrote")
    func stepsInOrder() throws {
        var run = TransactionRun(
            steps: [
                .set(try target("item:1"), value: ByteBuffer(string: "v")), .get(try target("item:1")),
                .reply(.ping, ByteBuffer(string: "+PONG\r\n")),
            ],
            watched: [], version: .v2)
        let first = run.next(after: nil)
        guard case .run(let write) = first else {
            Issue.record("no statement: \(first)")
            return
        }
        #expect(write == .write(sql: Self.store, parameters: [.text("1"), .text("v")]))
        let second = run.next(after: Self.written(1))
        guard case .run(let read) = second else {
            Issue.record("no statement: \(second)")
            return
        }
        #expect(read == load("1"))
        let end = try #require(Self.committed(run.next(after: Self.rows("v"))))
        #expect(end.replies == ["+OK\r\n", "$1\r\nv\r\n", "+PONG\r\n"])
        #expect(end.writes.count == 1)
        #expect(end.writes.first?.tablesWritten == ["items"])
        #expect(end.writes.first.map { String(buffer: $0.keyed?.key ?? ByteBuffer()) } == "item:1")
    }

    @Test("watched keys are read first: a changed row rolls back before any step, an unchanged one lets them run")
    func watchedKeys() throws {
        let snapshot = ResultSet(columns: ["data"], rows: [[.text("a")]])
        let steps: [TransactionStep] = [.del([try target("item:1")])]
        var changed = TransactionRun(
            steps: steps, watched: [WatchedKey(target: try target("item:1"), snapshot: snapshot)], version: .v2)
        let check = changed.next(after: nil)
        guard case .run(let read) = check else {
            Issue.record("no statement: \(check)")
            return
        }
        #expect(read == load("1"))
        let aborted = changed.next(after: Self.rows("b"))
        guard case .rollBack(.watchedKeyChanged) = aborted else {
            Issue.record("not aborted: \(aborted)")
            return
        }

        var unchanged = TransactionRun(
            steps: steps, watched: [WatchedKey(target: try target("item:1"), snapshot: snapshot)], version: .v2)
        _ = unchanged.next(after: nil)
        let delete = unchanged.next(after: Self.rows("a"))
        guard case .run(.write(let sql, _)) = delete else {
            Issue.record("no delete: \(delete)")
            return
        }
        #expect(sql == "DELETE FROM items WHERE id = ?")
        #expect(try #require(Self.committed(unchanged.next(after: Self.written(1)))).replies == [":1\r\n"])
    }

    @Test("a statement that fails rolls back, naming its step; a watched read that fails is no step's")
    func failures() throws {
        var run = TransactionRun(
            steps: [.get(try target("item:1")), .sqlExec(sql: "INSERT INTO nowhere VALUES (1)", parameters: [])],
            watched: [], version: .v2)
        _ = run.next(after: nil)
        _ = run.next(after: Self.rows("v"))
        let failed = run.next(after: .failure(BackendError(.invalidStatement, "no such table: nowhere")))
        guard case .rollBack(.stepFailed(let index, let error)) = failed else {
            Issue.record("not rolled back: \(failed)")
            return
        }
        #expect(index == 1)
        #expect(error.message == "no such table: nowhere")

        var watching = TransactionRun(
            steps: [.get(try target("item:1"))],
            watched: [WatchedKey(target: try target("item:1"), snapshot: ResultSet(columns: [], rows: []))],
            version: .v2)
        _ = watching.next(after: nil)
        let unread = watching.next(after: .failure(BackendError(.busy, "database is locked")))
        guard case .rollBack(.failed(let busy)) = unread else {
            Issue.record("not rolled back: \(unread)")
            return
        }
        #expect(busy.code == .busy)
    }

    @Test("SET NX reads the row first and writes only when it is absent; GET returns the old value")
    func conditionalSet() throws {
        let nx = SetOptions(condition: .ifAbsent)
        var present = TransactionRun(
            steps: [.set(try target("item:1"), value: ByteBuffer(string: "new"), options: nx)], watched: [],
            version: .v3)
        #expect(present.next(after: nil).statement == load("1"))
        let skipped = try #require(Self.committed(present.next(after: Self.rows("old"))))
        #expect(skipped.replies == ["_\r\n"])
        #expect(skipped.writes.isEmpty)

        var absent = TransactionRun(
            steps: [.set(try target("item:1"), value: ByteBuffer(string: "new"), options: nx)], watched: [],
            version: .v2)
        _ = absent.next(after: nil)
        #expect(absent.next(after: Self.rows()).statement == .write(sql: Self.store, parameters: [.text("1"), .text("new")]))
        #expect(try #require(Self.committed(absent.next(after: Self.written(1)))).replies == ["+OK\r\n"])

        var getOld = TransactionRun(
            steps: [.set(try target("item:1"), value: ByteBuffer(string: "new"), options: SetOptions(returnsOld: true))],
            watched: [], version: .v2)
        _ = getOld.next(after: nil)
        _ = getOld.next(after: Self.rows("old"))
        #expect(try #require(Self.committed(getOld.next(after: Self.written(1)))).replies == ["$3\r\nold\r\n"])
    }

    @Test("MGET and EXISTS read only keys of a type; DEL sums its changes; DDL invalidates everything")
    func manyKeys() throws {
        var run = TransactionRun(
            steps: [
                .mget([try target("item:1"), nil, try target("item:2")]),
                .exists([try target("item:1"), nil, try target("item:2")]),
                .del([try target("item:1"), try target("item:2")]),
                .sqlExec(sql: "CREATE TABLE t (x)", parameters: []),
            ],
            watched: [], version: .v2)
        #expect(run.next(after: nil).statement == load("1"))
        #expect(run.next(after: Self.rows("a")).statement == load("2"))
        #expect(run.next(after: Self.rows()).statement == load("1"))  // EXISTS
        #expect(run.next(after: Self.rows("a")).statement == load("2"))
        #expect(run.next(after: Self.rows()).statement?.isWrite == true)  // DEL item:1
        #expect(run.next(after: Self.written(1)).statement?.isWrite == true)  // DEL item:2
        #expect(run.next(after: Self.written(0)).statement == .write(sql: "CREATE TABLE t (x)", parameters: []))
        let end = try #require(Self.committed(run.next(after: Self.written(0, tables: []))))
        #expect(end.replies == ["*3\r\n$1\r\na\r\n$-1\r\n$-1\r\n", ":1\r\n", ":1\r\n", ":0\r\n"])
        #expect(end.writes.map(\.changesSchema) == [false, false, true])
    }
}

extension TransactionAction {
    /// The statement asked for, if any.
    fileprivate var statement: TransactionStatement? {
        if case .run(let statement) = self { return statement }
        return nil
    }
}

extension TransactionStatement {
    fileprivate var isWrite: Bool {
        if case .write = self { return true }
        return false
    }
}
