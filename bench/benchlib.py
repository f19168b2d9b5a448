"""Helpers shared by bench/l2_get.py, bench/write_path.py and bench/invalidation_lag.py (bench/l1_get.py keeps
its own copies).

Starting and stopping servers, a small pipelined RESP client, the SQLite table and policy file the benchmarks
use, running redis-benchmark, and reading TierCache's STATS. Not a script: import it from a script in bench/.
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
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BINARY = os.path.join(ROOT, ".build", "release", "tiercache")
BUILD_COMMAND = "swift build -c release --static-swift-stdlib --product tiercache"
VALUE = "xxx"  # redis-benchmark's default 3-byte payload (-d 3)
# Several TierCaches run side by side in a benchmark, and each admin listener would want 127.0.0.1:9680; a script
# that measures the admin listener passes --admin-listen (a flag wins over the variable).
os.environ.setdefault("TIERCACHE_ADMIN_LISTEN", "off")


def fail(message):
    raise SystemExit("error: " + message)


def require_tools(*tools):
    for tool, package in tools:
        if not shutil.which(tool):
            fail(f"{tool} not found: apt-get install {package}")


def require_binary(path):
    if not os.path.exists(path):
        fail(f"{path} not found: run `{BUILD_COMMAND}` first (or pass --binary)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def key(i):
    return "key:%012d" % i


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:]).rstrip()
    except OSError:
        return ""


# --- RESP ---------------------------------------------------------------------------------------------------


def resp(*args):
    """One command in RESP multibulk form (twemproxy does not accept inline commands)."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


class RespError(Exception):
    pass


class Client:
    """A minimal blocking RESP2 client: enough to pipeline commands and read their replies."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buf += chunk

    def _line(self):
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line, self.buf = self.buf[:end], self.buf[end + 2:]
                return line
            self._fill()

    def reply(self):
        """Next reply: bytes, int, None, list, or a RespError instance for an error reply (not raised)."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError(f"unexpected reply line {line[:80]!r}")

    def pipeline(self, commands, batch=1000):
        """Sends commands (tuples of arguments) in pipelined batches; returns every reply in order."""
        replies = []
        for start in range(0, len(commands), batch):
            chunk = commands[start:start + batch]
            self.sock.sendall(b"".join(resp(*c) for c in chunk))
            replies.extend(self.reply() for _ in chunk)
        return replies

    def call(self, *args):
        return self.pipeline([args])[0]


def ping(port):
    try:
        with Client(port, timeout=1) as c:
            return c.call("PING") == b"PONG"
    except (OSError, ConnectionError, ValueError):
        return False


def pipelined_gets(port, n, expected=VALUE, what="GET"):
    """GETs key:0…key:n-1 once over one pipelined connection; fails unless every reply is the expected value."""
    with Client(port) as c:
        replies = c.pipeline([("GET", key(i)) for i in range(n)])
    bad = [(key(i), r) for i, r in enumerate(replies) if r != expected.encode()]
    if bad:
        fail(f"{what}: {len(bad)} of {n} GETs did not return {expected!r}, e.g. {bad[0][0]} -> {bad[0][1]!r}")


def fill_redis(port, n, value=VALUE):
    with Client(port) as c:
        replies = c.pipeline([("SET", key(i), value) for i in range(n)])
    if any(r != b"OK" for r in replies):
        fail("filling redis-server failed: " + repr(next(r for r in replies if r != b"OK")))


def redis_info(port, section):
    with Client(port) as c:
        text = c.call("INFO", section).decode()
    info = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            info[k] = v
    return info


# --- processes ----------------------------------------------------------------------------------------------


class Run:
    """A temp directory and the processes started in it; close() stops them (by pid) and removes the directory."""

    def __init__(self, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.procs = []  # (name, Popen, log file)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def start(self, name, argv, port, timeout=30):
        """Starts argv with output to NAME.log and waits until it answers PING on port."""
        log_path = self.path(name + ".log")
        log = open(log_path, "w")
        try:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        except OSError as e:
            log.close()
            fail(f"cannot start {name} ({argv[0]}): {e}")
        self.procs.append((name, proc, log))
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                fail(f"{name} exited at startup with status {proc.returncode}.\n"
                     f"command: {' '.join(argv)}\n{name} said:\n{tail(log_path)}")
            if ping(port):
                return proc
            time.sleep(0.1)
        fail(f"{name} did not answer PING on port {port} within {timeout}s.\n{name} said:\n{tail(log_path)}")

    def stop(self, proc):
        for i, (_, p, log) in enumerate(self.procs):
            if p is proc:
                self._stop(p)
                log.close()
                del self.procs[i]
                return

    @staticmethod
    def _stop(p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def close(self):
        for _, p, _ in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p, log in self.procs:
            self._stop(p)
            log.close()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)


def start_redis(run, name="redis-server"):
    port = free_port()
    run.start(name, ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", run.dir], port)
    return port


# --- TierCache ----------------------------------------------------------------------------------------------


def make_database(path, n, value=VALUE):
    """Table kv(id, v) with ids 000000000000… (the part of key:… after the prefix). No PRAGMAs: TierCache
    sets the journal mode and synchronous level it uses when it opens the file."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE kv (id TEXT PRIMARY KEY, v TEXT NOT NULL)")
    conn.executemany("INSERT INTO kv VALUES (?, ?)", (("%012d" % i, value) for i in range(n)))
    conn.commit()
    conn.close()


def policy_yaml(ttl="1d", l1=None, l2=None, type_name="key", extra=""):
    """One type over kv (keys `key:<id>`, as make_database fills it), with `extra` settings lines appended;
    l1 and l2 are written only when given."""
    text = ("types:\n"
            f"  {type_name}:\n"
            "    prefix: key\n"
            "    load: SELECT v FROM kv WHERE id = ?\n"
            "    store: INSERT INTO kv(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v\n"
            "    delete: DELETE FROM kv WHERE id = ?\n"
            "    tables: [kv]\n"
            f"    ttl: {ttl}\n")
    for name, value in (("l1", l1), ("l2", l2)):
        if value is not None:
            text += f"    {name}: {'true' if value else 'false'}\n"
    return text + extra


def write_policy(directory, l1=None, l2=None, ttl="1d", type_name="key", extra=""):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "bench.yaml"), "w") as f:
        f.write(policy_yaml(ttl, l1, l2, type_name, extra))
    return directory


def start_tiercache(run, binary, database, policies, name="tiercache", redis_url=None, redis_prefix=None,
                    threads=None, extra_args=()):
    """Starts `tiercache serve`; the L2 flags are passed only when given, so a binary without them still runs
    the parts that need none. A refused flag ends the script with TierCache's own message."""
    port = free_port()
    argv = [binary, "serve", "--listen", f"127.0.0.1:{port}", "--database", f"sqlite:{database}",
            "--policies", policies, "--log-level", "warning"]
    if threads is not None:
        argv += ["--threads", str(threads)]
    if redis_url is not None:
        argv += ["--redis", redis_url]
    if redis_prefix is not None:
        argv += ["--redis-prefix", redis_prefix]
    argv += list(extra_args)
    try:
        proc = run.start(name, argv, port)
    except SystemExit as e:
        message = str(e)
        if "Unknown option" in message or "unknown option" in message.lower():
            message += ("\n(this TierCache binary does not accept one of the flags above; the L2 flags --redis and "
                        "--redis-prefix need a build with the L2 tier)")
        raise SystemExit(message)
    return port, proc, run.path(name + ".log")


def l2_ignored_note(log_path):
    """TierCache's own words if it said it ignores --redis (the L2 tier not being wired in that build)."""
    for line in tail(log_path, 200).splitlines():
        low = line.lower()
        if "redis" in low and ("ignor" in low or "not available" in low or "not used" in low):
            return line.strip()
    return None


def stats(binary, port):
    out = subprocess.run([binary, "stats", "--port", str(port), "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"`tiercache stats --json --port {port}` failed: {out.stderr.strip() or out.stdout.strip()}")
    return json.loads(out.stdout)


def command_line(stats_json, command):
    c = stats_json.get("commands", {}).get(command)
    if not c:
        return f"TierCache STATS for {command}: no {command} commands recorded"

    def us(field):
        v = c.get(field)
        return f"{v:.1f} µs" if isinstance(v, (int, float)) else "?"
    return (f"TierCache STATS for {command}: {c.get('count', 0):,} commands, p50 {us('p50_us')}, "
            f"p99 {us('p99_us')}, p99.9 {us('p99.9_us')}, max {us('max_us')}")


def l2_fields(node, path=""):
    """Every leaf under a key whose name contains 'l2' (any depth, any case), as (path, value) pairs.
    The JSON shape of the L2 counters is not final, so nothing more specific is assumed."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}" if path else str(k)
            if "l2" in str(k).lower():
                found.extend(_leaves(v, p))
            else:
                found.extend(l2_fields(v, p))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found.extend(l2_fields(v, f"{path}[{i}]"))
    return found


def _leaves(node, path):
    if isinstance(node, dict):
        return [x for k, v in node.items() for x in _leaves(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [x for i, v in enumerate(node) for x in _leaves(v, f"{path}[{i}]")]
    return [(path, node)]


def l2_counter(stats_json, name):
    """The L2 counter `name` (hits, misses): tiers.l2.<name> if present, else the first l2 leaf ending in it."""
    tier = stats_json.get("tiers", {}).get("l2")
    if isinstance(tier, dict) and isinstance(tier.get(name), (int, float)):
        return tier[name]
    for path, value in l2_fields(stats_json):
        if path.split(".")[-1] in (name, "l2_" + name) and isinstance(value, (int, float)):
            return value
    return None


def loads(stats_json, type_name="key"):
    """Backend loads for a type (types.<type>.loads), else all loads (backend.load.count)."""
    t = stats_json.get("types", {}).get(type_name, {})
    if isinstance(t.get("loads"), (int, float)):
        return t["loads"]
    return stats_json.get("backend", {}).get("load", {}).get("count")


def print_l2_fields(stats_json, indent="  "):
    fields = l2_fields(stats_json)
    if not fields:
        print(f"{indent}(no l2 fields in STATS)")
    for path, value in fields:
        print(f"{indent}{path} = {value}")


# --- redis-benchmark ----------------------------------------------------------------------------------------


def benchmark(port, test, requests, clients, pipeline, keyspace, name):
    """One redis-benchmark run of `test` (get, set) on key:__rand_int__; returns (requests/s, p99 ms)."""
    cmd = ["redis-benchmark", "-p", str(port), "-t", test, "-n", str(requests), "-c", str(clients),
           "-r", str(keyspace), "--csv"]
    if pipeline > 1:
        cmd += ["-P", str(pipeline)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        cols = [c.strip('"') for c in line.split(",")]
        if cols and cols[0] == test.upper():
            # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms",...
            return float(cols[1]), float(cols[6])
    fail(f"redis-benchmark against {name} (port {port}) gave no {test.upper()} result (status {out.returncode}):\n"
         f"{out.stdout}{out.stderr}")


# --- two builds, before and after --------------------------------------------------------------------------

GET_CASES = ("L1-P1", "L1-P16", "L2-P1", "L2-P16")


def builds_parser(doc, requests, requests_help):
    """The arguments of a script comparing two builds on the GET cases: --binary, --baseline, --requests, --case."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=DEFAULT_BINARY, help="the build to measure")
    parser.add_argument("--baseline", required=True, help="the build to compare with (e.g. before the change)")
    parser.add_argument("--requests", type=int, default=requests, help=f"{requests_help} (default: {requests})")
    parser.add_argument("--case", action="append", choices=GET_CASES,
                        help="measure only this case (repeatable; default: all four)")
    return parser


def builds_arguments(parser):
    """Parsed arguments of `builds_parser` (and any added), both builds checked; the cases as (tier, pipeline)."""
    args = parser.parse_args()
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    require_binary(args.binary)
    require_binary(args.baseline)
    cases = [(case.split("-P")[0], int(case.split("-P")[1])) for case in args.case or GET_CASES]
    return args, cases


def warm_to_hits(binary, port, keys, name="tiercache"):
    """Reads every key once (loading it), then again, and fails unless the second pass loaded nothing: after this
    a benchmark of GETs measures cache hits."""
    pipelined_gets(port, keys, what=f"warm-up pass of {name}")
    before = loads(stats(binary, port))
    pipelined_gets(port, keys, what=f"second pass of {name}")
    if loads(stats(binary, port)) != before:
        fail(f"{name} still loaded from the database on its second pass: the run would not measure hits")


def user_system_seconds(pid):
    """(user, system) CPU seconds a process (all its threads) has used so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid):
    """User + system CPU time a process (all its threads) has used so far, from /proc."""
    return sum(user_system_seconds(pid))


def alternate(targets, rounds, run_one):
    """Runs run_one(port, name) for every target in turn, for `rounds` rounds; returns {name: [results]}."""
    results = {name: [] for name, _ in targets}
    for _ in range(rounds):
        for name, port in targets:
            results[name].append(run_one(port, name))
    return results


def summary(runs, baseline=None):
    """Median requests/s and p99 of one target's runs, and the median and range of the per-round ratios
    against the baseline's runs of the same rounds."""
    rps = statistics.median(r[0] for r in runs)
    p99 = statistics.median(r[1] for r in runs)
    if baseline is None:
        return rps, p99, None, None
    ratios = [r[0] / b[0] for r, b in zip(runs, baseline)]
    return rps, p99, statistics.median(ratios), (min(ratios), max(ratios))
