import Logging
import PostgresNIO
import Testing
import TierCacheBackend

@testable import TierCachePostgres

@Suite("The tables a PostgreSQL statement reads, from its generic plan")
struct PostgresTablesReadTests {
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
            let cases: [(String, Int, Set<String>)] = [
                ("SELECT name FROM tr_customers WHERE id = $1", 1, ["tr_customers"]),
                ("SELECT * FROM tr_orders_view WHERE id = $1", 1, ["tr_orders", "tr_customers"]),
                (
                    "WITH big AS (SELECT id FROM tr_orders WHERE total > $1) SELECT sku FROM tr_items WHERE order_id IN"
                        + " (SELECT id FROM big)", 1, ["tr_orders", "tr_items"]
                ),
                ("SELECT $1::int + $2::int", 2, []),
            ]
            for (sql, count, expected) in cases {
                let found = try await PostgresTablesRead.tables(
                    of: sql, parameterCount: count, client: client, logger: Self.logger)
                #expect(found == expected, "\(sql)")
            }
            // The connection went back clean: the same name prepares again, and nothing was left open.
            let again = try await PostgresTablesRead.tables(
                of: "SELECT 1 FROM tr_items", parameterCount: 0, client: client, logger: Self.logger)
            #expect(again == ["tr_items"])
        }
    }

    @Test("a statement that does not prepare fails with its SQLSTATE and leaves the connection usable")
    func failuresLeaveNoState() async throws {
        try await PostgresTestServer.withStatements { client in
            await #expect {
                _ = try await PostgresTablesRead.tables(
                    of: "SELECT * FROM tr_no_such_table", parameterCount: 0, client: client, logger: Self.logger)
            } throws: { error in
                (error as? BackendError)?.message.hasPrefix("42P01 ") == true
            }
            let next = try await PostgresTablesRead.tables(
                of: "SELECT 1", parameterCount: 0, client: client, logger: Self.logger)
            #expect(next.isEmpty)
        }
    }
}
