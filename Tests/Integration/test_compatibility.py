"""What Redis clients and tools send besides data commands (issue 13): INFO, and the introspection commands, answered
as Redis does where TierCache has the thing, and refused with the reason where it does not."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

from conftest import Err, Simple, demo_value, require_tool
from test_clients import secured, target, with_l2  # noqa: F401  (fixtures: open, requirepass and --redis proxies)


def cli_args(px, quiet: bool = True) -> list[str]:
    """How redis-cli (or, with `quiet` false, redis-benchmark) reaches `px`: its port, and its password if it has
    one."""
    return ["-p", str(px.port)] + (["-a", px.password] + (["--no-auth-warning"] if quiet else []) if px.password
                                   else [])


def parse_info(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in text.split("\r\n"):
        if line.startswith("# "):
            current = sections.setdefault(line[2:], {})
        elif line:
            field, _, value = line.partition(":")
            assert current is not None, line
            current[field] = value
    return sections


def test_info_in_redis_format_agrees_with_stats(px):
    client = px.client(protocol=2, decode_responses=True)
    assert client.get("user_sessions:1") == demo_value("user_sessions", 1).decode()
    assert client.get("user_sessions:1") == demo_value("user_sessions", 1).decode()
    with px.raw() as conn:
        text = conn.command("INFO").decode()
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")  # CRLF lines, as Redis
    info = parse_info(text)
    assert list(info) == ["Server", "Clients", "Memory", "Persistence", "Stats", "Keyspace", "TierCache"]
    assert info["Server"]["redis_version"].split(".")[0] == "7"
    assert info["Server"]["tcp_port"] == str(px.port)
    assert info["Persistence"]["loading"] == "0"  # what ioredis' ready check waits for
    stats = px.stats()
    l1 = stats["tiers"]["l1"]
    assert int(info["Stats"]["keyspace_hits"]) == l1["hits"] >= 1
    assert int(info["Stats"]["keyspace_misses"]) == l1["misses"] >= 1
    assert int(info["Memory"]["maxmemory"]) == l1["max_bytes"]
    assert info["Keyspace"]["db0"].startswith(f"keys={l1['entries']},")
    assert int(info["Clients"]["connected_clients"]) >= 1
    assert info["TierCache"]["breaker_database"] == "closed"
    sessions = dict(pair.split("=") for pair in info["TierCache"]["type_user_sessions"].split(","))
    assert int(sessions["l1_hits"]) == stats["types"]["user_sessions"]["l1"]["hits"] >= 1
    # Sections by name, case-insensitively; redis-py parses the reply itself.
    only = parse_info(px.raw().command("INFO", "MEMORY", "keyspace").decode())
    assert list(only) == ["Memory", "Keyspace"]
    parsed = px.client(protocol=3).info()
    assert parsed["loading"] == 0 and parsed["redis_version"] == info["Server"]["redis_version"]


def on_a_terminal(args: list[str], done) -> bytes:
    """What a program that only prints to a terminal (redis-cli --stat, --latency) printed until `done(output)`
    (or 10 s); then it is killed."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(args, stdout=terminal, stderr=terminal, stdin=subprocess.DEVNULL)
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline and not done(output):
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                output += os.read(controller, 4096)
    finally:
        process.kill()
        process.wait()
        os.close(controller)
    return output


def test_redis_cli_stat_runs_on_info(target):
    """redis-cli --stat polls INFO and prints a table; it buffers unless its output is a terminal."""
    px, _ = target
    cli = require_tool("redis-cli")
    output = on_a_terminal([cli, *cli_args(px), "--stat", "-i", "0.2"], lambda out: out.count(b"\n") >= 4)
    text = output.decode(errors="replace")
    assert "keys" in text and "requests" in text, text
    assert "ERR" not in text, text


def test_dbsize_scan_keys_ttl_type_over_what_is_cached(proxy):
    px = proxy()
    client = px.client(protocol=2)
    assert client.dbsize() == 0
    assert client.ttl("user_sessions:1") == -2  # not cached (whether or not the database has it)
    for i in range(1, 31):
        assert client.get(f"user_sessions:{i}") == demo_value("user_sessions", i)
    assert client.get("auth_tokens:1") is not None
    assert client.dbsize() == 31
    ttl, pttl = client.ttl("user_sessions:1"), client.pttl("user_sessions:1")
    assert 1000 < ttl <= 1800 * 1.2  # the shipped policy's 30m, with its jitter
    assert abs(pttl / 1000 - ttl) <= 1
    assert client.type("user_sessions:1") == b"string"
    assert client.type("user_sessions:31") == b"string"  # loaded to answer
    assert client.type("user_sessions:99999999") == b"none"
    assert client.type("nope:1") == b"none"
    assert client.strlen("user_sessions:1") == len(demo_value("user_sessions", 1))
    assert client.strlen("user_sessions:99999999") == 0
    assert client.hlen("user_sessions:1") == 0
    # SCAN with small steps: every cached key exactly once, the cursor ending at 0.
    seen, cursor, calls = [], 0, 0
    while True:
        cursor, keys = client.scan(cursor, match="user_sessions:*", count=3)
        seen += keys
        calls += 1
        if cursor == 0:
            break
    assert sorted(seen) == sorted(f"user_sessions:{i}".encode() for i in range(1, 32))
    assert calls > 2
    assert set(client.scan_iter(match="auth_tokens:*")) == {b"auth_tokens:1"}
    assert set(client.scan_iter(_type="hash", count=1000)) == {b"auth_tokens:1"}  # three columns
    assert b"user_sessions:1" in set(client.scan_iter(_type="string", count=1000))
    assert client.type("auth_tokens:1") == b"hash" and client.hlen("auth_tokens:1") == 3
    assert sorted(client.keys("user_sessions:1?")) == sorted(f"user_sessions:{i}".encode() for i in range(10, 20))
    assert client.keys("nothing:*") == []
    seconds, micros = client.time()
    assert abs(seconds - time.time()) < 5 and 0 <= micros < 1_000_000


def test_redis_commands_with_other_meanings_are_refused_with_the_reason_and_counted(proxy):
    px = proxy()
    conn = px.raw()
    reply = conn.command("EXPIRE", "user_sessions:1", "10")
    assert reply == Err("ERR EXPIRE is not supported: an entry's life comes from its data type's policy (ttl in "
                        "ttl-policies/), not from clients")
    assert conn.command("FLUSHALL").startswith("ERR FLUSHALL is not supported")
    for _ in range(3):
        assert conn.command("XADD", "s", "*", "f", "v").startswith("ERR unknown command 'XADD'")
    refused = px.stats()["commands"]["refused"]
    assert refused == {"XADD": 3, "EXPIRE": 1, "FLUSHALL": 1}
    assert px.log().count("refused a command TierCache does not have") == 3


def test_redis_cli_scan_and_bigkeys(target):
    px, _ = target
    cli = require_tool("redis-cli")
    client = px.client(protocol=2)
    for i in range(1, 6):
        client.get(f"static_config:{i}")
    scan = subprocess.run([cli, *cli_args(px), "--scan", "--pattern", "static_config:*"], capture_output=True,
                          text=True, timeout=30)
    assert scan.returncode == 0, scan.stderr
    assert {f"static_config:{i}" for i in range(1, 6)} <= set(scan.stdout.split())
    bigkeys = subprocess.run([cli, *cli_args(px), "--bigkeys"], capture_output=True, text=True, timeout=30)
    assert bigkeys.returncode == 0, bigkeys.stdout + bigkeys.stderr
    assert "Biggest string found" in bigkeys.stdout, bigkeys.stdout


def test_redis_cli_latency_and_redis_benchmark_get_set(target):
    px, _ = target
    cli, benchmark = require_tool("redis-cli"), require_tool("redis-benchmark")
    output = on_a_terminal([cli, *cli_args(px), "--latency", "-i", "0.2"], lambda out: b"samples" in out)
    assert b"samples" in output and b"ERR" not in output, output
    # redis-benchmark's GET and SET on the shipped `key` type's rows (1000 of them in tests).
    result = subprocess.run([benchmark, *cli_args(px, quiet=False), "-t", "get,set", "-r", "1000", "-n", "2000", "-c", "4",
                             "--csv"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    tests = {line.split(",")[0].strip('"') for line in result.stdout.splitlines()[1:]}
    assert tests == {"SET", "GET"}, result.stdout
    stats = px.stats("key")
    # Real rows: every GET that loaded found one (ids 0…999 exist, and SET wrote more). With --redis, GETs may be
    # served from L2 instead of loaded.
    assert stats["loads"] + stats["l2"]["hits"] > 0 and stats["loads_absent"] == 0, stats
    assert px.stats()["commands"].get("refused", {}).keys() <= {"XADD", "NOSUCHCOMMAND"}
    with px.sqlite() as db:
        assert db.execute("SELECT count(*) FROM key").fetchone()[0] >= 1000


def test_client_list_info_and_reset(proxy):
    px = proxy("--requirepass", "pw")
    first, second = px.raw(), px.raw()
    for conn in (first, second):
        assert conn.command("AUTH", "pw") == Simple("OK")
    assert first.command("CLIENT", "SETNAME", "first") == Simple("OK")
    assert second.command("HELLO", "3") is not None
    assert second.command("MULTI") == Simple("OK")
    assert second.command("PING") == Simple("QUEUED")
    listing = first.command("CLIENT", "LIST").decode()
    lines = [dict(field.split("=", 1) for field in line.split()) for line in listing.strip().split("\n")]
    assert len(lines) == 2
    mine, other = sorted(lines, key=lambda fields: fields["name"] != "first")
    assert mine["name"] == "first" and mine["cmd"] == "client" and mine["resp"] == "2" and mine["multi"] == "-1"
    assert other["resp"] == "3" and other["multi"] == "1" and other["flags"] == "x"
    assert int(mine["age"]) >= 0 and mine["addr"].startswith("127.0.0.1:") and mine["laddr"].endswith(f":{px.port}")
    info = dict(field.split("=", 1) for field in first.command("CLIENT", "INFO").decode().split())
    assert info["id"] == mine["id"] and info["name"] == "first"
    # RESET: out of the transaction, RESP2, no name, and not authenticated (a password is required).
    assert second.command("RESET") == Simple("RESET")
    assert second.command("GET", "user_sessions:1") == Err("NOAUTH Authentication required.")
    assert second.command("AUTH", "pw") == Simple("OK")
    assert second.command("CLIENT", "GETNAME") is None
    assert second.command("EXEC") == Err("ERR EXEC without MULTI")
    assert second.command("GET", "user_sessions:1") == demo_value("user_sessions", 1)


def test_glob_patterns_are_bounded(px):
    conn = px.raw()
    assert conn.command("SCAN", "0", "MATCH", "*" * 5000) == Err("ERR pattern too long: at most 4096 bytes")
    assert conn.command("KEYS", "a" * 5000) == Err("ERR pattern too long: at most 4096 bytes")
    assert conn.command("KEYS", "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b") == []


def test_ttl_of_a_cached_miss_is_minus_two_and_the_miss_stays_cached(px):
    client = px.client(protocol=2)
    assert client.get("user_sessions:88888888") is None  # a cached "no row"
    loads = px.stats("user_sessions")["loads"]
    assert client.ttl("user_sessions:88888888") == -2
    assert client.get("user_sessions:88888888") is None
    assert px.stats("user_sessions")["loads"] == loads  # still cached: TTL did not drop it
