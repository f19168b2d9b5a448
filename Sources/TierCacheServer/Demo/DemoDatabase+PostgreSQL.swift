extension DemoDatabase {
    /// The demo tables and rows for PostgreSQL, one statement each, that `tiercache db init` runs: the same
    /// tables, ids and values as SQLite's (the JSON built as the same compact text `json_object` gives), so the
    /// shipped policies answer the same on both. Idempotent: tables that exist are kept, rows that exist are left.
    public static func postgresStatements(benchmarkKeys: Int = defaultBenchmarkKeys) -> [String] {
        let numbers = "FROM generate_series(1, \(rowsPerTable)) AS i"
        func keyValue(_ table: String, _ json: String) -> [String] {
            [
                "CREATE TABLE IF NOT EXISTS \(table) (id text PRIMARY KEY, data text NOT NULL)",
                "INSERT INTO \(table) (id, data) SELECT i, \(json) \(numbers) ON CONFLICT (id) DO NOTHING",
            ]
        }
        return keyValue("user_sessions", #"format('{"user":"user-%s","started_at":%s}', i, 1767225600 + i * 60)"#)
            + [
                """
                CREATE TABLE IF NOT EXISTS auth_tokens (
                    id text PRIMARY KEY, user_id text NOT NULL, scopes text NOT NULL, expires_at bigint NOT NULL
                )
                """,
                """
                INSERT INTO auth_tokens (id, user_id, scopes, expires_at)
                    SELECT i, 'user-' || i, CASE i % 3 WHEN 0 THEN 'read' WHEN 1 THEN 'read write' ELSE 'admin' END,
                        1798761600 + i \(numbers)
                ON CONFLICT (id) DO NOTHING
                """,
            ]
            + keyValue(
                "policy_decisions",
                #"format('{"subject":"user-%s","decision":"%s"}', i, CASE i % 4 WHEN 0 THEN 'deny' ELSE 'allow' END)"#)
            + keyValue(
                "governance_rules", #"format('{"rule":"rule-%s","effect":"require-review","version":1}', i)"#)
            + keyValue("static_config", #"format('{"key":"setting-%s","value":%s}', i, i)"#)
            + keyValue(
                "api_responses", #"format('{"endpoint":"/v1/items/%s","status":200,"body":"item %s"}', i, i)"#)
            + [
                """
                CREATE TABLE IF NOT EXISTS compliance_checks (
                    id text PRIMARY KEY, status text NOT NULL,
                    checked_at bigint NOT NULL DEFAULT extract(epoch FROM now())::bigint
                )
                """,
                """
                INSERT INTO compliance_checks (id, status, checked_at)
                    SELECT i, CASE i % 5 WHEN 0 THEN 'failed' ELSE 'passed' END, 1767225600 + i \(numbers)
                ON CONFLICT (id) DO NOTHING
                """,
            ]
            + keyValue("synthesis_results", #"format('{"job":%s,"summary":"synthesis of batch %s"}', i, i)"#)
            + [
                "CREATE TABLE IF NOT EXISTS key (id text PRIMARY KEY, data text NOT NULL)",
                """
                INSERT INTO key (id, data) SELECT lpad(i::text, 12, '0'), 'xxx'
                    FROM generate_series(0, \(benchmarkKeys - 1)) AS i ON CONFLICT (id) DO NOTHING
                """,
            ]
    }
}
