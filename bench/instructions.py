#!/usr/bin/env python3
"""Instructions per GET of two TierCache builds, counted by callgrind: a measure this shared machine's noise does
not move, for comparing a hot-path change before and after.

Runs each build under `valgrind --tool=callgrind` with instrumentation off, warms it (L1: every key read twice;
L2: every key loaded into Redis, then read from it), turns instrumentation on for `redis-benchmark -t get` only,
and prints the user-space instructions per GET for four cases: L1 hits and L2 hits, unpipelined and with -P 16.
The kernel's share (the syscalls, the same for both builds when the batching is) is not counted: CPU time per GET
(`bench/l1_get.py`, `bench/l2_get.py`) stays the target; this says where a difference comes from.

valgrind 3.19 cannot read the DWARF 5 debug information Swift writes, so each binary is copied without it
(`strip -g`); symbols stay, for `callgrind_annotate` on the files kept with --keep.

For line-level costs, build with DWARF 4 debug information and keep --binary's (`--debug-info`):
  swift build -c release --static-swift-stdlib --product tiercache --scratch-path .build-dwarf4 \
      -Xswiftc -g -Xswiftc -dwarf-version=4 -Xcc -gdwarf-4
then `callgrind_annotate --auto=yes FILE.1` shows the source lines.

With --cache-sim, callgrind also simulates the first-level caches (this machine's sizes) and the table adds the
instruction- and data-cache misses per GET: a change can keep the instruction count and still cost time by
spreading the path over more code.

Usage: bench/instructions.py --binary NEW --baseline OLD [--requests 50000] [--keep DIR] [--case L2-P16 ...]
       [--debug-info] [--cache-sim]
"""
import os
import shutil
import subprocess
import sys
import tempfile

import benchlib as bl

KEYS = 2000
CLIENTS = 50


def callgrind_wrapper(binary, workdir, name, debug_info, cache_sim):
    """A copy of `binary` (without debug information unless `debug_info`), and a script that runs it under
    callgrind (simulating the caches with `cache_sim`)."""
    stripped = os.path.join(workdir, name + ("-debug" if debug_info else "-nodebug"))
    if debug_info:
        shutil.copyfile(binary, stripped)
        os.chmod(stripped, 0o755)
    else:
        subprocess.run(["strip", "-g", "-o", stripped, binary], check=True)
    out = os.path.join(workdir, name + ".callgrind")
    wrapper = os.path.join(workdir, name + "-callgrind")
    with open(wrapper, "w") as f:
        # Each case names its own output file (CALLGRIND_OUT, set by `measure`).
        f.write("#!/bin/sh\n"
                f"exec valgrind --tool=callgrind --instr-atstart=no {'--cache-sim=yes ' if cache_sim else ''}"
                f"--callgrind-out-file=\"$CALLGRIND_OUT\" "
                f"{stripped} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    return wrapper, out, stripped


def measure(wrapper, out, client, tier, pipeline, requests):
    """Callgrind's events per GET of one case ({"Ir": instructions, and with the cache simulation "I1mr",
    "D1mr"…}) and nil, or nil and what went wrong; the dump stays at `out`.1. `client`: the same build without
    valgrind, for `tiercache stats`."""
    for path in (out, out + ".1"):
        if os.path.exists(path):
            os.remove(path)
    os.environ["CALLGRIND_OUT"] = out
    run = bl.Run("tiercache-instructions-")
    try:
        db = run.path("bench.db")
        bl.make_database(db, KEYS)
        if tier == "L2":
            redis_port = bl.start_redis(run)
            policies = bl.write_policy(run.path("policies"), l1=False, l2=True)
            # Under valgrind a round trip takes tens of times longer: Redis' timeout and its breaker's idea of a
            # slow call are widened, so the measured run stays on the L2 path.
            port, proc, _ = bl.start_tiercache(
                run, wrapper, db, policies, threads=1, redis_url=f"redis://127.0.0.1:{redis_port}",
                extra_args=("--redis-timeout", "10s", "--redis-breaker", "slow_call=10s"))
            # Passes until one loads nothing: a load slow enough (valgrind) may not fill L2 (`mayFillL2`).
            for _ in range(10):
                before = bl.loads(bl.stats(client, port))
                bl.pipelined_gets(port, KEYS, what="warm-up pass (loads into L2)")
                if bl.loads(bl.stats(client, port)) == before:
                    break
        else:
            policies = bl.write_policy(run.path("policies"), l1=True, l2=False)
            port, proc, _ = bl.start_tiercache(run, wrapper, db, policies, threads=1)
            bl.pipelined_gets(port, KEYS, what="warm-up pass")
            before = bl.loads(bl.stats(client, port))
            bl.pipelined_gets(port, KEYS, what="second pass (L1 hits)")
        subprocess.run(["callgrind_control", "--instr=on", str(proc.pid)], check=True, capture_output=True)
        bl.benchmark(port, "get", requests, CLIENTS, pipeline, KEYS, "tiercache")
        subprocess.run(["callgrind_control", "--instr=off", str(proc.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "--dump", str(proc.pid)], check=True, capture_output=True)
        # A slow run (valgrind) must not have fallen back to the database: then it measured loads, not hits.
        loaded = bl.loads(bl.stats(client, port)) - before
        if loaded:
            return None, f"{loaded} database loads during the measured run"
    finally:
        run.close()
    events, totals = [], []
    with open(out + ".1") as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("totals:"):
                totals = [int(value) for value in line.split()[1:]]
    if not totals or totals[0] == 0:
        return None, "callgrind counted nothing"
    return {event: total / requests for event, total in zip(events, totals)}, None


def measure_hits(wrapper, out, client, tier, pipeline, requests, name, attempts=3):
    """`measure`, again when a run was not all hits (under valgrind a Redis round trip may time out)."""
    problem = None
    for _ in range(attempts):
        count, problem = measure(wrapper, out, client, tier, pipeline, requests)
        if count is not None:
            return count
    bl.fail(f"{name}, {tier} -P {pipeline}: {problem} ({attempts} attempts)")


def main():
    parser = bl.builds_parser(__doc__, 50000, "GETs measured per case")
    parser.add_argument("--keep", help="a folder to keep the callgrind files in, for callgrind_annotate")
    parser.add_argument("--debug-info", action="store_true",
                        help="keep --binary's debug information (only for a build with DWARF 4, see above)")
    parser.add_argument("--cache-sim", action="store_true",
                        help="also count simulated first-level instruction and data cache misses per GET")
    args, cases = bl.builds_arguments(parser)
    bl.require_tools(("valgrind", "valgrind"), ("callgrind_control", "valgrind"), ("strip", "binutils"),
                     ("redis-server", "redis-server"), ("redis-benchmark", "redis-tools"))
    workdir = args.keep or tempfile.mkdtemp(prefix="tiercache-callgrind-")
    os.makedirs(workdir, exist_ok=True)
    try:
        builds = {name: callgrind_wrapper(path, workdir, name, args.debug_info and name == "binary", args.cache_sim)
                  for name, path in (("baseline", args.baseline), ("binary", args.binary))}
        print(f"user-space instructions per GET (callgrind), {args.requests:,} GETs per case, {CLIENTS} clients, "
              f"{KEYS:,} keys, --threads 1")
        misses = f"{'I1 misses':>19}{'D1 misses':>19}" if args.cache_sim else ""
        print(f"{'case':<12}{'baseline':>12}{'binary':>12}{'ratio':>8}{misses}")
        for tier, pipeline in cases:
            counts = {}
            for name, (wrapper, out, client) in builds.items():
                counts[name] = measure_hits(wrapper, out + f"-{tier}-P{pipeline}", client, tier, pipeline,
                                            args.requests, name)
            label = f"{tier} -P {pipeline}"
            old, new = counts["baseline"], counts["binary"]
            misses = ""
            if args.cache_sim:
                d1 = {name: value.get("D1mr", 0) + value.get("D1mw", 0) for name, value in counts.items()}
                misses = (f"{old.get('I1mr', 0):>10.1f} →{new.get('I1mr', 0):>7.1f}"
                          f"{d1['baseline']:>10.1f} →{d1['binary']:>7.1f}")
            print(f"{label:<12}{old['Ir']:>12,.0f}{new['Ir']:>12,.0f}{new['Ir'] / old['Ir']:>8.3f}{misses}")
            sys.stdout.flush()
        if args.keep:
            print(f"callgrind files in {workdir} (callgrind_annotate FILE.1)")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
