import Logging
import PostgresNIO
import Testing
import TierCacheBackend

@testable import TierCachePostgres

@Suite("The tables a PostgreSQL statement reads and modifies, from its generic plan")
struct PostgresStatementTablesTests {
    private static let logger = Logger(label: "test.postgres")

    /// The tables `sql` reads and writes, on a connection of `client`'s pool.
    private static func tables(_ sql: String, _ client: PostgresClient) async throws -> PostgresStatementTables.Tables {
        try await client.withConnection { connection in
            try await PostgresStatementTables.tables(of: sql, on: connection, logger: logger)
        }
    }

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
                let found = try await Self.tables(sql, client)
                #expect(found.read == read && found.written == written, "\(sql)")
                #expect(found.parameterTypes.count == count, "\(sql)")
            }
            let typed = try await Self.tables("SELECT name FROM tr_customers WHERE id = $1 AND name = $2", client)
            #expect(typed.parameterTypes == ["integer", "text"])
            #expect(typed.conditions.joined().contains("$1") && typed.conditions.joined().contains("$2"))
            // Explained, not run: the DELETE above deleted nothing, the INSERT inserted nothing.
            let rows = try await run.rows("SELECT count(*) AS n FROM tr_items", parameters: [])
            #expect(rows.rows == [[.integer(0)]])
            // The connection went back clean: the same name prepares again, and nothing was left open.
            let again = try await Self.tables("SELECT 1 FROM tr_items", client)
            #expect(again.read == ["tr_items"])
        }
    }

    @Test("a failure after the statement prepared leaves no prepared statement on the connection")
    func failureAfterPrepareLeavesNothing() async throws {
        // One connection, so the second call meets whatever the first one left.
        try await PostgresTestServer.withStatements(maximumConnections: 1) { client in
            let run = PostgresStatements(client: client, logger: Self.logger, maxResultBytes: 1 << 20)
            _ = try await run.rows("DROP DOMAIN IF EXISTS tr_required", parameters: [])
            _ = try await run.rows("CREATE DOMAIN tr_required AS integer NOT NULL", parameters: [])
            await #expect {
                // Prepares, then EXPLAIN EXECUTE fails: NULL is no tr_required.
                _ = try await Self.tables("SELECT $1::tr_required", client)
            } throws: { error in
                (error as? BackendError)?.message.hasPrefix("23502 ") == true
            }
            let next = try await Self.tables("SELECT 1", client)
            #expect(next == .init())
        }
    }

    @Test("a statement that does not prepare fails with its SQLSTATE and leaves the connection usable")
    func failuresLeaveNoState() async throws {
        try await PostgresTestServer.withStatements { client in
            await #expect {
                _ = try await Self.tables("SELECT * FROM tr_no_such_table", client)
            } throws: { error in
                (error as? BackendError)?.message.hasPrefix("42P01 ") == true
            }
            let next = try await Self.tables("SELECT 1", client)
            #expect(next == .init())
            // DDL and other utility statements cannot be prepared: the caller takes that as "may change anything".
            await #expect {
                _ = try await Self.tables("CREATE TABLE tr_never (id int)", client)
            } throws: { error in
                (error as? BackendError)?.message.hasPrefix("42601 ") == true
            }
        }
    }
}
