import Logging
import NIOCore
import NIOPosix
import Testing
import TierCacheBackend

@testable import TierCachePostgres

@Suite("PostgreSQL as a BackendAdapter: pools, plans, writes, transactions, failures")
struct PostgresBackendTests {
    private static let eventLoop = MultiThreadedEventLoopGroup.singleton.next()

    /// A backend on the test server, closed after `body`.
    private static func withBackend<T: Sendable>(
        applicationName: String? = nil,
        _ configure: (inout PostgresBackend.Configuration) -> Void = { _ in },
        _ body: (PostgresBackend) async throws -> T
    ) async throws -> T {
        var configuration = PostgresBackend.Configuration()
        configure(&configuration)
        var url = try PostgresTestServer.url.get()
        url.applicationName = applicationName
        let backend = try PostgresBackend(
            url: url, configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: Logger(label: "test.postgres"), now: { 0 })
        defer { backend.close() }
        return try await body(backend)
    }

    private static var call: BackendCall { BackendCall(eventLoop: eventLoop, submittedAt: 0) }

    private static func read(
        _ backend: PostgresBackend, _ sql: String, _ parameters: [SQLValue] = [], origin: StatementOrigin = .policy
    ) async throws -> ReadResult {
        try await backend.read(sql, parameters: parameters, origin: origin, call: call).get()
    }

    private static func write(_ backend: PostgresBackend, _ sql: String, _ parameters: [SQLValue] = [])
        async throws -> WriteResult
    {
        try await backend.write(sql, parameters: parameters, call: call).get()
    }

    /// Runs `read` until it stops failing as busy: a pool's first connection may take longer to open than a short
    /// acquire timeout when the machine is busy (SCRAM in a debug build, tests in parallel).
    private static func settle(_ read: () async throws -> ReadResult) async throws {
        for _ in 0..<20 {
            do {
                _ = try await read()
                return
            } catch let error as BackendError where error.code == .busy {
                continue
            }
        }
        _ = try await read()
    }

    /// The error `body` fails with, as a `BackendError`.
    private static func failure(_ body: () async throws -> Void) async -> BackendError? {
        do {
            try await body()
            return nil
        } catch {
            return error as? BackendError
        }
    }

    @Test("? placeholders run as $n; an integer key takes '7' and refuses 'abc' as the request's 22P02")
    func readsWithPlaceholders() async throws {
        try await Self.withBackend { backend in
            _ = try await Self.write(backend, "DROP TABLE IF EXISTS pb_people")
            _ = try await Self.write(backend, "CREATE TABLE pb_people (id integer PRIMARY KEY, name text)")
            _ = try await Self.write(backend, "INSERT INTO pb_people VALUES (7, 'Ada')")
            let found = try await Self.read(backend, "SELECT name FROM pb_people WHERE id = ?", [.text("7")])
            #expect(found.resultSet == ResultSet(columns: ["name"], rows: [[.text("Ada")]]))
            #expect(found.tablesRead == ["pb_people"])
            let error = await Self.failure {
                _ = try await Self.read(backend, "SELECT name FROM pb_people WHERE id = ?", [.text("abc")])
            }
            #expect(error?.code == .invalidValue)
            #expect(error?.message.hasPrefix("22P02 invalid input syntax for type integer") == true)
        }
    }

    @Test("reads are read-only by PostgreSQL's word: a write, a sequence, DDL and SET are refused before running")
    func readsCannotWrite() async throws {
        try await Self.withBackend { backend in
            _ = try await Self.write(backend, "DROP TABLE IF EXISTS pb_guarded")
            _ = try await Self.write(backend, "DROP SEQUENCE IF EXISTS pb_counter")
            _ = try await Self.write(backend, "CREATE TABLE pb_guarded (id integer)")
            _ = try await Self.write(backend, "CREATE SEQUENCE pb_counter")
            for (sql, origin, code) in [
                ("INSERT INTO pb_guarded VALUES (1)", StatementOrigin.client, BackendError.Code.notReadOnly),
                ("SELECT nextval('pb_counter')", .client, .notReadOnly), ("DROP TABLE pb_guarded", .client, .notReadOnly),
                // SET is refused on every path (`PostgresStatementRules`), before the read-only check.
                ("SET default_transaction_read_only = off", .client, .notAllowed),
                ("INSERT INTO pb_guarded VALUES (2)", .policy, .notReadOnly),
            ] {
                let error = await Self.failure { _ = try await Self.read(backend, sql, origin: origin) }
                #expect(error?.code == code, "\(sql): \(String(describing: error))")
            }
            let rows = try await Self.read(backend, "SELECT count(*) AS n FROM pb_guarded")
            #expect(rows.resultSet.rows == [[.integer(0)]])
            // A typo in a query stays PostgreSQL's syntax error.
            let typo = await Self.failure { _ = try await Self.read(backend, "SELECT FROM WHERE", origin: .client) }
            #expect(typo?.code == .invalidStatement)
        }
    }

    @Test("a write reports what it may have changed: its tables, cascades, triggers, DDL, functions")
    func writesReportTheirReach() async throws {
        try await Self.withBackend { backend in
            for statement in [
                "DROP TABLE IF EXISTS pb_lines, pb_orders, pb_audited, pb_log CASCADE",
                "CREATE TABLE pb_orders (id integer PRIMARY KEY)",
                "CREATE TABLE pb_lines (order_id integer REFERENCES pb_orders ON DELETE CASCADE, sku text)",
                "CREATE TABLE pb_audited (id integer)", "CREATE TABLE pb_log (note text)",
                """
                CREATE OR REPLACE FUNCTION pb_note() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN INSERT INTO pb_log VALUES ('changed'); RETURN NULL; END $$
                """,
                "CREATE TRIGGER pb_audit AFTER INSERT ON pb_audited FOR EACH STATEMENT EXECUTE FUNCTION pb_note()",
                """
                CREATE OR REPLACE FUNCTION pb_sneaky() RETURNS integer LANGUAGE sql AS
                $$ INSERT INTO pb_log VALUES ('sneaky') RETURNING 1 $$
                """,
            ] {
                let result = try await Self.write(backend, statement)
                #expect(result.tablesWritten.isEmpty && !result.isReadOnly, "\(statement): DDL changes anything")
            }
            let insert = try await Self.write(
                backend, "INSERT INTO pb_orders VALUES (?), (?)", [.text("1"), .text("2")])
            #expect(insert == WriteResult(changes: 2, tablesWritten: ["pb_orders"], isReadOnly: false))
            let delete = try await Self.write(backend, "DELETE FROM pb_orders WHERE id = $1", [.text("1")])
            #expect(delete == WriteResult(changes: 1, tablesWritten: ["pb_orders", "pb_lines"], isReadOnly: false))
            let triggered = try await Self.write(backend, "INSERT INTO pb_audited VALUES (1)")
            #expect(triggered == WriteResult(changes: 1, tablesWritten: [], isReadOnly: false))
            let select = try await Self.write(backend, "SELECT count(*) FROM pb_orders")
            #expect(select == WriteResult(changes: 1, tablesWritten: [], isReadOnly: true))
            let sneaky = try await Self.write(backend, "SELECT pb_sneaky()")
            #expect(sneaky.tablesWritten.isEmpty && !sneaky.isReadOnly)
            let log = try await Self.read(backend, "SELECT count(*) FROM pb_log")
            #expect(log.resultSet.rows == [[.integer(2)]])
        }
    }

    @Test("inspect: parameters and read-only from PostgreSQL's plan; a statement with no plan is refused")
    func inspectStatements() async throws {
        try await Self.withBackend { backend in
            _ = try await Self.write(backend, "DROP TABLE IF EXISTS pb_kv, pb_numbers")
            _ = try await Self.write(backend, "CREATE TABLE pb_kv (id text PRIMARY KEY, v text)")
            _ = try await Self.write(backend, "CREATE TABLE pb_numbers (id integer PRIMARY KEY, v text)")
            let load = try await backend.inspect("SELECT v FROM pb_kv WHERE id = ?", on: Self.eventLoop).get()
            #expect(
                load == StatementInfo(isReadOnly: true, parameterCount: 1, tablesRead: ["pb_kv"], tablesWritten: []))
            let store = try await backend.inspect(
                "INSERT INTO pb_kv VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET v = excluded.v", on: Self.eventLoop
            ).get()
            #expect(store.parameterCount == 2 && !store.isReadOnly && store.tablesWritten == ["pb_kv"])
            let refused = await Self.failure {
                _ = try await backend.inspect("CREATE TABLE pb_never (id int)", on: Self.eventLoop).get()
            }
            #expect(refused?.code == .invalidStatement)
            #expect(refused?.message.hasPrefix("42601 ") == true)
            let missing = await Self.failure {
                _ = try await backend.inspect("SELECT v FROM pb_nowhere WHERE id = ?", on: Self.eventLoop).get()
            }
            #expect(missing?.message.hasPrefix("42P01 ") == true)
            for (sql, exact) in [
                ("SELECT v FROM pb_kv WHERE id = ?", true), ("SELECT v FROM pb_numbers WHERE id = ?", false),
                ("SELECT v FROM pb_kv WHERE lower(id) = lower(?)", false),
                ("SELECT v FROM pb_kv WHERE id LIKE ?", false),
                ("SELECT v FROM pb_kv WHERE id = ? AND v = ?", true),
            ] {
                let answer = try await backend.comparesParametersExactly(sql, on: Self.eventLoop).get()
                #expect(answer == exact, "\(sql)")
            }
        }
    }

    /// Writes one row, reads it back in the same transaction, then commits or rolls back as told.
    private struct WriteThenRead: TransactionScript {
        var commit: Bool
        var step = 0
        var seen: [[SQLValue]] = []

        mutating func next(after previous: Result<TransactionStatementResult, BackendError>?)
            -> TransactionAction<[[SQLValue]]>
        {
            step += 1
            switch (step, previous) {
            case (1, _): return .run(.write(sql: "INSERT INTO pb_tx VALUES (?)", parameters: [.text("5")]))
            case (2, .success(.written)?): return .run(.read(sql: "SELECT id FROM pb_tx", parameters: []))
            case (3, .success(.read(let read))?):
                seen = read.resultSet.rows
                return commit ? .commit(seen) : .rollBack(seen)
            default: return .rollBack([])
            }
        }
    }

    @Test("a transaction reads its own writes, and commits or rolls back as its script says")
    func transactions() async throws {
        try await Self.withBackend { backend in
            _ = try await Self.write(backend, "DROP TABLE IF EXISTS pb_tx")
            _ = try await Self.write(backend, "CREATE TABLE pb_tx (id integer)")
            let rolledBack = try await backend.transaction(WriteThenRead(commit: false), call: Self.call).get()
            #expect(rolledBack == [[.integer(5)]])
            #expect(try await Self.read(backend, "SELECT id FROM pb_tx").resultSet.rows.isEmpty)
            let committed = try await backend.transaction(WriteThenRead(commit: true), call: Self.call).get()
            #expect(committed == [[.integer(5)]])
            #expect(try await Self.read(backend, "SELECT id FROM pb_tx").resultSet.rows == [[.integer(5)]])
        }
    }

    @Test(
        "a caller waits at most the acquire timeout for a connection, then fails as busy; the other pools go on",
        arguments: [
            (StatementOrigin.client, "client_reads", StatementOrigin.policy),
            (StatementOrigin.policy, "loads", StatementOrigin.client),
        ])
    func acquireTimeout(origin: StatementOrigin, pool: String, other: StatementOrigin) async throws {
        try await Self.withBackend({
            $0.maximumConnections = 3
            $0.acquireTimeout = .seconds(1)
        }) { backend in
            // Both statements planned and the pool's one connection open first, so only the sleep holds it.
            let sleep = "SELECT pg_sleep(?::float8)::text"
            try await Self.settle { try await Self.read(backend, sleep, [.text("0")], origin: origin) }
            try await Self.settle { try await Self.read(backend, "SELECT 1", origin: origin) }
            let timedOut = backend.pools.first { $0.name == pool }?.report.timedOut ?? 0
            async let slow = Self.read(backend, sleep, [.text("3")], origin: origin)
            try await Task.sleep(for: .milliseconds(500))
            let error = await Self.failure { _ = try await Self.read(backend, "SELECT 1", origin: origin) }
            #expect(error?.code == .busy)
            #expect(error?.message == "no \(pool) connection free within 1000 ms (1 of 1 in use, 0 waiting)")
            // The other pool has connections of its own.
            try await Self.settle { try await Self.read(backend, "SELECT 1 AS one", origin: other) }
            _ = try await slow
            // The connection is back: the pool serves again.
            #expect(try await Self.read(backend, "SELECT 2 AS two", origin: origin).resultSet.rows == [[.integer(2)]])
            #expect(backend.pools.first { $0.name == pool }?.report.timedOut == timedOut + 1)
        }
    }

    @Test("connections terminated by the server are replaced: the next read succeeds")
    func terminatedConnections() async throws {
        // Its own application name, so only its connections are terminated (tests run in parallel).
        try await Self.withBackend(applicationName: "pb_terminated", { $0.maximumConnections = 3 }) { backend in
            let before = try await Self.read(backend, "SELECT pg_backend_pid() AS pid")
            _ = try await Self.write(
                backend,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                    + " AND application_name = 'pb_terminated'")
            let after = try await Self.read(backend, "SELECT pg_backend_pid() AS pid")
            #expect(after.resultSet.rows != before.resultSet.rows)
        }
    }

    @Test("a connection past its age is closed when it comes back, and a new one serves the next call")
    func connectionAge() async throws {
        try await Self.withBackend({
            $0.maximumConnections = 3
            $0.maxConnectionAge = .milliseconds(1)
        }) { backend in
            let first = try await Self.read(backend, "SELECT pg_backend_pid() AS pid")
            try await Task.sleep(for: .milliseconds(50))
            let second = try await Self.read(backend, "SELECT pg_backend_pid() AS pid")
            #expect(first.resultSet.rows != second.resultSet.rows)
        }
    }

    @Test("after close, calls fail as unavailable")
    func closed() async throws {
        try await Self.withBackend { backend in
            backend.close()
            let error = await Self.failure { _ = try await Self.read(backend, "SELECT 1") }
            #expect(error?.code == .unavailable)
            let health = try await backend.checkHealth(on: Self.eventLoop).get()
            #expect(health.problem != nil)
        }
    }
}
