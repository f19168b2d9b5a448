"""refresh_ahead (issue 6): a hit late in an entry's life starts one background refresh, so hot keys never miss."""
from __future__ import annotations

import sqlite3
import time

from conftest import make_sqlite_db, write_policy

POLICY = """\
types:
  item:
    load: SELECT v FROM items WHERE id = ?
    tables: [items]
    ttl: 2s
    refresh_ahead: 0.5
"""


def test_a_hot_key_never_misses_and_a_cold_one_expires(proxy, tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "items.yaml", POLICY)
    db = make_sqlite_db(tmp_path / "items.db", "CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT NOT NULL);"
                                               "INSERT INTO items VALUES ('1', 'one'), ('2', 'two');")
    px = proxy(policies=policies, database=db)
    r = px.client(protocol=2, decode_responses=True)
    assert r.get("item:1") == "one"  # the one miss
    assert r.get("item:2") == "two"

    # item:1 is read every 50 ms for 7 s (3.5 TTLs); halfway, its row changes behind the proxy's back.
    seen = []
    started = time.monotonic()
    changed = False
    while time.monotonic() - started < 7:
        seen.append(r.get("item:1"))
        if not changed and time.monotonic() - started > 3.5:
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE items SET v = 'uno' WHERE id = '1'")
            changed = True
        time.sleep(0.05)
    stats = px.stats("item")
    # Only the first reads of item:1 and item:2 missed; a refresh replaced item:1 before each expiry.
    assert stats["l1"]["misses"] == 2, stats
    assert stats["refreshes"] >= 3, stats
    assert stats["loads"] == 2 + stats["refreshes"], stats
    assert seen[-1] == "uno", "a refresh loads from the database, so changes show"
    assert set(seen) == {"one", "uno"}

    # item:2 was never read again: no refresh kept it, and its next read misses.
    refreshes = stats["refreshes"]
    assert r.get("item:2") == "two"
    stats = px.stats("item")
    assert stats["l1"]["misses"] == 3 and stats["refreshes"] == refreshes, stats
