#!/usr/bin/env python3
"""L1 memory (issue 18): what an entry really costs beyond its key and encoded value, and the process' RSS with a
full L1, measured from /proc on a running TierCache.

1. Per-entry overhead: a TierCache with a bound too large to matter reads N keys of 3-byte values (pipelined GETs
   over SQLite); the RSS growth, less the growth of the same reads with L1 off, over the entries held, minus key
   and encoded value, is the overhead per entry (target <= 100 bytes). Once per eviction policy, and for
   `--baseline BINARY` (an older build) when given.
2. A full L1: `--l1-max-memory 1g` (or `--max-memory`) filled with 100-byte values, from more keys than fit; prints
   the idle RSS, the RSS when full, what `STATS` counts, and checks RSS <= 1.1 x the bound + the idle RSS.

Usage: bench/l1_memory.py [--binary PATH] [--baseline PATH] [--entries 200000] [--max-memory 1g] [--skip-full]
Build first: swift build -c release --static-swift-stdlib --product tiercache
"""
import argparse
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise SystemExit(f"no VmRSS for pid {pid}")


def make_rows(path, count, value):
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE kv (id TEXT PRIMARY KEY, v TEXT NOT NULL)")
    connection.executemany("INSERT INTO kv VALUES (?, ?)", (("%012d" % i, value) for i in range(count)))
    connection.commit()
    connection.close()


def get_all(port, count, batch=20_000):
    with benchlib.Client(port, timeout=600) as client:
        for start in range(0, count, batch):
            replies = client.pipeline([("GET", benchlib.key(i)) for i in range(start, min(count, start + batch))],
                                      batch=batch)
            bad = [r for r in replies if not isinstance(r, bytes)]
            if bad:
                raise SystemExit(f"GET failed: {bad[0]!r}")


def l1_tier(binary, port):
    return benchlib.stats(binary, port)["tiers"]["l1"]


def growth(binary, eviction, entries, l1=True):
    """RSS growth while N keys are read once, and the entries L1 then holds."""
    run = benchlib.Run("tiercache-l1-memory-")
    try:
        database = run.path("kv.db")
        make_rows(database, entries, "xxx")
        policies = benchlib.write_policy(run.path("policies"), l1=l1, ttl="1d")
        flags = ["--l1-max-memory", "4g"] + (["--l1-eviction", eviction] if eviction else [])
        port, proc, _ = benchlib.start_tiercache(run, binary, database, policies, extra_args=flags)
        # A first pass over a few keys brings in the code paths and SQLite's caches.
        get_all(port, min(entries, 1000))
        time.sleep(0.3)
        before = rss_bytes(proc.pid)
        get_all(port, entries)
        time.sleep(0.5)
        after = rss_bytes(proc.pid)
        tier = l1_tier(binary, port)
        return after - before, tier["entries"], tier.get("memory", {}).get("policy_bytes", 0)
    finally:
        run.close()


def overhead(binary, label, eviction, entries, control):
    grown, held, sketch = growth(binary, eviction, entries)
    key_and_value = len(benchlib.key(0)) + len("$3\r\nxxx\r\n")
    per_entry = (grown - control) / max(1, held - 1000)
    print(f"{label:<28}{held:>10,}{per_entry:>12.1f}{per_entry - key_and_value:>12.1f}{sketch / max(1, held):>14.1f}")


def full(binary, max_memory, value_size):
    run = benchlib.Run("tiercache-l1-full-")
    try:
        value = "v" * value_size
        charge = len(benchlib.key(0)) + len(f"${value_size}\r\n") + value_size + 2 + 96
        bound = parse_size(max_memory)
        keys = int(bound / charge * 1.25)
        database = run.path("kv.db")
        print(f"\nfull L1: --l1-max-memory {max_memory}, {value_size}-byte values, {keys:,} keys read once "
              f"(1.25x what fits at {charge} bytes charged each)")
        make_rows(database, keys, value)
        policies = benchlib.write_policy(run.path("policies"), l1=True, ttl="1d")
        port, proc, _ = benchlib.start_tiercache(run, binary, database, policies,
                                                  extra_args=["--l1-max-memory", max_memory])
        time.sleep(0.5)
        idle = rss_bytes(proc.pid)
        started = time.time()
        get_all(port, keys)
        time.sleep(1)
        rss = rss_bytes(proc.pid)
        tier = l1_tier(binary, port)
        limit = 1.1 * bound + idle
        print(f"idle RSS {idle / 2**20:.1f} MB; full: RSS {rss / 2**20:.1f} MB, L1 {tier['entries']:,} entries, "
              f"{tier['bytes'] / 2**20:.1f} MB counted of {tier['max_bytes'] / 2**20:.0f} MB "
              f"(sketch {tier['memory']['policy_bytes'] / 2**20:.1f} MB), filled in {time.time() - started:.0f} s")
        verdict = "within" if rss <= limit else "OVER"
        print(f"RSS - idle = {(rss - idle) / bound:.3f} x the bound; target RSS <= 1.1 x bound + idle = "
              f"{limit / 2**20:.1f} MB: {verdict}")
    finally:
        run.close()


def parse_size(text):
    units = {"k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30}
    for unit in sorted(units, key=len, reverse=True):
        if text.lower().endswith(unit):
            return int(float(text[:-len(unit)]) * units[unit])
    return int(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=benchlib.DEFAULT_BINARY)
    parser.add_argument("--baseline", help="an older tiercache binary to measure the same way (its own default "
                                           "policy)")
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--max-memory", default="1g")
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument("--skip-full", action="store_true")
    args = parser.parse_args()
    benchlib.require_binary(args.binary)
    # The same reads with L1 off: what grows anyway (SQLite's page caches, buffers), subtracted from each run.
    control, _, _ = growth(args.binary, None, args.entries, l1=False)
    print(f"RSS growth over {args.entries:,} GETs with L1 off (subtracted below): {control / 2**20:.1f} MB")
    print(f"{'build, policy':<28}{'entries':>10}{'RSS B/entry':>12}{'overhead':>12}{'sketch B/entry':>14}")
    for eviction in ("w-tinylfu", "lru"):
        overhead(args.binary, f"this build, {eviction}", eviction, args.entries, control)
    if args.baseline:
        overhead(args.baseline, "baseline build (its default)", None, args.entries, control)
    if not args.skip_full:
        full(args.binary, args.max_memory, args.value_size)


if __name__ == "__main__":
    main()
