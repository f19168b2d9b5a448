#!/usr/bin/env python3
"""Chaos under steady load: what clients see while Redis is killed, and while the database fails.

Starts redis-server and TierCache (`--redis`, one `item` type with `l1` and `l2`, ttl 2s, max_stale 1m, over an
SQLite table of N keys), reads every key once, then runs R reader processes, each on its own connection, each
GETting random keys (all read before the fault) at a steady pace. Two scenarios, one after the other:

  redis-kill   redis-server is killed with SIGKILL, and started again on the same port F seconds later.
  db-failure   the table the type loads from is renamed away, and back F seconds later.

For each it prints the requests and failures before, during and after the fault, the p99 latency during it, and
the time to recover: until TierCache reports L2 `up` again (redis-kill), until the database breaker is closed again
and a key changed during the fault is read fresh (db-failure).

Usage: bench/chaos.py [--binary PATH] [--readers 50] [--keys 1000] [--fault 5] [--rate 200]
"""
import argparse
import multiprocessing as mp
import os
import random
import signal
import socket
import sqlite3
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

POLICY = """\
types:
  item:
    prefix: key
    load: SELECT v FROM kv WHERE id = ?
    store: INSERT INTO kv(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v
    tables: [kv]
    ttl: 2s
    max_stale: 1m
"""


def reader(port, keys, rate, stop_at, out):
    """GETs random keys at `rate` per second until `stop_at`; sends back (start time, latency s, ok) per request."""
    results = []
    random.seed(os.getpid())
    interval = 1.0 / rate
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=5)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        out.send(results)
        return
    buffer = b""
    next_at = time.monotonic()
    while time.monotonic() < stop_at:
        k = bl.key(random.randrange(keys))
        started = time.monotonic()
        ok = False
        try:
            conn.sendall(bl.resp("GET", k))
            while b"\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    raise OSError("closed")
                buffer += chunk
            line, _, rest = buffer.partition(b"\r\n")
            if line.startswith(b"$"):
                length = int(line[1:])
                need = length + 2 if length >= 0 else 0
                while len(rest) < need:
                    chunk = conn.recv(65536)
                    if not chunk:
                        raise OSError("closed")
                    rest += chunk
                ok = length >= 0
                buffer = rest[need:]
            else:
                buffer = rest  # an error line
        except OSError:
            buffer = b""
            try:
                conn.close()
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                time.sleep(0.01)
        results.append((started, time.monotonic() - started, ok))
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_at = time.monotonic()
    conn.close()
    out.send(results)


def run_load(port, readers, keys, rate, seconds, during):
    """Runs the readers for `seconds`, calling during(t0) in this process meanwhile; returns all results and
    what during() returned."""
    stop_at = time.monotonic() + seconds
    pipes, procs = [], []
    for _ in range(readers):
        parent, child = mp.Pipe(duplex=False)
        p = mp.Process(target=reader, args=(port, keys, rate, stop_at, child))
        p.start()
        pipes.append(parent)
        procs.append(p)
    marks = during()
    results = []
    for parent in pipes:
        results.extend(parent.recv())
    for p in procs:
        p.join()
    return results, marks


def window(results, start, end):
    return [r for r in results if start <= r[0] < end]


def summarize(name, results, fault_start, fault_end, recovered_after):
    before = window(results, 0, fault_start)
    during = window(results, fault_start, fault_end)
    after = window(results, fault_end, float("inf"))

    def failures(rs):
        return sum(1 for r in rs if not r[2])

    def p99(rs):
        if not rs:
            return float("nan")
        lat = sorted(r[1] for r in rs)
        return lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000

    print(f"{name:<11}{len(before):>9,}{failures(before):>6}{len(during):>9,}{failures(during):>6}"
          f"{p99(during):>9.2f}{len(after):>9,}{failures(after):>6}{recovered_after:>12.2f}")


def stats(binary, port):
    try:
        return bl.stats(binary, port)
    except SystemExit:
        return {}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=bl.DEFAULT_BINARY)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--fault", type=float, default=5.0, help="seconds each fault lasts (default: 5)")
    parser.add_argument("--rate", type=float, default=200.0, help="GETs per second per reader (default: 200)")
    args = parser.parse_args()
    bl.require_tools(("redis-server", "redis-server"))
    bl.require_binary(args.binary)

    run = bl.Run("tiercache-chaos-")
    try:
        redis_port = bl.free_port()
        redis_argv = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                      "--appendonly", "no", "--dir", run.dir]
        redis = run.start("redis-server", redis_argv, redis_port)
        db = run.path("chaos.db")
        bl.make_database(db, args.keys)
        policies = run.path("policies")
        os.makedirs(policies)
        with open(os.path.join(policies, "chaos.yaml"), "w") as f:
            f.write(POLICY)
        tc_port, tc, _ = bl.start_tiercache(run, args.binary, db, policies,
                                            redis_url=f"redis://127.0.0.1:{redis_port}")
        bl.pipelined_gets(tc_port, args.keys, what="warm-up GET through TierCache")

        lead, fault = 3.0, args.fault
        total = lead + fault + 6.0
        print(f"{args.readers} readers x {args.rate:.0f} GET/s on {args.keys} keys read before the fault; "
              f"fault {fault:.0f} s after {lead:.0f} s; type ttl 2s, max_stale 1m")
        print(f"{'scenario':<11}{'before':>9}{'fail':>6}{'during':>9}{'fail':>6}{'p99 ms':>9}{'after':>9}"
              f"{'fail':>6}{'recover s':>12}")

        def scenario(name, inject, heal, recovered):
            """Steady load; `inject` after the lead, `heal` after the fault; then waits until `recovered()`."""
            def during():
                t0 = time.monotonic()
                time.sleep(lead)
                inject()
                start = time.monotonic()
                time.sleep(fault)
                heal()
                end = time.monotonic()
                while not recovered():
                    time.sleep(0.05)
                return t0, start, end, time.monotonic() - end

            results, (t0, start, end, recovery) = run_load(
                tc_port, args.readers, args.keys, args.rate, total, during)
            results = [(s - t0, lat, ok) for s, lat, ok in results]
            summarize(name, results, start - t0, end - t0, recovery)

        def kill_redis():
            redis.send_signal(signal.SIGKILL)
            redis.wait()

        scenario("redis-kill", kill_redis, lambda: run.start("redis-server-again", redis_argv, redis_port),
                 lambda: stats(args.binary, tc_port).get("tiers", {}).get("l2", {}).get("status") == "up")

        def execute(*statements):
            conn = sqlite3.connect(db, timeout=5)
            for statement, *parameters in statements:
                conn.execute(statement, parameters)
            conn.commit()
            conn.close()

        def database_recovered():
            # The breaker closed and a key changed during the fault reads fresh (its L1 entry is past its ttl by
            # now, so the read loads it).
            breaker = stats(args.binary, tc_port).get("resilience", {}).get("breakers", {}).get("database", {})
            with bl.Client(tc_port) as c:
                return breaker.get("state") == "closed" and c.call("GET", bl.key(0)) == b"changed"

        scenario("db-failure", lambda: execute(("ALTER TABLE kv RENAME TO kv_gone",)),
                 lambda: execute(("ALTER TABLE kv_gone RENAME TO kv",),
                                 ("UPDATE kv SET v = 'changed' WHERE id = ?", "%012d" % 0)),
                 database_recovered)
        end_stats = stats(args.binary, tc_port)
        item = end_stats.get("types", {}).get("item", {})
        breaker = end_stats.get("resilience", {}).get("breakers", {}).get("database", {})
        print(f"\nitem: stale_hits {item.get('stale_hits')}, load_errors {item.get('load_errors')}; database breaker: "
              f"opened {breaker.get('opened')}, closed {breaker.get('closed')}, rejected {breaker.get('rejected')}; "
              f"L2 channel losses {end_stats.get('tiers', {}).get('l2', {}).get('channel_losses')}")
    finally:
        run.close()


if __name__ == "__main__":
    main()
