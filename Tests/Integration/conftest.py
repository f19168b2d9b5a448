"""Fixtures for TierCache's integration tests: real proxy processes, real clients.

Run from the repository root:

    TIERCACHE_BIN=.build/debug/tiercache python3 -m pytest Tests/Integration -q

The binary comes from TIERCACHE_BIN, else `.build/debug/tiercache` under the repository root. Tests that need
`redis-cli` skip when it is missing, or fail when CI=true (a CI machine must have it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import urlparse, urlunparse

import pytest
import redis

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_POLICIES = REPO_ROOT / "ttl-policies"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

STARTUP_TIMEOUT = 20.0
SHUTDOWN_TIMEOUT = 10.0
SOCKET_TIMEOUT = 5.0

# The shipped data types with demo rows 1, 2, 3, … and what their row holds in the demo database
# (DemoDatabase.swift). The ninth, `key` (redis-benchmark's keys, ids of 12 digits), is BENCHMARK_TYPE.
SHIPPED_TYPES = [
    "user_sessions", "auth_tokens", "policy_decisions", "governance_rules",
    "static_config", "api_responses", "compliance_checks", "synthesis_results",
]
BENCHMARK_TYPE = "key"


def demo_value(type_name: str, i: int) -> Any:
    """The demo row `i` of a shipped type as GET returns it: bytes for one column, a dict for several (RESP3)."""
    if type_name == "user_sessions":
        return f'{{"user":"user-{i}","started_at":{1767225600 + i * 60}}}'.encode()
    if type_name == "auth_tokens":
        scopes = {0: "read", 1: "read write", 2: "admin"}[i % 3]
        return {b"user_id": f"user-{i}".encode(), b"scopes": scopes.encode(), b"expires_at": 1798761600 + i}
    if type_name == "policy_decisions":
        decision = "deny" if i % 4 == 0 else "allow"
        return f'{{"subject":"user-{i}","decision":"{decision}"}}'.encode()
    if type_name == "governance_rules":
        return f'{{"rule":"rule-{i}","effect":"require-review","version":1}}'.encode()
    if type_name == "static_config":
        return f'{{"key":"setting-{i}","value":{i}}}'.encode()
    if type_name == "api_responses":
        return f'{{"endpoint":"/v1/items/{i}","status":200,"body":"item {i}"}}'.encode()
    if type_name == "compliance_checks":
        status = "failed" if i % 5 == 0 else "passed"
        return {b"status": status.encode(), b"checked_at": 1767225600 + i}
    if type_name == "synthesis_results":
        return f'{{"job":{i},"summary":"synthesis of batch {i}"}}'.encode()
    raise KeyError(type_name)


# ---------------------------------------------------------------------------------------------------------------
# Binaries


def tiercache_binary() -> Path:
    configured = os.environ.get("TIERCACHE_BIN")
    path = Path(configured) if configured else REPO_ROOT / ".build" / "debug" / "tiercache"
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.is_file() or not os.access(path, os.X_OK):
        message = (
            f"tiercache binary not found at {path}; build it (swift build) or set TIERCACHE_BIN"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (apt-get install redis-tools)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_environment(extra: dict[str, str | None] | None) -> dict[str, str]:
    """The test process' environment without TIERCACHE_* settings (they would override defaults), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERCACHE_")}
    # A demo database with a million benchmark rows takes a second or two to create: tests need a few.
    env["TIERCACHE_DEMO_BENCHMARK_KEYS"] = "1000"
    # Proxies run side by side here and each admin listener would want 127.0.0.1:9680: the admin tests pass
    # --admin-listen with a port of their own (a flag wins over the variable).
    env["TIERCACHE_ADMIN_LISTEN"] = "off"
    # Most tests write with SQL.EXEC, which is off by default; the default's own test passes None to unset it.
    env["TIERCACHE_SQL_EXEC"] = "on"
    # Work scheduled on an event loop that has shut down (a shutdown-order bug) is only printed by NIO; strict mode
    # makes it a crash, which the teardown reports.
    env["SWIFTNIO_STRICT"] = "1"
    env.update(extra or {})
    return {name: value for name, value in env.items() if value is not None}


def run_tiercache(*args: str, cwd: Path | None = None, timeout: float = 30.0,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs a short-lived `tiercache` subcommand (policy check, stats) and captures its output as text."""
    return subprocess.run(
        [str(tiercache_binary()), *args], cwd=cwd or REPO_ROOT, env=clean_environment(env),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
    )


# ---------------------------------------------------------------------------------------------------------------
# A minimal RESP2/RESP3 client for raw-socket tests


class Simple(str):
    """A simple string reply (`+OK`)."""


class Err(str):
    """An error reply (`-ERR ...`), without the leading `-`."""


class Verbatim(str):
    pass


class RawConnection:
    """A socket speaking RESP by hand: send exact bytes, parse replies exactly."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = SOCKET_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, *args: bytes | str | int) -> Any:
        self.send(encode_command(*args))
        return self.read_reply()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError(f"connection closed by the proxy; unparsed: {bytes(self.buffer[:200])!r}")
        self.buffer += chunk

    def _line(self) -> bytes:
        while True:
            index = self.buffer.find(b"\r\n")
            if index >= 0:
                line = bytes(self.buffer[:index])
                del self.buffer[: index + 2]
                return line
            self._fill()

    def _exact(self, count: int) -> bytes:
        while len(self.buffer) < count + 2:
            self._fill()
        data = bytes(self.buffer[:count])
        assert self.buffer[count: count + 2] == b"\r\n", f"bulk not terminated by CRLF: {bytes(self.buffer[:count + 2])!r}"
        del self.buffer[: count + 2]
        return data

    def read_reply(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return Simple(rest.decode())
        if kind == b"-":
            return Err(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            return None if length < 0 else self._exact(length)
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self.read_reply() for _ in range(count)]
        if kind == b"%":
            result = {}
            for _ in range(int(rest)):
                key = self.read_reply()
                result[key] = self.read_reply()
            return result
        if kind == b"~":
            return {"set": [self.read_reply() for _ in range(int(rest))]}
        if kind == b">":
            return {"push": [self.read_reply() for _ in range(int(rest))]}
        if kind == b"_":
            return None
        if kind == b",":
            return float(rest)
        if kind == b"#":
            return rest == b"t"
        if kind == b"(":
            return int(rest)
        if kind == b"=":
            return Verbatim(self._exact(int(rest)).decode())
        if kind == b"!":
            return Err(self._exact(int(rest)).decode())
        raise AssertionError(f"unparseable reply line {line!r}")

    def read_raw(self, count: int) -> bytes:
        """Exactly `count` raw bytes of reply stream."""
        while len(self.buffer) < count:
            try:
                self._fill()
            except (socket.timeout, ConnectionError) as error:
                raise AssertionError(f"wanted {count} bytes, got {len(self.buffer)} before {error!r}: "
                                     f"{bytes(self.buffer[:400])!r}") from None
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def expect_closed(self, timeout: float = 5.0) -> bytes:
        """Waits until the proxy closes the connection; returns whatever else it sent before closing."""
        self.sock.settimeout(timeout)
        rest = bytes(self.buffer)
        self.buffer.clear()
        deadline = time.monotonic() + timeout
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:
                return rest
            except socket.timeout:
                raise AssertionError(f"proxy did not close the connection within {timeout}s; got {rest[:200]!r}")
            if not chunk:
                return rest
            rest += chunk
            if time.monotonic() > deadline:
                raise AssertionError("proxy kept sending and did not close the connection")


def encode_command(*args: bytes | str | int) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, int):
            arg = str(arg)
        if isinstance(arg, str):
            arg = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# Proxy processes


class ProxyProcess:
    """One running `tiercache serve`, on its own port, database and directory."""

    def __init__(self, directory: Path, port: int, args: Sequence[str], env: dict[str, str] | None,
                 db_path: Path | None, password: str | None, database_url: str | None = None):
        self.directory = directory
        self.port = port
        self.host = "127.0.0.1"
        # The SQLite file, or None on PostgreSQL (then `database_url`).
        self.db_path = db_path
        self.database_url = database_url
        self.backend = "postgres" if database_url else "sqlite"
        self.password = password
        # With a users file: the user `password` belongs to (None: default).
        self.username: str | None = None
        self.log_path = directory / "tiercache.log"
        command = [str(tiercache_binary()), "serve", "--listen", f"127.0.0.1:{port}", *args]
        self.command = command
        self._log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            command, cwd=directory, env=clean_environment(env), stdin=subprocess.DEVNULL,
            stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._clients: list[Any] = []
        # Tests of start-up failures set this, so teardown doesn't report the exit as a crash.
        self.expect_exit = False

    # -- lifecycle

    def log(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                pytest.fail(f"tiercache exited with {code} during start-up: {' '.join(self.command)}\n"
                            f"--- log ---\n{self.log()}")
            try:
                with RawConnection(self.port, timeout=2.0) as conn:
                    if self.password is not None:
                        conn.command("AUTH", *([self.username] if self.username else []), self.password)
                    if conn.command("PING") == Simple("PONG"):
                        return
            except (OSError, ConnectionError) as error:
                last_error = error
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"tiercache did not answer PING within {timeout}s (last error: {last_error})\n"
                    f"--- log ---\n{self.log()}")

    def assert_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            pytest.fail(f"tiercache died with exit code {code}\n--- log ---\n{self.log()}")

    def stop(self) -> int | None:
        """SIGTERM, up to 10 s, then SIGKILL; by pid. Returns the exit code (negative: killed by a signal)."""
        for client in self._clients:
            try:
                client.close()
            except Exception:
                pass
        self._clients.clear()
        if self.process.poll() is None:
            try:
                os.kill(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=SHUTDOWN_TIMEOUT)
        self._log_file.close()
        return self.process.returncode

    # -- clients

    def client(self, protocol: int = 3, *, timeout: float = SOCKET_TIMEOUT, **kwargs: Any) -> redis.Redis:
        """A redis-py client with retries off (redis-py 8 silently re-sends otherwise) and a socket timeout."""
        if self.password is not None:
            kwargs.setdefault("password", self.password)
            kwargs.setdefault("username", self.username)
        client = redis.Redis(
            host=self.host, port=self.port, protocol=protocol, retry=None, socket_timeout=timeout,
            socket_connect_timeout=timeout, single_connection_client=kwargs.pop("single_connection_client", True),
            **kwargs,
        )
        self._clients.append(client)
        return client

    def raw(self, timeout: float = SOCKET_TIMEOUT) -> RawConnection:
        conn = RawConnection(self.port, timeout=timeout)
        self._clients.append(conn)
        return conn

    def stats(self, *type_name: str) -> dict:
        """STATS over RESP3 with byte keys decoded: a nested dict of str → int/float/str."""
        return self.report("STATS", *type_name)

    def policy_show(self) -> dict:
        """POLICY SHOW, decoded as `stats` is."""
        return self.report("POLICY", "SHOW")

    def report(self, *command: str) -> dict:
        with RawConnection(self.port) as conn:
            if self.password is not None:
                assert conn.command("AUTH", *([self.username] if self.username else []), self.password) == Simple("OK")
            assert conn.command("HELLO", "3") is not None
            reply = conn.command(*command)
        assert not isinstance(reply, Err), reply
        return decode_tree(reply)

    def type_stats(self, type_name: str) -> dict:
        return self.stats(type_name)

    def sqlite(self) -> sqlite3.Connection:
        """A direct connection to the proxy's SQLite database, to check what reached it. A test that needs it runs
        on SQLite only (its PostgreSQL run is skipped, saying so); `sql` works on both."""
        if self.db_path is None:
            pytest.skip("reads the SQLite file directly")
        conn = sqlite3.connect(self.db_path, timeout=10)
        return conn

    def sqlite_dialect(self, what: str) -> None:
        """Marks a test as written in SQLite's SQL (or about SQLite's own statements): its PostgreSQL run is
        skipped, saying what it needs."""
        if self.backend != "sqlite":
            pytest.skip(f"SQLite's SQL: {what}")

    def sql(self, statement: str) -> list[tuple[str, ...]]:
        """Runs `statement` on the proxy's database behind its back (sqlite3, or psql for PostgreSQL) and
        returns the rows, every value as text (None for NULL)."""
        if self.database_url is None:
            conn = sqlite3.connect(self.db_path, timeout=10)
            try:
                rows = conn.execute(statement).fetchall()
                conn.commit()
            finally:
                conn.close()
            return [tuple(None if v is None else str(v) for v in row) for row in rows]
        return psql(self.database_url, statement)


def decode_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {decode_tree(k): decode_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_tree(v) for v in value]
    if isinstance(value, bytes):
        return value.decode()
    return value


class ProxyLauncher:
    """Starts proxies in fresh temporary directories and stops them all at teardown."""

    def __init__(self, base: Path):
        self.base = base
        self.started: list[ProxyProcess] = []

    def __call__(self, *args: str, env: dict[str, str] | None = None, policies: str | Path | None = None,
                 database: Path | None = None, database_url: str | None = None, wait: bool = True) -> ProxyProcess:
        """Starts `tiercache serve` with `args` (after --listen, --database and --policies): on the SQLite file
        `database` (default: a new demo file), or on the PostgreSQL database `database_url`."""
        directory = Path(tempfile.mkdtemp(prefix="proxy-", dir=self.base))
        db_path = None if database_url else database or directory / "tiercache.db"
        all_args = ["--database", database_url or f"sqlite:{db_path}", "--policies",
                    str(policies or SHIPPED_POLICIES), *args]
        password = None
        if "--requirepass" in all_args:
            password = all_args[all_args.index("--requirepass") + 1]
        proxy = ProxyProcess(directory, free_port(), all_args, env, db_path, password, database_url)
        self.started.append(proxy)
        if wait:
            proxy.wait_ready()
        return proxy

    def stop_all(self) -> list[str]:
        """Stops every proxy; returns complaints about ones that crashed or did not exit cleanly on SIGTERM."""
        problems = []
        for proxy in self.started:
            crashed_before = proxy.process.poll()
            code = proxy.stop()
            if crashed_before is not None and crashed_before != 0 and not proxy.expect_exit:
                problems.append(f"proxy on port {proxy.port} had exited with {crashed_before} before teardown")
            elif crashed_before is None and code != 0:
                problems.append(f"proxy on port {proxy.port} exited with {code} on SIGTERM")
            if problems and problems[-1].startswith(f"proxy on port {proxy.port}"):
                problems[-1] += f"\n--- log ---\n{proxy.log()[-4000:]}"
        self.started.clear()
        return problems


@pytest.fixture
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyLauncher]:
    """Factory: `proxy(*extra_args, env=..., policies=..., database=...)` → a started ProxyProcess for this test."""
    launcher = ProxyLauncher(tmp_path_factory.mktemp("proxies"))
    yield launcher
    problems = launcher.stop_all()
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture(scope="module")
def module_proxy_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyLauncher]:
    launcher = ProxyLauncher(tmp_path_factory.mktemp("module-proxies"))
    yield launcher
    problems = launcher.stop_all()
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database the module's shared proxy runs on: its tests run once on each."""
    return request.param


@pytest.fixture(scope="module")
def shared_proxy(module_proxy_launcher: ProxyLauncher, backend: str, request: pytest.FixtureRequest) -> ProxyProcess:
    """One proxy with the shipped policies and demo data, shared by the tests of a module: on a new SQLite demo
    file, or on a new PostgreSQL database of the test server with the same demo rows (`tiercache db init`)."""
    return module_proxy_launcher(database_url=demo_database(request, backend))


def demo_database(request: pytest.FixtureRequest, backend: str, suffix: str = "") -> str | None:
    """For a module's proxy on `backend`: None on SQLite (the launcher makes a demo file), else the URL of a new
    PostgreSQL database of the run's server named after the module (and `suffix`), with the demo rows."""
    if backend != "postgres":
        return None
    server = request.getfixturevalue("postgres_server")
    url = postgres_database(server, "tc_" + request.module.__name__.rsplit(".", 1)[-1] + suffix)
    init = run_tiercache("db", "init", "--database", url, "--demo-benchmark-keys", "1000")
    assert init.returncode == 0, init.stderr
    return url


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL


POSTGRES_SCRIPT = REPO_ROOT / "scripts" / "postgres-server.sh"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server for the run: TIERCACHE_TEST_POSTGRES (scripts/test.sh starts one), else one
    started here by scripts/postgres-server.sh and stopped by pid at the end of the session."""
    url = os.environ.get("TIERCACHE_TEST_POSTGRES")
    if url:
        yield url
        return
    if shutil.which("psql") is None or not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        message = "PostgreSQL is not installed (scripts/install-deps.sh test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    started = subprocess.run([str(POSTGRES_SCRIPT), "start"], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    folder, url = started.stdout.strip().splitlines()[-1].split(" ")
    try:
        yield url
    finally:
        subprocess.run([str(POSTGRES_SCRIPT), "stop", folder], capture_output=True, timeout=60)


def psql(url: str, statement: str) -> list[tuple[str, ...]]:
    """Runs `statement` with the real `psql` and returns its rows, values as text (None for NULL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    done = subprocess.run(
        ["psql", "-X", "-q", "-tA", "-F", "\x1f", "-R", "\x1e", "-P", "null=\x1c", "-v", "ON_ERROR_STOP=1", "-w",
         url, "-c", statement], capture_output=True, env=env, timeout=30)
    assert done.returncode == 0, f"psql: {done.stderr.decode(errors='replace')}"
    # Records and fields by separators no value holds, and bytes decoded as they are: values keep their line ends.
    out = done.stdout.decode()
    out = out[:-1] if out.endswith("\n") else out
    return [tuple(None if v == "\x1c" else v for v in record.split("\x1f")) for record in out.split("\x1e") if record]


def postgres_database(server_url: str, name: str) -> str:
    """A new, empty database `name` on the server (dropped first if a previous run left it); its URL."""
    psql(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(server_url, f"CREATE DATABASE {name}")
    return urlunparse(urlparse(server_url)._replace(path="/" + name))


@pytest.fixture
def px(shared_proxy: ProxyProcess) -> Iterator[ProxyProcess]:
    """The module's shared proxy, checked to be alive after each test."""
    shared_proxy.assert_alive()
    yield shared_proxy
    shared_proxy.assert_alive()


@pytest.fixture
def r3(px: ProxyProcess) -> redis.Redis:
    return px.client(protocol=3)


@pytest.fixture
def r2(px: ProxyProcess) -> redis.Redis:
    return px.client(protocol=2)


# ---------------------------------------------------------------------------------------------------------------
# redis-cli


def redis_cli(port: int, *args: str, raw: bool = False, resp3: bool = False, password: str | None = None,
              stdin: str | None = None, timeout: float = 15.0) -> subprocess.CompletedProcess:
    """Runs the real `redis-cli -p PORT` with --raw or --no-raw; the password goes by REDISCLI_AUTH (no warning)."""
    binary = require_tool("redis-cli")
    command = [binary, "-h", "127.0.0.1", "-p", str(port), "--raw" if raw else "--no-raw"]
    if resp3:
        command.append("-3")
    env = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
    if password is not None:
        env["REDISCLI_AUTH"] = password
    return subprocess.run(
        [*command, *args], input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True, text=True, timeout=timeout, env=env,
    )


# ---------------------------------------------------------------------------------------------------------------
# Helpers for tests


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def make_sqlite_db(path: Path, script: str) -> Path:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(script)
        conn.commit()
    finally:
        conn.close()
    return path


def rename_table(db: Path, old: str, new: str) -> None:
    """Renames a table under a running proxy: the database "fails" for the types that load from it."""
    conn = sqlite3.connect(db, timeout=5)
    try:
        conn.execute(f"ALTER TABLE {old} RENAME TO {new}")
        conn.commit()
    finally:
        conn.close()


def get_or_none(client: redis.Redis, key: str) -> Any:
    """GET, with an error reply read as None (for polling until a fault is over)."""
    try:
        return client.get(key)
    except redis.ResponseError:
        return None


def write_policy(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path



class PrometheusServer:
    """A real Prometheus (Debian's) scraping `target` (HOST:PORT) every second, with `password` as a bearer token
    when given; `query(expr)` asks its HTTP API. Stopped by pid with `stop()`."""

    def __init__(self, directory: Path, target: str, password: str | None = None):
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus is missing: scripts/install-deps.sh test installs Debian's prometheus")
        self.directory = directory
        authorization = ""
        if password is not None:
            (directory / "password").write_text(password)
            authorization = f"    authorization:\n      credentials_file: {directory / 'password'}\n"
        config = directory / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tiercache\n"
                          + authorization + f"    static_configs:\n      - targets: ['{target}']\n")
        self.port = free_port()
        with open(directory / "prometheus.log", "wb") as log:
            self.process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)

    def api(self, path: str, **params: str) -> dict | None:
        """A JSON answer of the HTTP API (errors included), or None while it does not answer."""
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            return json.load(error)
        except OSError:
            return None

    def query(self, expr: str) -> dict | None:
        return self.api("query", query=expr)

    def log(self) -> str:
        return (self.directory / "prometheus.log").read_text()[-3000:]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def items_db(path: Path, rows: int) -> Path:
    """An SQLite file with items(id TEXT PRIMARY KEY, v TEXT NOT NULL) holding ids 1…rows with values v1…."""
    return make_sqlite_db(path, "CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT NOT NULL);"
                          + "".join(f"INSERT INTO items VALUES ('{i}', 'v{i}');" for i in range(1, rows + 1)))
