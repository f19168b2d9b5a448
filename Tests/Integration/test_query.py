"""QUERY: read-only SQL with bound parameters, typed cells, cached under the owning type's policy."""

from __future__ import annotations

import pytest
import redis

from conftest import Err, encode_command, demo_value


def test_typed_cells_resp3(px):
    px.sqlite_dialect("x'...' blobs and SQLite's typing of literals")
    with px.raw() as conn:
        conn.command("HELLO", "3")
        sql = ("SELECT id, user_id, expires_at, NULL AS nul, 1.5 AS r, x'00ff' AS b FROM auth_tokens "
               "WHERE id IN ('1', '2') ORDER BY id")
        conn.send(encode_command("QUERY", sql))
        expected = (b"*3\r\n"
                    b"*6\r\n$2\r\nid\r\n$7\r\nuser_id\r\n$10\r\nexpires_at\r\n$3\r\nnul\r\n$1\r\nr\r\n$1\r\nb\r\n"
                    b"*6\r\n$1\r\n1\r\n$6\r\nuser-1\r\n:1798761601\r\n_\r\n,1.5\r\n$2\r\n\x00\xff\r\n"
                    b"*6\r\n$1\r\n2\r\n$6\r\nuser-2\r\n:1798761602\r\n_\r\n,1.5\r\n$2\r\n\x00\xff\r\n")
        assert conn.read_raw(len(expected)) == expected


def test_typed_cells_resp2(px):
    with px.raw() as conn:
        sql = "SELECT id, expires_at, NULL AS nul, 2.25 AS r FROM auth_tokens WHERE id = '3'"
        conn.send(encode_command("QUERY", sql))
        expected = (b"*2\r\n*4\r\n$2\r\nid\r\n$10\r\nexpires_at\r\n$3\r\nnul\r\n$1\r\nr\r\n"
                    b"*4\r\n$1\r\n3\r\n:1798761603\r\n$-1\r\n$4\r\n2.25\r\n")
        assert conn.read_raw(len(expected)) == expected


def test_typed_cells_redis_py(r3, r2):
    sql = "SELECT id, scopes, expires_at, NULL AS n FROM auth_tokens WHERE id IN (?, ?) ORDER BY id"
    expected = [[b"id", b"scopes", b"expires_at", b"n"],
                [b"4", b"read write", 1798761604, None],
                [b"5", b"admin", 1798761605, None]]
    assert r3.execute_command("QUERY", sql, "4", "5") == expected
    assert r2.execute_command("QUERY", sql, "4", "5") == expected
    # Served from L1 the second time; same answer in both protocols.
    assert r2.execute_command("QUERY", sql, "4", "5") == expected
    assert r3.execute_command("QUERY", sql, "4", "5") == expected


def test_empty_result_has_column_names_only(r3):
    assert r3.execute_command("QUERY", "SELECT id, data FROM user_sessions WHERE id = ?", "no-such-id") == [
        [b"id", b"data"]]


def test_second_identical_query_is_served_from_l1(px, r3):
    sql = "SELECT id, data FROM static_config WHERE id IN ('801', '802') ORDER BY id"
    expected = [[b"id", b"data"], [b"801", demo_value("static_config", 801)], [b"802", demo_value("static_config", 802)]]
    before = px.stats()
    assert r3.execute_command("QUERY", sql) == expected
    middle = px.stats()
    assert middle["backend"]["query"]["count"] - before["backend"]["query"]["count"] == 1
    assert middle["types"]["static_config"]["loads"] - before["types"]["static_config"]["loads"] == 1
    assert middle["types"]["static_config"]["l1"]["misses"] - before["types"]["static_config"]["l1"]["misses"] == 1
    for _ in range(3):
        assert r3.execute_command("QUERY", sql) == expected
    after = px.stats()
    assert after["backend"]["query"]["count"] == middle["backend"]["query"]["count"]
    assert after["types"]["static_config"]["loads"] == middle["types"]["static_config"]["loads"]
    assert after["types"]["static_config"]["l1"]["hits"] - middle["types"]["static_config"]["l1"]["hits"] == 3
    # Different parameters or text are different queries.
    assert r3.execute_command("QUERY", sql.replace("'802'", "'803'"))[2] == [b"803", demo_value("static_config", 803)]
    assert px.stats()["backend"]["query"]["count"] == after["backend"]["query"]["count"] + 1


def test_query_key_parts_do_not_run_together(r3):
    # ("SELECT ?||?", "ab", "c") and ("SELECT ?||?", "a", "bc") must not share a cached result.
    sql = "SELECT ? || ? || (SELECT count(*) FROM static_config WHERE id = '1') AS v"
    assert r3.execute_command("QUERY", sql, "ab", "c") == [[b"v"], [b"abc1"]]
    assert r3.execute_command("QUERY", sql, "a", "bc") == [[b"v"], [b"abc1"]]
    sql2 = "SELECT ? AS a, ? AS b FROM static_config WHERE id = '1'"
    assert r3.execute_command("QUERY", sql2, "ab", "c") == [[b"a", b"b"], [b"ab", b"c"]]
    assert r3.execute_command("QUERY", sql2, "a", "bc") == [[b"a", b"b"], [b"a", b"bc"]]


def test_parameters_are_bound_not_interpolated(px, r3):
    assert r3.execute_command("QUERY", "SELECT ? AS v", "it's") == [[b"v"], [b"it's"]]
    assert r3.execute_command("QUERY", "SELECT ? AS v", "'); DROP TABLE user_sessions; --") == [
        [b"v"], [b"'); DROP TABLE user_sessions; --"]]
    assert r3.execute_command("QUERY", "SELECT data FROM user_sessions WHERE id = ?", "1' OR '1'='1") == [[b"data"]]
    # A text parameter compares equal to an INTEGER column's value (type affinity).
    assert r3.execute_command("QUERY", "SELECT id FROM compliance_checks WHERE checked_at = ?", "1767225605") == [
        [b"id"], [b"5"]]
    assert px.sql("SELECT count(*) FROM user_sessions WHERE id = '1'") == [("1",)]


def test_parameter_count_must_match(px):
    with px.raw() as conn:
        assert conn.command("QUERY", "SELECT ? AS a, ? AS b", "1") == Err(
            "DBERR statement expects 2 parameters, got 1")
        assert conn.command("QUERY", "SELECT 1 AS a", "extra") == Err("DBERR statement expects 0 parameters, got 1")


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO user_sessions(id, data) VALUES ('q-new', 'x')",
        "UPDATE user_sessions SET data = 'hacked' WHERE id = '1'",
        "DELETE FROM user_sessions WHERE id = '2'",
        "REPLACE INTO user_sessions(id, data) VALUES ('3', 'x')",
        "CREATE TABLE q_created (x)",
        "DROP TABLE user_sessions",
        "PRAGMA user_version=1",
        "PRAGMA user_version = 1",
        "PRAGMA user_version(1)",
        "WITH t AS (SELECT 1) DELETE FROM user_sessions WHERE id = '4'",
    ],
)
def test_query_refuses_writes_with_readonly(px, sql):
    with px.raw() as conn:
        reply = conn.command("QUERY", sql)
        assert isinstance(reply, Err) and reply.startswith("READONLY "), reply
        assert conn.command("PING") == "PONG"
    with px.sqlite() as db:
        assert db.execute("PRAGMA user_version").fetchone() == (0,)
        assert db.execute("SELECT data FROM user_sessions WHERE id = '1'").fetchone()[0] == \
            demo_value("user_sessions", 1).decode()
        assert db.execute("SELECT count(*) FROM user_sessions WHERE id IN ('2', '3', '4', 'q-new')").fetchone() == (3,)
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'q_created'").fetchone() == (0,)


def test_query_readonly_pragma_without_argument_is_allowed(px, r3):
    px.sqlite_dialect("PRAGMA")
    assert r3.execute_command("QUERY", "PRAGMA user_version") == [[b"user_version"], [0]]


def test_query_refuses_transactions_and_attach(px):
    px.sqlite_dialect("ATTACH, and SQLite's wording of BEGIN's refusal")
    with px.raw() as conn:
        reply = conn.command("QUERY", "BEGIN")
        assert isinstance(reply, Err) and reply.startswith("DBERR transaction statements are not supported"), reply
        reply = conn.command("QUERY", "ATTACH DATABASE ':memory:' AS other")
        assert isinstance(reply, Err) and reply.startswith("DBERR ATTACH and DETACH are not supported"), reply


def test_query_of_two_statements_is_refused(px):
    with px.raw() as conn:
        reply = conn.command("QUERY", "SELECT 1; DELETE FROM user_sessions WHERE id = '5'")
        assert isinstance(reply, Err) and reply.startswith("DBERR only one statement per call"), reply
        # A trailing semicolon and comment are fine.
        assert conn.command("QUERY", "SELECT 7 AS x; -- done") == [[b"x"], [7]]
    with px.sqlite() as db:
        assert db.execute("SELECT count(*) FROM user_sessions WHERE id = '5'").fetchone() == (1,)


def test_query_missing_table_is_dberr(px, r3):
    px.sqlite_dialect("SQLite's wording of a missing table")
    with px.raw() as conn:
        assert conn.command("QUERY", "SELECT * FROM no_such_table") == Err("DBERR no such table: no_such_table")
        reply = conn.command("QUERY", "SELEC 1")
        assert isinstance(reply, Err) and reply.startswith("DBERR ") and "syntax error" in reply, reply
        reply = conn.command("QUERY", "")
        assert reply == Err("DBERR empty statement: the SQL text holds no statement")
    with pytest.raises(redis.ResponseError, match="^DBERR no such table: no_such_table$"):
        r3.execute_command("QUERY", "SELECT * FROM no_such_table")


def test_query_results_invalidated_by_set_del_and_exec(r3):
    one = ("QUERY", "SELECT data FROM api_responses WHERE id = ?", "901")
    join = ("QUERY", "SELECT a.data, s.data FROM api_responses a JOIN static_config s ON s.id = a.id "
                     "WHERE a.id = ?", "902")
    assert r3.execute_command(*one) == [[b"data"], [demo_value("api_responses", 901)]]
    assert r3.execute_command(*join) == [[b"data", b"data"],
                                         [demo_value("api_responses", 902), demo_value("static_config", 902)]]
    assert r3.set("api_responses:901", "new-901") is True
    assert r3.execute_command(*one) == [[b"data"], [b"new-901"]]
    # A write to either table of a join refreshes it.
    assert r3.set("static_config:902", "cfg-902") is True
    assert r3.execute_command(*join) == [[b"data", b"data"], [demo_value("api_responses", 902), b"cfg-902"]]
    assert r3.execute_command("SQL.EXEC", "UPDATE api_responses SET data = 'exec-902' WHERE id = '902'") == 1
    assert r3.execute_command(*join) == [[b"data", b"data"], [b"exec-902", b"cfg-902"]]
    assert r3.delete("api_responses:901") == 1
    assert r3.execute_command(*one) == [[b"data"]]


def test_query_through_view_is_invalidated_by_writes_to_its_table(px, r3):
    px.sqlite_dialect("CREATE VIEW IF NOT EXISTS")
    assert r3.execute_command("SQL.EXEC", "CREATE VIEW IF NOT EXISTS passed_checks AS "
                                      "SELECT id, status FROM compliance_checks WHERE status = 'passed'") == 0
    q = ("QUERY", "SELECT count(*) AS n FROM passed_checks WHERE id IN ('601', '602')")
    assert r3.execute_command(*q) == [[b"n"], [2]]
    assert r3.set("compliance_checks:601", "failed") is True
    assert r3.execute_command(*q) == [[b"n"], [1]]


def test_query_of_uncached_table_sees_direct_changes(px, r3):
    px.sqlite_dialect("INTEGER PRIMARY KEY numbering rows")
    # default: cache false, so a table no type lists is read afresh each time, even when changed behind the proxy.
    assert r3.execute_command("SQL.EXEC", "CREATE TABLE IF NOT EXISTS free_table (id INTEGER PRIMARY KEY, v TEXT)") == 0
    assert r3.execute_command("SQL.EXEC", "INSERT INTO free_table(v) VALUES ('one')") == 1
    q = ("QUERY", "SELECT v FROM free_table ORDER BY id")
    before = px.type_stats("default")
    assert r3.execute_command(*q) == [[b"v"], [b"one"]]
    with px.sqlite() as db:
        db.execute("INSERT INTO free_table(v) VALUES ('two')")
        db.commit()
    assert r3.execute_command(*q) == [[b"v"], [b"one"], [b"two"]]
    after = px.type_stats("default")
    assert after["loads"] - before["loads"] == 2
    assert after["l1"]["hits"] == before["l1"]["hits"]


def test_query_non_utf8_statement_is_refused(px):
    with px.raw() as conn:
        assert conn.command("QUERY", b"SELECT '\xff'") == Err("ERR QUERY statement is not valid UTF-8")
        assert conn.command("SQL.EXEC", b"SELECT '\xff'") == Err("ERR SQL.EXEC statement is not valid UTF-8")
        assert conn.command("QUERY", b"SELECT 1 AS \x00x") == Err("DBERR the SQL text contains a NUL byte")
