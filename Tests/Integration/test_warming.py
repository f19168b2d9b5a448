"""Warming (issue 6): `warm` statements at start-up and on `WARM`, paced by `warm_rate`, with progress in STATS."""
from __future__ import annotations

import signal

import pytest
import redis

from conftest import (
    encode_command, get_or_none, make_sqlite_db, rename_table, run_tiercache, wait_for, write_policy,
)

POLICY = """\
types:
  item:
    load: SELECT v FROM items WHERE id = ?
    tables: [items]
    ttl: 1h
    warm: SELECT id FROM items WHERE id < 'k'
    warm_rate: 40
  plain:
    load: SELECT v FROM items WHERE id = ?
    tables: [items]
    ttl: 1h
"""
KEYS = 60  # ids 'a000' … 'a059' are warmed; 'z…' ids are not listed by the warm statement


@pytest.fixture
def warm_proxy(proxy, tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "items.yaml", POLICY)
    rows = "".join(f"INSERT INTO items VALUES ('a{i:03}', 'v{i}');" for i in range(KEYS))
    db = make_sqlite_db(tmp_path / "items.db", "CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT NOT NULL);" + rows
                        + "INSERT INTO items VALUES ('z1', 'cold');")
    return proxy(policies=policies, database=db)


def warming(px):
    return px.stats()["warming"]


def test_start_up_warming_loads_the_listed_keys_at_most_warm_rate_a_second(warm_proxy):
    px = warm_proxy
    assert wait_for(lambda: warming(px)["ready"] == 1, timeout=15), warming(px)
    item = warming(px)["types"]["item"]
    assert (item["phase"], item["done"], item["total"], item["failed"]) == ("done", KEYS, KEYS, 0), item
    # 60 loads, one at a time, each no sooner than its turn at 40 a second: at least 59/40 s in all.
    assert item["seconds"] >= (KEYS - 1) / 40, item
    assert "plain" not in warming(px)["types"]
    stats = px.stats("item")
    assert stats["loads"] == KEYS and stats["l1"]["misses"] == 0, stats
    r = px.client(protocol=2, decode_responses=True)
    assert r.get("item:a007") == "v7"
    assert px.stats("item")["l1"]["hits"] == 1 and px.stats("item")["loads"] == KEYS
    log = px.log()
    assert "warming item: 60 keys at most 40.0 a second" in log and "warmed item: 60 of 60 keys loaded" in log
    assert "warming done: ready" in log


def test_warm_command_rewarms_skipping_what_is_cached_and_reports_failures(warm_proxy):
    px = warm_proxy
    r = px.client(protocol=2, decode_responses=True)
    assert wait_for(lambda: warming(px)["ready"] == 1, timeout=15)
    assert r.execute_command("WARM", "item") == "OK warming item"
    assert r.execute_command("WARM") == "OK already warming"
    assert wait_for(lambda: warming(px)["ready"] == 1, timeout=15)
    assert px.stats("item")["loads"] == KEYS, "every key was fresh in L1: nothing loaded again"
    with pytest.raises(redis.ResponseError, match="no data type 'nope'"):
        r.execute_command("WARM", "nope")
    with pytest.raises(redis.ResponseError, match="type 'plain' has no warm statement"):
        r.execute_command("WARM", "plain")

    rename_table(px.db_path, "items", "items_gone")
    assert r.execute_command("WARM") == "OK warming item"
    assert wait_for(lambda: warming(px)["types"]["item"]["phase"] == "failed", timeout=10), warming(px)
    item = warming(px)["types"]["item"]
    assert "no such table: items" in item["error"] and warming(px)["ready"] == 1, item
    assert "warming item failed: its warm statement" in px.log()
    rename_table(px.db_path, "items_gone", "items")
    assert get_or_none(r, "item:z1") == "cold"


HOT_POLICY = """\
types:
  item:
    load: SELECT v FROM items WHERE id = ?
    tables: [items]
    ttl: 1h
    warm_rate: 200
"""


def test_a_restarted_sidecar_warms_the_hot_keys_its_predecessor_saved(proxy, tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "items.yaml", HOT_POLICY)
    rows = "".join(f"INSERT INTO items VALUES ('{i}', 'v{i}');" for i in range(100))
    db = make_sqlite_db(tmp_path / "items.db", "CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT NOT NULL);" + rows)
    snapshot = tmp_path / "hot.keys"
    first = proxy("--hot-keys-file", str(snapshot), policies=policies, database=db)
    hot = [f"item:{i}" for i in range(10)]
    with first.raw() as conn:  # connections report one read in 32: 320 reads of each hot key
        conn.send(b"".join(encode_command("GET", key) for key in hot) * 320)
        for _ in range(len(hot) * 320):
            conn.read_reply()
    r = first.client(protocol=2)
    for i in range(10, 100):
        r.get(f"item:{i}")  # read once: not hot
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(timeout=15) == 0
    assert snapshot.exists()

    second = proxy("--hot-keys-file", str(snapshot), policies=policies, database=db)
    assert wait_for(lambda: warming(second)["ready"] == 1 and "item" in warming(second)["types"], timeout=15), \
        warming(second)
    item = warming(second)["types"]["item"]
    assert item["phase"] == "done" and item["done"] >= len(hot), item
    rs = second.client(protocol=2, decode_responses=True)
    for i, key in enumerate(hot):
        assert rs.get(key) == f"v{i}"
    stats = second.stats("item")
    assert stats["l1"]["misses"] == 0 and stats["l1"]["hits"] == len(hot), stats
    assert "hot-key snapshot read" in second.log()

    # A damaged snapshot is ignored with a warning; the sidecar starts all the same.
    snapshot.write_bytes(b"TCHK\x01\x00\x05ite")
    third = proxy("--hot-keys-file", str(snapshot), policies=policies, database=db)
    assert "hot-key snapshot ignored" in third.log() and "truncated" in third.log()
    assert third.client(protocol=2, decode_responses=True).get("item:3") == "v3"


def test_tiercache_warm_shows_progress_and_check_is_a_readiness_probe(warm_proxy):
    px = warm_proxy
    port = str(px.port)
    checked = run_tiercache("warm", "--check", "--port", port)
    if checked.returncode == 1:  # start-up warming is still under way (60 keys at 40 a second)
        assert checked.stdout == "warming\n", checked
    assert wait_for(lambda: warming(px)["ready"] == 1, timeout=15)
    checked = run_tiercache("warm", "--check", "--port", port)
    assert (checked.returncode, checked.stdout) == (0, "ready\n"), checked

    result = run_tiercache("warm", "item", "--port", port, timeout=30)
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert lines[0] == "OK warming item", lines
    assert lines[-1].startswith("item             [##############################] 60/60 done"), lines
    # Without a terminal it prints progress at most once a second, not a redraw every 200 ms.
    assert len(lines) < 10, lines

    rename_table(px.db_path, "items", "items_gone")
    failed = run_tiercache("warm", "--port", port, timeout=30)
    assert failed.returncode == 1 and "failed: " in failed.stdout and "no such table: items" in failed.stdout, failed
    rename_table(px.db_path, "items_gone", "items")
    bad = run_tiercache("warm", "plain", "--port", port)
    assert bad.returncode == 1 and "type 'plain' has no warm statement" in bad.stderr, bad
