#!/usr/bin/env python3
"""CPU time per GET of two TierCache builds, side by side in the same run: the before-and-after check of a
hot-path change (`bench/l1_get.py` and `bench/l2_get.py` compare one build with redis-server and twemproxy).

Starts both builds on the same SQLite file (L1 case: a `key` type in L1 only; L2 case: L2 only, both sidecars on
one redis-server, with different prefixes so each has its own entries), warms them, then runs
`redis-benchmark -t get` against each in turn, alternating over --rounds rounds so the machine's drift touches
both alike. Prints, per case, the medians of each build's user and system CPU µs per GET (from /proc) and the
median and range of the per-round ratios of their totals. The user part is the build's own work; the system part
is the kernel's (the syscalls, the same when the batching is).

Usage: bench/cpu_per_get.py --binary NEW --baseline OLD [--rounds 7] [--requests 200000] [--case L2-P16 ...]
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

KEYS = 10000
CLIENTS = 50
PIPELINED_FACTOR = 5  # -P 16 runs send this many times --requests (CPU time is counted in 10 ms ticks)


def start_builds(run, builds, tier):
    """Both builds serving the same data from `tier`, warmed; {name: (port, pid)}."""
    db = run.path("bench.db")
    bl.make_database(db, KEYS)
    started = {}
    redis_port = bl.start_redis(run) if tier == "L2" else None
    for name, binary in builds.items():
        policies = bl.write_policy(run.path(f"policies-{name}"), l1=(tier == "L1"), l2=(tier == "L2"))
        if tier == "L2":
            port, proc, _ = bl.start_tiercache(
                run, binary, db, policies, name=name, threads=1, redis_url=f"redis://127.0.0.1:{redis_port}",
                redis_prefix=f"bench-{name}")
        else:
            port, proc, _ = bl.start_tiercache(run, binary, db, policies, name=name, threads=1)
        bl.warm_to_hits(binary, port, KEYS, name)
        started[name] = (port, proc.pid)
    return started


def measure(builds, tier, pipeline, rounds, requests):
    """{name: [(user µs/GET, system µs/GET)]} over `rounds` alternated runs."""
    run = bl.Run("tiercache-cpu-")
    try:
        started = start_builds(run, builds, tier)
        results = {name: [] for name in builds}
        for _ in range(rounds):
            for name, (port, pid) in started.items():
                user, system = bl.user_system_seconds(pid)
                bl.benchmark(port, "get", requests, CLIENTS, pipeline, KEYS, name)
                user2, system2 = bl.user_system_seconds(pid)
                results[name].append(((user2 - user) / requests * 1e6, (system2 - system) / requests * 1e6))
        return results
    finally:
        run.close()


def main():
    parser = bl.builds_parser(__doc__, 200000, "GETs per run")
    parser.add_argument("--rounds", type=int, default=7, help="alternated runs per build and case (default: 7)")
    args, cases = bl.builds_arguments(parser)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    bl.require_tools(("redis-server", "redis-server"), ("redis-benchmark", "redis-tools"))
    builds = {"baseline": args.baseline, "binary": args.binary}
    print(f"CPU µs per GET (user + system, from /proc), {args.requests:,} GETs per run ({PIPELINED_FACTOR}× with "
          f"-P 16), {args.rounds} alternated "
          f"rounds, {CLIENTS} clients, {KEYS:,} keys, --threads 1")
    print(f"{'case':<9}{'baseline user':>14}{'sys':>7}{'binary user':>13}{'sys':>7}{'ratio (total)':>15}"
          f"{'range':>15}")
    for tier, pipeline in cases:
        requests = args.requests * (PIPELINED_FACTOR if pipeline > 1 else 1)
        results = measure(builds, tier, pipeline, args.rounds, requests)
        base, new = results["baseline"], results["binary"]
        ratios = [sum(n) / sum(b) for n, b in zip(new, base)]
        print(f"{tier + ' -P ' + str(pipeline):<9}"
              f"{statistics.median(u for u, _ in base):>14.2f}{statistics.median(s for _, s in base):>7.2f}"
              f"{statistics.median(u for u, _ in new):>13.2f}{statistics.median(s for _, s in new):>7.2f}"
              f"{statistics.median(ratios):>15.3f}{f'{min(ratios):.3f}–{max(ratios):.3f}':>15}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
