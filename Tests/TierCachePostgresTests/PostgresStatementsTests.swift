import Logging
import PostgresNIO
import Testing
import TierCacheBackend

@testable import TierCachePostgres

@Suite("PostgreSQL statements: parameters typed by the server, rows in the backend's values, errors by SQLSTATE")
struct PostgresStatementsTests {
    private static func statements(_ client: PostgresClient, maxResultBytes: Int = 1 << 20) -> PostgresStatements {
        PostgresStatements(client: client, logger: Logger(label: "test.postgres"), maxResultBytes: maxResultBytes)
    }

    /// Reads `samples` (SQL expressions) as values and as the server's own `::text` of each (its session is in
    /// UTC, as the client configuration sets it), expects them equal, and returns the row.
    @discardableResult
    private static func expectServersOwnText(_ samples: [String], client: PostgresClient) async throws -> [SQLValue] {
        let row = try await statements(client).rows("SELECT " + samples.joined(separator: ", "), parameters: [])
        let text = try await statements(client).rows(
            "SELECT " + samples.map { "(\($0))::text" }.joined(separator: ", "), parameters: [])
        #expect(row.rows.count == 1)
        #expect(row.rows == text.rows)
        return row.rows.first ?? []
    }

    @Test("a result over the size limit fails at the row that crosses it, and the pool goes on")
    func resultSizeLimit() async throws {
        try await PostgresTestServer.withStatements { client in
            let small = Self.statements(client, maxResultBytes: 10_000)
            await #expect {
                _ = try await small.rows("SELECT repeat('x', 100) FROM generate_series(1, 1000)", parameters: [])
            } throws: { error in
                let error = error as? BackendError
                // 148 bytes per row (32 + 16 + 100): the 68th crosses 10,000.
                return error?.code == .resultTooLarge && error?.message.contains("after 67 rows") == true
            }
            let next = try await small.rows("SELECT 1 AS one", parameters: [])
            #expect(next.rows == [[.integer(1)]])
        }
    }

    @Test("a client's bytes bind as untyped text: '7' finds an integer key, 'abc' is the client's 22P02")
    func parametersTakeTheColumnsType() async throws {
        try await PostgresTestServer.withStatements { client in
            let run = Self.statements(client)
            _ = try await run.rows("DROP TABLE IF EXISTS people", parameters: [])
            _ = try await run.rows("CREATE TABLE people (id integer PRIMARY KEY, name text NOT NULL)", parameters: [])
            _ = try await run.rows("INSERT INTO people VALUES (7, 'Ada'), (8, 'Grace')", parameters: [])
            let found = try await run.rows("SELECT name FROM people WHERE id = $1", parameters: [.text("7")])
            #expect(found == ResultSet(columns: ["name"], rows: [[.text("Ada")]]))
            let none = try await run.rows("SELECT name FROM people WHERE id = $1", parameters: [.text("9")])
            #expect(none.rows.isEmpty)
            await #expect {
                _ = try await run.rows("SELECT name FROM people WHERE id = $1", parameters: [.text("abc")])
            } throws: { error in
                let error = error as? BackendError
                return error?.code == .invalidValue && error?.message.hasPrefix("22P02 ") == true
                    && error?.message.contains("abc") == true
            }
        }
    }

    @Test("each type reads as SQLite's would hold the same data; NULL is null")
    func valueShapes() async throws {
        try await PostgresTestServer.withStatements { client in
            let row = try await Self.statements(client).rows(
                """
                SELECT 1::int2 AS a, 2::int4 AS b, 3000000000::int8 AS c, true AS d, false AS e, 1.5::float8 AS f,
                       0.25::float4 AS g, 12.50::numeric AS h, -0.001::numeric AS i, 'x'::text AS j,
                       'y'::varchar AS k, 'z'::char(2) AS l, '\\x0102ff'::bytea AS m, NULL::text AS n,
                       '{"a": 1}'::json AS o, '{"a": 1}'::jsonb AS p,
                       'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid AS q
                """, parameters: [])
            #expect(
                row.columns == ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q"])
            #expect(
                row.rows == [
                    [
                        .integer(1), .integer(2), .integer(3_000_000_000), .integer(1), .integer(0), .real(1.5),
                        .real(0.25), .text("12.50"), .text("-0.001"), .text("x"), .text("y"), .text("z "),
                        .blob([1, 2, 255]), .null, .text("{\"a\": 1}"), .text("{\"a\": 1}"),
                        .text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                    ]
                ])
        }
    }

    @Test("dates and times read as PostgreSQL shows them in ISO style; timestamptz in UTC")
    func datesAndTimes() async throws {
        try await PostgresTestServer.withStatements { client in
            let samples = [
                "'2024-01-31'::date", "'1999-12-31'::date", "'0044-03-15 BC'::date", "'infinity'::date",
                "'2000-02-29 23:59:59.5'::timestamp", "'1969-07-20 20:17:40'::timestamp",
                "'-infinity'::timestamp", "'2024-06-01 12:00:00+02'::timestamptz", "'10:11:12.000001'::time",
                "'00:00:00'::time",
            ]
            let row = try await Self.expectServersOwnText(samples, client: client)
            #expect(row.dropFirst(7).first == .text("2024-06-01 10:00:00+00"))
        }
    }

    @Test("arrays read as PostgreSQL's own array text, nested, with NULLs, quoting and bounds")
    func arrays() async throws {
        try await PostgresTestServer.withStatements { client in
            let samples = [
                "ARRAY[1, 2, NULL]::int4[]", "ARRAY[]::int8[]", "'{{1,2},{3,4}}'::int2[]", "ARRAY[true, false]",
                "ARRAY['a', '', 'NULL', 'x y', 'q\"b', 'back\\slash', '{br}', 'c,d']::text[]",
                "ARRAY[1.5, 0.1, 1e20, 100000000000000, 'Infinity', 'NaN']::float8[]", "ARRAY[0.1]::float4[]",
                "ARRAY[12.50, -0.001]::numeric[]", "'[0:1]={x,y}'::varchar[]", "ARRAY['\\x01ff'::bytea]",
                "ARRAY['2024-01-31'::date, NULL]", "ARRAY['2024-01-31 10:00:00+00'::timestamptz]",
                "ARRAY['A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid]", "ARRAY['{\"a\": [1]}'::jsonb]",
            ]
            try await Self.expectServersOwnText(samples, client: client)
        }
    }

    @Test("a type TierCache does not encode is refused by name, with the cast that reads it")
    func unencodedTypeIsNamed() async throws {
        try await PostgresTestServer.withStatements { client in
            await #expect {
                _ = try await Self.statements(client).rows("SELECT point(1, 2) AS spot", parameters: [])
            } throws: { error in
                let message = (error as? BackendError)?.message ?? ""
                return message.contains("'spot'") && message.contains("spot::text")
            }
        }
    }

    @Test(
        "PostgreSQL's errors keep their SQLSTATE and map by class",
        arguments: [
            ("SELEC 1", "42601", BackendError.Code.invalidStatement),
            ("SELECT * FROM no_such_table", "42P01", .invalidStatement),
            ("SELECT 1/0", "22012", .invalidValue),
        ])
    func errorsBySQLState(sql: String, state: String, code: BackendError.Code) async throws {
        try await PostgresTestServer.withStatements { client in
            await #expect {
                _ = try await Self.statements(client).rows(sql, parameters: [])
            } throws: { error in
                let error = error as? BackendError
                return error?.code == code && error?.message.hasPrefix(state + " ") == true
            }
        }
    }

    @Test("SQLSTATE classes a server, a client and a conflict")
    func sqlStateClasses() {
        #expect(PostgresStatements.code(forSQLState: "23505") == .constraint)
        #expect(PostgresStatements.code(forSQLState: "25006") == .notReadOnly)
        #expect(PostgresStatements.code(forSQLState: "57014") == .interrupted)
        #expect(PostgresStatements.code(forSQLState: "40P01") == .busy)
        #expect(PostgresStatements.code(forSQLState: "08006") == .unavailable)
        #expect(PostgresStatements.code(forSQLState: "57P01") == .unavailable)
        #expect(PostgresStatements.code(forSQLState: "P0001") == .failed)
    }
}
