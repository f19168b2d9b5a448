import Testing

@testable import TierCacheSupport

@Suite("? placeholders as PostgreSQL's $n")
struct SQLPlaceholdersPostgreSQLTests {
    @Test(
        "each ? takes the next number, ?NNN its own; literals, quoted names and comments are left alone",
        arguments: [
            ("SELECT v FROM kv WHERE id = ?", "SELECT v FROM kv WHERE id = $1", 1),
            ("UPDATE t SET a = ?, b = ? WHERE id = ?", "UPDATE t SET a = $1, b = $2 WHERE id = $3", 3),
            ("SELECT ?2, ?1, ?", "SELECT $2, $1, $3", 3),
            ("SELECT '?', \"a?\", ? -- why?\n", "SELECT '?', \"a?\", $1 -- why?\n", 1),
            ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1", 1),
            ("SELECT E'\\' ?', ?", "SELECT E'\\' ?', $1", 1),
            ("SELECT $$ ? $$, $tag$ ?'$ $tag$, ?", "SELECT $$ ? $$, $tag$ ?'$ $tag$, $1", 1),
            ("SELECT /* a /* nested ? */ still ? */ ?", "SELECT /* a /* nested ? */ still ? */ $1", 1),
            ("SELECT arr[?] FROM t", "SELECT arr[$1] FROM t", 1),
            ("SELECT 1", "SELECT 1", 0),
        ])
    func translates(sql: String, expected: String, count: Int) {
        #expect(SQLPlaceholders.numbered(sql) == .init(sql: expected, count: count))
    }

    @Test("a statement written with $n is taken as written: its ? is jsonb's operator")
    func dollarStatementsStayAsWritten() {
        let sql = "SELECT doc FROM docs WHERE id = $1 AND doc ? 'name' AND n = $2"
        #expect(SQLPlaceholders.numbered(sql) == .init(sql: sql, count: 2))
    }

    @Test("a $ inside a name or a dollar-quoted body is no parameter")
    func dollarsThatAreNotParameters() {
        #expect(SQLPlaceholders.numbered("SELECT a$1 FROM t WHERE id = ?").count == 1)
        #expect(SQLPlaceholders.numbered("SELECT $x$ $1 $x$ WHERE id = ?").sql == "SELECT $x$ $1 $x$ WHERE id = $1")
    }
}
