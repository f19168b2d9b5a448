"""What Redis clients and tools send besides data commands (issue 13): INFO, and the introspection commands, answered
as Redis does where TierCache has the thing, and refused with the reason where it does not."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

from conftest import Err, Simple, demo_value, require_tool


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
    # Sections by name, case-insensitively; redis-py parses the reply itself.
    only = parse_info(px.raw().command("INFO", "MEMORY", "keyspace").decode())
    assert list(only) == ["Memory", "Keyspace"]
    parsed = px.client(protocol=3).info()
    assert parsed["loading"] == 0 and parsed["redis_version"] == info["Server"]["redis_version"]


def test_redis_cli_stat_runs_on_info(px):
    """redis-cli --stat polls INFO and prints a table; it buffers unless its output is a terminal."""
    cli = require_tool("redis-cli")
    controller, terminal = pty.openpty()
    process = subprocess.Popen([cli, "-p", str(px.port), "--stat", "-i", "0.2"], stdout=terminal,
                               stderr=terminal, stdin=subprocess.DEVNULL)
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline and output.count(b"\n") < 4:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                output += os.read(controller, 4096)
    finally:
        process.kill()
        process.wait()
        os.close(controller)
    text = output.decode(errors="replace")
    assert "keys" in text and "requests" in text, text
    assert "ERR" not in text, text
