#!/usr/bin/env python3
"""Write-path (SET) throughput of TierCache against redis-server's own SET, in the same run.

`SET key:<id> value` through TierCache runs the type's store statement, an upsert into SQLite
(INSERT INTO kv(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v), commits, and invalidates
what the write made stale. Two TierCache processes are measured, each on its own copy of the database:
  tiercache (SQLite)          without --redis: SQLite commit + local (L1) invalidation only
  tiercache (SQLite + Redis)  with --redis: adds the cross-sidecar invalidation sent to Redis on every write
The database is left to TierCache's own journal/synchronous settings (the script sets no PRAGMA). SQLite
commits serialize on one writer, so these rows are a reference, not a target.

Runs `redis-benchmark -t set -r N` on `key:__rand_int__` against redis-server and both TierCaches, unpipelined
and with -P 16, alternating over several rounds, and prints medians, the median and range of each round's
ratio to redis-server (and of TierCache+Redis to TierCache), p99s, and TierCache's server-side SET latency.

Usage: bench/write_path.py [--binary PATH] [--rounds 3] [--requests 50000] [--clients 50] [--keys 10000]
"""
import argparse
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

PIPELINE = 16
PIPELINED_FACTOR = 5  # -P 16 runs send this many times --requests
LOCAL, WITH_REDIS = "tiercache (SQLite)", "tiercache (SQLite + Redis)"


def check_set(port, name):
    """One SET and GET through TierCache: the store statement works and the read sees the write."""
    with bl.Client(port) as c:
        replies = c.pipeline([("SET", bl.key(0), "check"), ("GET", bl.key(0)), ("SET", bl.key(0), bl.VALUE)])
    if replies != [b"OK", b"check", b"OK"]:
        bl.fail(f"SET check through {name} failed: SET/GET/SET replied {replies!r}")


def check_redis_used(args, tc_port, tc_log, redis_port):
    """Checks that TierCache with --redis sends something to Redis when it writes. Returns a verdict line."""
    def processed():
        return int(bl.redis_info(redis_port, "stats")["total_commands_processed"])
    writes = 100
    before = processed()
    with bl.Client(tc_port) as c:
        replies = c.pipeline([("SET", bl.key(i), bl.VALUE) for i in range(writes)])
    if any(r != b"OK" for r in replies):
        bl.fail(f"SET through {WITH_REDIS} failed: {next(r for r in replies if r != b'OK')!r}")
    time.sleep(0.5)  # in case invalidations are sent after the reply
    sent = processed() - before - 1  # the first INFO counts itself once it is done
    verdict = f"Redis check: {writes} SETs through {WITH_REDIS} sent {sent} commands to redis-server"
    if sent < 1:  # invalidations may be batched, so no per-write count is assumed
        message = (f"TierCache with --redis sent nothing to Redis for {writes} SETs: the cross-sidecar "
                   "invalidation is not active in this binary.")
        note = bl.l2_ignored_note(tc_log)
        if note:
            message += f"\nTierCache's log says: {note}"
        if not args.no_l2_check:
            bl.fail(message + "\n(--no-l2-check measures anyway; that row then is not the write path with Redis)")
        print("WARNING: " + message + f"\nWARNING: --no-l2-check: measuring anyway; the '{WITH_REDIS}' row does "
              "NOT include Redis invalidation.")
    return verdict


def journal_mode(db):
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=bl.DEFAULT_BINARY, help="tiercache binary (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds alternating the servers (default: 3)")
    parser.add_argument("--requests", type=int, default=50000,
                        help=f"requests per unpipelined run; -P {PIPELINE} runs send {PIPELINED_FACTOR}x "
                             "(default: 50000)")
    parser.add_argument("--clients", type=int, default=50, help="redis-benchmark -c (default: 50)")
    parser.add_argument("--keys", type=int, default=10000,
                        help="key space, redis-benchmark -r; the table holds these rows, so every SET is an "
                             "update (default: 10000)")
    parser.add_argument("--threads", type=int, default=1, help="TierCache --threads (default: 1)")
    parser.add_argument("--redis-prefix", default=None,
                        help="passed to TierCache as --redis-prefix when given (its default: tiercache:)")
    parser.add_argument("--no-l2-check", action="store_true",
                        help="measure even if TierCache with --redis sends nothing to Redis (for testing a "
                             "build without the L2 tier)")
    args = parser.parse_args()
    if min(args.rounds, args.requests, args.clients, args.keys) < 1:
        parser.error("--rounds, --requests, --clients and --keys must be at least 1")
    bl.require_tools(("redis-server", "redis-server"), ("redis-benchmark", "redis-tools"))
    bl.require_binary(args.binary)

    run = bl.Run("tiercache-write-bench-")
    try:
        redis_port = bl.start_redis(run)
        policies = bl.write_policy(run.path("policies"), l1=True, l2=True)
        db_local, db_redis = run.path("local.db"), run.path("redis.db")
        bl.make_database(db_local, args.keys)
        bl.make_database(db_redis, args.keys)
        local_port, _, _ = bl.start_tiercache(run, args.binary, db_local, policies, name="tiercache-local",
                                              threads=args.threads)
        redis_tc_port, _, redis_tc_log = bl.start_tiercache(
            run, args.binary, db_redis, policies, name="tiercache-redis",
            redis_url=f"redis://127.0.0.1:{redis_port}", redis_prefix=args.redis_prefix,
            threads=args.threads)
        check_set(local_port, LOCAL)
        check_set(redis_tc_port, WITH_REDIS)
        verdict = check_redis_used(args, redis_tc_port, redis_tc_log, redis_port)
        print(verdict)
        print(f"SQLite as TierCache opened it: journal_mode={journal_mode(db_local)} (TierCache's own settings; "
              "the script sets no PRAGMA). Commits serialize on one writer: the TierCache rows are a reference, "
              "not a target.")

        print(f"redis-benchmark -t set -c {args.clients} -r {args.keys} (-n {args.requests} unpipelined, "
              f"{args.requests * PIPELINED_FACTOR} with -P {PIPELINE}), {args.rounds} rounds alternating the "
              f"servers; medians, and the median of each round's ratio")
        print(f"{'mode':<13}{'server':<36}{'requests/s':>11}{'ratio':>8}{'ratio range':>13}{'p99 ms':>9}")
        targets = [("redis-server", redis_port), (LOCAL, local_port), (WITH_REDIS, redis_tc_port)]
        for pipeline in (1, PIPELINE):
            requests = args.requests if pipeline == 1 else args.requests * PIPELINED_FACTOR
            runs = bl.alternate(targets, args.rounds, lambda port, name: bl.benchmark(
                port, "set", requests, args.clients, pipeline, args.keys, name))
            label = "unpipelined" if pipeline == 1 else f"-P {pipeline}"
            rps, p99, _, _ = bl.summary(runs["redis-server"])
            print(f"{label:<13}{'redis-server SET':<36}{rps:>11,.0f}{'':>8}{'':>13}{p99:>9.3f}")
            for name in (LOCAL, WITH_REDIS):
                rps, p99, ratio, (lo, hi) = bl.summary(runs[name], runs["redis-server"])
                print(f"{'':<13}{name + ' / redis':<36}{rps:>11,.0f}{ratio:>8.3f}{f'{lo:.3f}-{hi:.3f}':>13}"
                      f"{p99:>9.3f}")
            _, _, ratio, (lo, hi) = bl.summary(runs[WITH_REDIS], runs[LOCAL])
            print(f"{'':<13}{'SQLite + Redis / SQLite':<36}{'':>11}{ratio:>8.3f}{f'{lo:.3f}-{hi:.3f}':>13}")

        print()
        for name, port in ((LOCAL, local_port), (WITH_REDIS, redis_tc_port)):
            s = bl.stats(args.binary, port)
            store = s.get("backend", {}).get("store", {})
            print(f"{name}: " + bl.command_line(s, "SET") +
                  (f"; SQLite store p50 {store['p50_us']:.1f} µs, p99 {store['p99_us']:.1f} µs"
                   if "p50_us" in store and "p99_us" in store else ""))
        print(f"TierCache STATS l2 fields ({WITH_REDIS}):")
        bl.print_l2_fields(bl.stats(args.binary, redis_tc_port))
    finally:
        run.close()


if __name__ == "__main__":
    main()
