#!/usr/bin/env python3
"""Coverage-guided fuzzing of what strangers feed TierCache (issue 17): clients' requests (RESP2, RESP3, inline,
pipelines), a Redis server's replies, and policy files. Builds the libFuzzer harnesses of FuzzTesting/ with
address sanitizer and runs each for a number of executions (10 million by default) or seconds, starting from the
seed corpus in the repository (FuzzTesting/Corpus/<harness>/) and a working corpus of its own. Prints, per
harness: executions, executions per second, coverage (libFuzzer's `cov`, edges; `ft`, features) at start and at
the end, and crashes. A crash's input is kept in the run's folder; turn each into a regression test.

Usage: bench/fuzz.py [--runs 10000000 | --seconds 600] [--harness FuzzRESPRequest ...] [--jobs 2]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUZZ = ROOT / "FuzzTesting"
HARNESSES = ("FuzzRESPRequest", "FuzzRESPReply", "FuzzPolicy")
# Optimized, as TierCache ships: over ten times the executions per second of a debug build here (the request
# decoder ~70,000/s against a few thousand), with Swift's overflow and bounds checks still in (-O keeps them).
# The sanitizers are named to swiftc in one option. SwiftPM 6.3 turns `--sanitize=fuzzer --sanitize=address` into two
# `-sanitize=` options in the order of a Set, which changes from run to run, and swiftc keeps only the last of them:
# half the builds had no coverage (libFuzzer saw a few hundred counters, the harness' own), the other half no
# address sanitizer in Swift code. `--sanitize=fuzzer` stays so that SwiftPM links the harnesses as libFuzzer
# programs (their entry point is libFuzzer's main) and instruments the C targets (libyaml) for coverage;
# `-Xcc -fsanitize=address` gives those C targets the address sanitizer.
BUILD = ["swift", "build", "-c", "release", "--sanitize=fuzzer", "-Xswiftc", "-sanitize=fuzzer,address",
         "-Xswiftc", "-parse-as-library", "-Xcc", "-fsanitize=address"]


# A harness whose dependencies carry coverage instrumentation has tens of thousands of counters (~73,000 for the
# RESP ones, ~39,000 for the policy one); one with only its own code instrumented, a few hundred.
MIN_COUNTERS = 10_000


def build():
    """Builds the harnesses and checks that the code they exercise is instrumented, so that a run never reports
    coverage it did not have."""
    done = subprocess.run(BUILD, cwd=FUZZ, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit("building the harnesses failed (does this toolchain have libFuzzer?):\n" + done.stdout + done.stderr)
    binary = FUZZ / ".build" / "release"
    counters = {name: instrumented_counters(binary / name) for name in HARNESSES}
    if not all(count >= MIN_COUNTERS for count in counters.values()):
        sys.exit(f"the harnesses are not instrumented for coverage ({counters} counters, at least {MIN_COUNTERS:,} "
                 "expected)")
    return binary


def instrumented_counters(harness):
    """The coverage counters libFuzzer finds in `harness` (0 when it says none)."""
    done = subprocess.run([str(harness), "-runs=0"], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, SWIFT_BACKTRACE="enable=no"))
    found = re.search(r"\((\d+) inline 8-bit counters\)", done.stdout + done.stderr)
    return int(found.group(1)) if found else 0


def start(binary, name, folder, runs, seconds):
    """Starts one harness; returns (process, log path)."""
    corpus = folder / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = folder / "crashes" / name
    artifacts.mkdir(parents=True, exist_ok=True)
    argv = [str(binary / name), str(corpus), str(FUZZ / "Corpus" / name), f"-artifact_prefix={artifacts}/",
            "-print_final_stats=1", "-rss_limit_mb=4096", "-timeout=10"]
    argv.append(f"-max_total_time={seconds}" if seconds else f"-runs={runs}")
    # A harness' dictionary (the words its input is made of) lets mutations build inputs that reach further.
    dictionary = FUZZ / "Dictionaries" / f"{name}.dict"
    if dictionary.exists():
        argv.append(f"-dict={dictionary}")
    log = folder / f"{name}.log"
    env = dict(os.environ, SWIFT_BACKTRACE="enable=no")
    return subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env), log


def summary(log):
    """(executions, execs/s, first cov, last cov, last ft, crashed, execution of the last new edge) from a libFuzzer
    log."""
    text = log.read_text(errors="replace")
    covs = [(int(m.group(1)), int(m.group(2))) for m in re.finditer(r" cov: (\d+) ft: (\d+)", text)]
    executed = re.search(r"stat::number_of_executed_units: (\d+)", text)
    per_second = re.search(r"stat::average_exec_per_sec:\s+(\d+)", text)
    # Coverage at start: once the corpora are loaded (INITED), not the first line printed while loading them.
    inited = re.search(r"INITED cov: (\d+)", text)
    crashed = "ERROR: libFuzzer" in text or "ERROR: AddressSanitizer" in text or "deadly signal" in text
    first = int(inited.group(1)) if inited else covs[0][0] if covs else 0
    return (int(executed.group(1)) if executed else 0, int(per_second.group(1)) if per_second else 0,
            first, covs[-1][0] if covs else 0, covs[-1][1] if covs else 0, crashed, last_new_edge(text))


def last_new_edge(text):
    """The execution at which coverage (edges) last rose: how long a run has gone without finding a new edge,
    which is what "stable coverage" means here."""
    best, at = 0, 0
    for found in re.finditer(r"^#(\d+)\s+\w+\s+cov: (\d+)", text, re.MULTILINE):
        executions, edges = int(found.group(1)), int(found.group(2))
        if edges > best:
            best, at = edges, executions
    return at


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000_000, help="executions per harness")
    parser.add_argument("--seconds", type=int, help="run each harness this long instead of --runs")
    parser.add_argument("--harness", action="append", choices=HARNESSES)
    parser.add_argument("--jobs", type=int, default=2, help="harnesses run at once")
    parser.add_argument("--folder", help="where corpora, logs and crashes go (default: a new temporary folder)")
    args = parser.parse_args()
    binary = build()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="tiercache-fuzz-"))
    folder.mkdir(parents=True, exist_ok=True)
    pending = list(args.harness or HARNESSES)
    running = []
    results = {}
    started_at = time.monotonic()
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            process, log = start(binary, name, folder, args.runs, args.seconds)
            running.append((name, process, log, time.monotonic()))
        for entry in list(running):
            name, process, log, began = entry
            if process.poll() is not None:
                running.remove(entry)
                results[name] = summary(log) + (time.monotonic() - began, process.returncode)
        time.sleep(1)
    print(f"\nfuzzing, {folder} ({time.monotonic() - started_at:.0f} s):")
    print(f"{'harness':<18}{'executions':>14}{'exec/s':>9}{'cov start':>11}{'cov end':>9}{'features':>10}"
          f"{'seconds':>9}{'last new edge':>15}  result")
    failed = False
    for name in args.harness or HARNESSES:
        executed, per_second, first, last, features, crashed, newest, seconds, code = results[name]
        verdict = "CRASH (see crashes/)" if crashed or code != 0 else "0 crashes"
        failed = failed or crashed or code != 0
        print(f"{name:<18}{executed:>14,}{per_second:>9,}{first:>11,}{last:>9,}{features:>10,}{seconds:>9.0f}"
              f"{newest:>15,}  {verdict}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
