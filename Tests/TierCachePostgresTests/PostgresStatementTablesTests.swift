import Logging
import PostgresNIO
import Testing
import TierCacheBackend

@testable import TierCachePostgres

@Suite("The tables a PostgreSQL statement reads and modifies, from its generic plan")
struct PostgresStatementTablesTests {
    private static let logger = Logger(label: "test.postgres")

    @Test("views are their base tables; joins, CTEs and subqueries count; parameters fold nothing away")
    func tablesFromThePlan() async throws {
        try await PostgresTestServer.withStatements { client in
            let run = PostgresStatements(client: client, logger: Self.logger, maxResultBytes: 1 << 20)
            for statement in [
                "DROP VIEW IF EXISTS tr_orders_view", "DROP TABLE IF EXISTS tr_orders, tr_customers, tr_items",
                "CREATE TABLE tr_customers (id integer PRIMARY KEY, name text)",
                "CREATE TABLE tr_orders (id integer PRIMARY KEY, customer integer, total numeric)",
                "CREATE TABLE tr_items (order_id integer, sku text)",
                "CREATE VIEW tr_orders_view AS SELECT o.id, c.name FROM tr_orders o"
                    + " JOIN tr_customers c ON c.id = o.customer",
            ] {
                _ = try await run.rows(statement, parameters: [])
            }
            let cases: [(String, Int, Set<String>, Set<String>)] = [
                ("SELECT name FROM tr_customers WHERE id = $1", 1, ["tr_customers"], []),
                ("SELECT * FROM tr_orders_view WHERE id = $1", 1, ["tr_orders", "tr_customers"], []),
                (
                    "WITH big AS (SELECT id FROM tr_orders WHERE total > $1) SELECT sku FROM tr_items WHERE order_id IN"
                        + " (SELECT id FROM big)", 1, ["tr_orders", "tr_items"], []
                ),
                ("SELECT $1::int + $2::int", 2, [], []),
                ("INSERT INTO tr_items VALUES ($1, $2)", 2, ["tr_items"], ["tr_items"]),
                (
                    "UPDATE tr_orders SET total = 0 FROM tr_customers c"
                        + " WHERE c.id = tr_orders.customer AND c.name = $1",
                    1, ["tr_orders", "tr_customers"], ["tr_orders"]
                ),
                (
                    "WITH gone AS (DELETE FROM tr_items WHERE order_id = $1 RETURNING sku) SELECT count(*) FROM gone",
                    1, ["tr_items"], ["tr_items"]
                ),
            ]
            for (sql, count, read, written) in cases {
                let found = try await PostgresStatementTables.tables(
                    of: sql, parameterCount: count, client: client, logger: Self.logger)
                #expect(found == .init(read: read, written: written), "\(sql)")
            }
            // Explained, not run: the DELETE above deleted nothing, the INSERT inserted nothing.
            let rows = try await run.rows("SELECT count(*) AS n FROM tr_items", parameters: [])
            #expect(rows.rows == [[.integer(0)]])
            // The connection went back clean: the same name prepares again, and nothing was left open.
            let again = try await PostgresStatementTables.tables(
                of: "SELECT 1 FROM tr_items", parameterCount: 0, client: client, logger: Self.logger)
            #expect(again == .init(read: ["tr_items"]))
        }
    }

    @Test("a failure after the statement prepared leaves no prepared statement on the connection")
    func failureAfterPrepareLeavesNothing() async throws {
        // One connection, so the second call meets whatever the first one left.
        try await PostgresTestServer.withStatements(maximumConnections: 1) { client in
            await #expect {
                // Prepares (one parameter), then EXECUTE with none fails.
                _ = try await PostgresStatementTables.tables(
                    of: "SELECT $1::int", parameterCount: 0, client: client, logger: Self.logger)
            } throws: { error in
                (error as? BackendError)?.message.hasPrefix("42601 ") == true
            }
            let next = try await PostgresStatementTables.tables(
                of: "SELECT 1", parameterCount: 0, client: client, logger: Self.logger)
            #expect(next == .init())
        }
    }

    @Test("a statement that does not prepare fails with its SQLSTATE and leaves the connection usable")
    func failuresLeaveNoState() async throws {
        try await PostgresTestServer.withStatements { client in
            await #expect {
                _ = try await PostgresStatementTables.tables(
                    of: "SELECT * FROM tr_no_such_table", parameterCount: 0, client: client, logger: Self.logger)
            } throws: { error in
                (error as? BackendError)?.message.hasPrefix("42P01 ") == true
            }
            let next = try await PostgresStatementTables.tables(
                of: "SELECT 1", parameterCount: 0, client: client, logger: Self.logger)
            #expect(next == .init())
            // DDL and other utility statements cannot be prepared: the caller takes that as "may change anything".
            await #expect {
                _ = try await PostgresStatementTables.tables(
                    of: "CREATE TABLE tr_never (id int)", parameterCount: 0, client: client, logger: Self.logger)
            } throws: { error in
                (error as? BackendError)?.message.hasPrefix("42601 ") == true
            }
        }
    }
}
