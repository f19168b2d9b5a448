"""The read path: GET/MGET/EXISTS through L1 and the types' load statements, checked against STATS counters."""

from __future__ import annotations

import threading

import time

import pytest
import redis

from conftest import SHIPPED_TYPES, Err, demo_value


def flat(value):
    """A multi-column GET reply as a RESP2 client sees it: field, value, field, value."""
    if isinstance(value, dict):
        return [item for pair in value.items() for item in pair]
    return value


@pytest.mark.parametrize("type_name", SHIPPED_TYPES)
def test_get_id_1_of_every_shipped_type(r3, r2, type_name):
    assert r3.get(f"{type_name}:1") == demo_value(type_name, 1)
    assert r2.get(f"{type_name}:1") == flat(demo_value(type_name, 1))
    # A second id, whose values differ from id 1 in every type.
    assert r3.get(f"{type_name}:1000") == demo_value(type_name, 1000)
    assert r2.get(f"{type_name}:1000") == flat(demo_value(type_name, 1000))


def test_integer_single_column_is_decimal_text(proxy, tmp_path):
    # One column of INTEGER type: GET answers a bulk string, like Redis does for numbers.
    from conftest import make_sqlite_db, write_policy
    db = make_sqlite_db(tmp_path / "n.db", """
        CREATE TABLE counters (id TEXT PRIMARY KEY, n INTEGER, r REAL, note TEXT);
        INSERT INTO counters VALUES ('a', 42, 2.5, NULL), ('b', -7, 0.1, 'x');
    """)
    policies = write_policy(tmp_path / "policies", "counters.yaml", """
types:
  counter:
    load: SELECT n FROM counters WHERE id = ?
    tables: [counters]
    ttl: 1m
  counter_real:
    load: SELECT r FROM counters WHERE id = ?
    tables: [counters]
    ttl: 1m
  counter_note:
    load: SELECT note FROM counters WHERE id = ?
    tables: [counters]
    ttl: 1m
""")
    p = proxy(policies=policies.parent, database=db)
    r = p.client(protocol=3)
    assert r.get("counter:a") == b"42"
    assert r.get("counter:b") == b"-7"
    assert r.get("counter_real:a") == b"2.5"
    assert r.get("counter_note:a") is None  # a NULL single cell reads as nil
    assert r.get("counter_note:b") == b"x"
    assert r.get("counter:zzz") is None


def test_absent_id_is_nil_twice_with_one_load(px, r3, r2):
    type_name = "policy_decisions"
    before = px.type_stats(type_name)
    assert r3.get(f"{type_name}:50001") is None
    assert r2.get(f"{type_name}:50001") is None
    assert r3.get(f"{type_name}:50001") is None
    after = px.type_stats(type_name)
    assert after["loads"] - before["loads"] == 1
    assert after["loads_absent"] - before["loads_absent"] == 1
    assert after["l1"]["misses"] - before["l1"]["misses"] == 1
    assert after["l1"]["hits"] - before["l1"]["hits"] == 2


def test_concurrent_gets_of_one_absent_key_load_once(px):
    type_name = "synthesis_results"
    before = px.type_stats(type_name)
    clients = [px.client(protocol=3 if n % 2 else 2) for n in range(20)]
    barrier = threading.Barrier(len(clients))
    results = [object()] * len(clients)

    def read(n):
        barrier.wait()
        results[n] = clients[n].get(f"{type_name}:60001")

    threads = [threading.Thread(target=read, args=(n,)) for n in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [None] * len(clients)
    after = px.type_stats(type_name)
    assert after["loads"] - before["loads"] == 1
    assert after["loads_absent"] - before["loads_absent"] == 1
    # Each request either joined the one load or was an L1 hit after it.
    hits = after["l1"]["hits"] - before["l1"]["hits"]
    coalesced = after["coalesced"] - before["coalesced"]
    misses = after["l1"]["misses"] - before["l1"]["misses"]
    assert hits + misses == len(clients)
    assert misses == 1 + coalesced


def test_second_get_is_l1_hit(px, r3):
    type_name = "static_config"
    before = px.type_stats(type_name)
    tier_before = px.stats()["tiers"]["l1"]
    assert r3.get(f"{type_name}:7") == demo_value(type_name, 7)
    middle = px.type_stats(type_name)
    assert middle["loads"] - before["loads"] == 1
    assert middle["loads_absent"] == before["loads_absent"]
    assert middle["l1"]["misses"] - before["l1"]["misses"] == 1
    assert middle["l1"]["entries"] - before["l1"]["entries"] == 1
    for _ in range(3):
        assert r3.get(f"{type_name}:7") == demo_value(type_name, 7)
    after = px.type_stats(type_name)
    assert after["loads"] == middle["loads"]
    assert after["l1"]["hits"] - middle["l1"]["hits"] == 3
    assert after["l1"]["misses"] == middle["l1"]["misses"]
    tier_after = px.stats()["tiers"]["l1"]
    assert tier_after["hits"] - tier_before["hits"] == 3
    assert tier_after["misses"] - tier_before["misses"] == 1


def test_mget_across_types(px, r3, r2):
    keys = ["user_sessions:2", "auth_tokens:2", "static_config:99999", "nosuchtype:1", "plainkey", "compliance_checks:3",
            "user_sessions:2"]
    expected = [demo_value("user_sessions", 2), demo_value("auth_tokens", 2), None, None, None,
                demo_value("compliance_checks", 3), demo_value("user_sessions", 2)]
    before = px.type_stats("user_sessions")
    assert r3.mget(keys) == expected
    # Again: now from L1 (the all-hits path) where cached, misses and no-type keys mixed.
    assert r3.mget(keys) == expected
    assert r2.mget(keys) == [flat(v) for v in expected]
    after = px.type_stats("user_sessions")
    assert after["loads"] - before["loads"] <= 1


def test_mget_all_hits_path(r3):
    keys = [f"api_responses:{i}" for i in range(100, 110)]
    expected = [demo_value("api_responses", i) for i in range(100, 110)]
    assert r3.mget(keys) == expected
    assert r3.mget(keys) == expected  # every key from L1
    assert r3.mget(keys[:1]) == expected[:1]


def test_mget_of_only_unknown_keys(r3):
    assert r3.mget(["a", "b:c", "x:1"]) == [None, None, None]


def test_exists_counts(px, r3):
    assert r3.exists("user_sessions:1", "user_sessions:424243", "auth_tokens:3", "nokey", "no:type") == 2
    # Again, from L1 (including the cached miss).
    assert r3.exists("user_sessions:1", "user_sessions:424243", "auth_tokens:3", "nokey", "no:type") == 2
    # Redis counts a key given twice twice.
    assert r3.exists("governance_rules:5", "governance_rules:5") == 2
    assert r3.exists("governance_rules:424244") == 0
    assert r3.get("governance_rules:424244") is None
    # EXISTS before any GET of a key, then GET agrees.
    assert r3.exists("api_responses:321") == 1
    assert r3.get("api_responses:321") == demo_value("api_responses", 321)


def test_get_of_key_with_no_type(px):
    with px.raw() as conn:
        for key in ("nosuchtype:1", "plain", "user_sessions", ":1", "USER_SESSIONS:1"):
            reply = conn.command("GET", key)
            assert isinstance(reply, Err), (key, reply)
            assert reply.startswith(f"ERR no data type for key '{key}': keys are PREFIX:ID with PREFIX one of "), reply
        assert conn.command("GET", "user_sessions:1") == demo_value("user_sessions", 1)


def test_get_ids_are_exact_text(r3):
    # The id is the text after the prefix: '01' is not '1', and an id may itself contain colons.
    assert r3.get("user_sessions:01") is None
    assert r3.get("user_sessions: 1") is None
    assert r3.get("user_sessions:1:x") is None
    assert r3.get("user_sessions:") is None


def test_get_latency_recorded(px, r3):
    before = px.stats()["commands"].get("GET", {"count": 0})["count"]
    for i in range(5):
        r3.get(f"user_sessions:{i + 20}")
    after = px.stats()["commands"]["GET"]
    assert after["count"] - before == 5
    assert 0 < after["p50_us"] <= after["p90_us"] <= after["p99_us"] <= after["p99.9_us"] <= after["max_us"]


def test_redis_py_decode_responses(px):
    client = px.client(protocol=3, decode_responses=True)
    assert client.get("user_sessions:1") == demo_value("user_sessions", 1).decode()
    assert client.get("auth_tokens:1") == {"user_id": "user-1", "scopes": "read write", "expires_at": 1798761601}


def test_load_error_is_dberr(proxy, tmp_path):
    # A type whose table is dropped behind the proxy's back: the load fails with DBERR and is not cached.
    from conftest import make_sqlite_db, write_policy
    db = make_sqlite_db(tmp_path / "e.db", "CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT); INSERT INTO t VALUES ('1', 'one');")
    policies = write_policy(tmp_path / "p", "t.yaml", """
types:
  thing:
    load: SELECT v FROM t WHERE id = ?
    tables: [t]
    ttl: 1m
""")
    p = proxy(policies=policies.parent, database=db)
    r = p.client(protocol=3)
    assert r.get("thing:1") == b"one"
    assert r.execute_command("SQL.EXEC", "DROP TABLE t") == 0
    with pytest.raises(redis.ResponseError, match="^DBERR no such table: t$"):
        r.get("thing:1")
    stats = p.type_stats("thing")
    assert stats["load_errors"] == 1
    assert r.execute_command("SQL.EXEC", "CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)") == 0
    assert r.execute_command("SQL.EXEC", "INSERT INTO t VALUES ('1', 'uno')") == 1
    assert r.get("thing:1") == b"uno"


# ---------------------------------------------------------------------------------------------------------------
# Policy options seen through the read path (custom schema and policies)

COUNTERS_DB = """
    CREATE TABLE counters (id TEXT PRIMARY KEY, n INTEGER, note TEXT);
    INSERT INTO counters VALUES ('a', 42, NULL), ('b', -7, 'x');
"""


def counters_proxy(proxy, tmp_path, policy_text):
    from conftest import make_sqlite_db, write_policy
    db = make_sqlite_db(tmp_path / "c.db", COUNTERS_DB)
    policies = write_policy(tmp_path / "policies", "p.yaml", policy_text)
    return proxy(policies=policies.parent, database=db)


def test_expired_entries_nobody_reads_are_swept(proxy, tmp_path):
    p = counters_proxy(proxy, tmp_path, """
types:
  counter:
    load: SELECT n FROM counters WHERE id = ?
    tables: [counters]
    ttl: 500ms
""")
    r = p.client(protocol=3)
    for n in range(200):
        assert r.get(f"counter:absent{n}") is None
    assert p.type_stats("counter")["l1"]["entries"] == 200
    deadline = time.time() + 10
    while time.time() < deadline and p.type_stats("counter")["l1"]["entries"] > 0:
        time.sleep(0.2)
    stats = p.type_stats("counter")
    assert stats["l1"]["entries"] == 0 and stats["l1"]["bytes"] == 0
    assert stats["l1"]["expirations"] == 200
    assert stats["loads"] == 200  # nothing was read again: the sweeper, not a lookup, removed them


def test_ttl_expiry_reloads(proxy, tmp_path):
    p = counters_proxy(proxy, tmp_path, """
types:
  counter:
    load: SELECT n FROM counters WHERE id = ?
    tables: [counters]
    ttl: 1s
""")
    r = p.client(protocol=3)
    assert r.get("counter:a") == b"42"
    # Changed behind the proxy's back: the cached value stays until the ttl ends.
    with p.sqlite() as db:
        db.execute("UPDATE counters SET n = 43 WHERE id = 'a'")
    assert r.get("counter:a") == b"42"
    import time
    time.sleep(1.2)
    assert r.get("counter:a") == b"43"
    stats = p.type_stats("counter")
    assert stats["loads"] == 2
    assert stats["l1"]["expirations"] >= 1
    assert stats["ttl_seconds"] == 1.0


def test_cache_misses_false_loads_absent_keys_every_time(proxy, tmp_path):
    p = counters_proxy(proxy, tmp_path, """
types:
  counter:
    load: SELECT n FROM counters WHERE id = ?
    tables: [counters]
    ttl: 1m
    cache_misses: false
""")
    r = p.client(protocol=3)
    for _ in range(3):
        assert r.get("counter:zz") is None
    assert r.get("counter:a") == b"42"
    assert r.get("counter:a") == b"42"
    stats = p.type_stats("counter")
    assert (stats["loads"], stats["loads_absent"], stats["l1"]["hits"]) == (4, 3, 1)
    # A row created behind the proxy's back is seen at once, since its absence was not cached.
    with p.sqlite() as db:
        db.execute("INSERT INTO counters VALUES ('zz', 5, NULL)")
    assert r.get("counter:zz") == b"5"


def test_l1_false_loads_every_time(proxy, tmp_path):
    p = counters_proxy(proxy, tmp_path, """
types:
  counter:
    load: SELECT n FROM counters WHERE id = ?
    tables: [counters]
    ttl: 1m
    l1: false
""")
    r = p.client(protocol=3)
    for _ in range(3):
        assert r.get("counter:a") == b"42"
    q = ("QUERY", "SELECT n FROM counters WHERE id = 'b'")
    assert r.execute_command(*q) == [[b"n"], [-7]]
    assert r.execute_command(*q) == [[b"n"], [-7]]
    stats = p.stats()
    assert stats["types"]["counter"]["loads"] == 5
    assert stats["types"]["counter"]["l1"]["hits"] == 0
    assert stats["tiers"]["l1"]["entries"] == 0


def test_default_cache_true_caches_unlisted_tables_and_exec_invalidates(proxy, tmp_path):
    p = counters_proxy(proxy, tmp_path, """
default:
  cache: true
  ttl: 1h
types:
  counter:
    load: SELECT n FROM counters WHERE id = ?
    tables: [counters]
    ttl: 1m
""")
    r = p.client(protocol=3)
    assert r.execute_command("SQL.EXEC", "CREATE TABLE other (v TEXT)") == 0
    assert r.execute_command("SQL.EXEC", "INSERT INTO other VALUES ('one')") == 1
    q = ("QUERY", "SELECT v FROM other")
    assert r.execute_command(*q) == [[b"v"], [b"one"]]
    with p.sqlite() as db:
        db.execute("INSERT INTO other VALUES ('behind')")
    assert r.execute_command(*q) == [[b"v"], [b"one"]]  # cached: the proxy could not know
    assert r.execute_command("SQL.EXEC", "INSERT INTO other VALUES ('two')") == 1
    assert r.execute_command(*q) == [[b"v"], [b"one"], [b"behind"], [b"two"]]
    assert p.type_stats("default")["l1"]["hits"] == 1


def test_exists_agrees_with_get_for_a_null_single_cell(proxy, tmp_path):
    """EXISTS agrees with GET: a key whose one-column row holds NULL reads as nil, so EXISTS counts 0 for it,
    on a miss and when the nil reply is cached alike."""
    p = counters_proxy(proxy, tmp_path, """
types:
  counter_note:
    load: SELECT note FROM counters WHERE id = ?
    tables: [counters]
    ttl: 1m
""")
    r = p.client(protocol=3)
    first = r.exists("counter_note:a")
    second = r.exists("counter_note:a")
    assert r.get("counter_note:a") is None
    assert (first, second) == (0, 0)
    assert r.exists("counter_note:b") == 1

