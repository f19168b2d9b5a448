#!/usr/bin/env python3
"""What the admin listener costs the client port (issue 16), and how fast /metrics answers.

1. L1-hit GET throughput (redis-benchmark, unpipelined and -P 16) of the same build twice, in the same run:
   with `--admin-listen off`, and with the admin listener scraped every second (/metrics, as Prometheus would),
   probed (/health/ready, /health/live every 2 s, as a kubelet would) and the live page open (a viewer of
   /events, which is all the page asks of the proxy). Alternating rounds; medians and the ratio (target: within
   3 %).
2. /metrics answer time with 8 data types and 10,000 client connections open: p50/p99 of 200 scrapes
   (target p99 <= 5 ms).

Usage: bench/admin_overhead.py [--binary .build/release/tiercache] [--rounds 5] [--requests 300000]
(-P 16 rounds do 10x --requests)
"""
import argparse
import os
import resource
import socket
import statistics
import threading
import time
import urllib.request

import benchlib as bl

KEYS = 10_000


def scraper(admin_port, stop):
    """Prometheus and a kubelet: /metrics every second, the probes every 2 s, until `stop` is set."""
    base = f"http://127.0.0.1:{admin_port}"
    tick = 0
    while not stop.wait(1.0):
        urllib.request.urlopen(base + "/metrics", timeout=5).read()
        if tick % 2 == 0:
            urllib.request.urlopen(base + "/health/ready", timeout=5).read()
            urllib.request.urlopen(base + "/health/live", timeout=5).read()
        tick += 1


def viewer(admin_port, stop):
    """The live page's one request: /events, read as it comes, until `stop` is set."""
    with socket.create_connection(("127.0.0.1", admin_port)) as sock:
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
        sock.settimeout(0.5)
        while not stop.is_set():
            try:
                if not sock.recv(65536):
                    return
            except socket.timeout:
                pass


def eight_types(directory):
    """The benchmark's `key` type and seven more over the same table, so /metrics has 8 types' series."""
    extra = "".join(
        f"  t{i}:\n    load: SELECT v FROM kv WHERE id = ?\n    tables: [kv]\n    ttl: 1d\n" for i in range(1, 8))
    bl.write_policy(directory)
    with open(os.path.join(directory, "bench.yaml"), "a") as f:
        f.write(extra)
    return directory


def verdict(met):
    """The target's outcome, computed from the figures just printed."""
    return "met" if met else "NOT met"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=bl.DEFAULT_BINARY)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300_000)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    bl.require_binary(args.binary)
    bl.require_tools(("redis-benchmark", "redis-tools"))
    run = bl.Run("admin-overhead-")
    try:
        database = run.path("bench.db")
        bl.make_database(database, KEYS)
        policies = eight_types(run.path("policies"))
        off_port, _, _ = bl.start_tiercache(run, args.binary, database, policies, name="admin-off",
                                            extra_args=["--admin-listen", "off"])
        admin_port = bl.free_port()
        on_port, on_proc, _ = bl.start_tiercache(run, args.binary, database, policies, name="admin-on",
                                                 extra_args=["--admin-listen", f"127.0.0.1:{admin_port}",
                                                             "--max-clients", "20000"])
        for name, port in (("admin-off", off_port), ("admin-on", on_port)):
            bl.warm_to_hits(args.binary, port, KEYS, name=name)
        stop = threading.Event()
        threads = [threading.Thread(target=work, args=(admin_port, stop), daemon=True) for work in (scraper, viewer)]
        for thread in threads:
            thread.start()

        results = {}
        for pipeline in (1, 16):
            targets = [("admin-off", off_port), ("admin-on", on_port)]
            # Pipelined runs do 10x the requests (as bench/l1_get.py), so a round lasts seconds, not 0.2 s.
            requests = args.requests if pipeline == 1 else args.requests * 10
            runs = bl.alternate(targets, args.rounds, lambda port, name, requests=requests: bl.benchmark(
                port, "get", requests, args.clients, pipeline, KEYS, name)[0])
            results[pipeline] = runs
        stop.set()
        for thread in threads:
            thread.join()

        print(f"\nL1-hit GET, {args.clients} clients, {args.requests:,} requests ({args.requests * 10:,} with -P 16), "
              f"{args.rounds} rounds alternating (medians, requests/s):")
        print(f"{'case':<8}{'admin off':>14}{'scraped':>14}{'ratio':>9}   per-round ratios")
        for pipeline, runs in results.items():
            off, on = statistics.median(runs["admin-off"]), statistics.median(runs["admin-on"])
            ratios = [b / a for a, b in zip(runs["admin-off"], runs["admin-on"])]
            print(f"{'-P ' + str(pipeline):<8}{off:>14,.0f}{on:>14,.0f}{on / off:>9.3f}   "
                  f"{min(ratios):.3f}–{max(ratios):.3f}   target >= 0.970: {verdict(on / off >= 0.97)}")

        # 10,000 idle clients, then /metrics timed.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 10_500:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20_000), hard))
        clients = []
        for _ in range(10_000):
            sock = socket.create_connection(("127.0.0.1", on_port))
            clients.append(sock)
        open_now = int(bl.stats(args.binary, on_port)["server"]["connections_open"])
        times = []
        url = f"http://127.0.0.1:{admin_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            size = len(response.read())
        for _ in range(200):
            started = time.perf_counter()
            urllib.request.urlopen(url, timeout=10).read()
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        print(f"\n/metrics with 8 types and {open_now:,} connections open ({size:,} bytes), 200 scrapes: "
              f"p50 {times[100]:.2f} ms, p99 {times[197]:.2f} ms, max {times[-1]:.2f} ms   "
              f"target p99 <= 5 ms: {verdict(times[197] <= 5.0)}")
        for sock in clients:
            sock.close()
        del on_proc
    finally:
        run.close()


if __name__ == "__main__":
    main()
