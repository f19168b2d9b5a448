#!/usr/bin/env python3
"""L2-hit GET throughput of TierCache against twemproxy (Debian's nutcracker), in the same run.

Starts one redis-server filled with N keys, nutcracker in front of it (one pool, that redis-server its only
server), and TierCache with --redis pointing at the same redis-server and one `key` data type with `l1: false`,
`l2: true` over an SQLite table holding the same N ids. Every GET to TierCache then goes to Redis (GET
tiercache:k:<key>) and only falls back to SQLite on an L2 miss. The L2 is warmed by GETting every key once
through TierCache, and a second pass checks that it is served from L2 (no SQLite loads) before measuring.

Then runs `redis-benchmark -t get -r N` on `key:__rand_int__` against redis-server (reference), nutcracker and
TierCache, unpipelined and with -P 16, alternating the servers over several rounds, and prints medians, the
median and range of each round's TierCache/twemproxy ratio, p99s, each proxy's CPU time per GET (user + system,
from /proc: a steadier measure of its cost than requests/s on a shared machine), TierCache's server-side GET
latency and its L2 counters.

Usage: bench/l2_get.py [--binary PATH] [--rounds 3] [--requests 200000] [--clients 50] [--keys 10000]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

PIPELINE = 16
PIPELINED_FACTOR = 5  # -P 16 runs send this many times --requests


def nutcracker_version():
    out = subprocess.run(["nutcracker", "-V"], capture_output=True, text=True)
    first = ((out.stdout + out.stderr).strip().splitlines() or ["?"])[0]
    return first.split("nutcracker-")[-1] if "nutcracker-" in first else first


def start_nutcracker(run, redis_port, connections):
    port, stats_port = bl.free_port(), bl.free_port()
    conf = run.path("nutcracker.yml")
    with open(conf, "w") as f:
        f.write("bench:\n"
                f"  listen: 127.0.0.1:{port}\n"
                "  hash: fnv1a_64\n"
                "  distribution: ketama\n"
                "  redis: true\n"
                "  preconnect: true\n"
                "  auto_eject_hosts: false\n"
                "  timeout: 5000\n"
                "  server_retry_timeout: 2000\n"
                "  server_failure_limit: 3\n"
                f"  server_connections: {connections}\n"
                "  servers:\n"
                f"   - 127.0.0.1:{redis_port}:1\n")
    check = subprocess.run(["nutcracker", "-t", "-c", conf], capture_output=True, text=True)
    if check.returncode != 0:
        bl.fail("nutcracker refused its configuration:\n" + check.stdout + check.stderr)
    # Foreground (no -d), so the pid we hold is nutcracker's; logs, pid file and stats port stay private.
    proc = run.start("nutcracker", ["nutcracker", "-c", conf, "-s", str(stats_port), "-a", "127.0.0.1",
                                    "-o", run.path("nutcracker.out"), "-p", run.path("nutcracker.pid"), "-v", "4"],
                     port)
    return port, proc


def check_l2(args, tc_port, tc_log, redis_port, prefix):
    """Warms TierCache's L2 and checks that a second pass is served from it. Returns a one-line verdict."""
    before = bl.stats(args.binary, tc_port)
    dbsize0 = _dbsize(redis_port)
    bl.pipelined_gets(tc_port, args.keys, what="warm-up pass through TierCache")
    # L2 fills may be written after the reply; give them a moment to land.
    deadline = time.time() + 5
    while _dbsize(redis_port) < dbsize0 + args.keys and time.time() < deadline:
        time.sleep(0.1)
    written = _dbsize(redis_port) - dbsize0
    with bl.Client(redis_port) as c:
        sample = f"{prefix}k:{bl.key(0)}"
        sample_exists = c.call("EXISTS", sample) == 1
    warmed = bl.stats(args.binary, tc_port)
    bl.pipelined_gets(tc_port, args.keys, what="second pass through TierCache")
    after = bl.stats(args.binary, tc_port)

    first_loads = _delta(bl.loads(warmed), bl.loads(before))
    second_loads = _delta(bl.loads(after), bl.loads(warmed))
    l2_hits = _delta(bl.l2_counter(after, "hits"), bl.l2_counter(warmed, "hits"))
    verdict = (f"L2 check over {args.keys:,} keys: warm-up pass {_n(first_loads)} SQLite loads, "
               f"{written:,} new Redis keys ({sample} {'present' if sample_exists else 'absent'}); "
               f"second pass {_n(second_loads)} SQLite loads, {_n(l2_hits)} L2 hits")
    problems = []
    if second_loads is None:
        problems.append("STATS has no load counter, so the second pass cannot be checked")
    elif second_loads > 0:
        problems.append(f"the second pass loaded {second_loads:,} of {args.keys:,} keys from SQLite instead of "
                        "reading them from Redis")
    if l2_hits is not None and l2_hits < args.keys:
        problems.append(f"STATS counted only {l2_hits:,} L2 hits for {args.keys:,} GETs")
    if written < args.keys and not problems:
        problems.append(f"only {written:,} keys appeared in Redis for {args.keys:,} warmed keys")
    if problems:
        note = bl.l2_ignored_note(tc_log)
        message = "TierCache's L2 is not serving these GETs: " + "; ".join(problems) + "."
        if note:
            message += f"\nTierCache's log says: {note}"
        if not args.no_l2_check:
            bl.fail(message + "\n" + verdict +
                    "\n(--no-l2-check measures anyway; the TierCache column then is not the L2 path)")
        print("WARNING: " + message + "\nWARNING: --no-l2-check: measuring anyway; the TierCache column is NOT "
              "the L2-hit path.")
    return verdict


def _dbsize(port):
    with bl.Client(port) as c:
        return c.call("DBSIZE")


def _delta(a, b):
    return None if a is None or b is None else a - b


def _n(x):
    return "?" if x is None else f"{x:,}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=bl.DEFAULT_BINARY, help="tiercache binary (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds alternating the servers (default: 3)")
    parser.add_argument("--requests", type=int, default=200000,
                        help=f"requests per unpipelined run; -P {PIPELINE} runs send {PIPELINED_FACTOR}x "
                             "(default: 200000)")
    parser.add_argument("--clients", type=int, default=50, help="redis-benchmark -c (default: 50)")
    parser.add_argument("--keys", type=int, default=10000, help="key space, redis-benchmark -r (default: 10000)")
    parser.add_argument("--threads", type=int, default=1, help="TierCache --threads (default: 1)")
    parser.add_argument("--redis-prefix", default=None,
                        help="passed to TierCache as --redis-prefix when given (its default: tiercache:)")
    parser.add_argument("--no-l2-check", action="store_true",
                        help="measure even if the second pass is not served from L2 (for testing a build "
                             "without the L2 tier; the TierCache numbers then are not the L2 path)")
    args = parser.parse_args()
    if min(args.rounds, args.requests, args.clients, args.keys) < 1:
        parser.error("--rounds, --requests, --clients and --keys must be at least 1")
    bl.require_tools(("redis-server", "redis-server"), ("redis-benchmark", "redis-tools"),
                     ("nutcracker", "nutcracker"))
    bl.require_binary(args.binary)
    prefix = args.redis_prefix if args.redis_prefix is not None else "tiercache:"
    # TierCache keeps one Redis connection per event loop; nutcracker gets as many server connections.
    upstream = args.threads

    run = bl.Run("tiercache-l2-bench-")
    try:
        redis_port = bl.start_redis(run)
        bl.fill_redis(redis_port, args.keys)
        nc_port, nc = start_nutcracker(run, redis_port, upstream)
        bl.pipelined_gets(nc_port, args.keys, what="check GET through nutcracker")

        db = run.path("bench.db")
        bl.make_database(db, args.keys)
        policies = bl.write_policy(run.path("policies"), l1=False, l2=True)
        tc_port, tc, tc_log = bl.start_tiercache(
            run, args.binary, db, policies, redis_url=f"redis://127.0.0.1:{redis_port}",
            redis_prefix=args.redis_prefix, threads=args.threads)
        verdict = check_l2(args, tc_port, tc_log, redis_port, prefix)
        print(verdict)
        start_stats = bl.stats(args.binary, tc_port)

        print(f"twemproxy: nutcracker {nutcracker_version()}, one pool, server_connections {upstream}; "
              f"TierCache: type key l1: false, l2: true, --threads {args.threads} (one Redis connection each)")
        print(f"redis-benchmark -t get -c {args.clients} -r {args.keys} (-n {args.requests} unpipelined, "
              f"{args.requests * PIPELINED_FACTOR} with -P {PIPELINE}), {args.rounds} rounds alternating the "
              f"servers; medians, and the median of each round's TierCache/twemproxy ratio")
        print(f"{'mode':<13}{'redis-server':>13}{'twemproxy':>11}{'tiercache':>11}{'tc/twem':>9}"
              f"{'ratio range':>13}{'p99 ms redis':>14}{'twem':>7}{'tc':>7}"
              f"{'CPU µs/GET twem':>17}{'tc':>6}{'twem/tc':>9}")
        targets = [("redis-server", redis_port), ("twemproxy", nc_port), ("tiercache", tc_port)]
        pids = {"twemproxy": nc.pid, "tiercache": tc.pid}
        for pipeline in (1, PIPELINE):
            requests = args.requests if pipeline == 1 else args.requests * PIPELINED_FACTOR
            cpu = {name: [] for name in pids}

            def run_one(port, name):
                before = bl.cpu_seconds(pids[name]) if name in pids else None
                result = bl.benchmark(port, "get", requests, args.clients, pipeline, args.keys, name)
                if before is not None:
                    cpu[name].append((bl.cpu_seconds(pids[name]) - before) / requests * 1e6)
                return result

            runs = bl.alternate(targets, args.rounds, run_one)
            r_rps, r_p99, _, _ = bl.summary(runs["redis-server"])
            n_rps, n_p99, _, _ = bl.summary(runs["twemproxy"])
            t_rps, t_p99, ratio, (lo, hi) = bl.summary(runs["tiercache"], runs["twemproxy"])
            n_cpu, t_cpu = statistics.median(cpu["twemproxy"]), statistics.median(cpu["tiercache"])
            label = "unpipelined" if pipeline == 1 else f"-P {pipeline}"
            print(f"{label:<13}{r_rps:>13,.0f}{n_rps:>11,.0f}{t_rps:>11,.0f}{ratio:>9.2f}"
                  f"{f'{lo:.2f}-{hi:.2f}':>13}{r_p99:>14.3f}{n_p99:>7.3f}{t_p99:>7.3f}"
                  f"{n_cpu:>17.2f}{t_cpu:>6.2f}{n_cpu / t_cpu:>9.2f}")
        print("CPU µs/GET: the proxy process' user + system CPU time over the run, per request (medians): how much "
              "of a core each GET costs it,\nwhich the shared machine's noise moves much less than requests/s.")

        end = bl.stats(args.binary, tc_port)
        print("\n" + bl.command_line(end, "GET") + " (includes the warm-up and check passes)")
        loads = _delta(bl.loads(end), bl.loads(start_stats))
        print(f"SQLite loads during the benchmark: {_n(loads)}")
        print("TierCache STATS l2 fields:")
        bl.print_l2_fields(end)
    finally:
        run.close()


if __name__ == "__main__":
    main()
