#!/usr/bin/env python3
"""Cross-sidecar invalidation lag: how soon a write through sidecar A stops being served by sidecar B.

Starts redis-server and two TierCache processes (A and B) on one SQLite file, both with --redis. B caches N keys
in L1. Then, one write at a time, `SET key:i new` goes through A and, as soon as A acknowledges it, B is polled
with `GET key:i` until it returns the new value. Prints the distribution of that visibility time (client side,
including the polling round trips) and B's own `invalidations.lag` from STATS (A's publish to B having applied it).

Usage: bench/invalidation_lag.py [--binary PATH] [--writes 2000] [--keys 1000]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def l2_status(binary, port):
    return bl.stats(binary, port).get("tiers", {}).get("l2", {})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=bl.DEFAULT_BINARY)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=1000)
    args = parser.parse_args()
    bl.require_tools(("redis-server", "redis-server"))
    bl.require_binary(args.binary)

    run = bl.Run("tiercache-lag-")
    try:
        redis_port = bl.start_redis(run)
        db = run.path("bench.db")
        bl.make_database(db, args.keys, value="v0")
        policies = bl.write_policy(run.path("policies"), l1=True, l2=True, ttl="1h")
        ports = [
            bl.start_tiercache(run, args.binary, db, policies, name=name, redis_url=f"redis://127.0.0.1:{redis_port}")[0]
            for name in ("tiercache-a", "tiercache-b")
        ]
        deadline = time.time() + 10
        while any(l2_status(args.binary, p).get("status") != "up" for p in ports):
            if time.time() > deadline:
                bl.fail("the L2 link did not come up")
            time.sleep(0.05)

        a, b = bl.Client(ports[0]), bl.Client(ports[1])
        keys = [bl.key(i) for i in range(args.keys)]
        b.pipeline([("GET", key) for key in keys])  # B's L1 now holds every key
        visible = []
        polls = 0
        first_poll = 0
        for n in range(args.writes):
            key = keys[n % len(keys)]
            value = f"v{n + 1}".encode()
            a.call("SET", key, value)
            acked = time.perf_counter()
            attempts = 0
            while True:
                attempts += 1
                if b.call("GET", key) == value:
                    visible.append(time.perf_counter() - acked)
                    first_poll += attempts == 1
                    break
                if time.perf_counter() - acked > 5:
                    bl.fail(f"B still served the old value of {key} 5 s after A acknowledged the write")
            polls += attempts
        lag = l2_status(args.binary, ports[1]).get("invalidations", {}).get("lag", {})
        ms = [v * 1000 for v in visible]
        print(f"{args.writes} writes through A, each polled on B until visible ({polls} GETs on B in all)")
        print("A's acknowledgement -> B serves the new value (client side, includes B's GET round trips):")
        print(f"  p50 {percentile(ms, 50):.3f} ms  p99 {percentile(ms, 99):.3f} ms  max {max(ms):.3f} ms"
              f"  mean {statistics.mean(ms):.3f} ms")
        print(f"  B's first GET after the acknowledgement already new: {first_poll} of {args.writes}")
        print("B's STATS invalidations.lag (A's publish -> applied on B):")
        print("  count {} p50 {} us  p99 {} us  p99.9 {} us  max {} us".format(
            lag.get("count"), lag.get("p50_us"), lag.get("p99_us"), lag.get("p99.9_us"), lag.get("max_us")))
    finally:
        run.close()


if __name__ == "__main__":
    sys.exit(main())
