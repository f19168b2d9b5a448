import TierCacheBackend
import TierCacheSQLite

/// The demo data `tiercache serve` creates when its database file is absent: one table per shipped data type
/// (schemas as documented at the top of each file in `ttl-policies/`), with `rowsPerTable` rows whose ids are
/// 1, 2, 3, …, so `GET user_sessions:1` answers right away; and redis-benchmark's keys (`key`, ids of 12 digits
/// from 0, `benchmarkKeys` of them).
public enum DemoDatabase {
    public static let rowsPerTable = 1000
    /// Rows of the `key` type by default: what `redis-benchmark -r 1000000` reads and writes.
    public static let defaultBenchmarkKeys = 1_000_000

    public static let tables = [
        "user_sessions", "auth_tokens", "policy_decisions", "governance_rules",
        "static_config", "api_responses", "compliance_checks", "synthesis_results", "key",
    ]

    /// Creates the tables and rows (`executeScript` runs them in one transaction).
    ///
    /// - Parameter benchmarkKeys: rows of the `key` table (about 1.5 s and 24 MB per million).
    public static func seed(_ backend: SQLiteBackend, benchmarkKeys: Int = defaultBenchmarkKeys) throws(BackendError) {
        try backend.executeScript(script + benchmarkScript(rows: benchmarkKeys))
    }

    /// redis-benchmark's keys, `key:000000000000` …, each with redis-benchmark's 3-byte value.
    static func benchmarkScript(rows: Int) -> String {
        """
        CREATE TABLE key (id TEXT PRIMARY KEY, data TEXT NOT NULL);
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < \(rows - 1))
            INSERT INTO key(id, data) SELECT printf('%012d', i), 'xxx' FROM n WHERE \(rows) > 0;
        """
    }

    static var script: String {
        let numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(rowsPerTable))"
        func keyValue(_ table: String, _ data: String) -> String {
            """
            CREATE TABLE \(table) (id TEXT PRIMARY KEY, data TEXT NOT NULL);
            \(numbers) INSERT INTO \(table)(id, data) SELECT i, \(data) FROM n;
            """
        }
        return """
            \(keyValue("user_sessions", "json_object('user', 'user-' || i, 'started_at', 1767225600 + i * 60)"))
            CREATE TABLE auth_tokens (
                id TEXT PRIMARY KEY, user_id TEXT NOT NULL, scopes TEXT NOT NULL, expires_at INTEGER NOT NULL
            );
            \(numbers) INSERT INTO auth_tokens(id, user_id, scopes, expires_at)
                SELECT i, 'user-' || i, CASE i % 3 WHEN 0 THEN 'read' WHEN 1 THEN 'read write' ELSE 'admin' END,
                       1798761600 + i FROM n;
            \(keyValue("policy_decisions", "json_object('subject', 'user-' || i, 'decision', CASE i % 4 WHEN 0 THEN 'deny' ELSE 'allow' END)"))
            \(keyValue("governance_rules", "json_object('rule', 'rule-' || i, 'effect', 'require-review', 'version', 1)"))
            \(keyValue("static_config", "json_object('key', 'setting-' || i, 'value', i)"))
            \(keyValue("api_responses", "json_object('endpoint', '/v1/items/' || i, 'status', 200, 'body', 'item ' || i)"))
            CREATE TABLE compliance_checks (
                id TEXT PRIMARY KEY, status TEXT NOT NULL,
                checked_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
            );
            \(numbers) INSERT INTO compliance_checks(id, status, checked_at)
                SELECT i, CASE i % 5 WHEN 0 THEN 'failed' ELSE 'passed' END, 1767225600 + i FROM n;
            \(keyValue("synthesis_results", "json_object('job', i, 'summary', 'synthesis of batch ' || i)"))
            """
    }
}
