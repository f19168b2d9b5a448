#!/usr/bin/env python3
"""System calls per GET of two TierCache builds, counted by `strace -c`: the kernel's share of a GET's cost is set
by these, so when they match, a difference in CPU time per GET comes from user space (`bench/instructions.py`
counts that part exactly). This machine's CPU times move by ±10 % from run to run (`bench/cpu_per_get.py`); these
counts do not.

Runs each build warmed (L1: a `key` type in L1 only; L2: in L2 only, on its own redis-server), attaches strace to
it for one `redis-benchmark -t get` run, and prints the calls per GET in all and of the most frequent calls.

Usage: bench/syscalls_per_get.py --binary NEW --baseline OLD [--requests 20000] [--case L2-P1 ...]
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

KEYS = 2000
CLIENTS = 50
SHOWN = ("read", "write", "writev", "epoll_wait", "epoll_ctl", "futex")


def count(binary, tier, pipeline, requests):
    """{syscall: calls} of `binary` serving `requests` GETs, and their total."""
    run = bl.Run("tiercache-syscalls-")
    try:
        db = run.path("bench.db")
        bl.make_database(db, KEYS)
        policies = bl.write_policy(run.path("policies"), l1=(tier == "L1"), l2=(tier == "L2"))
        redis_url = f"redis://127.0.0.1:{bl.start_redis(run)}" if tier == "L2" else None
        port, proc, _ = bl.start_tiercache(run, binary, db, policies, threads=1, redis_url=redis_url)
        bl.warm_to_hits(binary, port, KEYS)
        out = run.path("strace.txt")
        tracer = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(proc.pid)],
                                  stderr=subprocess.DEVNULL)
        time.sleep(1)  # attached to every thread before the run
        bl.benchmark(port, "get", requests, CLIENTS, pipeline, KEYS, "tiercache")
        tracer.terminate()
        tracer.wait()
        calls = {}
        with open(out) as f:
            # % time, seconds, usecs/call, calls, [errors], syscall
            for line in f:
                fields = line.split()
                if len(fields) >= 5 and fields[3].isdigit() and fields[-1] != "total":
                    calls[fields[-1]] = int(fields[3])
        return calls
    finally:
        run.close()


def main():
    args, cases = bl.builds_arguments(bl.builds_parser(__doc__, 20000, "GETs per case"))
    bl.require_tools(("strace", "strace"), ("redis-server", "redis-server"), ("redis-benchmark", "redis-tools"))
    print(f"system calls per GET (strace -c), {args.requests:,} GETs per case, {CLIENTS} clients, {KEYS:,} keys, "
          f"--threads 1")
    print(f"{'case':<10}{'build':<10}{'all':>7}" + "".join(f"{name:>12}" for name in SHOWN))
    for tier, pipeline in cases:
        for name, binary in (("baseline", args.baseline), ("binary", args.binary)):
            calls = count(binary, tier, pipeline, args.requests)
            per_get = {key: value / args.requests for key, value in calls.items()}
            print(f"{tier + ' -P ' + str(pipeline):<10}{name:<10}{sum(per_get.values()):>7.3f}"
                  + "".join(f"{per_get.get(key, 0):>12.3f}" for key in SHOWN))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
