import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Testing
import TierCacheBackend

@testable import TierCachePostgres

/// What no statement may do through TierCache on PostgreSQL, whoever sends it and on every path (QUERY, SQL.EXEC,
/// MULTI, policies): the server's files and programs, other databases, the pooled connections' sessions.
@Suite("PostgreSQL statement rules: files, programs, dblink, session changes refused on every path")
struct PostgresStatementRulesTests {
    private static let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
    private static var call: BackendCall { BackendCall(eventLoop: eventLoop, submittedAt: 0) }

    private static func withBackend<T: Sendable>(_ body: (PostgresBackend) async throws -> T) async throws -> T {
        let backend = try PostgresBackend(
            url: try PostgresTestServer.url.get(), configuration: PostgresBackend.Configuration(),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test.postgres"), now: { 0 })
        defer { backend.close() }
        return try await body(backend)
    }

    /// The error a call fails with; nil when it succeeds.
    private static func refusal(_ body: () async throws -> Void) async -> BackendError? {
        do {
            try await body()
            return nil
        } catch {
            return error as? BackendError
        }
    }

    /// Set up as the database's owner, not through TierCache.
    private static func setUp(_ statements: [String]) async throws {
        try await PostgresTestServer.withStatements { client in
            for statement in statements { _ = try await client.query(PostgresQuery(unsafeSQL: statement)) }
        }
    }

    @Test("utility statements' kinds by their leading keywords, past comments and parentheses")
    func utilityKinds() {
        #expect(
            PostgresStatementRules.utilityKind("  /* a /* nested */ one */ -- x\n set  role x") == ["SET", "ROLE", "X"])
        #expect(PostgresStatementRules.utilityKind("(copy t to program 'id')") == ["COPY", "T", "TO"])
        #expect(PostgresStatementRules.utilityKind("CREATE TABLE \"set\" (i int)") == ["CREATE", "TABLE"])
        #expect(PostgresStatementRules.utilityRefusal("create table t (i int)") == nil)
        #expect(PostgresStatementRules.utilityRefusal("drop view v") == nil)
        #expect(
            PostgresStatementRules.utilityRefusal("Create Local Temp Table t (i int)")?.hasPrefix("CREATE LOCAL TEMP")
                == true)
        #expect(
            PostgresStatementRules.calledNames(in: "pg_read_file('a(''b'')'::text), \"Odd\"(x), ANY ('{1}')")
                == ["pg_read_file", "odd", "any"])
        #expect(PostgresStatementRules.calledNames(in: "('pg_read_file(' || name)") == [])
    }

    @Test("refused whatever the path: each case, with why")
    func refusedEverywhere() async throws {
        try await Self.setUp([
            "DROP VIEW IF EXISTS pr_files", "DROP TABLE IF EXISTS pr_people, pr_stolen",
            "CREATE TABLE pr_people (id integer PRIMARY KEY, name text)", "INSERT INTO pr_people VALUES (1, 'Ada')",
            "CREATE EXTENSION IF NOT EXISTS dblink",
        ])
        try await Self.withBackend { backend in
            let reads: [(String, String)] = [
                (
                    "SELECT pg_read_file('/etc/hostname')",
                    "function pg_read_file() is not allowed through TierCache: "
                        + "it is for the server's administrators (its files, programs or configuration)"
                ),
                ("SELECT * FROM pg_ls_dir('.')", "function pg_ls_dir()"),
                ("SELECT (pg_stat_file('postgresql.conf')).size", "function pg_stat_file()"),
                ("SELECT pg_read_binary_file('/etc/hostname')", "function pg_read_binary_file()"),
                ("SELECT lo_import('/etc/hostname')", "function lo_import()"),
                ("SELECT lo_export(1, '/tmp/pr-out')", "function lo_export()"),
                (
                    "SELECT lo_open(1, 262144)",
                    "function lo_open() is not allowed through TierCache: it changes the "
                        + "pooled connection's session for every later client"
                ),
                ("SELECT set_config('role', 'postgres', false)", "function set_config()"),
                ("SELECT name, pg_notify('tiercache_changes', 'forged') FROM pr_people", "function pg_notify()"),
                ("SELECT pg_advisory_lock(42)", "function pg_advisory_lock()"),
                (
                    "SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS t(i int)",
                    "function dblink() is not "
                        + "allowed through TierCache: it belongs to dblink, which reaches other databases or files"
                ),
                ("SELECT dblink_connect('dbname=postgres')", "function dblink_connect()"),
            ]
            for (sql, expected) in reads {
                let asQuery = await Self.refusal {
                    _ = try await backend.read(sql, parameters: [], origin: .client, call: Self.call).get()
                }
                #expect(asQuery?.code == .notAllowed, "\(sql): \(String(describing: asQuery))")
                #expect(asQuery?.message.hasPrefix(expected) == true, "\(sql): \(String(describing: asQuery))")
                let asExec = await Self.refusal {
                    _ = try await backend.write(sql, parameters: [], call: Self.call).get()
                }
                #expect(asExec?.code == .notAllowed, "SQL.EXEC \(sql): \(String(describing: asExec))")
                let asPolicy = await Self.refusal { _ = try await backend.inspect(sql, on: Self.eventLoop).get() }
                #expect(asPolicy?.code == .notAllowed, "policy \(sql): \(String(describing: asPolicy))")
            }
            let utilities: [(String, String)] = [
                ("COPY pr_people TO PROGRAM 'id'", "COPY is not allowed through TierCache: COPY reads and writes"),
                ("copy pr_people from '/etc/hostname'", "COPY is not allowed"),
                ("SET ROLE postgres", "SET is not allowed through TierCache: SET changes the pooled connection's"),
                ("/* why not */ SET SESSION AUTHORIZATION DEFAULT", "SET is not allowed"),
                ("RESET ALL", "RESET is not allowed"), ("RESET ROLE", "RESET is not allowed"),
                ("LISTEN tiercache_changes", "LISTEN is not allowed"), ("UNLISTEN *", "UNLISTEN is not allowed"),
                ("NOTIFY tiercache_changes, 'forged'", "NOTIFY is not allowed through TierCache: NOTIFY could forge"),
                ("PREPARE p AS SELECT 1", "PREPARE is not allowed"), ("DISCARD ALL", "DISCARD is not allowed"),
                ("DECLARE c CURSOR WITH HOLD FOR SELECT 1", "DECLARE is not allowed"),
                ("LOAD 'plpgsql'", "LOAD is not allowed"), ("DO $$ BEGIN END $$", "DO is not allowed"),
                ("BEGIN", "BEGIN is not allowed"), ("CREATE EXTENSION adminpack", "CREATE EXTENSION is not allowed"),
                ("CREATE TEMP TABLE pr_temp (i int)", "CREATE TEMP is not allowed"),
                ("ALTER SYSTEM SET work_mem = '1GB'", "ALTER SYSTEM is not allowed"),
                ("CREATE SERVER pr_elsewhere FOREIGN DATA WRAPPER dblink_fdw", "CREATE SERVER is not allowed"),
                ("CREATE TABLE pr_stolen AS SELECT pg_read_file('/etc/hostname') AS f", "function pg_read_file()"),
            ]
            for (sql, expected) in utilities {
                let error = await Self.refusal {
                    _ = try await backend.write(sql, parameters: [], call: Self.call).get()
                }
                #expect(error?.code == .notAllowed, "\(sql): \(String(describing: error))")
                #expect(error?.message.hasPrefix(expected) == true, "\(sql): \(String(describing: error))")
            }
            // Nothing ran: no table was created, the file was not read.
            let stolen = try await backend.read(
                "SELECT count(*) FROM pg_class WHERE relname IN ('pr_stolen', 'pr_temp')", parameters: [],
                origin: .client, call: Self.call
            ).get()
            #expect(stolen.resultSet.rows == [[.integer(0)]])
            // A view is expanded in the plan: reading through it is refused as reading directly is.
            _ = try await backend.write(
                "CREATE VIEW pr_files AS SELECT pg_read_file('/etc/hostname') AS f", parameters: [], call: Self.call
            ).get()
            let throughView = await Self.refusal {
                _ = try await backend.read("SELECT f FROM pr_files", parameters: [], origin: .client, call: Self.call)
                    .get()
            }
            #expect(throughView?.message.hasPrefix("function pg_read_file()") == true)
        }
    }

    @Test("what looks alike but is not refused still runs")
    func lookAlikesRun() async throws {
        try await Self.setUp([
            "DROP TABLE IF EXISTS pr_kv", "CREATE TABLE pr_kv (id text PRIMARY KEY, v text)",
            "INSERT INTO pr_kv VALUES ('1', 'pg_read_file(x)')",
        ])
        try await Self.withBackend { backend in
            for sql in [
                "SELECT 'pg_read_file(' || v FROM pr_kv", "SELECT coalesce(v, 'x') FROM pr_kv",
                "SELECT pg_advisory_xact_lock(7)::text", "SELECT current_setting('work_mem')",
                "SELECT v AS \"set_config\" FROM pr_kv",
            ] {
                let error = await Self.refusal {
                    _ = try await backend.read(sql, parameters: [], origin: .client, call: Self.call).get()
                }
                #expect(error == nil, "\(sql): \(String(describing: error))")
            }
            for sql in [
                "CREATE INDEX pr_kv_v ON pr_kv (v)", "DROP INDEX pr_kv_v", "ANALYZE pr_kv",
                "COMMENT ON TABLE pr_kv IS 'x'",
            ] {
                let error = await Self.refusal {
                    _ = try await backend.write(sql, parameters: [], call: Self.call).get()
                }
                #expect(error == nil, "\(sql): \(String(describing: error))")
            }
        }
    }
}
