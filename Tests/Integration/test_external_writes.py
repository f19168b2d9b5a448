"""Writes that bypass TierCache, on SQLite (issue 15): `tiercache db install-triggers` adds a version per table
that triggers raise; TierCache notices other connections' commits (`PRAGMA data_version`) and invalidates what
reads the tables whose versions moved. PostgreSQL's LISTEN/NOTIFY side is in test_postgres.py."""

from __future__ import annotations

import sqlite3
import time

from conftest import run_tiercache, wait_for, write_policy

POLICY = """\
types:
  item:
    load: SELECT v FROM items WHERE id = ?
    store: INSERT INTO items(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v
    tables: [items]
    ttl: 1h
"""


def make_items(path):
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT NOT NULL);"
                       "INSERT INTO items VALUES ('1', 'one'), ('2', 'two');")
    conn.close()


def external_write(path, sql):
    conn = sqlite3.connect(path, timeout=10)
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_other_programs_commits_invalidate_once_triggers_are_installed(proxy, tmp_path):
    db = tmp_path / "items.db"
    make_items(db)
    policies = write_policy(tmp_path / "p", "p.yaml", POLICY)
    for _ in range(2):  # idempotent
        done = run_tiercache("db", "install-triggers", "--database", f"sqlite:{db}", "--policies", str(policies))
        assert done.returncode == 0, done.stderr
    px = proxy(database=db, policies=policies)
    assert wait_for(lambda: px.stats()["backend"]["external_writes"]["status"] == "listening")
    assert px.stats()["backend"]["external_writes"]["tables"] == "items"
    r = px.client()
    assert r.get("item:1") == b"one"
    external_write(db, "UPDATE items SET v = 'changed' WHERE id = '1'")
    assert wait_for(lambda: r.get("item:1") == b"changed", timeout=5.0)
    assert px.stats()["backend"]["external_writes"]["changes_heard"] >= 1
    # The log holds one row per table, however many writes: nothing to prune.
    for i in range(50):
        external_write(db, f"INSERT INTO items VALUES ('n{i}', 'x')")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM tiercache_changes").fetchone() == (1,)
    conn.close()
    done = run_tiercache("db", "uninstall-triggers", "--database", f"sqlite:{db}")
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'tiercache%'").fetchone() == (0,)
    conn.close()


def test_without_triggers_other_programs_writes_wait_for_expiry(proxy, tmp_path):
    db = tmp_path / "items.db"
    make_items(db)
    px = proxy(database=db, policies=write_policy(tmp_path / "p", "p.yaml", POLICY))
    assert wait_for(lambda: px.stats()["backend"]["external_writes"]["status"] == "not_installed")
    r = px.client()
    assert r.get("item:2") == b"two"
    external_write(db, "UPDATE items SET v = 'unseen' WHERE id = '2'")
    time.sleep(0.3)
    assert r.get("item:2") == b"two"
