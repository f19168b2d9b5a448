"""The slow log (issue 16): database statements slower than --slow-log-threshold, read through Redis' SLOWLOG
with redis-py's own parsing and raw replies."""

from __future__ import annotations

import pytest
import redis

from conftest import items_db, write_policy

POLICY = """\
types:
  item:
    load: SELECT v FROM items WHERE id = ?
    store: INSERT INTO items(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v
    delete: DELETE FROM items WHERE id = ?
    tables: [items]
    ttl: 1h
"""
# About a third of a second of SQLite's time on this machine; far above the thresholds used here.
SLOW_QUERY = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
              "SELECT count(*) FROM c")


def items_proxy(proxy, tmp_path, *args):
    db = items_db(tmp_path / "items.db", 20)
    return proxy(*args, policies=write_policy(tmp_path / "policies", "items.yaml", POLICY), database=db)


def test_every_kind_of_statement_is_logged_with_its_client(proxy, tmp_path):
    px = items_proxy(proxy, tmp_path, "--slow-log-threshold", "0")
    r = px.client(protocol=2, decode_responses=True, single_connection_client=True)
    r.client_setname("checkout")
    address = r.client_info()["addr"]
    assert r.get("item:3") == "v3"
    assert r.get("item:3") == "v3"  # an L1 hit: no statement
    assert r.execute_command("QUERY", "SELECT v FROM items WHERE id = ?", "4") == [["v"], ["v4"]]
    assert r.set("item:5", "five")
    assert r.delete("item:6") == 1
    assert r.execute_command("SQL.EXEC", "UPDATE items SET v = ? WHERE id = ?", "seven", "7") is not None
    # On this connection (redis-py's pipeline would take another from its pool).
    assert r.execute_command("MULTI") == "OK"
    r.execute_command("SET", "item:8", "eight")  # QUEUED (which redis-py's SET callback reads as False)
    assert r.execute_command("GET", "item:9") == "QUEUED"
    assert r.execute_command("EXEC") == ["OK", "v9"]

    entries = r.slowlog_get(-1)  # redis-py parses Redis' six-field entries
    assert r.slowlog_len() == len(entries) == 6
    assert [e["id"] for e in entries] == list(range(5, -1, -1))  # newest first
    # MULTI … EXEC runs as one database transaction: one entry, its commands as the statement.
    # (redis-py leaves the command as bytes, decode_responses or not.)
    assert [e["command"].decode() for e in reversed(entries)] == [
        "LOAD item SELECT v FROM items WHERE id = ? 3",
        "QUERY item SELECT v FROM items WHERE id = ? 4",
        "STORE item INSERT INTO items(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v 5 five",
        "DELETE item DELETE FROM items WHERE id = ? 6",
        "EXEC - UPDATE items SET v = ? WHERE id = ? seven 7",
        "TRANSACTION - MULTI SET GET EXEC",
    ]
    assert {(e["client_address"], e["client_name"]) for e in entries} == {(address.encode(), b"checkout")}
    assert all(e["duration"] >= 0 and e["start_time"] > 1_700_000_000 for e in entries)


def test_only_statements_over_the_threshold_are_kept_up_to_the_length(proxy, tmp_path):
    px = items_proxy(proxy, tmp_path, "--slow-log-threshold", "50ms", "--slow-log-max-len", "2")
    r = px.client(protocol=2, decode_responses=True)
    assert r.get("item:1") == "v1"
    assert r.slowlog_len() == 0  # fast
    for _ in range(3):
        assert r.execute_command("QUERY", SLOW_QUERY) == [["count(*)"], [3000000]]
        r.execute_command("QUERY", SLOW_QUERY + " -- " + str(_))  # a new text: not answered from L1
    assert r.slowlog_len() == 2
    newest, older = r.slowlog_get()
    assert newest["id"] > older["id"]
    assert newest["duration"] >= 50_000 and newest["command"].startswith(b"QUERY - WITH RECURSIVE")
    assert r.slowlog_reset()
    assert r.slowlog_len() == 0 and r.slowlog_get() == []


def test_long_arguments_are_truncated_as_redis_does(proxy, tmp_path):
    px = items_proxy(proxy, tmp_path, "--slow-log-threshold", "0")
    r = px.client(protocol=3)
    assert r.set("item:long", "x" * 200)
    raw = r.execute_command("SLOWLOG", "GET", "1")
    (entry,) = raw
    assert len(entry) == 6
    arguments = entry[3]
    assert arguments[-1] == b"x" * 128 + b"... (72 more bytes)"


def test_off_logs_nothing_and_bad_arguments_get_redis_errors(proxy, tmp_path):
    px = items_proxy(proxy, tmp_path, "--slow-log-threshold", "off")
    r = px.client(protocol=2, decode_responses=True)
    r.execute_command("QUERY", SLOW_QUERY)
    assert r.slowlog_len() == 0
    with pytest.raises(redis.ResponseError, match="count should be greater than or equal to -1"):
        r.execute_command("SLOWLOG", "GET", "-2")
    with pytest.raises(redis.ResponseError, match=r"unknown subcommand or wrong number of arguments for 'NOPE'"):
        r.execute_command("SLOWLOG", "NOPE")
    assert r.execute_command("SLOWLOG", "HELP")[0].startswith("SLOWLOG <subcommand>")
