#!/usr/bin/env python3
"""What a permission check costs on the L1-hit path (issue 17's target: bench/l1_get.py within 3 %).

Starts two TierCache processes on the same SQLite data: one without a users file, one whose default user may only
read the `key` type (so each GET pays the category test and the type check, the most a user can cost), warms
both, and runs `redis-benchmark -t get` against each in turn, unpipelined and with -P 16, over several rounds.
Prints medians of requests/s and of CPU µs per GET, and the ratio limited / open of each round. The two servers
alternate within one run, because the machine's speed drifts between runs more than 3 %.

Usage: bench/permission_cost.py [--binary PATH] [--rounds 7] [--requests 200000] [--clients 50]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import l1_get  # noqa: E402


def users_option(work, limited):
    """`--users FILE` whose default user (no password) may only read the `key` type, or nothing."""
    if not limited:
        return []
    path = os.path.join(work, "users.yaml")
    with open(path, "w") as f:
        f.write("users:\n  default:\n    nopass: true\n    commands: [read]\n    types: [key]\n")
    return ["--users", path]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(l1_get.ROOT, ".build", "release", "tiercache"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--keys", type=int, default=10000)
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        raise SystemExit(f"{args.binary} not found: run `swift build -c release --static-swift-stdlib "
                         "--product tiercache` first")
    work = tempfile.mkdtemp(prefix="tiercache-permission-bench-")
    db, policies = l1_get.bench_data(work, args.keys)
    servers = {}
    try:
        for name, limited in (("open", False), ("limited", True)):
            port = l1_get.free_port()
            log = open(os.path.join(work, f"{name}.log"), "w")
            process = subprocess.Popen(
                [args.binary, "serve", "--listen", f"127.0.0.1:{port}", "--database", f"sqlite:{db}",
                 "--policies", policies, "--log-level", "warning"] + users_option(work, limited),
                stdout=log, stderr=log, env=dict(os.environ, TIERCACHE_ADMIN_LISTEN="off"))
            servers[name] = (port, process)
            l1_get.wait_for(port)
            l1_get.warm(port, args.keys)
        print(f"redis-benchmark -t get -c {args.clients} -r {args.keys} (-n {args.requests} unpipelined, "
              f"{args.requests * 10} with -P 16), {args.rounds} rounds alternating; medians")
        print(f"{'mode':<13}{'open req/s':>12}{'limited':>12}{'ratio':>7}{'range':>12}{'open µs/GET':>13}"
              f"{'limited':>9}{'CPU ratio':>11}  target")
        for pipeline in (1, 16):
            requests = args.requests * (10 if pipeline > 1 else 1)
            runs = {"open": [], "limited": []}
            for _ in range(args.rounds):
                for name, (port, process) in servers.items():
                    runs[name].append(l1_get.measured(port, process.pid, requests, args.clients, pipeline,
                                                      args.keys))
            ratios = [limited[0] / open_[0] for open_, limited in zip(runs["open"], runs["limited"])]
            cpu_ratios = [limited[2] / open_[2] for open_, limited in zip(runs["open"], runs["limited"])]
            ratio, cpu_ratio = statistics.median(ratios), statistics.median(cpu_ratios)
            med = {name: (statistics.median(r[0] for r in v), statistics.median(r[2] for r in v))
                   for name, v in runs.items()}
            verdict = "met" if ratio >= 0.97 else "NOT met"
            label = "unpipelined" if pipeline == 1 else f"-P {pipeline}"
            print(f"{label:<13}{med['open'][0]:>12,.0f}{med['limited'][0]:>12,.0f}{ratio:>7.3f}"
                  f"{min(ratios):>6.2f}-{max(ratios):.2f}{med['open'][1]:>13.2f}{med['limited'][1]:>9.2f}"
                  f"{cpu_ratio:>11.3f}  throughput >= 0.97: {verdict}")
    finally:
        for _, process in servers.values():
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
