#!/usr/bin/env python3
"""Writes that bypass TierCache (issue 15): how soon another program's commit stops being served from L1.

For PostgreSQL and for SQLite: `tiercache db install-triggers` on the demo `key` table, then two TierCache
processes on the same database without Redis: B caches N keys in L1, A is "another program" (its own
connections; B does not hear of its writes but through the database). One write at a time, `SET key:i new` goes
through A, B having just read the key into L1; as soon as A acknowledges it (committed), B is polled with `GET key:i` until it returns the new value.
Prints the distribution of that time (client side, polling round trips included) per database.
Target (PostgreSQL, loopback): p99 <= 50 ms, every write seen within 1 s.

Usage: bench/external_write_lag.py [--binary PATH] [--writes 1000] [--keys 1000]
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POLICY = ("types:\n  key:\n    load: SELECT data FROM key WHERE id = ?\n"
          "    store: INSERT INTO key(id, data) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data\n"
          "    tables: [key]\n    ttl: 1d\n")


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def tiercache(binary, args):
    done = subprocess.run([binary, *args], capture_output=True, text=True)
    if done.returncode != 0:
        bl.fail(f"tiercache {' '.join(args[:2])} failed:\n{done.stderr}")


def measure(run, binary, database, policies, writes, keys, name):
    ports = []
    for side in ("a", "b"):
        port = bl.free_port()
        run.start(f"{name}-{side}", [binary, "serve", "--listen", f"127.0.0.1:{port}", "--database", database,
                                     "--policies", policies, "--log-level", "warning", "--hot-keys-file", "off"], port)
        ports.append(port)
    a_port, b_port = ports
    deadline = time.time() + 10
    while bl.stats(binary, b_port)["backend"].get("external_writes", {}).get("status") != "listening":
        if time.time() > deadline:
            bl.fail(f"{name}: B never listened for other programs' writes")
        time.sleep(0.05)
    bl.warm_to_hits(binary, b_port, keys, name=f"{name}-b")
    lags, slowest = [], 0.0
    with bl.Client(a_port) as a, bl.Client(b_port) as b:
        for n in range(writes):
            key = bl.key(n % keys)
            value = f"v{n}".encode()
            # B holds the old value in L1 right before the write (read twice: the second is a hit).
            b.call("GET", key)
            if b.call("GET", key) == value:
                bl.fail(f"{name}: B already had the new value of {key}")
            if a.call("SET", key, value) != b"OK":
                bl.fail(f"{name}: SET through A failed")
            start = time.perf_counter()
            while b.call("GET", key) != value:
                if time.perf_counter() - start > 5:
                    bl.fail(f"{name}: B still served the old value of {key} 5 s after the commit")
            lag = time.perf_counter() - start
            lags.append(lag * 1000)
            slowest = max(slowest, lag)
    heard = bl.stats(binary, b_port)["backend"]["external_writes"]["changes_heard"]
    print(f"{name:<11} writes {writes}, B heard {heard} changes; visible after (ms): p50 {percentile(lags, 50):.2f}, "
          f"p90 {percentile(lags, 90):.2f}, p99 {percentile(lags, 99):.2f}, max {max(lags):.2f}; "
          f"within 1 s: {sum(1 for x in lags if x <= 1000)}/{writes}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=bl.DEFAULT_BINARY)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=1000)
    args = parser.parse_args()
    bl.require_binary(args.binary)
    run = bl.Run("external-lag-")
    started = subprocess.run([str(ROOT / "scripts/postgres-server.sh"), "start"], capture_output=True, text=True)
    if started.returncode != 0:
        bl.fail("scripts/postgres-server.sh start failed:\n" + started.stderr)
    folder, url = started.stdout.strip().splitlines()[-1].split(" ")
    try:
        policies = run.path("policies")
        os.makedirs(policies)
        with open(os.path.join(policies, "p.yaml"), "w") as f:
            f.write(POLICY)
        sqlite = "sqlite:" + run.path("lag.db")
        for database, name in ((url, "PostgreSQL"), (sqlite, "SQLite")):
            tiercache(args.binary, ["db", "init", "--database", database, "--demo-benchmark-keys", str(args.keys)])
            tiercache(args.binary, ["db", "install-triggers", "--database", database, "--policies", policies])
            measure(run, args.binary, database, policies, args.writes, args.keys, name)
    finally:
        run.close()
        subprocess.run([str(ROOT / "scripts/postgres-server.sh"), "stop", folder], capture_output=True)


if __name__ == "__main__":
    main()
