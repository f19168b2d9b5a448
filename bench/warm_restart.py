#!/usr/bin/env python3
"""Warm restart: how soon a restarted sidecar gets back its L1 hit ratio, with and without the hot-key snapshot.

Starts TierCache (SQLite, one `item` type over N keys, ttl 1h, `warm_rate` W) and runs R readers (asyncio, as in
chaos.py) reading Zipf-distributed keys (exponent S) for T seconds: the hit ratio of the last 5 of them is the
"previous" ratio. TierCache is stopped (SIGTERM saves its hot keys) and started again on the same files, under the
same load, twice: with the snapshot, and with none. For each restart it prints the L1 hit ratio second by second,
the seconds until it is back within 1 point of the previous ratio, and the most warming loads seen in one second
(the issue's targets: back within 10 s with the snapshot; never more than `warm_rate` warming loads a second).

Usage: bench/warm_restart.py [--binary PATH] [--keys 20000] [--readers 20] [--rate 100] [--zipf 1.0]
                             [--warm-rate 500] [--seconds 20]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from chaos import run_load  # noqa: E402



def counters(port):
    """(L1 hits, L1 misses, warming keys done) of the `item` type, from STATS (RESP2 flat pairs)."""
    with bl.Client(port) as c:
        stats = c.call("STATS")

    def child(pairs, name):
        return dict(zip(pairs[0::2], pairs[1::2]))[name.encode()]

    item = child(child(stats, "types"), "item")
    l1 = child(item, "l1")
    warming_types = child(child(stats, "warming"), "types")
    done = 0
    if warming_types:
        done = child(child(warming_types, "item"), "done")
    return child(l1, "hits"), child(l1, "misses"), done


def warming_run(port):
    """(keys done, seconds) of the `item` type's last warming run, from STATS."""
    with bl.Client(port) as c:
        stats = c.call("STATS")
    pairs = dict(zip(stats[0::2], stats[1::2]))
    types = dict(zip(pairs[b"warming"][1::2][1][0::2], pairs[b"warming"][1::2][1][1::2]))
    if b"item" not in types:
        return 0, 0.0
    item = dict(zip(types[b"item"][0::2], types[b"item"][1::2]))
    return item[b"done"], float(item[b"seconds"])


def run_phase(port, args, seconds):
    """Load for `seconds`; returns per-second (hit ratio, warming loads in that second)."""
    def during():
        samples = []
        previous = counters(port)
        start = time.monotonic()
        for second in range(1, seconds + 1):
            time.sleep(max(0, start + second - time.monotonic()))
            now = counters(port)
            hits, misses = now[0] - previous[0], now[1] - previous[1]
            samples.append((hits / (hits + misses) if hits + misses else 0.0, now[2] - previous[2]))
            previous = now
        return samples

    _, samples = run_load(port, args.readers, args.keys, args.rate, seconds + 0.5, during, zipf=args.zipf)
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=bl.DEFAULT_BINARY)
    parser.add_argument("--keys", type=int, default=20000)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100.0, help="GETs per second per reader (default: 100)")
    parser.add_argument("--zipf", type=float, default=1.0)
    parser.add_argument("--warm-rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    bl.require_binary(args.binary)

    run = bl.Run("tiercache-warm-restart-")
    try:
        db = run.path("warm.db")
        bl.make_database(db, args.keys)
        policies = bl.write_policy(
            run.path("policies"), ttl="1h", type_name="item", extra=f"    warm_rate: {args.warm_rate}\n")
        snapshot = run.path("hot.keys")
        common = ["--hot-key-window", "10s"]

        port, proc, _ = bl.start_tiercache(run, args.binary, db, policies, name="first",
                                           extra_args=common + ["--hot-keys-file", snapshot])
        before = run_phase(port, args, args.seconds)
        previous = sum(r for r, _ in before[-5:]) / 5
        run.stop(proc)  # SIGTERM: the hot keys are saved
        print(f"{args.readers} readers x {args.rate:.0f} GET/s, Zipf {args.zipf} over {args.keys:,} keys; "
              f"warm_rate {args.warm_rate:.0f}")
        print(f"previous run: L1 hit ratio over its last 5 s {previous:.3f} "
              f"(snapshot {os.path.getsize(snapshot):,} bytes)")

        for label, hot_keys in (("with snapshot", snapshot), ("no snapshot", run.path("none.keys"))):
            port, proc, _ = bl.start_tiercache(run, args.binary, db, policies, name=label.replace(" ", "-"),
                                               extra_args=common + ["--hot-keys-file", hot_keys])
            samples = run_phase(port, args, args.seconds)
            back = next((i + 1 for i, (r, _) in enumerate(samples) if r >= previous - 0.01), None)
            ratios = " ".join(f"{r:.2f}" for r, _ in samples[:12])
            most = max(w for _, w in samples)
            done, took = warming_run(port)
            overall = f"{done:,} keys in {took:.1f} s = {done / took:.0f}/s" if took else "none"
            print(f"{label:<14} back within 1 point after {str(back) + ' s' if back else 'never':>6}; warming "
                  f"{overall}, most in one ~1 s sample {most}; hit ratio per second: {ratios} …")
            run.stop(proc)
    finally:
        run.close()


if __name__ == "__main__":
    main()
