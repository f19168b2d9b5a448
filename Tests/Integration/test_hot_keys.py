"""Access tracking and adaptive TTL (issue 6): `STATS HOT type [n]`, and `ttl_max`."""
from __future__ import annotations

import sqlite3
import time

import pytest
import redis

from conftest import encode_command, make_sqlite_db, write_policy

POLICY = """\
types:
  item:
    load: SELECT v FROM items WHERE id = ?
    tables: [items]
    ttl: 3s
    ttl_max: 60s
  plain:
    load: SELECT v FROM items WHERE id = ?
    tables: [items]
    ttl: 3s
"""


@pytest.fixture
def hot_proxy(proxy, tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "items.yaml", POLICY)
    rows = "".join(f"INSERT INTO items VALUES ('{i}', 'v{i}');" for i in range(10))
    db = make_sqlite_db(tmp_path / "items.db", "CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT NOT NULL);" + rows)
    # Counts halve every second, so a key read N times in the last second or so is estimated near N/2 per second.
    return proxy("--hot-key-window", "1s", policies=policies, database=db)


def read(px, key, times):
    """`times` pipelined GETs of `key` on one connection."""
    with px.raw() as conn:
        conn.send(encode_command("GET", key) * times)
        for _ in range(times):
            conn.read_reply()


def test_stats_hot_lists_the_most_read_keys_with_estimated_rates(hot_proxy):
    px = hot_proxy
    # Connections report one read in 32, at random: 10 reports expected for item:3, 250 for item:1.
    read(px, "item:1", 8000)
    read(px, "item:2", 1600)
    read(px, "item:3", 320)
    r = px.client(protocol=3)
    hot = r.execute_command("STATS", "HOT", "item", "2")
    assert [key for key, _ in hot] == [b"item:1", b"item:2"], hot
    rate_1, rate_2 = hot[0][1], hot[1][1]
    assert isinstance(rate_1, float) and rate_1 > 3 * rate_2 > 0, hot
    assert [key for key, _ in r.execute_command("STATS", "HOT", "item")] == [b"item:1", b"item:2", b"item:3"]
    r2 = px.client(protocol=2)
    assert r2.execute_command("STATS", "HOT", "plain") == []
    with pytest.raises(redis.ResponseError, match="no data type 'nope'"):
        r.execute_command("STATS", "HOT", "nope")
    with pytest.raises(redis.ResponseError, match="STATS HOT count must be 1 to 64"):
        r.execute_command("STATS", "HOT", "item", "0")


def test_adaptive_ttl_extends_hot_entries_and_not_cold_ones(hot_proxy, tmp_path):
    px = hot_proxy
    r = px.client(protocol=2, decode_responses=True)
    # Loaded while nothing is known of them: each gets the 3 s ttl.
    assert r.get("item:1") == "v1" and r.get("item:2") == "v2" and r.get("plain:3") == "v3"
    read(px, "item:1", 1600)  # then item:1 is hot: hundreds of reads per second against a 3 s TTL
    assert px.stats("item")["loads"] == 2, "the reads must all be hits of the first load (a slow machine?)"
    time.sleep(3.2)  # every entry expired: the next reads load again, and choose each entry's life
    for key in ("item:1", "item:2", "plain:3"):
        r.get(key)
    assert px.stats("item")["loads"] == 4
    with sqlite3.connect(px.db_path) as conn:  # changed behind the proxy's back
        conn.execute("UPDATE items SET v = 'changed'")
    time.sleep(3.5)  # past the 3 s TTL
    assert r.get("item:1") == "v1", "hot: its life was stretched towards ttl_max"
    assert r.get("item:2") == "changed", "cold: it kept the 3 s ttl"
    assert r.get("plain:3") == "changed", "no ttl_max: always the ttl"
