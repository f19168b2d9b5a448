"""Resilience against a failing database: the circuit breaker (issue 5).

The database "fails" the way the issue describes: the table a type loads from is renamed away under the running
proxy, then back. The breaker here is small and quick (window 10, 4 calls minimum, open 2 s, one probe) so the
test runs in seconds.
"""
from __future__ import annotations

import signal
import socket
import sqlite3
import threading
import time

import pytest
import redis

from conftest import encode_command, get_or_none, make_sqlite_db, rename_table, wait_for, write_policy

BREAKER = "failure_rate=0.5,window=10,min_calls=4,open=2s,probes=1"
POLICY = """\
types:
  item:
    load: SELECT v FROM items WHERE id = ?
    store: INSERT INTO items(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v
    tables: [items]
    ttl: 1h
"""


HUNDRED_ROWS = {str(i): f"v{i}" for i in range(100)}
TWO_ROWS = {"1": "one", "2": "two"}
KNOB_TABLE = "CREATE TABLE knob (rows INTEGER NOT NULL); INSERT INTO knob VALUES (1);"


def items_proxy(proxy, tmp_path, policy, *args, rows=HUNDRED_ROWS, extra_sql=""):
    """`tiercache serve *args` over a fresh SQLite file whose table items(id, v) holds `rows`, with `policy`."""
    script = ("CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT NOT NULL);"
              + "".join(f"INSERT INTO items VALUES ('{k}', '{v}');" for k, v in rows.items()) + extra_sql)
    db = make_sqlite_db(tmp_path / "items.db", script)
    policies = tmp_path / "policies"
    write_policy(policies, "items.yaml", policy)
    return proxy(*args, policies=policies, database=db)


@pytest.fixture
def breaker_proxy(proxy, tmp_path):
    return items_proxy(proxy, tmp_path, POLICY, "--db-breaker", BREAKER)


def breaker_stats(px):
    return px.stats()["resilience"]["breakers"]["database"]


def test_breaker_opens_on_failures_refuses_at_once_and_closes_after_a_probe(breaker_proxy):
    px = breaker_proxy
    r = px.client(protocol=2, decode_responses=True)
    assert r.get("item:1") == "v1"  # cached before the fault
    assert breaker_stats(px)["state"] == "closed"

    rename_table(px.db_path, "items", "items_gone")
    errors = []
    for i in range(2, 5):  # with item:1's load, 4 calls (the minimum), 3 of them failed: 75 %
        with pytest.raises(redis.ResponseError) as failure:
            r.get(f"item:{i}")
        errors.append(str(failure.value))
    assert all("no such table" in e for e in errors), errors
    stats = breaker_stats(px)
    assert stats["state"] == "open" and stats["opened"] == 1, stats

    # Open: a cold key is refused without touching the database, with the time to the next try.
    with pytest.raises(redis.ResponseError) as refused:
        r.get("item:7")
    assert str(refused.value).startswith("UNAVAILABLE database circuit open, retrying in "), str(refused.value)
    assert refused.value.args[0].endswith(("1s", "2s"))
    # A write is refused too, and so never acknowledged or applied.
    with pytest.raises(redis.ResponseError, match="circuit open"):
        r.set("item:1", "new")
    # What was cached before the fault is still served.
    assert r.get("item:1") == "v1"
    assert breaker_stats(px)["rejected"] >= 2

    # The fault ends; after the open duration one good probe closes the breaker.
    rename_table(px.db_path, "items_gone", "items")
    assert wait_for(lambda: get_or_none(r, "item:8") == "v8", timeout=6), px.log()
    stats = breaker_stats(px)
    assert stats["state"] == "closed" and stats["half_opened"] == 1 and stats["closed"] == 1, stats
    assert r.set("item:1", "new") is True
    assert r.get("item:1") == "new"

    log = px.log()
    assert log.count("database circuit breaker opened") == 1, log
    assert "75 % of the last 4 calls failed" in log, log
    assert log.count("database circuit breaker closed") == 1, log


def test_a_failed_probe_reopens_for_the_full_duration(breaker_proxy):
    px = breaker_proxy
    r = px.client(protocol=2, decode_responses=True)
    rename_table(px.db_path, "items", "items_gone")
    for i in range(10, 14):
        with pytest.raises(redis.ResponseError):
            r.get(f"item:{i}")
    assert breaker_stats(px)["state"] == "open"
    time.sleep(2.1)
    with pytest.raises(redis.ResponseError, match="no such table"):
        r.get("item:20")  # the probe: the table is still gone
    stats = breaker_stats(px)
    assert stats["state"] == "open" and stats["opened"] == 2 and stats["half_opened"] == 1, stats
    with pytest.raises(redis.ResponseError, match="circuit open, retrying in 2s"):
        r.get("item:21")


def test_client_mistakes_do_not_count_against_the_database(breaker_proxy):
    px = breaker_proxy
    r = px.client(protocol=2, decode_responses=True)
    for _ in range(10):
        with pytest.raises(redis.ResponseError):
            r.execute_command("QUERY", "SELECT * FROM no_such_table")
    stats = breaker_stats(px)
    assert stats["state"] == "closed" and stats["window_calls"] == 0, stats
    assert r.get("item:3") == "v3"


def test_bad_breaker_settings_are_refused_at_start(proxy):
    px = proxy("--db-breaker", "window=5,min_calls=6", wait=False)
    px.expect_exit = True
    assert px.process.wait(timeout=10) != 0
    assert "--db-breaker: min_calls (6) cannot exceed window (5)" in px.log()


STALE_POLICY = """\
types:
  item:
    load: SELECT v FROM items WHERE id = ?
    store: INSERT INTO items(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v
    tables: [items]
    ttl: 1s
    max_stale: 1m
  plain:
    load: SELECT v FROM items WHERE id = ?
    tables: [items]
    ttl: 1s
"""


@pytest.fixture
def stale_proxy(proxy, tmp_path):
    return items_proxy(proxy, tmp_path, STALE_POLICY, "--db-breaker", BREAKER)


def test_expired_entries_within_max_stale_answer_while_the_database_fails(stale_proxy):
    px = stale_proxy
    r = px.client(protocol=2, decode_responses=True)
    for i in range(20):
        assert r.get(f"item:{i}") == f"v{i}"
    assert r.get("plain:1") == "v1"
    # A committed write drops its key's entry: there is nothing stale left to serve for it.
    assert r.set("item:3", "written") is True

    rename_table(px.db_path, "items", "items_gone")
    time.sleep(1.3)  # every entry is past its 1 s ttl
    for _ in range(3):  # the breaker opens during the first round; stale entries answer either way
        for i in range(20):
            if i == 3:
                continue
            assert r.get(f"item:{i}") == f"v{i}", f"item:{i}"
    assert r.mget([f"item:{i}" for i in (0, 1, 2)]) == ["v0", "v1", "v2"]
    for key in ("plain:1", "item:3", "item:50"):  # no max_stale; invalidated; never read
        with pytest.raises(redis.ResponseError) as failure:
            r.get(key)
        assert str(failure.value).startswith(("DBERR no such table", "UNAVAILABLE database circuit open")), key
    item = px.stats("item")
    assert item["stale_hits"] >= 3 * 19 + 3, item
    assert px.stats("plain")["stale_hits"] == 0
    assert breaker_stats(px)["state"] == "open"

    # The fault ends: once the breaker lets a load through, fresh values replace the stale ones.
    rename_table(px.db_path, "items_gone", "items")
    sqlite3.connect(px.db_path).execute("UPDATE items SET v = 'after' WHERE id = '5'").connection.commit()
    assert wait_for(lambda: get_or_none(r, "item:5") == "after", timeout=6), px.log()
    assert r.get("item:3") == "written"


# -- server limits: each refusal is a clear error (or, for idleness, a quiet close) to that client only


def test_max_clients_refuses_the_extra_connection_and_serves_the_others(proxy):
    px = proxy("--max-clients", "3")
    held = [px.raw() for _ in range(3)]
    for conn in held:
        assert conn.command("PING") == "PONG"
    extra = px.raw()
    assert extra.expect_closed() == b"-ERR max number of clients reached\r\n"
    for conn in held:
        assert conn.command("PING") == "PONG"
    held.pop().close()
    assert wait_for(lambda: px.stats()["server"]["connections_open"] <= 3)
    with px.raw() as again:
        assert again.command("PING") == "PONG"
    assert px.stats()["server"]["rejected_connections"] == 1


def test_idle_connections_are_closed_and_busy_ones_kept(proxy):
    px = proxy("--idle-timeout", "500ms")
    idle, busy = px.raw(), px.raw()
    assert idle.command("PING") == "PONG"
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert busy.command("PING") == "PONG"
        time.sleep(0.1)
    assert idle.expect_closed(timeout=2) == b""
    assert busy.command("PING") == "PONG"
    assert px.stats()["server"]["idle_closed"] >= 1


def test_a_command_that_never_completes_is_refused_while_others_are_served(proxy):
    px = proxy("--request-timeout", "500ms")
    slow = px.raw()
    slow.send(b"*2\r\n$3\r\nGET\r\n$20\r\nuser_sessi")  # and nothing more
    started = time.monotonic()
    with px.raw() as other:
        while time.monotonic() - started < 0.8:
            assert other.command("PING") == "PONG"
            time.sleep(0.05)
    reply = slow.expect_closed(timeout=5)
    assert reply == b"-ERR request not completed within 500 ms; closing the connection\r\n"
    assert px.stats()["server"]["slow_requests_closed"] == 1


def test_steady_pipelines_are_not_mistaken_for_slow_senders(proxy):
    px = proxy("--request-timeout", "300ms")
    with px.raw() as conn:
        # Each command completes quickly, though a partial one is always in flight between sends.
        for i in range(20):
            conn.send(b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI")
            time.sleep(0.05)
            conn.send(b"NG\r\n")
            assert conn.read_reply() == "PONG" and conn.read_reply() == "PONG"
    assert px.stats()["server"]["slow_requests_closed"] == 0


BIG_VALUE = "x" * 100_000


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def non_reading_client(port):
    """A client with a small receive buffer that sends and does not read (yet)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    return sock


def test_a_client_that_does_not_read_pauses_its_connection_and_gets_every_reply_once_it_reads(proxy, tmp_path):
    # A short request timeout too: input waiting to be decoded is not a slow sender.
    px = items_proxy(proxy, tmp_path, POLICY, "--max-output-buffer", "0", "--request-timeout", "300ms",
                     rows={"1": "one", "big": BIG_VALUE})
    r = px.client(protocol=2, decode_responses=True)
    assert r.get("item:big") == BIG_VALUE  # cached: every GET below is an L1 hit
    before = rss_bytes(px.process.pid)

    count = 2000  # 200 MB of replies
    sock = non_reading_client(px.port)
    sock.sendall(encode_command("GET", "item:big") * count)
    # Answering all 2000 would take a few hundred ms if nothing held it back; the connection pauses instead.
    assert wait_for(lambda: px.stats()["server"]["output_paused"] >= 1)
    grown = rss_bytes(px.process.pid) - before
    assert grown < 50 * 1024 * 1024, f"the proxy grew by {grown} bytes for a client that does not read"
    assert px.stats()["server"]["output_paused"] >= 1
    assert r.get("item:1") == "one"  # everyone else is served meanwhile

    # Once the client reads, every reply arrives, in full and in order.
    expected = b"$100000\r\n" + BIG_VALUE.encode() + b"\r\n"
    received = bytearray()
    while len(received) < count * len(expected):
        chunk = sock.recv(1 << 20)
        assert chunk, f"closed after {len(received)} bytes"
        received += chunk
    sock.close()
    assert bytes(received) == expected * count
    assert px.stats()["server"]["output_limit_closed"] == 0


def test_a_client_that_leaves_more_than_the_output_limit_unread_is_disconnected(proxy, tmp_path):
    px = items_proxy(proxy, tmp_path, POLICY, "--max-output-buffer", "1mb", rows={"1": "one", "big": BIG_VALUE})
    r = px.client(protocol=2, decode_responses=True)
    assert r.get("item:big") == BIG_VALUE
    sock = non_reading_client(px.port)
    sock.sendall(encode_command("GET", "item:big") * 500)
    assert wait_for(lambda: px.stats()["server"]["output_limit_closed"] == 1, timeout=10), px.stats()["server"]
    assert r.get("item:1") == "one"
    assert "left" in px.log() and "bytes of replies unread (limit 1048576)" in px.log()
    # The connection is gone: what the client can still read ends in a close.
    sock.settimeout(10)
    try:
        while sock.recv(1 << 20):
            pass
    except ConnectionResetError:
        pass
    sock.close()


@pytest.mark.parametrize("flag,value,message", [
    ("--max-clients", "0", "--max-clients must be a positive count; got '0'"),
    ("--idle-timeout", "soon", "--idle-timeout must be a duration like 30s or 5m, or 0 for none; got 'soon'"),
    ("--request-timeout", "0s", "--request-timeout must be a duration like 30s or 5m, or 0 for none; got '0s'"),
])
def test_bad_limit_settings_are_refused_at_start(proxy, flag, value, message):
    px = proxy(flag, value, wait=False)
    px.expect_exit = True
    assert px.process.wait(timeout=10) != 0
    assert message in px.log()


# -- request coalescing: a thousand concurrent misses for one cold key, one database load

SLOW_POLICY = """\
types:
  slow:
    # The recursive count takes a few hundred milliseconds: long enough for every request to arrive while the one
    # load is still running.
    load: >-
      SELECT v FROM items WHERE id = ?
      AND (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000)
           SELECT count(*) FROM n) > 0
    tables: [items]
    ttl: 1h
"""


def test_a_thousand_concurrent_misses_for_one_cold_key_make_one_load(proxy, tmp_path):
    px = items_proxy(proxy, tmp_path, SLOW_POLICY, rows=TWO_ROWS)
    connections = [px.raw(timeout=30) for _ in range(50)]
    request = encode_command("GET", "slow:1") * 20
    barrier = threading.Barrier(len(connections))
    replies = [None] * len(connections)

    def read(n):
        barrier.wait()
        connections[n].send(request)
        replies[n] = [connections[n].read_reply() for _ in range(20)]

    threads = [threading.Thread(target=read, args=(n,)) for n in range(len(connections))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r == [b"one"] * 20 for r in replies), replies[:2]
    stats = px.stats("slow")
    assert stats["loads"] == 1, stats
    # Every one of the 1,000 either joined that load or hit L1 after it.
    assert stats["l1"]["hits"] + stats["l1"]["misses"] == 1000
    assert stats["l1"]["misses"] == 1 + stats["coalesced"]
    for conn in connections:
        conn.close()


# -- graceful shutdown


@pytest.fixture
def slow_proxy(proxy, tmp_path):
    return lambda *args: items_proxy(proxy, tmp_path, SLOW_POLICY, *args, rows=TWO_ROWS)


def test_sigterm_finishes_requests_in_flight_then_exits_0(slow_proxy):
    px = slow_proxy()
    busy, idle = px.raw(timeout=30), px.raw()
    assert idle.command("PING") == "PONG"
    busy.send(encode_command("GET", "slow:1"))
    assert wait_for(lambda: px.stats()["server"]["loads_in_flight"] == 1), "its load is running"
    px.process.send_signal(signal.SIGTERM)
    assert idle.expect_closed(timeout=2) == b"", "an idle connection closes at once"
    assert busy.read_reply() == b"one", "the request in flight is answered"
    assert busy.expect_closed(timeout=5) == b""
    assert px.process.wait(timeout=15) == 0
    log = px.log()
    assert "stopped accepting connections; draining" in log and "drained" in log, log
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", px.port), timeout=1).close()


def test_sigterm_past_the_drain_timeout_closes_what_is_left_and_still_exits_0(slow_proxy):
    px = slow_proxy("--drain-timeout", "200ms")
    busy = px.raw(timeout=30)
    busy.send(encode_command("GET", "slow:2"))
    assert wait_for(lambda: px.stats()["server"]["loads_in_flight"] == 1), "its load is running"
    px.process.send_signal(signal.SIGTERM)
    assert busy.expect_closed(timeout=5) == b""  # no reply: it was still loading
    assert px.process.wait(timeout=15) == 0
    assert "drain timeout: closing connections with requests still in flight" in px.log()


# -- database timeout, and stale entries standing in for loads that take too long

KNOB_POLICY = """\
types:
  item:
    # As slow as the knob says: the test turns the database slow without touching the proxy.
    load: >-
      SELECT v FROM items WHERE id = ?
      AND (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < (SELECT rows FROM knob))
           SELECT count(*) FROM n) > 0
    tables: [items, knob]
    ttl: 1s
    max_stale: 1m
"""


def set_knob(db, rows):
    conn = sqlite3.connect(db, timeout=5)
    try:
        conn.execute("UPDATE knob SET rows = ?", (rows,))
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def knob_proxy(proxy, tmp_path):
    return items_proxy(proxy, tmp_path, KNOB_POLICY, "--db-timeout", "300ms", "--db-breaker", BREAKER,
                       rows=TWO_ROWS, extra_sql=KNOB_TABLE)


def test_a_slow_database_call_times_out_with_a_precise_error_and_still_fills_the_cache(knob_proxy):
    px = knob_proxy
    r = px.client(protocol=2, decode_responses=True, timeout=10)
    set_knob(px.db_path, 3_000_000)  # a few seconds per load
    with pytest.raises(redis.ResponseError) as failure:
        r.get("item:2")
    assert str(failure.value) == "DBERR database did not answer within 300 ms"
    # The load went on in the background; when it ends (no request in between), its value is in L1.
    assert wait_for(lambda: px.stats("item")["loads"] >= 1, timeout=15), px.log()
    hits = px.stats("item")["l1"]["hits"]
    assert r.get("item:2") == "two"
    assert px.stats("item")["l1"]["hits"] == hits + 1


def test_a_load_that_times_out_is_answered_with_the_stale_entry(knob_proxy):
    px = knob_proxy
    r = px.client(protocol=2, decode_responses=True, timeout=10)
    assert r.get("item:1") == "one"
    set_knob(px.db_path, 3_000_000)
    time.sleep(1.2)  # past the ttl
    assert r.get("item:1") == "one"
    stats = px.stats("item")
    assert stats["stale_hits"] == 1 and stats["loads"] == 1, stats  # the slow load is still running


def test_soft_timeout_answers_with_the_stale_entry_and_the_load_refreshes_the_cache(proxy, tmp_path):
    px = items_proxy(proxy, tmp_path, KNOB_POLICY, "--soft-timeout", "100ms", rows=TWO_ROWS, extra_sql=KNOB_TABLE)
    db = px.db_path
    r = px.client(protocol=2, decode_responses=True, timeout=10)
    assert r.get("item:1") == "one"
    with sqlite3.connect(db) as conn:  # changed behind the proxy's back, and slow to load from now on
        conn.execute("UPDATE items SET v = 'uno' WHERE id = '1'")
    set_knob(db, 2_000_000)
    time.sleep(1.2)  # past the 1 s ttl
    assert r.get("item:1") == "one", "the stale entry, at the soft timeout"
    stats = px.stats("item")
    assert stats["stale_hits"] == 1 and stats["loads"] == 1, stats
    # The load went on; when it ends, the fresh value is in L1 and no further load is needed.
    assert wait_for(lambda: px.stats("item")["loads"] == 2, timeout=15)
    assert r.get("item:1") == "uno"
    assert px.stats("item")["loads"] == 2
    # A key with no entry to stand in waits for its load, however long.
    assert r.get("item:2") == "two"


# -- stale-while-revalidate

SWR_POLICY = KNOB_POLICY.replace("    max_stale: 1m\n", "    stale_while_revalidate: 30s\n")


def test_stale_while_revalidate_answers_at_once_and_one_background_load_refreshes(proxy, tmp_path):
    px = items_proxy(proxy, tmp_path, SWR_POLICY, rows=TWO_ROWS, extra_sql=KNOB_TABLE)
    db = px.db_path
    r = px.client(protocol=2, decode_responses=True, timeout=10)
    assert r.get("item:1") == "one"
    with sqlite3.connect(db) as conn:  # changed behind the proxy's back, and slow to load from now on
        conn.execute("UPDATE items SET v = 'uno' WHERE id = '1'")
    set_knob(db, 2_000_000)
    time.sleep(1.2)  # past the 1 s ttl, inside the 30 s window
    for _ in range(5):  # each answered with the entry, while one refresh runs
        assert r.get("item:1") == "one"
    stats = px.stats("item")
    assert stats["revalidations"] == 5 and stats["loads"] == 1, stats
    assert stats["coalesced"] >= 4, "the later readers joined the one refresh"
    assert wait_for(lambda: px.stats("item")["loads"] == 2, timeout=15)
    assert r.get("item:1") == "uno"
    assert px.stats("item")["loads"] == 2
    # A key never read has nothing to serve: it waits for its load.
    assert r.get("item:2") == "two"


def test_database_failing_under_concurrent_load_fails_no_read_of_keys_read_before(stale_proxy):
    px = stale_proxy
    warm = px.client(protocol=2, decode_responses=True)
    for i in range(50):
        assert warm.get(f"item:{i}") == f"v{i}"
    stop = threading.Event()
    failures, reads = [], [0]
    lock = threading.Lock()

    def read_loop(n):
        client = px.client(protocol=2 if n % 2 else 3, decode_responses=True, timeout=10)
        i = n
        while not stop.is_set():
            key = f"item:{i % 50}"
            try:
                value = client.get(key)
                if value != f"v{i % 50}":
                    failures.append((key, value))
            except redis.RedisError as error:
                failures.append((key, str(error)))
            with lock:
                reads[0] += 1
            i += 7

    threads = [threading.Thread(target=read_loop, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        rename_table(px.db_path, "items", "items_gone")
        time.sleep(2.5)  # every entry expires (ttl 1s) during the fault
        rename_table(px.db_path, "items_gone", "items")
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert failures == [], failures[:5]
    assert reads[0] > 500
    item = px.stats("item")
    assert item["stale_hits"] > 0, item
    assert breaker_stats(px)["opened"] >= 1


# -- the database's connection pool and its health check


def backend_stats(px):
    return px.stats()["backend"]


def test_pool_shows_readers_in_use_and_waiting_and_a_caller_past_the_acquire_timeout_is_told_busy(proxy, tmp_path):
    px = items_proxy(proxy, tmp_path, KNOB_POLICY, "--db-readers", "2", "--backend-threads", "4",
                     "--db-acquire-timeout", "500ms", "--db-timeout", "60s", extra_sql=KNOB_TABLE)
    pools = backend_stats(px)["pools"]
    assert pools["readers"]["size"] == 2 and pools["writer"]["size"] == 1, pools
    assert pools["readers"]["in_use"] == 0 and pools["readers"]["waiting"] == 0, pools

    set_knob(px.db_path, 3_000_000)  # seconds per load
    results = {}

    def get(key):
        try:
            results[key] = px.client(protocol=2, decode_responses=True, timeout=60).get(key)
        except redis.ResponseError as error:
            results[key] = error

    slow = [threading.Thread(target=get, args=(f"item:{i}",)) for i in (1, 2)]
    for t in slow:
        t.start()
    assert wait_for(lambda: backend_stats(px)["pools"]["readers"]["in_use"] == 2, timeout=10)
    # Both readers are busy: the next load waits for one, and gives up after the acquire timeout.
    get("item:3")
    assert isinstance(results["item:3"], redis.ResponseError), results
    assert str(results["item:3"]) == "DBERR no reader connection free within 500 ms (2 of 2 in use, 0 waiting)"
    # A write does not wait for the readers.
    assert px.client(protocol=2).execute_command("SQL.EXEC", "UPDATE items SET v = 'four' WHERE id = '4'") == 1
    for t in slow:
        t.join(60)
    assert results["item:1"] == "v1" and results["item:2"] == "v2", results
    readers = backend_stats(px)["pools"]["readers"]
    assert readers["timeouts"] == 1 and readers["in_use"] == 0 and readers["idle"] == 2, readers


def test_health_check_reports_a_moved_database_file_and_reopens_a_replaced_one(proxy, tmp_path):
    px = items_proxy(proxy, tmp_path, POLICY, "--db-health-interval", "100ms", rows=TWO_ROWS)
    r = px.client(protocol=2, decode_responses=True)
    assert r.get("item:1") == "one"
    assert wait_for(lambda: backend_stats(px)["health"]["checks"] >= 1)
    assert backend_stats(px)["health"]["status"] == "ok"

    db = px.db_path
    away = db.with_name("items.db.away")
    db.rename(away)
    assert wait_for(lambda: backend_stats(px)["health"]["status"] == "failing"), backend_stats(px)
    health = backend_stats(px)["health"]
    assert "items.db' was moved or deleted" in health["problem"], health
    assert r.get("item:2") == "two"  # the proxy goes on with the file it has open
    away.rename(db)
    assert wait_for(lambda: backend_stats(px)["health"]["status"] == "ok"), backend_stats(px)

    # A restored backup swapped in by rename: every connection moves to it, WAL and all.
    restored = make_sqlite_db(tmp_path / "restored.db", "CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT NOT NULL);"
                                                        "INSERT INTO items VALUES ('3', 'restored three');")
    restored.replace(db)
    assert wait_for(lambda: backend_stats(px)["health"]["reopened"] == 1), backend_stats(px)
    assert r.get("item:3") == "restored three"
    assert r.set("item:5", "five") is True
    assert sqlite3.connect(db).execute("SELECT v FROM items WHERE id = '5'").fetchone() == ("five",)
    health = backend_stats(px)["health"]
    assert health["status"] == "ok" and health["failures"] >= 1, health

    log = px.log()
    assert log.count("database health check failed") == 1, log
    assert "database health check passes again" in log
    assert "database file was replaced: connections reopened on the new file" in log
