"""Live policies (issue 6): edits of the policy files while TierCache serves.

Each test runs its own proxy on its own policy directory and SQLite file. Deadlines below (RELOAD_BOUND) bound
asynchronous effects; they are not performance assertions (the measured reload latency is in the bench).
"""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import redis

from conftest import get_or_none, make_sqlite_db, wait_for, write_policy

RELOAD_BOUND = 5.0

ITEMS = """\
types:
  item:
    load: SELECT v FROM items WHERE id = ?
    store: INSERT INTO items(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v
    tables: [items]
    ttl: {ttl}
"""

NOTES = """\
types:
  note:
    load: SELECT v FROM notes WHERE id = ?
    tables: [{tables}]
    ttl: 1h
"""


def database(tmp_path: Path, rows: int = 50) -> Path:
    script = ["CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT NOT NULL);",
              "CREATE TABLE notes (id TEXT PRIMARY KEY, v TEXT NOT NULL);",
              "CREATE TABLE tags (id TEXT PRIMARY KEY, v TEXT NOT NULL);"]
    script += [f"INSERT INTO items VALUES ('{i}', 'v{i}');" for i in range(rows)]
    script += [f"INSERT INTO notes VALUES ('{i}', 'n{i}');" for i in range(rows)]
    return make_sqlite_db(tmp_path / "live.db", "\n".join(script))


def change_behind(db: Path, sql: str) -> None:
    """A change the proxy does not see (no invalidation): only expiry makes it visible."""
    with sqlite3.connect(db) as conn:
        conn.execute(sql)


def policy_status(px) -> dict:
    return px.stats()["policy"]


def wait_version_change(px, before: str) -> dict:
    status = {}

    def moved():
        status.update(policy_status(px))
        return status["version"] != before

    assert wait_for(moved, timeout=RELOAD_BOUND), f"no reload within {RELOAD_BOUND}s: {status}\n{px.log()[-2000:]}"
    return dict(status)


class Load:
    """Clients reading (and now and then writing) through the proxy until stopped; every failure recorded."""

    def __init__(self, px, clients: int, keys: list[str]):
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.requests = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(px, n, keys), daemon=True) for n in range(clients)]
        for t in self.threads:
            t.start()

    def run(self, px, n, keys):
        client = px.client(protocol=2, decode_responses=True)
        i = n
        while not self.stop.is_set():
            key = keys[i % len(keys)]
            i += 1
            try:
                value = client.get(key)
                if value is None or not value.startswith(("v", "n", "w")):
                    self.failures.append(f"GET {key} -> {value!r}")
            except Exception as error:  # recorded, reported at the end
                self.failures.append(f"GET {key} raised {error!r}")
            with self.lock:
                self.requests += 1

    def finish(self) -> int:
        self.stop.set()
        for t in self.threads:
            t.join(30)
        assert not self.failures, f"{len(self.failures)} failed requests, first: {self.failures[:5]}"
        return self.requests


def test_edit_break_fix_under_load_with_zero_failed_requests(proxy, tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "items.yaml", ITEMS.format(ttl="1h"))
    db = database(tmp_path)
    px = proxy(policies=policies, database=db)
    r = px.client(protocol=2, decode_responses=True)
    keys = [f"item:{i}" for i in range(20)]
    for key in keys:
        assert r.get(key).startswith("v")
    start = policy_status(px)
    assert start["reloads"] == 0 and start["reload_failures"] == 0 and "last_error" not in start

    load = Load(px, clients=20, keys=keys)
    try:
        assert wait_for(lambda: load.requests > 500, timeout=10)
        # 1. A lower TTL: entries cached an hour-long life ago are shortened at once (they are older than 1 s).
        change_behind(db, "UPDATE items SET v = 'w-after' WHERE id = '3'")
        assert r.get("item:3") == "v3"  # cached: the change behind the proxy's back is not seen
        write_policy(policies, "items.yaml", ITEMS.format(ttl="1s"))
        status = wait_version_change(px, start["version"])
        assert status["reloads"] == 1
        assert wait_for(lambda: r.get("item:3") == "w-after", timeout=RELOAD_BOUND)
        assert px.policy_show()["types"]["item"]["ttl_seconds"] == 1.0

        # 2. A broken edit keeps the running policy, and says where the problem is.
        requests_before = load.requests
        (policies / "items.yaml").write_text(ITEMS.format(ttl="1s") + "    l1: maybe\n")
        assert wait_for(lambda: policy_status(px)["reload_failures"] == 1, timeout=RELOAD_BOUND), px.log()[-2000:]
        status = policy_status(px)
        assert status["version"] != start["version"] and status["reloads"] == 1
        assert status["last_error"].startswith(f"{policies}/items.yaml:7:9: "), status["last_error"]
        assert "last_error" in px.policy_show()["status"]
        assert f"{policies}/items.yaml:7:9: " in px.log()
        assert wait_for(lambda: load.requests > requests_before + 200, timeout=10)  # still serving

        # 3. Fixing the file clears the error with the next reload.
        write_policy(policies, "items.yaml", ITEMS.format(ttl="2s"))
        assert wait_for(lambda: "last_error" not in policy_status(px), timeout=RELOAD_BOUND), policy_status(px)
        status = policy_status(px)
        assert status["reloads"] == 2 and status["reload_failures"] == 1
        assert px.policy_show()["types"]["item"]["ttl_seconds"] == 2.0
    finally:
        served = load.finish()
    assert served > 1000


def test_configmap_style_swap_of_the_data_directory(proxy, tmp_path):
    """Kubernetes mounts a ConfigMap as symlinks into `..data`, which it swaps with one rename."""
    mount = tmp_path / "configmap"
    mount.mkdir()

    def publish(version: str, ttl: str) -> None:
        target = mount / f"..{version}"
        target.mkdir()
        (target / "items.yaml").write_text(ITEMS.format(ttl=ttl))
        os.symlink(target.name, mount / "..data_tmp")
        os.rename(mount / "..data_tmp", mount / "..data")

    publish("2026_11_23_01", "1h")
    os.symlink("..data/items.yaml", mount / "items.yaml")
    db = database(tmp_path)
    px = proxy(policies=mount, database=db)
    r = px.client(protocol=2, decode_responses=True)
    assert r.get("item:1") == "v1"
    before = policy_status(px)["version"]

    load = Load(px, clients=10, keys=[f"item:{i}" for i in range(10)])
    try:
        publish("2026_11_23_02", "5m")
        wait_version_change(px, before)
        assert px.policy_show()["types"]["item"]["ttl_seconds"] == 300.0
        assert "policy reloaded" in px.log() and "trigger=file change" in px.log()
    finally:
        load.finish()


def test_type_removed_or_switched_off_l1_stops_being_served_from_l1_at_once(proxy, tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "items.yaml", ITEMS.format(ttl="1h"))
    write_policy(policies, "notes.yaml", NOTES.format(tables="notes"))
    db = database(tmp_path)
    px = proxy(policies=policies, database=db)
    r = px.client(protocol=2, decode_responses=True)
    assert r.get("item:1") == "v1" and r.get("note:1") == "n1"
    assert px.stats("item")["l1"]["entries"] == 1

    version = policy_status(px)["version"]
    write_policy(policies, "items.yaml", ITEMS.format(ttl="1h") + "    l1: false\n")
    (policies / "notes.yaml").unlink()
    wait_version_change(px, version)
    # item's entry is gone from L1: the next read loads; note is no type any more.
    loads = px.stats("item")["loads"]
    assert px.stats("item")["l1"]["entries"] == 0
    assert r.get("item:1") == "v1"
    assert px.stats("item")["loads"] == loads + 1
    assert r.get("item:1") == "v1"
    assert px.stats("item")["loads"] == loads + 2, "l1: false: every read loads (no L2 here)"
    with pytest.raises(redis.ResponseError, match="no data type"):
        r.get("note:1")
    assert "type note removed" in px.log() and "type item off L1" in px.log()


def test_tables_change_reroutes_invalidation_at_once(proxy, tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "notes.yaml", NOTES.format(tables="notes"))
    db = database(tmp_path)
    px = proxy(policies=policies, database=db)
    r = px.client(protocol=2, decode_responses=True)
    assert r.get("note:1") == "n1"
    # A write to `tags` does not touch notes' entries under this policy.
    r.execute_command("SQL.EXEC", "INSERT INTO tags VALUES ('a', 'x')")
    loads = px.stats("note")["loads"]
    assert r.get("note:1") == "n1" and px.stats("note")["loads"] == loads

    version = policy_status(px)["version"]
    write_policy(policies, "notes.yaml", NOTES.format(tables="notes, tags"))
    wait_version_change(px, version)
    assert r.get("note:1") == "n1" and px.stats("note")["loads"] == loads  # still cached
    r.execute_command("SQL.EXEC", "INSERT INTO tags VALUES ('b', 'y')")
    assert r.get("note:1") == "n1"
    assert px.stats("note")["loads"] == loads + 1, "the write to tags now invalidates notes"


def test_sighup_and_policy_reload_with_the_watcher_off(proxy, tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "items.yaml", ITEMS.format(ttl="1h"))
    db = database(tmp_path)
    px = proxy("--policy-watch", "off", policies=policies, database=db)
    r = px.client(protocol=2, decode_responses=True)
    version = policy_status(px)["version"]

    write_policy(policies, "items.yaml", ITEMS.format(ttl="10m"))
    time.sleep(1.5)
    assert policy_status(px)["version"] == version, "no watcher: nothing reloads by itself"
    px.process.send_signal(signal.SIGHUP)
    status = wait_version_change(px, version)
    assert status["reloads"] == 1 and px.process.poll() is None
    assert "trigger=SIGHUP" in px.log()

    assert r.execute_command("POLICY", "RELOAD") == f"OK unchanged version {status['version']}"
    write_policy(policies, "items.yaml", ITEMS.format(ttl="5m"))
    reply = r.execute_command("POLICY", "RELOAD")
    assert reply.startswith("OK reloaded version ") and reply.endswith(": type item changed"), reply
    write_policy(policies, "items.yaml", ITEMS.format(ttl="5m").replace("SELECT v FROM items", "SELECT v FROM missing_table"))
    with pytest.raises(redis.ResponseError) as refused:
        r.execute_command("POLICY", "RELOAD")
    assert str(refused.value).startswith(
        f"policy reload refused, the running policy stays: {policies}/items.yaml:3:11: type 'item': load statement "
        "does not prepare: no such table: missing_table"), str(refused.value)
    assert r.get("item:2") == "v2"
    assert px.policy_show()["types"]["item"]["ttl_seconds"] == 300.0
