#!/usr/bin/env python3
"""L1-hit GET throughput of TierCache against redis-server, in the same run.

Starts redis-server (filled with N keys) and TierCache (an SQLite table with the same N keys behind a
`key` data type, L1 warmed), runs `redis-benchmark -t get -r N` on `key:__rand_int__` against each,
unpipelined and with -P 16, alternating servers over several rounds, and prints medians and ratios.
Then measures TierCache's idle resident memory and L1 bytes per entry.

Usage: bench/l1_get.py [--binary PATH] [--rounds 3] [--requests 200000] [--clients 50]
"""
import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import cpu_seconds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not answer PING within {timeout}s")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def key(i):
    return "key:%012d" % i


def fill_redis(port, n, value):
    lines = []
    for i in range(n):
        k = key(i)
        lines.append(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n${len(value)}\r\n{value}\r\n")
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input="".join(lines).encode(),
                   check=True, capture_output=True)


def warm(port, n):
    """GET every key once through a pipelined raw socket, so each is loaded into L1."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        batch = 1000
        for start in range(0, n, batch):
            payload = "".join(f"GET {key(i)}\r\n" for i in range(start, min(n, start + batch)))
            s.sendall(payload.encode())
            expected = min(n, start + batch) - start
            got, buf = 0, b""
            while got < expected:
                buf += s.recv(1 << 20)
                got = buf.count(b"\r\n") // 2  # each "$3\r\nxxx\r\n" has two line ends
            if b"-" in buf[:1]:
                raise SystemExit("warm-up GET failed: " + buf[:200].decode(errors="replace"))


def benchmark(port, requests, clients, pipeline, keyspace):
    cmd = ["redis-benchmark", "-p", str(port), "-t", "get", "-n", str(requests), "-c", str(clients),
           "-r", str(keyspace), "--csv"]
    if pipeline > 1:
        cmd += ["-P", str(pipeline)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        cols = [c.strip('"') for c in line.split(",")]
        if cols and cols[0].startswith("GET"):
            # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
            return float(cols[1]), float(cols[6])
    raise SystemExit("unexpected redis-benchmark output:\n" + out)


def measured(port, pid, requests, clients, pipeline, keyspace):
    """A benchmark run, and the server's CPU time per request over it, in microseconds."""
    before = cpu_seconds(pid)
    rps, p99 = benchmark(port, requests, clients, pipeline, keyspace)
    return rps, p99, (cpu_seconds(pid) - before) / requests * 1e6


VALUE = "xxx"  # redis-benchmark's default 3-byte payload


def bench_data(work, rows):
    """An SQLite file of `rows` keys (`key:%012d` → VALUE) and a policy directory with the `key` type over it:
    (database path, policy directory)."""
    db = os.path.join(work, "bench.db")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE kv (id TEXT PRIMARY KEY, data TEXT NOT NULL)")
        conn.executemany("INSERT INTO kv VALUES (?, ?)", (("%012d" % i, VALUE) for i in range(rows)))
    conn.close()
    policies = os.path.join(work, "policies")
    os.makedirs(policies)
    with open(os.path.join(policies, "bench.yaml"), "w") as f:
        f.write("types:\n  key:\n    load: SELECT data FROM kv WHERE id = ?\n    tables: [kv]\n    ttl: 1d\n")
    return db, policies


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "tiercache"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--keys", type=int, default=10000)
    parser.add_argument("--memory-keys", type=int, default=200000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--l1-shards", type=int, default=16)
    args = parser.parse_args()
    for tool in ("redis-server", "redis-cli", "redis-benchmark"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: apt-get install redis-server redis-tools")
    if not os.path.exists(args.binary):
        raise SystemExit(f"{args.binary} not found: run `swift build -c release --static-swift-stdlib --product tiercache` first")

    work = tempfile.mkdtemp(prefix="tiercache-bench-")
    procs = []
    try:
        db, policies = bench_data(work, max(args.keys, args.memory_keys))

        redis_port, tc_port = free_port(), free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(redis)
        tc_log = open(os.path.join(work, "tiercache.log"), "w")
        tc = subprocess.Popen([args.binary, "serve", "--listen", f"127.0.0.1:{tc_port}",
                               "--database", f"sqlite:{db}", "--policies", policies,
                               "--threads", str(args.threads), "--l1-shards", str(args.l1_shards),
                               "--log-level", "warning"],
                              stdout=tc_log, stderr=tc_log)
        procs.append(tc)
        wait_for(redis_port)
        wait_for(tc_port)
        time.sleep(0.5)
        idle_rss = rss_kb(tc.pid)
        fill_redis(redis_port, args.keys, VALUE)
        warm(tc_port, args.keys)

        print(f"redis-benchmark -t get -c {args.clients} -r {args.keys} (-n {args.requests} unpipelined, "
              f"{args.requests * 10} with -P 16), {args.rounds} rounds alternating the servers; medians, and the "
              f"median of each round's ratio")
        print(f"{'mode':<14}{'redis-server':>14}{'tiercache':>12}{'ratio':>8}{'ratio range':>14}"
              f"{'redis p99 ms':>14}{'tc p99 ms':>11}{'redis CPU µs/GET':>18}{'tc CPU µs/GET':>15}")
        for pipeline in (1, 16):
            requests = args.requests if pipeline == 1 else args.requests * 10
            redis_runs, tc_runs = [], []
            for _ in range(args.rounds):
                redis_runs.append(measured(redis_port, redis.pid, requests, args.clients, pipeline, args.keys))
                tc_runs.append(measured(tc_port, tc.pid, requests, args.clients, pipeline, args.keys))
            ratios = [t[0] / r[0] for r, t in zip(redis_runs, tc_runs)]
            r = statistics.median(x[0] for x in redis_runs)
            t = statistics.median(x[0] for x in tc_runs)
            rp = statistics.median(x[1] for x in redis_runs)
            tp = statistics.median(x[1] for x in tc_runs)
            label = "unpipelined" if pipeline == 1 else f"-P {pipeline}"
            spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
            rc = statistics.median(x[2] for x in redis_runs)
            tc_cpu = statistics.median(x[2] for x in tc_runs)
            print(f"{label:<14}{r:>14,.0f}{t:>12,.0f}{statistics.median(ratios):>8.2f}{spread:>14}"
                  f"{rp:>14.3f}{tp:>11.3f}{rc:>18.2f}{tc_cpu:>15.2f}")

        # Server-side latency of the GETs above (all L1 hits), from TierCache's own histogram.
        stats = subprocess.run([args.binary, "stats", "--port", str(tc_port), "--json"], check=True,
                               capture_output=True, text=True).stdout
        get = json.loads(stats)["commands"]["GET"]
        hits = json.loads(stats)["tiers"]["l1"]
        print(f"\nTierCache STATS for GET: {get['count']:,} commands, p50 {get['p50_us']:.1f} µs, "
              f"p99 {get['p99_us']:.1f} µs, p99.9 {get['p99.9_us']:.1f} µs, max {get['max_us']:.1f} µs; "
              f"L1 hit ratio {hits['hit_ratio']:.4f}")

        # Memory: idle RSS, then the RSS growth per L1 entry over a large key set.
        before = rss_kb(tc.pid)
        warm(tc_port, args.memory_keys)
        time.sleep(0.5)
        after = rss_kb(tc.pid)
        per_entry = (after - before) * 1024 / max(1, args.memory_keys - args.keys)
        key_and_value = len(key(0)) + len("$3\r\nxxx\r\n")
        print(f"idle RSS: {idle_rss / 1024:.1f} MB")
        print(f"L1: {args.memory_keys} entries, RSS growth {per_entry:.0f} bytes/entry, "
              f"of which key+encoded value {key_and_value} bytes: overhead {per_entry - key_and_value:.0f} bytes/entry")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
