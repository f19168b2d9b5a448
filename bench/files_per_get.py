#!/usr/bin/env python3
"""Which of the project's source files a GET's code runs in: an L1 hit, an L2 hit and a database load, for one
or two builds (before and after a change of the request path's layout).

Needs builds with coverage counters (`swift build --enable-code-coverage --product tiercache --scratch-path DIR`,
a debug build: nothing is inlined, so each function counts in its own file). For each case each build is run
twice through the same steps (start, warm, SIGTERM: the counters are written at exit), the second time with N
more GETs of the case; a file counts when some region of it ran at least N more times in the second run. Code
that runs once per batch or per sampled read is left out with the timers' noise; unpipelined, every GET is a
batch of its own, so the connection's per-batch code counts.

  L1 hit:  a type in L1 only, one key loaded, then N GETs of it.
  L2 hit:  a type in L2 only (a redis-server of its own), one key loaded into Redis, then N GETs of it.
  load:    a type in L1 and L2, N GETs of N keys neither holds: L1 miss, L2 miss, the database, both filled.

Prints each case's files, by target, and their counts. This counts every file whose code runs, the parser's and
L1's included; docs/ARCHITECTURE.md's path table counts the files a reader follows.

Usage: bench/files_per_get.py --binary NEW [--baseline OLD] [--gets 200]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import benchlib as bl

CASES = ("L1 hit", "L2 hit", "load")


def run_case(run, binary, case, gets, profile):
    """Runs `binary` through the case's steps with `gets` extra GETs; its coverage counters go to `profile`."""
    # A copy per run: a run's hot-key snapshot, written beside its database at exit, would warm the next one.
    database = run.path(os.path.basename(profile) + ".db")
    shutil.copyfile(run.path("case.db"), database)
    l1, l2 = {"L1 hit": (True, False), "L2 hit": (False, True), "load": (True, True)}[case]
    policies = bl.write_policy(run.path(f"policies-{case.replace(' ', '-')}"), l1=l1, l2=l2)
    redis_port = bl.start_redis(run, name=f"redis-{len(run.procs)}")
    os.environ["LLVM_PROFILE_FILE"] = profile
    try:
        port, proc, log = bl.start_tiercache(
            run, binary, database, policies, name=f"tiercache-{len(run.procs)}",
            redis_url=f"redis://127.0.0.1:{redis_port}", threads=1)
    finally:
        del os.environ["LLVM_PROFILE_FILE"]
    with bl.Client(port) as client:
        if case != "load":
            warmed = client.call("GET", bl.key(0))
            if warmed != bl.VALUE.encode():
                bl.fail(f"{case}: warming GET answered {warmed!r}")
        for i in range(gets):
            # The load case reads keys nobody has read: each GET misses L1 and L2 and loads.
            reply = client.call("GET", bl.key(i + 1 if case == "load" else 0))
            if reply != bl.VALUE.encode():
                bl.fail(f"{case}: GET answered {reply!r}")
    run.stop(proc)
    if proc.returncode != 0:
        bl.fail(f"{case}: tiercache exited with status {proc.returncode}\n{bl.tail(log)}")
    if not os.path.exists(profile):
        bl.fail(f"{case}: no coverage counters at {profile}: is {binary} a --enable-code-coverage build?")


def toolchain_tool(name):
    """The Swift toolchain's own LLVM tool: another LLVM's cannot read the counters Swift's writes."""
    swift = shutil.which("swift")
    if swift:
        candidate = os.path.join(os.path.dirname(os.path.realpath(swift)), name)
        if os.path.exists(candidate):
            return candidate
    return name


def region_counts(binary, profile, merged):
    """Each code region's run count, by (file, function, region number): stable between runs of one binary."""
    subprocess.run([toolchain_tool("llvm-profdata"), "merge", "-sparse", profile, "-o", merged], check=True)
    exported = subprocess.run([toolchain_tool("llvm-cov"), "export", "-format=text", "-skip-expansions", binary,
                               f"-instr-profile={merged}"], check=True, capture_output=True, text=True).stdout
    counts = {}
    for function in json.loads(exported)["data"][0]["functions"]:
        for number, region in enumerate(function["regions"]):
            # [line start, column start, line end, column end, count, file id, expanded file id, kind]
            filename = function["filenames"][region[5]]
            counts[(filename, function["name"], number)] = region[4]
    return counts


def files_run(run, binary, case, gets):
    """The project's files (under Sources/) with a region run at least `gets` more times for `gets` GETs."""
    counts = []
    for extra in (0, gets):
        tag = f"{case.replace(' ', '-')}-{len(run.procs)}-{extra}"
        profile, merged = run.path(tag + ".profraw"), run.path(tag + ".profdata")
        run_case(run, binary, case, extra, profile)
        counts.append(region_counts(binary, profile, merged))
    before, after = counts
    found = set()
    marker = "/Sources/"
    for (filename, function, number), count in after.items():
        # The project's own files: the packages' checkouts have Sources/ folders too.
        if marker not in filename or "/checkouts/" in filename:
            continue
        if count - before.get((filename, function, number), 0) >= gets:
            found.add(filename.split(marker, 1)[1])
    return sorted(found)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="a coverage build of tiercache")
    parser.add_argument("--baseline", help="another coverage build, to compare with")
    parser.add_argument("--gets", type=int, default=200, help="GETs per case (default: 200)")
    args = parser.parse_args()
    bl.require_tools(("redis-server", "redis-server"))
    for tool in ("llvm-profdata", "llvm-cov"):
        if not os.path.exists(toolchain_tool(tool)) and not shutil.which(tool):
            bl.fail(f"{tool} not found (it comes with the Swift toolchain)")
    builds = [("binary", args.binary)] + ([("baseline", args.baseline)] if args.baseline else [])
    for _, path in builds:
        bl.require_binary(path)
    results = {}
    run = bl.Run("tc-files-")
    bl.make_database(run.path("case.db"), args.gets + 10)
    try:
        for case in CASES:
            for name, path in builds:
                results[(case, name)] = files_run(run, path, case, args.gets)
    finally:
        run.close()
    for case in CASES:
        print(f"{case}:")
        for name, _ in builds:
            found = results[(case, name)]
            print(f"  {name}: {len(found)} files")
            for path in found:
                print(f"    {path}")
    if args.baseline:
        print("\nfiles whose code runs per GET (baseline → binary): " + ", ".join(
            f"{case} {len(results[(case, 'baseline')])} → {len(results[(case, 'binary')])}" for case in CASES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
