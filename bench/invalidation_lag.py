#!/usr/bin/env python3
"""Cross-sidecar invalidation lag: how soon a write through sidecar A stops being served by sidecar B.

Starts redis-server and two TierCache processes (A and B) on one SQLite file, both with --redis. B caches N keys
in L1. Then, one write at a time, `SET key:i new` goes through A and, as soon as A acknowledges it, B is polled
with `GET key:i` until it returns the new value. Prints the distribution of that visibility time (client side,
including the polling round trips) and B's own `invalidations.lag` from STATS (A's publish to B having applied it).

Usage: bench/invalidation_lag.py [--binary PATH] [--writes 2000] [--keys 1000]
"""
import argparse
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A minimal RESP2 client over one socket: enough for GET/SET/STATS timing without library overhead."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def call(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(parts))
        return self.read()

    def read(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            data = self.file.read(length + 2)[:-2]
            return data
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self.read() for _ in range(count)]
        raise RuntimeError(f"unexpected reply {line!r}")


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


def stats_l2(port):
    """tiers.l2 of STATS as a dict (RESP2 flat pairs)."""
    client = Client(port)
    flat = client.call("STATS")
    report = dict(zip(flat[::2], flat[1::2]))
    tiers = dict(zip(report[b"tiers"][::2], report[b"tiers"][1::2]))
    return dict(zip(tiers[b"l2"][::2], tiers[b"l2"][1::2]))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/tiercache"))
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=1000)
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        raise SystemExit(
            f"{args.binary} not found; build it: swift build -c release --static-swift-stdlib --product tiercache")

    work = tempfile.mkdtemp(prefix="tiercache-lag-")
    processes = []
    try:
        db = os.path.join(work, "bench.db")
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE kv (id TEXT PRIMARY KEY, v TEXT NOT NULL)")
            conn.executemany("INSERT INTO kv VALUES (?, ?)", (("%012d" % i, "v0") for i in range(args.keys)))
        policies = os.path.join(work, "policies")
        os.mkdir(policies)
        with open(os.path.join(policies, "bench.yaml"), "w") as f:
            f.write(
                "types:\n  key:\n    load: SELECT v FROM kv WHERE id = ?\n"
                "    store: INSERT INTO kv(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v\n"
                "    tables: [kv]\n    ttl: 1h\n")

        redis_port = free_port()
        processes.append(subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(redis_port)
        ports = []
        for _ in range(2):
            port = free_port()
            processes.append(subprocess.Popen(
                [args.binary, "serve", "--listen", f"127.0.0.1:{port}", "--database", f"sqlite:{db}",
                 "--policies", policies, "--redis", f"redis://127.0.0.1:{redis_port}", "--log-level", "warning"],
                stdout=subprocess.DEVNULL))
            wait_for(port)
            ports.append(port)
        deadline = time.time() + 10
        while any(stats_l2(p)[b"status"] != b"up" for p in ports):
            if time.time() > deadline:
                raise SystemExit("L2 link did not come up")
            time.sleep(0.05)

        a, b = Client(ports[0]), Client(ports[1])
        keys = ["key:%012d" % i for i in range(args.keys)]
        for key in keys:
            b.call("GET", key)
            b.call("GET", key)  # L1 now
        visible = []
        polls = 0
        first_poll = 0
        for n in range(args.writes):
            key = keys[n % len(keys)]
            value = f"v{n + 1}".encode()
            a.call("SET", key, value)
            acked = time.perf_counter()
            attempts = 0
            while True:
                polls += 1
                attempts += 1
                if b.call("GET", key) == value:
                    visible.append(time.perf_counter() - acked)
                    first_poll += attempts == 1
                    break
                if time.perf_counter() - acked > 5:
                    raise SystemExit(f"B still served the old value of {key} 5 s after A acknowledged the write")
        l2 = stats_l2(ports[1])
        lag = dict(zip(l2[b"invalidations"][::2], l2[b"invalidations"][1::2]))
        lag = dict(zip(lag[b"lag"][::2], lag[b"lag"][1::2]))
        ms = [v * 1000 for v in visible]
        print(f"{args.writes} writes through A, each polled on B until visible ({polls} GETs on B in all)")
        print("A's acknowledgement -> B serves the new value (client side, includes B's GET round trips):")
        print(f"  p50 {percentile(ms, 50):.3f} ms  p99 {percentile(ms, 99):.3f} ms  max {max(ms):.3f} ms"
              f"  mean {statistics.mean(ms):.3f} ms")
        print(f"  B's first GET after the acknowledgement already new: {first_poll} of {args.writes}")
        print("B's STATS invalidations.lag (A's publish -> applied on B):")
        print("  count {} p50 {} us  p99 {} us  p99.9 {} us  max {} us".format(
            lag[b"count"], lag[b"p50_us"].decode(), lag[b"p99_us"].decode(), lag[b"p99.9_us"].decode(),
            lag[b"max_us"].decode()))
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
