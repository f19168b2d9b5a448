"""Concurrency, malformed input, limits and abrupt clients: one bad connection must never hurt the others."""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from conftest import RawConnection, Simple, demo_value, encode_command, wait_for

INLINE_LIMIT = 1024
BULK_LIMIT = 4096
ARGUMENT_LIMIT = 64


@pytest.fixture(scope="module")
def shared_proxy(module_proxy_launcher):
    """This module's proxy runs with small protocol limits."""
    return module_proxy_launcher("--max-inline-length", str(INLINE_LIMIT), "--max-bulk-length", str(BULK_LIMIT),
                                 "--max-arguments", str(ARGUMENT_LIMIT))


class Bystander:
    """An already-open connection that checks it keeps getting correct replies."""

    def __init__(self, port: int):
        self.conn = RawConnection(port)
        self.n = 0

    def check(self) -> None:
        self.n += 1
        i = self.n % 1000 + 1
        assert self.conn.command("GET", f"user_sessions:{i}") == demo_value("user_sessions", i)
        assert self.conn.command("ECHO", f"still here {self.n}") == f"still here {self.n}".encode()

    def close(self) -> None:
        self.conn.close()


MALFORMED = [
    ("multibulk count not a number", b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    ("bulk length over the limit", b"*1\r\n$999999999999\r\n",
     b"-ERR Protocol error: bulk length 999999999999 exceeds limit 4096 bytes\r\n"),
    ("negative bulk length", b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    ("bulk length not a number", b"*1\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    ("argument without $", b"*2\r\n$3\r\nGET\r\nxx\r\n", b"-ERR Protocol error: expected '$', got 'x'\r\n"),
    ("bulk without CRLF", b"*1\r\n$4\r\nPINGxx\r\n", b"-ERR Protocol error: bulk string not terminated by CRLF\r\n"),
    ("unbalanced quotes", b'ECHO "abc\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
    ("too many arguments", b"*100\r\n", b"-ERR Protocol error: multibulk length 100 exceeds limit 64\r\n"),
    ("100 KB inline line", b"A" * 100_000 + b"\r\n",
     b"-ERR Protocol error: too big inline request (limit 1024 bytes)\r\n"),
    ("100 KB inline line without newline", b"B" * 100_000,
     b"-ERR Protocol error: too big inline request (limit 1024 bytes)\r\n"),
    ("multibulk header never ends", b"*" + b"9" * 100_000,
     b"-ERR Protocol error: too big mbulk count string\r\n"),
]


@pytest.mark.parametrize("name,payload,reply", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_input_closes_only_that_connection(px, name, payload, reply):
    bystander = Bystander(px.port)
    try:
        bystander.check()  # before
        bad = RawConnection(px.port)
        assert bad.command("PING") == Simple("PONG")
        try:
            bad.send(encode_command("ECHO", "first") + payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy may close before it read everything we sent
        bystander.check()  # during
        rest = bad.expect_closed()
        assert rest == b"$5\r\nfirst\r\n" + reply
        bad.close()
        bystander.check()  # after
        with RawConnection(px.port) as fresh:
            assert fresh.command("GET", "auth_tokens:1") == [
                b"user_id", b"user-1", b"scopes", b"read write", b"expires_at", 1798761601]
    finally:
        bystander.close()


def test_malformed_input_under_concurrent_load(px):
    stop = threading.Event()
    failures = []
    done = [0]

    def steady():
        try:
            b = Bystander(px.port)
            while not stop.is_set():
                b.check()
                done[0] += 1
            b.close()
        except Exception as error:
            failures.append(error)

    threads = [threading.Thread(target=steady) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for n in range(60):
            _, payload, reply = MALFORMED[n % len(MALFORMED)]
            with RawConnection(px.port) as bad:
                try:
                    bad.send(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                assert bad.expect_closed() == reply
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not failures, failures
    assert done[0] > 0


def test_inline_line_at_the_limit_is_accepted(px):
    with px.raw() as conn:
        line = b"ECHO " + b"a" * (INLINE_LIMIT - 5)
        assert len(line) == INLINE_LIMIT
        conn.send(line + b"\r\n")
        assert conn.read_reply() == b"a" * (INLINE_LIMIT - 5)


def test_bulk_over_max_bulk_length_is_refused(px):
    with px.raw() as conn:
        assert conn.command("SET", "user_sessions:bulk-ok", b"x" * BULK_LIMIT) == Simple("OK")
        assert conn.command("GET", "user_sessions:bulk-ok") == b"x" * BULK_LIMIT
    conn = px.raw()
    try:
        conn.send(encode_command("SET", "user_sessions:bulk-big", b"y" * (BULK_LIMIT + 1)))
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert conn.expect_closed() == b"-ERR Protocol error: bulk length 4097 exceeds limit 4096 bytes\r\n"
    r = px.client(protocol=3)
    assert r.get("user_sessions:bulk-big") is None
    assert px.sql("SELECT count(*) FROM user_sessions WHERE id = 'bulk-big'") == [("0",)]
    # redis-py sees the error reply, and its connection is gone afterwards.
    victim = px.client(protocol=2)
    with pytest.raises((redis.ResponseError, redis.ConnectionError)):
        victim.set("user_sessions:bulk-big", b"z" * (BULK_LIMIT * 2))
    assert r.get("user_sessions:1") == demo_value("user_sessions", 1)


def test_100_concurrent_connections(px):
    def worker(t: int) -> list[str]:
        problems = []
        client = px.client(protocol=3 if t % 2 else 2)
        try:
            for j in range(25):
                key = f"user_sessions:conc-{t}-{j % 5}"
                value = f"t{t}-j{j}".encode()
                if client.set(key, value) is not True:
                    problems.append(f"SET {key}")
                got = client.get(key)
                if got != value:
                    problems.append(f"GET {key}: {got!r} != {value!r}")
                i = (t * 25 + j) % 1000 + 1
                shared = client.get(f"static_config:{i}")
                if shared != demo_value("static_config", i):
                    problems.append(f"GET static_config:{i}: {shared!r}")
        except Exception as error:
            problems.append(f"{type(error).__name__}: {error}")
        finally:
            client.close()
        return problems

    start = threading.Barrier(100)

    def synchronized(t):
        start.wait()
        return worker(t)

    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(synchronized, range(100)))
    problems = [p for result in results for p in result]
    assert not problems, f"{len(problems)} problems, first: {problems[:5]}"
    # Every connection's last write is what the database holds.
    with px.sqlite() as db:
        rows = dict(db.execute("SELECT id, data FROM user_sessions WHERE id LIKE 'conc-%'").fetchall())
    assert len(rows) == 500
    for t in range(100):
        for k in range(5):
            assert rows[f"conc-{t}-{k}"] == f"t{t}-j{20 + k}"


def test_client_disconnecting_mid_frame(px):
    bystander = Bystander(px.port)
    try:
        base_open = px.stats()["server"]["connections_open"]
        partials = [
            b"*3\r\n$3\r\nSET\r\n$15\r\nuser_sessions:1",
            b"*3\r\n$3\r\nSET\r\n$15\r\nuser_sessions:1\r\n$4\r\nHALF",
            b"*2\r\n$3\r\nGET\r\n$1",
            b"*2\r\n",
            b"GET user_sess",
            b"*",
        ]
        for n, partial in enumerate(partials * 5):
            s = socket.create_connection(("127.0.0.1", px.port), timeout=5)
            s.sendall(partial)
            if n % 2:
                # Abortive close: RST instead of FIN.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            if n % 6 == 0:
                bystander.check()
        # Disconnect while a backend reply is pending (a miss being loaded) or a pipeline is being answered.
        for n in range(100):
            s = socket.create_connection(("127.0.0.1", px.port), timeout=5)
            s.sendall(encode_command("GET", f"policy_decisions:{n + 1}") * 3 + encode_command("SET", f"api_responses:gone-{n}", "v"))
            if n % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        bystander.check()
        assert bystander.conn.command("GET", "user_sessions:1") == demo_value("user_sessions", 1)
        assert wait_for(lambda: px.stats()["server"]["connections_open"] == base_open, timeout=10), \
            px.stats()["server"]
        assert wait_for(lambda: px.stats()["server"]["loads_in_flight"] == 0, timeout=10)
    finally:
        bystander.close()
    with px.sqlite() as db:
        assert db.execute("SELECT data FROM user_sessions WHERE id = '1'").fetchone()[0] == \
            demo_value("user_sessions", 1).decode()


def test_byte_by_byte_delivery(px):
    with px.raw() as conn:
        request = encode_command("GET", "user_sessions:17") + b"ECHO slow\r\n"
        for byte in request:
            conn.send(bytes([byte]))
            time.sleep(0.001)
        assert conn.read_reply() == demo_value("user_sessions", 17)
        assert conn.read_reply() == b"slow"


def test_large_pipeline_while_reading(px):
    count = 20_000
    with px.raw(timeout=30) as conn:
        request = b"".join(encode_command("ECHO", str(n)) for n in range(count))
        sender = threading.Thread(target=conn.send, args=(request,))
        sender.start()
        for n in range(count):
            assert conn.read_reply() == str(n).encode()
        sender.join(30)


def test_pipeline_far_ahead_of_backend_writes(px):
    """4 MB of pipelined SETs: each waits for the database, so the proxy buffers the rest, pauses reading past
    its limit, and resumes; every reply arrives, in order, and every value is written."""
    count = 2000
    value = "v" * 2048
    with px.raw(timeout=60) as conn:
        request = b"".join(encode_command("SET", f"api_responses:pipe{n}", f"{n}:{value}") for n in range(count))
        assert len(request) > 4 * (1 << 20)
        sender = threading.Thread(target=conn.send, args=(request,))
        sender.start()
        for n in range(count):
            assert conn.read_reply() == "OK", f"reply {n}"
        sender.join(60)
        assert not sender.is_alive()
        assert conn.command("GET", "api_responses:pipe0") == f"0:{value}".encode()
        assert conn.command("GET", f"api_responses:pipe{count - 1}") == f"{count - 1}:{value}".encode()


def test_quit_in_the_middle_of_a_pipeline(px):
    conn = px.raw()
    conn.send(b"PING\r\n" + encode_command("GET", "user_sessions:5") + b"QUIT\r\nPING\r\n")
    value = demo_value("user_sessions", 5)
    assert conn.expect_closed() == b"+PONG\r\n$%d\r\n%s\r\n+OK\r\n" % (len(value), value)


def test_l1_memory_bound_evicts_and_stays_correct(proxy):
    p = proxy("--l1-max-memory", "64kb")
    r = p.client(protocol=3)
    for rounds in range(2):
        for i in range(1, 1001):
            assert r.get(f"user_sessions:{i}") == demo_value("user_sessions", i)
    l1 = p.stats()["tiers"]["l1"]
    assert l1["max_bytes"] == 64 * 1024
    assert l1["evictions"] > 0
    assert 0 < l1["bytes"] <= 64 * 1024
    assert l1["entries"] < 1000


def test_sigterm_with_open_connections_exits_cleanly(proxy):
    p = proxy()
    idle = [p.raw() for _ in range(10)]
    busy = p.raw()
    busy.send(b"".join(encode_command("GET", f"user_sessions:{i}") for i in range(1, 200)))
    os.kill(p.process.pid, signal.SIGTERM)
    try:
        code = p.process.wait(timeout=10)
    except Exception:
        pytest.fail(f"tiercache did not exit within 10 s of SIGTERM\n{p.log()}")
    assert code == 0, p.log()
    for conn in idle:
        conn.close()
    busy.close()
