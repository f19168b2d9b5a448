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

A first row runs the same clients against redis-server holding the same keys, with no fault: the p99 floor that
this machine and these clients set. The readers share one asyncio process per two cores; at 50 GETs per second
each (2,500/s) they stay well under a core, where 200/s saturated the client (p50 4 ms against redis-server alone).

Usage: bench/chaos.py [--binary PATH] [--readers 50] [--keys 1000] [--fault 5] [--rate 50]
"""
import argparse
import asyncio
import bisect
import itertools
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



async def read_reply(stream):
    """One reply to a GET: True for a value, False for nil or an error line."""
    line = await stream.readline()
    if not line:
        raise OSError("closed")
    if line.startswith(b"$"):
        length = int(line[1:-2])
        if length >= 0:
            await stream.readexactly(length + 2)
        return length >= 0
    return False


def key_chooser(keys, zipf):
    """A function returning key numbers: uniform over `keys`, or Zipf-distributed with exponent `zipf` (> 0),
    key 0 the most read."""
    if zipf <= 0:
        return lambda: random.randrange(keys)
    weights = [1.0 / (k + 1) ** zipf for k in range(keys)]
    cumulative = list(itertools.accumulate(weights))
    total = cumulative[-1]
    return lambda: min(keys - 1, bisect.bisect_left(cumulative, random.random() * total))


async def reader(port, keys, rate, stop_at, results, choose):
    """One connection GETting keys (numbers from `choose`) at `rate` per second until `stop_at`; appends (start
    time, latency s, ok) per request to `results`. Reconnects after a failure."""
    interval = 1.0 / rate
    stream = sink = None
    next_at = time.monotonic() + random.random() * interval  # spread the readers over the interval
    while time.monotonic() < stop_at:
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        next_at += interval
        if next_at < time.monotonic():
            next_at = time.monotonic()
        started = time.monotonic()
        ok = False
        try:
            if stream is None:
                stream, sink = await asyncio.open_connection("127.0.0.1", port)
                sink.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sink.write(bl.resp("GET", bl.key(choose())))
            ok = await asyncio.wait_for(read_reply(stream), timeout=5)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            if sink is not None:
                sink.close()
            stream = sink = None
        results.append((started, time.monotonic() - started, ok))
    if sink is not None:
        sink.close()


def reader_process(port, keys, rate, stop_at, connections, out, zipf=0.0):
    """`connections` readers on one asyncio loop: one process per core keeps the clients' own scheduling out of
    the latencies, where a process per reader (50 on 2 cores) added milliseconds to every p99."""
    random.seed(os.getpid())
    results = []
    choose = key_chooser(keys, zipf)

    async def run():
        await asyncio.gather(*(reader(port, keys, rate, stop_at, results, choose) for _ in range(connections)))

    asyncio.run(run())
    out.send(results)


def run_load(port, readers, keys, rate, seconds, during, zipf=0.0):
    """Runs the readers for `seconds`, calling during(t0) in this process meanwhile; returns all results and
    what during() returned."""
    stop_at = time.monotonic() + seconds
    pipes, procs = [], []
    processes = max(1, min(readers, (os.cpu_count() or 2) // 2))
    for index in range(processes):
        parent, child = mp.Pipe(duplex=False)
        connections = readers // processes + (1 if index < readers % processes else 0)
        p = mp.Process(target=reader_process, args=(port, keys, rate, stop_at, connections, child, zipf))
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

    # p99 before and after too: with many reader processes on few cores, the clients' own scheduling sets a floor.
    print(f"{name:<11}{len(before):>9,}{failures(before):>6}{p99(before):>8.2f}{len(during):>9,}{failures(during):>6}"
          f"{p99(during):>8.2f}{len(after):>9,}{failures(after):>6}{p99(after):>8.2f}{recovered_after:>12.2f}")


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
    parser.add_argument("--rate", type=float, default=50.0, help="GETs per second per reader (default: 50)")
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
        policies = bl.write_policy(run.path("policies"), ttl="2s", type_name="item", extra="    max_stale: 1m\n")
        tc_port, tc, _ = bl.start_tiercache(run, args.binary, db, policies,
                                            redis_url=f"redis://127.0.0.1:{redis_port}")
        bl.pipelined_gets(tc_port, args.keys, what="warm-up GET through TierCache")

        lead, fault = 3.0, args.fault
        total = lead + fault + 6.0
        print(f"{args.readers} readers x {args.rate:.0f} GET/s on {args.keys} keys read before the fault; "
              f"fault {fault:.0f} s after {lead:.0f} s; type ttl 2s, max_stale 1m")
        print(f"{'scenario':<11}{'before':>9}{'fail':>6}{'p99 ms':>8}{'during':>9}{'fail':>6}{'p99 ms':>8}"
              f"{'after':>9}{'fail':>6}{'p99 ms':>8}{'recover s':>12}")

        def scenario(name, inject, heal, recovered, port=tc_port):
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
                port, args.readers, args.keys, args.rate, total, during)
            results = [(s - t0, lat, ok) for s, lat, ok in results]
            summarize(name, results, start - t0, end - t0, recovery)

        # The peer: the same clients against redis-server holding the same keys, with no fault. Its p99 is the
        # floor this machine and these clients set; TierCache's are to be read against it.
        with bl.Client(redis_port) as c:
            for i in range(args.keys):
                c.call("SET", bl.key(i), "v" * 20)
        scenario("redis-server", lambda: None, lambda: None, lambda: True, port=redis_port)

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
