#!/usr/bin/env python3
"""Soak: TierCache under 50 clients of mixed commands for a set time, with Redis and the database restarted during
the run, sampling the process once a second, then checking every acknowledged write against the database.

Clients (threads, redis-py with its defaults but no retries, plus raw sockets): GET, MGET, SET, DEL, QUERY,
SQL.EXEC and MULTI/EXEC on keys each client owns, bad input (unknown commands, wrong arity, malformed RESP on
throwaway connections), reconnects, and a few slow readers that pipeline hundreds of GETs and read them slowly.
Redis is killed (SIGKILL) and started again on the same port at a third and two thirds of the run; with
--postgres the PostgreSQL server is restarted (fast shutdown) at half of it.

Once a second: the proxy's RSS (anonymous and file-backed), open file descriptors, threads (/proc), L1 bytes and
error counts (STATS).
Before the run, the same workload primes the proxy for --prime seconds (10) and leaves: the proxy opens what it
keeps while it runs (each SQLite reader its WAL at its first read, the database pools' connections as calls need
them), so the descriptor baseline, taken after the priming clients have gone, is the proxy's own working set and
the end's comparison counts what clients leave behind.
At the end: RSS growth after the warm-up (the first 5 minutes, or a sixth of a shorter run), file descriptors
after the clients left against that baseline, acknowledged writes missing from the database
(a write whose connection broke before its answer may or may not have happened: either outcome is accepted),
and whether the process is still alive.

Usage: bench/soak.py [--binary PATH] [--duration 30m] [--clients 50] [--prime 10] [--postgres]
"""
import argparse
import collections
import json
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS_PER_CLIENT = 200
SLOW_READERS = 3
POLICY = """\
types:
  soak:
    load: SELECT data FROM soak_items WHERE id = ?
    store: INSERT INTO soak_items (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data
    delete: DELETE FROM soak_items WHERE id = ?
    tables: [soak_items]
    ttl: 1m
"""


def parse_duration(text):
    match = re.fullmatch(r"(\d+)(s|m|h)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"a duration like 90s, 30m or 1h; got {text!r}")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


class Ledger:
    """What each key may hold in the database: the last acknowledged value (None: deleted), or, after a write
    whose answer never came, any of the values it may have left."""

    def __init__(self):
        self.possible = {}
        self.acknowledged = 0
        self.ambiguous = 0

    def acked(self, key, value):
        self.possible[key] = {value}
        self.acknowledged += 1

    def unknown(self, key, value):
        self.possible.setdefault(key, {None}).add(value)
        self.ambiguous += 1


class Client(threading.Thread):
    def __init__(self, number, port, stop, counts, errors, seed):
        super().__init__(daemon=True)
        self.number, self.port, self.stop = number, port, stop
        self.counts, self.errors = counts, errors
        self.random = random.Random(seed)
        self.ledger = Ledger()
        self.connection = None
        self.lock = threading.Lock()

    def key(self):
        return f"c{self.number}-{self.random.randrange(KEYS_PER_CLIENT)}"

    def connect(self):
        self.connection = redis.Redis(port=self.port, retry=None, socket_timeout=10, socket_connect_timeout=5,
                                      single_connection_client=True)

    def count(self, what, error=None):
        with self.lock:
            self.counts[what] += 1
            if error is not None:
                message = re.sub(r"\d+", "N", str(error))[:90]
                self.errors[f"{what}: {type(error).__name__}: {message}"] += 1

    def run(self):
        self.connect()
        while not self.stop.is_set():
            roll = self.random.random()
            try:
                if roll < 0.35:
                    self.connection.get("soak:" + self.key())
                    self.count("GET")
                elif roll < 0.45:
                    self.connection.mget(["soak:" + self.key() for _ in range(8)])
                    self.count("MGET")
                elif roll < 0.65:
                    self.write_set()
                elif roll < 0.70:
                    self.write_delete()
                elif roll < 0.78:
                    self.connection.execute_command("QUERY", "SELECT count(*) FROM soak_items WHERE id LIKE ?",
                                                    f"c{self.number}-%")
                    self.count("QUERY")
                elif roll < 0.83:
                    self.write_sql()
                elif roll < 0.88:
                    self.write_multi()
                elif roll < 0.93:
                    self.bad_input()
                elif roll < 0.95:
                    self.connection.close()
                    self.connect()
                    self.count("reconnect")
                else:
                    self.connection.ping()
                    self.count("PING")
            except (redis.ConnectionError, redis.TimeoutError) as error:
                self.count("connection lost", error)
                self.connection.close()
                time.sleep(0.2)
                self.connect()
            except redis.ResponseError as error:
                self.count("error reply", error)

    def guarded_write(self, what, key, value, call):
        """Runs a write: acknowledged, refused (nothing happened), or unanswered (either may have)."""
        try:
            call()
        except redis.ResponseError:
            raise
        except (redis.ConnectionError, redis.TimeoutError):
            self.ledger.unknown(key, value)
            raise
        self.ledger.acked(key, value)
        self.count(what)

    def write_set(self):
        key = self.key()
        value = f"v{self.random.randrange(10 ** 9)}"
        self.guarded_write("SET", key, value, lambda: self.connection.set("soak:" + key, value))

    def write_delete(self):
        key = self.key()
        self.guarded_write("DEL", key, None, lambda: self.connection.delete("soak:" + key))

    def write_sql(self):
        """An UPDATE: it changes the row only if there is one, and says so."""
        key = self.key()
        value = f"x{self.random.randrange(10 ** 9)}"
        try:
            changed = self.connection.execute_command(
                "SQL.EXEC", "UPDATE soak_items SET data = ? WHERE id = ?", value, key)
        except (redis.ConnectionError, redis.TimeoutError):
            self.ledger.unknown(key, value)
            raise
        if changed == 1:
            self.ledger.acked(key, value)
        elif None in self.ledger.possible.get(key, {None}):
            self.ledger.possible[key] = {None}  # no row: an unanswered write before did not happen
        self.count("SQL.EXEC")

    def write_multi(self):
        key = self.key()
        value = f"m{self.random.randrange(10 ** 9)}"
        pipe = self.connection.pipeline(transaction=True)
        pipe.set("soak:" + key, value).get("soak:" + key)
        self.guarded_write("MULTI", key, value, pipe.execute)

    def bad_input(self):
        kind = self.random.randrange(3)
        if kind == 0:
            try:
                self.connection.execute_command("NOSUCHCOMMAND", "x")
            except redis.ResponseError:
                pass
        elif kind == 1:
            try:
                self.connection.execute_command("GET")
            except redis.ResponseError:
                pass
        else:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw:
                raw.sendall(b"*2\r\n$3\r\nGET\r\n$-7\r\nxx\r\n")
                try:
                    raw.recv(4096)
                except OSError:
                    pass
        self.count("bad input")


class SlowReader(threading.Thread):
    """Pipelines hundreds of GETs and reads the replies a little at a time."""

    def __init__(self, port, stop, counts):
        super().__init__(daemon=True)
        self.port, self.stop, self.counts = port, stop, counts

    def run(self):
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=30) as raw:
                    raw.sendall(b"".join(bl.resp("GET", f"soak:c0-{i % KEYS_PER_CLIENT}") for i in range(500)))
                    received = 0
                    while received < 500 * 5 and not self.stop.is_set():
                        chunk = raw.recv(512)
                        if not chunk:
                            break
                        received += len(chunk)
                        time.sleep(0.01)
                self.counts["slow reader batch"] += 1
            except OSError:
                time.sleep(0.5)


def proc_status(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile", "Threads"):
                values[name] = int(rest.split()[0])
    values["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return values


def fd_targets(pid):
    targets = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    return targets


def socket_peer(target, listen_port):
    """`(local -> remote)` of a TCP socket descriptor's target (`socket:[inode]`), from /proc/net/tcp, and whether
    it is a client's connection to `listen_port`."""
    match = re.fullmatch(r"socket:\[(\d+)\]", target)
    if not match:
        return "", False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[9] == match.group(1):
                    local, remote = (int(text.rsplit(":", 1)[1], 16) for text in fields[1:3])
                    # State 0A is the listening socket itself.
                    return f"(port {local} -> {remote})", local == listen_port and fields[3] != "0A"
    return "(not TCP)", False


def stats(port):
    try:
        client = redis.Redis(port=port, protocol=3, retry=None, socket_timeout=5)
        tree = client.execute_command("STATS")
        client.close()
        decode = lambda v: {k.decode(): decode(x) for k, x in v.items()} if isinstance(v, dict) else v  # noqa: E731
        return decode(tree)
    except (redis.RedisError, OSError):
        return None


def start_redis(port, directory):
    return subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", directory], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "tiercache"))
    parser.add_argument("--duration", type=parse_duration, default=parse_duration("30m"))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL (started here) instead of SQLite")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--prime", type=int, default=10, help="seconds of the same workload before the baseline")
    parser.add_argument("--samples", help="write each second's sample here, one JSON object a line")
    args = parser.parse_args()
    bl.require_binary(args.binary)
    work = tempfile.mkdtemp(prefix="tiercache-soak-")
    redis_port, port = bl.free_port(), bl.free_port()
    redis_server = start_redis(redis_port, work)
    pg_dir = database = None
    if args.postgres:
        out = subprocess.run([os.path.join(ROOT, "scripts", "postgres-server.sh"), "start"], check=True,
                             capture_output=True, text=True).stdout.split()
        pg_dir, database = out[0], out[1]
        subprocess.run(["psql", database, "-qc", "CREATE TABLE soak_items (id text PRIMARY KEY, data text)"],
                       check=True, capture_output=True)
    else:
        path = os.path.join(work, "soak.db")
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE soak_items (id TEXT PRIMARY KEY, data TEXT)")
        database = f"sqlite:{path}"
    os.makedirs(os.path.join(work, "policies"))
    with open(os.path.join(work, "policies", "soak.yaml"), "w") as f:
        f.write(POLICY)
    log = open(os.path.join(work, "tiercache.log"), "w")
    proxy = subprocess.Popen(
        [args.binary, "serve", "--listen", f"127.0.0.1:{port}", "--database", database, "--policies",
         os.path.join(work, "policies"), "--redis", f"redis://127.0.0.1:{redis_port}", "--sql-exec", "on",
         "--log-level", "warning"], stdout=log, stderr=log, env=dict(os.environ, TIERCACHE_ADMIN_LISTEN="off"))
    samples = []
    sample_file = open(args.samples, "w", buffering=1) if args.samples else None
    try:
        deadline = time.time() + 30
        while not bl.ping(port):
            if time.time() > deadline or proxy.poll() is not None:
                raise SystemExit("tiercache did not start:\n" + bl.tail(os.path.join(work, "tiercache.log")))
            time.sleep(0.1)
        primers = prime(args, port, proxy.pid)
        baseline = proc_status(proxy.pid)
        baseline_fds = fd_targets(proxy.pid)
        stop = threading.Event()
        counts, errors = collections.Counter(), collections.Counter()
        clients = [Client(n, port, stop, counts, errors, args.seed * 1000 + n) for n in range(args.clients)]
        readers = [SlowReader(port, stop, counts) for _ in range(SLOW_READERS)]
        print(f"soak: {args.clients} clients + {SLOW_READERS} slow readers for {args.duration}s on "
              f"{'PostgreSQL' if args.postgres else 'SQLite'}, Redis restarted at 1/3 and 2/3"
              f"{', PostgreSQL at 1/2' if args.postgres else ''}; baseline {baseline}", flush=True)
        started = time.time()
        for thread in clients + readers:
            thread.start()
        events = sorted([(args.duration / 3, "redis"), (2 * args.duration / 3, "redis")]
                        + ([(args.duration / 2, "postgres")] if args.postgres else []))
        while time.time() - started < args.duration and proxy.poll() is None:
            elapsed = time.time() - started
            while events and elapsed >= events[0][0]:
                _, what = events.pop(0)
                if what == "redis":
                    redis_server.send_signal(signal.SIGKILL)
                    redis_server.wait()
                    time.sleep(3)
                    redis_server = start_redis(redis_port, work)
                else:
                    # With its log to a file: the new server must not hold a pipe of ours open.
                    subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl",
                                    f"--pgdata={pg_dir}/data", f"--log={pg_dir}/server.log", "--wait", "--silent",
                                    "restart", "-m", "fast"],
                                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, timeout=120)
                print(f"  {elapsed:7.0f}s restarted {what}", flush=True)
            sample = proc_status(proxy.pid)
            tree = stats(port)
            if tree:
                sample["l1_bytes"] = tree["tiers"]["l1"]["bytes"]
                sample["error_replies"] = tree["server"]["error_replies"]
            sample["t"] = elapsed
            samples.append(sample)
            if sample_file:
                sample_file.write(json.dumps(sample) + "\n")
            if len(samples) % 60 == 0:
                print(f"  {elapsed:7.0f}s rss {sample['VmRSS'] / 1024:.1f} MB, fds {sample['fds']}, threads "
                      f"{sample['Threads']}, l1 {sample.get('l1_bytes', 0):,} B, ops {sum(counts.values()):,}",
                      flush=True)
            time.sleep(max(0.0, 1 - (time.time() - started - elapsed)))
        stop.set()
        for thread in clients + readers:
            thread.join(timeout=30)
        for client in clients:
            client.connection.close()
        alive = proxy.poll() is None
        fds_after = None
        if alive:
            for _ in range(100):  # the clients' sockets closing
                fds_after = proc_status(proxy.pid)["fds"]
                if fds_after <= baseline["fds"]:
                    break
                time.sleep(0.1)
        lost = check_writes(clients + primers, database, args.postgres)
        report(args, samples, baseline, fds_after, counts, errors, clients, lost, alive, proxy)
        if alive:
            now = fd_targets(proxy.pid)
            clients_open = sum(1 for target in now.values() if socket_peer(target, port)[1])
            print(f"client connections still open after the clients left: {clients_open} (target 0)")
            if clients_open:
                with redis.Redis(port=port, retry=None, socket_timeout=5) as admin:
                    for line in admin.execute_command("CLIENT", "LIST").decode().splitlines():
                        if "cmd=client" not in line:
                            print("  " + line)
            new = sorted(set(now.items()) - set(baseline_fds.items()))
            if new:
                print("descriptors open now that were not at the baseline (Redis' and the database's connections "
                      "come back as new descriptors after their restarts):")
                for fd, target in new:
                    print(f"  {fd} -> {target} {socket_peer(target, port)[0]}")
    finally:
        if sample_file:
            sample_file.close()
        if proxy.poll() is None:
            proxy.send_signal(signal.SIGTERM)
            proxy.wait(timeout=30)
        redis_server.send_signal(signal.SIGKILL)
        redis_server.wait()
        if pg_dir:
            subprocess.run([os.path.join(ROOT, "scripts", "postgres-server.sh"), "stop", pg_dir])


def prime(args, port, pid):
    """Runs the workload for `args.prime` seconds with clients of their own (numbered after the run's, so their
    keys are theirs), then waits until the proxy has closed their connections. Returns them: their acknowledged
    writes are checked at the end too."""
    stop = threading.Event()
    counts, errors = collections.Counter(), collections.Counter()
    primers = [Client(args.clients + n, port, stop, counts, errors, args.seed * 1000 + args.clients + n)
               for n in range(args.clients)]
    for client in primers:
        client.start()
    time.sleep(args.prime)
    stop.set()
    for client in primers:
        client.join(timeout=30)
        client.connection.close()
    print(f"primed: {sum(counts.values()):,} operations in {args.prime}s", flush=True)
    for _ in range(100):
        if not any(socket_peer(target, port)[1] for target in fd_targets(pid).values()):
            break
        time.sleep(0.1)
    time.sleep(1)
    return primers


def check_writes(clients, database, postgres):
    if postgres:
        out = subprocess.run(["psql", database, "-AtF", "\t", "-c", "SELECT id, data FROM soak_items"],
                             check=True, capture_output=True, text=True).stdout
        rows = dict(line.split("\t", 1) for line in out.splitlines() if line)
    else:
        with sqlite3.connect(database.removeprefix("sqlite:")) as connection:
            rows = dict(connection.execute("SELECT id, data FROM soak_items"))
    lost = []
    for client in clients:
        for key, possible in client.ledger.possible.items():
            if rows.get(key) not in possible:
                lost.append((key, rows.get(key), possible))
    return lost


def verdict(met):
    """A target's outcome, computed from the figures printed beside it."""
    return "met" if met else "NOT met"


def report(args, samples, baseline, fds_after, counts, errors, clients, lost, alive, proxy):
    warmup = min(300, args.duration / 6)
    after = [s for s in samples if s["t"] >= warmup]
    rss_start = after[0]["VmRSS"] if after else baseline["VmRSS"]
    rss_end = statistics.median(s["VmRSS"] for s in after[-10:]) if after else rss_start
    print()
    print(f"ran {samples[-1]['t'] if samples else 0:.0f}s, {sum(counts.values()):,} operations")
    for what, number in counts.most_common():
        print(f"  {what:<20}{number:>12,}")
    print("error replies and lost connections (the most frequent):")
    for what, number in errors.most_common(8):
        print(f"  {number:>8,}  {what}")
    print(f"RSS after warm-up ({warmup:.0f}s): {rss_start / 1024:.1f} MB; at the end {rss_end / 1024:.1f} MB; "
          f"growth {(rss_end - rss_start) / rss_start * 100:+.1f} % (target <= 5 %: "
          f"{verdict((rss_end - rss_start) / rss_start <= 0.05)}); peak "
          f"{max(s['VmRSS'] for s in samples) / 1024:.1f} MB")
    if after and "RssAnon" in after[0]:
        # Anonymous memory is the heap and the stacks; file-backed is the binary's and libraries' code paged in.
        for part in ("RssAnon", "RssFile"):
            start, end = after[0][part], statistics.median(s[part] for s in after[-10:])
            print(f"  of which {'anonymous' if part == 'RssAnon' else 'file-backed'}: {start / 1024:.1f} MB -> "
                  f"{end / 1024:.1f} MB ({(end - start) / 1024:+.1f} MB)")
    print(f"file descriptors: baseline {baseline['fds']}, peak {max(s['fds'] for s in samples)}, after the clients "
          f"left {fds_after} (target: back to the baseline: "
          f"{verdict(fds_after is not None and fds_after <= baseline['fds'])})")
    print(f"threads: baseline {baseline['Threads']}, peak {max(s['Threads'] for s in samples)}")
    l1 = [s["l1_bytes"] for s in samples if "l1_bytes" in s]
    if l1:
        print(f"L1 bytes: last {l1[-1]:,}, peak {max(l1):,}")
    acknowledged = sum(c.ledger.acknowledged for c in clients)
    ambiguous = sum(c.ledger.ambiguous for c in clients)
    print(f"writes: {acknowledged:,} acknowledged, {ambiguous:,} unanswered (either outcome accepted), "
          f"{len(lost)} acknowledged writes lost (target 0: {verdict(not lost)})")
    for key, found, possible in lost[:10]:
        print(f"  lost: {key} holds {found!r}, expected one of {sorted(map(repr, possible))}")
    print(f"crashes: {0 if alive else 1} (process {'alive' if alive else f'exited with {proxy.returncode}'})")


if __name__ == "__main__":
    main()
