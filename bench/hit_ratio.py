#!/usr/bin/env python3
"""L1 hit ratios (issue 18): the same seeded traces replayed through a running TierCache, black-box, and through
libCacheSim's policies (PyPI `libcachesim`: LRU, ARC, Sieve, S3-FIFO, W-TinyLFU) at the same size; one table.

TierCache runs without Redis, over an SQLite table holding every key of the trace, with one data type whose TTL
outlives the run, so each GET is an L1 hit or a database load. Requests go one at a time over one connection (a
pipeline would let GETs of the same key overlap and coalesce, which no simulator does), and the hit ratio is the
difference of `STATS` L1 hits and misses around each part of the trace. Sizes: entry counts with
`--l1-max-entries` (and a memory bound too large to matter) for the equal-count traces; bytes with
`--l1-max-memory` for the mixed-size trace, where libCacheSim's objects weigh what TierCache charges an entry
(key, encoded value and the per-entry overhead).

Traces (seeded; 100,000 keys unless said):
  zipf-0.99 / zipf-0.8   Zipf over the keys, at 1 % and 10 % of the keys cached
  scan                  Zipf 0.99 with a one-off sequential scan of 10x the cache in the middle; also the hit ratio
                        of the 10,000 requests before and after the scan
  shifting              Zipf 0.99 whose popular keys change every 100,000 requests
  sizes                 Zipf 0.99 over 20,000 keys of 1 B-64 kB values (log-uniform), byte-bounded at 1 % and 10 %
                        of their total

Usage: bench/hit_ratio.py [--binary PATH] [--requests 1000000] [--trace NAME ...] [--tiercache-lru]
Build first: swift build -c release --static-swift-stdlib --product tiercache
"""
import argparse
import bisect
import math
import os
import random
import socket
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

try:
    import libcachesim
except ImportError:
    raise SystemExit("libcachesim not installed: pip install libcachesim")

KEYS = 100_000
SIZED_KEYS = 20_000
SMALL_VALUE = b"v" * 8
SIMULATED = [("LRU", libcachesim.LRU), ("ARC", libcachesim.ARC), ("Sieve", libcachesim.Sieve),
             ("S3-FIFO", libcachesim.S3FIFO), ("W-TinyLFU", libcachesim.WTinyLFU)]
# What TierCache charges an entry beyond its key and encoded value (L1Cache.Configuration.entryOverhead).
ENTRY_OVERHEAD = 96


class Zipf:
    """Ranks drawn with weight 1/r^alpha, mapped to keys through a seeded permutation."""

    def __init__(self, keys, alpha, rng):
        total = 0.0
        self.cumulative = []
        for rank in range(1, keys + 1):
            total += 1.0 / rank ** alpha
            self.cumulative.append(total)
        self.total = total
        self.names = list(range(keys))
        rng.shuffle(self.names)

    def draw(self, rng):
        return self.names[bisect.bisect_left(self.cumulative, rng.random() * self.total)]


def zipf_trace(keys, alpha, requests, seed):
    rng = random.Random(seed)
    zipf = Zipf(keys, alpha, rng)
    return [zipf.draw(rng) for _ in range(requests)]


def scan_trace(keys, cache, requests, seed):
    """Zipf 0.99 with a sequential scan of 10x the cache at the middle; returns the trace and the request
    positions of the scan (start, end)."""
    stream = zipf_trace(keys, 0.99, requests, seed)
    middle = requests // 2
    start = random.Random(seed + 1).randrange(keys)
    scan = [(start + i) % keys for i in range(10 * cache)]
    return stream[:middle] + scan + stream[middle:], (middle, middle + len(scan))


def shifting_trace(keys, requests, seed, period=100_000):
    """Zipf 0.99 whose rank-to-key mapping is reshuffled every `period` requests."""
    rng = random.Random(seed)
    zipf = Zipf(keys, 0.99, rng)
    trace = []
    for index in range(requests):
        if index and index % period == 0:
            rng.shuffle(zipf.names)
        trace.append(zipf.draw(rng))
    return trace


def value_sizes(keys, seed):
    rng = random.Random(seed)
    return [max(1, min(65536, int(math.exp(rng.uniform(0, math.log(65536)))))) for _ in range(keys)]


def key_name(index):
    return b"key:%012d" % index


def encoded_length(size):
    return len(b"$%d\r\n" % size) + size + 2


# --- libCacheSim ---------------------------------------------------------------------------------------------


def simulate(make, size, trace, weights=None, marks=()):
    """Hit ratio of the whole trace, and of each (start, end) range in `marks`."""
    cache = make(cache_size=size)
    hits = [0] * len(trace)
    request = libcachesim.Request()
    for index, key in enumerate(trace):
        request.obj_id = key + 1
        request.obj_size = weights[key] if weights else 1
        hits[index] = 1 if cache.get(request) else 0
    return sum(hits) / len(trace), [sum(hits[a:b]) / max(1, b - a) for a, b in marks]


# --- TierCache -----------------------------------------------------------------------------------------------


def make_database(path, keys, sizes=None):
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE kv (id TEXT PRIMARY KEY, v TEXT NOT NULL)")
    rows = (("%012d" % i, ("v" * sizes[i]) if sizes else SMALL_VALUE.decode()) for i in range(keys))
    connection.executemany("INSERT INTO kv VALUES (?, ?)", rows)
    connection.commit()
    connection.close()


class Replayer:
    """GETs one at a time over a raw socket; reads a bulk reply without parsing more than it must."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def get(self, key):
        self.sock.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key))
        while b"\r\n" not in self.buffer:
            self.buffer += self.sock.recv(1 << 20)
        header, _, rest = self.buffer.partition(b"\r\n")
        if header[:1] != b"$" or header == b"$-1":
            raise SystemExit(f"GET {key!r}: unexpected reply {header[:80]!r}")
        length = int(header[1:])
        while len(rest) < length + 2:
            rest += self.sock.recv(1 << 20)
        self.buffer = rest[length + 2:]

    def close(self):
        self.sock.close()


def l1_counts(binary, port):
    tier = benchlib.stats(binary, port)["tiers"]["l1"]
    return tier["hits"], tier["misses"]


def replay(binary, size_flags, trace, keys, sizes, eviction, marks=()):
    """Hit ratio of the trace through a new TierCache, and of each mark range."""
    run = benchlib.Run("tiercache-hit-ratio-")
    try:
        database = run.path("kv.db")
        make_database(database, keys, sizes)
        policies = benchlib.write_policy(run.path("policies"), l1=True, ttl="30d")
        port, _, _ = benchlib.start_tiercache(
            run, binary, database, policies, extra_args=list(size_flags) + ["--l1-eviction", eviction])
        client = Replayer(port)
        boundaries = sorted({0, len(trace)} | {m for mark in marks for m in mark})
        counts = {}
        for start, end in zip(boundaries, boundaries[1:]):
            before = l1_counts(binary, port)
            for key in trace[start:end]:
                client.get(key_name(key))
            after = l1_counts(binary, port)
            counts[(start, end)] = (after[0] - before[0], after[1] - before[1])
        client.close()

        def ratio(a, b):
            hits = sum(h for (s, e), (h, _) in counts.items() if s >= a and e <= b)
            total = sum(h + m for (s, e), (h, m) in counts.items() if s >= a and e <= b)
            return hits / max(1, total)

        return ratio(0, len(trace)), [ratio(a, b) for a, b in marks]
    finally:
        run.close()


# --- The table -----------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=benchlib.DEFAULT_BINARY)
    parser.add_argument("--requests", type=int, default=1_000_000, help="requests per trace (the scan's added)")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--trace", action="append",
                        choices=["zipf-0.99", "zipf-0.8", "scan", "shifting", "sizes"])
    parser.add_argument("--tiercache-lru", action="store_true", help="also replay through TierCache with LRU")
    args = parser.parse_args()
    benchlib.require_binary(args.binary)
    chosen = args.trace or ["zipf-0.99", "zipf-0.8", "scan", "shifting", "sizes"]

    cases = []  # (label, trace, keys, sizes, size flags, simulator size, weights, marks)
    for name in chosen:
        if name.startswith("zipf-"):
            alpha = float(name.split("-")[1])
            trace = zipf_trace(KEYS, alpha, args.requests, args.seed)
            for percent in (1, 10):
                entries = KEYS * percent // 100
                cases.append((f"{name} {percent}%", trace, KEYS, None, entry_flags(entries), entries, None, []))
        elif name == "scan":
            entries = KEYS // 100
            trace, (start, end) = scan_trace(KEYS, entries, args.requests, args.seed)
            marks = [(start - 10_000, start), (end, end + 10_000)]
            cases.append(("scan 1%", trace, KEYS, None, entry_flags(entries), entries, None, marks))
        elif name == "shifting":
            entries = KEYS // 100
            trace = shifting_trace(KEYS, args.requests, args.seed)
            cases.append(("shifting 1%", trace, KEYS, None, entry_flags(entries), entries, None, []))
        elif name == "sizes":
            sizes = value_sizes(SIZED_KEYS, args.seed)
            weights = [len(key_name(i)) + encoded_length(sizes[i]) + ENTRY_OVERHEAD for i in range(SIZED_KEYS)]
            trace = zipf_trace(SIZED_KEYS, 0.99, args.requests, args.seed)
            for percent in (1, 10):
                budget = sum(weights) * percent // 100
                flags = ["--l1-max-memory", str(budget)]
                cases.append((f"sizes {percent}% bytes", trace, SIZED_KEYS, sizes, flags, budget, weights, []))

    evictions = ["w-tinylfu"] + (["lru"] if args.tiercache_lru else [])
    header = f"{'trace':<18}" + "".join(f"{name:>10}" for name, _ in SIMULATED)
    header += "".join(f"{'TC ' + e:>14}" for e in evictions) + f"{'best sim':>10}{'TC-best':>9}"
    rows = []
    notes = []
    for label, trace, keys, sizes, flags, size, weights, marks in cases:
        started = time.time()
        simulated = {name: simulate(make, size, trace, weights, marks) for name, make in SIMULATED}
        measured = {e: replay(args.binary, flags, trace, keys, sizes, e, marks) for e in evictions}
        best = max(r for r, _ in simulated.values())
        row = f"{label:<18}" + "".join(f"{simulated[n][0]:>10.3f}" for n, _ in SIMULATED)
        row += "".join(f"{measured[e][0]:>14.3f}" for e in evictions)
        row += f"{best:>10.3f}{measured['w-tinylfu'][0] - best:>+9.3f}"
        rows.append(row)
        print(row + f"   ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
        if marks:
            parts = [f"{n} {simulated[n][1][0]:.3f}->{simulated[n][1][1]:.3f}" for n, _ in SIMULATED]
            parts += [f"TC {e} {measured[e][1][0]:.3f}->{measured[e][1][1]:.3f} "
                      f"({measured[e][1][1] / max(1e-9, measured[e][1][0]):.0%} of before)" for e in evictions]
            notes.append(f"{label}: hit ratio of the 10,000 requests before -> after the scan: " + ", ".join(parts))

    print(f"\nL1 hit ratio, {args.requests:,} requests per trace, seed {args.seed}; libCacheSim {libcachesim.__version__} "
          f"policies at the same size; TC = TierCache (default shards), replayed black-box")
    print(header)
    for row in rows:
        print(row)
    for note in notes:
        print(note)


def entry_flags(entries):
    return ["--l1-max-entries", str(entries), "--l1-max-memory", "4g"]


if __name__ == "__main__":
    main()
