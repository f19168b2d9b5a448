"""The write path: SET/DEL/SQL.EXEC write through to the database and no read after the acknowledgement sees the old value."""

from __future__ import annotations

import random
import threading

import pytest
import redis

from conftest import Err, Simple, demo_value, encode_command

WRITABLE = ["user_sessions", "policy_decisions", "governance_rules", "static_config", "api_responses",
            "synthesis_results"]


def db_value(px, table, id_):
    rows = px.sql(f"SELECT data FROM {table} WHERE id = '{id_.replace(chr(39), chr(39) * 2)}'")
    return rows[0][0] if rows else None


def test_read_your_writes_200_random_keys(px):
    rng = random.Random(20240601)
    r3 = px.client(protocol=3)
    r2 = px.client(protocol=2)
    written = {}
    for n in range(200):
        type_name = rng.choice(WRITABLE)
        # Existing demo rows (cached first, so L1 holds the old value), new ids, and keys written before.
        kind = rng.random()
        if kind < 0.5:
            id_ = str(rng.randint(1, 1000))
        elif kind < 0.8:
            id_ = f"new-{rng.randint(1, 100000)}"
        else:
            id_ = rng.choice(list(written)).split(":", 1)[1] if written else "x"
        key = f"{type_name}:{id_}"
        client = r3 if n % 2 else r2
        previous = client.get(key)
        if key in written:
            assert previous == written[key], key
        elif id_.isdigit():
            assert previous == demo_value(type_name, int(id_)), key
        value = f"v{n}-{rng.getrandbits(64):x}-é\r\n".encode()
        assert client.set(key, value) is True
        written[key] = value
        assert client.get(key) == value, key
        # The other protocol's client, another connection, sees it too.
        other = r2 if client is r3 else r3
        assert other.get(key) == value, key
    for key, value in written.items():
        type_name, id_ = key.split(":", 1)
        assert db_value(px, type_name, id_) == value.decode()
    assert r3.mget(list(written)) == list(written.values())


def test_set_then_get_in_one_pipeline(px):
    with px.raw() as conn:
        conn.command("GET", "api_responses:42")  # cache the old value
        conn.send(encode_command("SET", "api_responses:42", "p1") + encode_command("GET", "api_responses:42")
                  + encode_command("SET", "api_responses:42", "p2") + encode_command("GET", "api_responses:42")
                  + encode_command("DEL", "api_responses:42") + encode_command("GET", "api_responses:42"))
        assert [conn.read_reply() for _ in range(6)] == [Simple("OK"), b"p1", Simple("OK"), b"p2", 1, None]


def test_acknowledged_set_is_seen_by_other_connections_under_read_load(px):
    """A writer sets increasing values; after each OK, a second connection must read exactly that value, while
    readers keep loads of the key in flight (a load that began before the write must not be served after it)."""
    key = "policy_decisions:race-1"
    writer = px.client(protocol=3)
    checker = px.client(protocol=2)
    stop = threading.Event()
    errors = []

    def hammer():
        client = px.client(protocol=3)
        try:
            while not stop.is_set():
                client.get(key)
                client.execute_command("QUERY", "SELECT data FROM policy_decisions WHERE id = ?", "race-1")
        except Exception as error:  # surfaced below
            errors.append(error)

    readers = [threading.Thread(target=hammer) for _ in range(3)]
    for t in readers:
        t.start()
    stale = []
    try:
        for n in range(300):
            value = f"gen-{n}".encode()
            assert writer.set(key, value) is True
            got = checker.get(key)
            rows = checker.execute_command("QUERY", "SELECT data FROM policy_decisions WHERE id = ?", "race-1")
            if got != value or rows != [[b"data"], [value]]:
                stale.append((n, value, got, rows))
    finally:
        stop.set()
        for t in readers:
            t.join(30)
    assert not errors, errors
    assert not stale, f"{len(stale)} stale reads after an acknowledged SET, first: {stale[:3]}"


def test_del_returns_count_then_zero_and_get_is_nil(px, r3):
    assert r3.get("governance_rules:11") == demo_value("governance_rules", 11)  # cached
    assert r3.delete("governance_rules:11") == 1
    assert r3.get("governance_rules:11") is None
    assert r3.delete("governance_rules:11") == 0
    assert r3.exists("governance_rules:11") == 0
    assert db_value(px, "governance_rules", "11") is None
    # Several keys, some absent, one twice.
    assert r3.delete("governance_rules:12", "governance_rules:13", "governance_rules:999999", "governance_rules:12") == 2
    assert r3.mget(["governance_rules:12", "governance_rules:13", "governance_rules:14"]) == [
        None, None, demo_value("governance_rules", 14)]
    # Re-created after the delete.
    assert r3.set("governance_rules:11", "back") is True
    assert r3.get("governance_rules:11") == b"back"


def test_del_of_multi_column_type(px, r3):
    assert r3.get("auth_tokens:21") == demo_value("auth_tokens", 21)
    assert r3.exists("auth_tokens:21") == 1
    assert r3.delete("auth_tokens:21") == 1
    assert r3.get("auth_tokens:21") is None
    assert r3.exists("auth_tokens:21") == 0


def test_del_of_key_with_no_type(px):
    with px.raw() as conn:
        reply = conn.command("DEL", "user_sessions:30", "no-type")
        assert isinstance(reply, Err) and reply.startswith("ERR no data type for key 'no-type'"), reply
        # Nothing was deleted.
        assert conn.command("GET", "user_sessions:30") == demo_value("user_sessions", 30)


def test_set_on_auth_tokens_is_refused(px, r3):
    with px.raw() as conn:
        reply = conn.command("SET", "auth_tokens:1", "x")
        assert reply == Err("ERR type 'auth_tokens' has no store statement; SET is not available for it")
        assert conn.command("PING") == Simple("PONG")
    with pytest.raises(redis.ResponseError, match="has no store statement"):
        r3.set("auth_tokens:1", "x")
    assert r3.get("auth_tokens:1") == demo_value("auth_tokens", 1)
    assert px.sql("SELECT user_id, scopes FROM auth_tokens WHERE id = '1'") == [("user-1", "read write")]


def test_set_on_key_with_no_type(px):
    with px.raw() as conn:
        reply = conn.command("SET", "nosuch:1", "v")
        assert isinstance(reply, Err) and reply.startswith("ERR no data type for key 'nosuch:1'"), reply


def test_set_compliance_check_writes_status_and_time(px, r3):
    import time
    before = int(time.time())
    assert r3.get("compliance_checks:44") == demo_value("compliance_checks", 44)
    assert r3.set("compliance_checks:44", "waived") is True
    reply = r3.get("compliance_checks:44")
    assert reply[b"status"] == b"waived"
    assert before - 1 <= reply[b"checked_at"] <= int(time.time()) + 1


def test_exec_update_refreshes_cached_gets_and_queries(px, r3):
    ids = [str(i) for i in range(301, 306)]
    for i in ids:
        assert r3.get(f"governance_rules:{i}") == demo_value("governance_rules", int(i))
    one = ["QUERY", "SELECT data FROM governance_rules WHERE id = ?", "303"]
    count = ["QUERY", "SELECT count(*) AS n FROM governance_rules WHERE data LIKE 'x-%'"]
    assert r3.execute_command(*one) == [[b"data"], [demo_value("governance_rules", 303)]]
    assert r3.execute_command(*count) == [[b"n"], [0]]
    # Cached now: the same answers again from L1.
    assert r3.execute_command(*count) == [[b"n"], [0]]
    stats = px.type_stats("governance_rules")
    changed = r3.execute_command(
        "SQL.EXEC", "UPDATE governance_rules SET data = 'x-' || id WHERE id IN (?, ?, ?, ?, ?)", *ids)
    assert changed == 5
    for i in ids:
        assert r3.get(f"governance_rules:{i}") == f"x-{i}".encode()
    assert r3.execute_command(*one) == [[b"data"], [b"x-303"]]
    assert r3.execute_command(*count) == [[b"n"], [5]]
    assert px.type_stats("governance_rules")["invalidations"] > stats["invalidations"]


def test_exec_on_table_no_type_reads_leaves_other_types_cached(px, r3):
    px.sqlite_dialect("INTEGER PRIMARY KEY numbering rows")
    assert r3.execute_command("SQL.EXEC", "CREATE TABLE IF NOT EXISTS audit_log (id INTEGER PRIMARY KEY, note TEXT)") == 0
    keys = [f"static_config:{i}" for i in range(501, 506)]
    assert r3.mget(keys) == [demo_value("static_config", i) for i in range(501, 506)]
    before = px.stats()["types"]
    assert r3.execute_command("SQL.EXEC", "INSERT INTO audit_log(note) VALUES (?), (?)", "a", "b") == 2
    assert r3.execute_command("SQL.EXEC", "UPDATE audit_log SET note = note || '!'") == 2
    assert r3.mget(keys) == [demo_value("static_config", i) for i in range(501, 506)]
    after = px.stats()["types"]
    assert after["static_config"]["loads"] == before["static_config"]["loads"]
    assert after["static_config"]["l1"]["hits"] - before["static_config"]["l1"]["hits"] == 5
    for name in after:
        assert after[name]["invalidations"] == before[name]["invalidations"], name
    # QUERY on the uncached table sees the writes.
    assert r3.execute_command("QUERY", "SELECT note FROM audit_log ORDER BY id") == [[b"note"], [b"a!"], [b"b!"]]


def test_exec_returns_changed_rows(px, r3):
    px.sqlite_dialect("INTEGER PRIMARY KEY numbering rows")
    assert r3.execute_command("SQL.EXEC", "CREATE TABLE IF NOT EXISTS exec_counts (id INTEGER PRIMARY KEY, v TEXT)") == 0
    assert r3.execute_command("SQL.EXEC", "INSERT INTO exec_counts(v) VALUES ('a'), ('b'), ('c')") == 3
    assert r3.execute_command("SQL.EXEC", "UPDATE exec_counts SET v = 'z' WHERE v = 'nothing'") == 0
    assert r3.execute_command("SQL.EXEC", "DELETE FROM exec_counts WHERE v IN ('a', 'b')") == 2
    assert r3.execute_command("SQL.EXEC", "SELECT * FROM exec_counts") == 0
    assert r3.execute_command("SQL.EXEC", "DROP TABLE exec_counts") == 0


def test_exec_errors(px):
    px.sqlite_dialect("SQLite's wording of errors")
    with px.raw() as conn:
        assert conn.command("SQL.EXEC", "UPDATE nope SET x = 1") == Err("DBERR no such table: nope")
        reply = conn.command("SQL.EXEC", "UPDATE user_sessions SET data = ? WHERE id = ?", "only-one")
        assert isinstance(reply, Err) and reply.startswith("DBERR "), reply
        reply = conn.command("SQL.EXEC", "DELETE FROM user_sessions WHERE id = '1'; DELETE FROM user_sessions")
        assert isinstance(reply, Err) and reply.startswith("DBERR only one statement per call"), reply
        reply = conn.command("SQL.EXEC", "BEGIN")
        assert isinstance(reply, Err) and reply.startswith("DBERR transaction statements are not supported"), reply
        reply = conn.command("SQL.EXEC", "INSERT INTO user_sessions(id, data) VALUES ('1', 'dup')")
        assert isinstance(reply, Err) and reply.startswith("DBERR UNIQUE constraint failed"), reply
        assert conn.command("GET", "user_sessions:1") == demo_value("user_sessions", 1)
    with px.sqlite() as db:
        assert db.execute("SELECT count(*) FROM user_sessions").fetchone()[0] >= 1000 - 5


def test_exec_schema_change_then_reads(px, r3):
    # A schema change invalidates everything; reads afterwards still answer correctly.
    assert r3.get("synthesis_results:77") == demo_value("synthesis_results", 77)
    assert r3.execute_command("SQL.EXEC", "ALTER TABLE synthesis_results ADD COLUMN extra TEXT") == 0
    assert r3.get("synthesis_results:77") == demo_value("synthesis_results", 77)
    assert r3.execute_command("SQL.EXEC", "UPDATE synthesis_results SET data = 'altered' WHERE id = '77'") == 1
    assert r3.get("synthesis_results:77") == b"altered"


def test_binary_safe_text_values_round_trip(px):
    px.sqlite_dialect("BLOB columns")
    r3 = px.client(protocol=3)
    r2 = px.client(protocol=2)
    values = {
        "user_sessions:bin-crlf": b"line1\r\nline2\r\n\r\n$5\r\n*1\r\n",
        "user_sessions:bin-nul": b"a\x00b\x00\x00c",
        "user_sessions:bin-utf8": "żółw 🐢 \u2028 \t end".encode(),
        "user_sessions:bin-empty": b"",
        "user_sessions:bin-big": ("0123456789abcdef" * 65536).encode(),  # 1 MiB
    }
    for key, value in values.items():
        assert r3.set(key, value) is True, key
        assert r3.get(key) == value, key
        assert r2.get(key) == value, key
    for key, value in values.items():  # from L1 again, after the others
        assert r3.get(key) == value, key


def test_raw_bytes_round_trip_through_set_get(px):
    px.sqlite_dialect("BLOB columns")
    # Not UTF-8: bound as a blob, which the TEXT column keeps as is.
    r3 = px.client(protocol=3)
    value = bytes(range(256)) * 4
    assert r3.set("user_sessions:bin-raw", value) is True
    assert r3.get("user_sessions:bin-raw") == value
    r3.execute_command("SQL.EXEC", "UPDATE static_config SET data = data WHERE id = 'none'")
    fresh = px.client(protocol=2)
    assert fresh.get("user_sessions:bin-raw") == value


def test_raw_bytes_through_exec_and_query_blob_table(px):
    px.sqlite_dialect("BLOB columns")
    r3 = px.client(protocol=3)
    assert r3.execute_command("SQL.EXEC", "CREATE TABLE IF NOT EXISTS blobs (id TEXT PRIMARY KEY, v BLOB)") == 0
    value = b"\x00\xff\r\n\x80\x81$-1\r\n" + bytes(range(256))
    assert r3.execute_command("SQL.EXEC", "INSERT INTO blobs(id, v) VALUES (?, ?)", "b1", value) == 1
    assert r3.execute_command("QUERY", "SELECT v, length(v) AS n FROM blobs WHERE id = ?", "b1") == [
        [b"v", b"n"], [value, len(value)]]
    # A binary parameter compares equal to the stored blob.
    assert r3.execute_command("QUERY", "SELECT id FROM blobs WHERE v = ?", value) == [[b"id"], [b"b1"]]


def test_keyed_write_invalidates_other_spellings_of_the_same_row(proxy, tmp_path):
    """With an INTEGER PRIMARY KEY, items:1, items:01 and items:1.0 name one row. A write through a non-canonical
    spelling must not leave the canonical key cached with the old value (GET items:1 → "old" after SET items:01),
    nor the other way round (DEL items:1.0 then GET items:01)."""
    from conftest import make_sqlite_db, write_policy
    db = make_sqlite_db(tmp_path / "i.db", "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL);"
                                           "INSERT INTO items VALUES (1, 'old');")
    policies = write_policy(tmp_path / "policies", "items.yaml", """
types:
  items:
    load: SELECT v FROM items WHERE id = ?
    store: INSERT INTO items(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v
    delete: DELETE FROM items WHERE id = ?
    tables: [items]
    ttl: 1h
""")
    p = proxy(policies=policies.parent, database=db)
    r = p.client(protocol=3)
    assert r.get("items:1") == b"old"
    assert r.set("items:01", "new") is True
    assert r.get("items:01") == b"new"
    with p.sqlite() as conn:
        assert conn.execute("SELECT id, v FROM items").fetchall() == [(1, "new")]
    assert r.get("items:1") == b"new"
    assert r.delete("items:1.0") == 1
    assert r.get("items:01") is None
    assert r.get("items:1") is None


def test_acknowledged_exec_and_del_are_seen_under_read_load(proxy):
    """SQL.EXEC UPDATE and DEL/SET cycles on one row while other connections keep loads of it in flight, with two event
    loops and four backend threads: after each acknowledgement a fresh read must show the write."""
    p = proxy("--threads", "2", "--backend-threads", "4")
    writer = p.client(protocol=3)
    checker = p.client(protocol=3)
    stop = threading.Event()
    errors = []

    def hammer(n):
        client = p.client(protocol=2 if n % 2 else 3)
        try:
            while not stop.is_set():
                client.get("api_responses:77")
                client.exists("api_responses:77")
                client.execute_command("QUERY", "SELECT data FROM api_responses WHERE id = ?", "77")
        except Exception as error:
            errors.append(error)

    readers = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for t in readers:
        t.start()
    stale = []
    try:
        for n in range(150):
            value = f"exec-{n}".encode()
            assert writer.execute_command("SQL.EXEC", "UPDATE api_responses SET data = ? WHERE id = '77'", value) == 1
            got = (checker.get("api_responses:77"),
                   checker.execute_command("QUERY", "SELECT data FROM api_responses WHERE id = ?", "77"))
            if got != (value, [[b"data"], [value]]):
                stale.append(("SQL.EXEC", n, got))
            assert writer.delete("api_responses:77") == 1
            got = (checker.get("api_responses:77"), checker.exists("api_responses:77"),
                   checker.execute_command("QUERY", "SELECT data FROM api_responses WHERE id = ?", "77"))
            if got != (None, 0, [[b"data"]]):
                stale.append(("DEL", n, got))
            assert writer.set("api_responses:77", f"set-{n}") is True
            got = checker.get("api_responses:77")
            if got != f"set-{n}".encode():
                stale.append(("SET", n, got))
    finally:
        stop.set()
        for t in readers:
            t.join(30)
    assert not errors, errors
    assert not stale, f"{len(stale)} stale reads after acknowledged writes, first: {stale[:3]}"
