"""STATS over RESP and the `tiercache stats` command."""

from __future__ import annotations

import json
import re

import pytest

from conftest import BENCHMARK_TYPE, SHIPPED_TYPES, Err, RawConnection, decode_tree, run_tiercache, wait_for

L1_KEYS = ["hits", "misses", "hit_ratio", "entries", "bytes", "max_bytes", "max_entries", "eviction", "evictions",
           "expirations", "memory"]
TYPE_L1_KEYS = ["hits", "misses", "hit_ratio", "entries", "bytes", "evictions", "expirations"]
TYPE_KEYS = ["l1", "l2", "loads", "loads_absent", "load_errors", "coalesced", "stale_hits", "revalidations", "refreshes",
             "invalidations", "ttl_seconds"]
BREAKER_KEYS = ["state", "seconds_in_state", "window_calls", "failure_rate", "slow_rate", "opened", "half_opened",
                "closed", "rejected"]
LATENCY_KEYS = ["count", "p50_us", "p90_us", "p99_us", "p99.9_us", "max_us"]
SHIPPED_TTLS = {
    "user_sessions": 1800.0, "auth_tokens": 3600.0, "policy_decisions": 300.0, "governance_rules": 3600.0,
    "static_config": 86400.0, "api_responses": 600.0, "compliance_checks": 900.0, "synthesis_results": 1200.0,
}


def pairs_to_dict(value):
    """A RESP2 STATS reply (nested flat field/value arrays) as nested dicts."""
    if isinstance(value, list):
        assert len(value) % 2 == 0, value
        return {pairs_to_dict(k): pairs_to_dict(v) for k, v in zip(value[0::2], value[1::2])}
    if isinstance(value, bytes):
        return value.decode()
    return value


def test_stats_resp3_is_nested_map_with_documented_keys(px, r3):
    r3.get("user_sessions:1")  # so the commands section has GET
    with px.raw() as conn:
        conn.command("HELLO", "3")
        raw = conn.command("STATS")
    assert isinstance(raw, dict)
    stats = decode_tree(raw)
    assert list(stats) == ["server", "tiers", "types", "commands", "backend", "policy", "warming", "resilience",
                           "alerts", "users"]
    assert list(stats["resilience"]["breakers"]) == ["database"]
    assert list(stats["resilience"]["breakers"]["database"]) == BREAKER_KEYS
    assert stats["resilience"]["breakers"]["database"]["state"] == "closed"
    assert list(stats["tiers"]) == ["l1", "l2"]
    assert stats["tiers"]["l2"] == {"status": "off"}, "no --redis: the L2 tier is off"
    assert list(stats["tiers"]["l1"]) == L1_KEYS
    assert sorted(stats["types"]) == sorted(SHIPPED_TYPES + [BENCHMARK_TYPE, "default"])
    for name, type_stats in stats["types"].items():
        assert list(type_stats) == TYPE_KEYS, name
        assert list(type_stats["l1"]) == TYPE_L1_KEYS, name
        if name in SHIPPED_TTLS:
            assert type_stats["ttl_seconds"] == SHIPPED_TTLS[name]
            assert isinstance(type_stats["ttl_seconds"], float)  # a RESP3 double
    assert list(stats["commands"]["GET"]) == LATENCY_KEYS
    assert list(stats["backend"]) == ["load", "query", "store", "delete", "exec", "transaction", "errors", "pools",
                                      "health", "external_writes"]
    for op in ("load", "query", "store", "delete", "exec", "transaction"):
        assert list(stats["backend"][op]) == LATENCY_KEYS
    assert isinstance(stats["backend"]["errors"], int)
    pools = stats["backend"]["pools"]
    # SQLite: readers, the writer, the readers' turns for clients; PostgreSQL: --db-pool-max 8 shared out.
    sizes = {"readers": 4, "writer": 1, "client_readers": 3} if px.backend == "sqlite" else \
        {"loads": 4, "client_reads": 2, "writes": 2}
    assert list(pools) == list(sizes)
    for pool in pools.values():
        assert list(pool) == ["size", "in_use", "idle", "waiting", "acquired", "timeouts"]
    assert {name: pool["size"] for name, pool in pools.items()} == sizes
    assert list(stats["backend"]["health"])[:4] == ["status", "checks", "failures", "reopened"]
    server = stats["server"]
    for key in ("version", "uptime_seconds", "connections_open", "connections_total", "commands_processed",
                "error_replies", "protocol_errors", "auth_failures", "rejected_connections", "denied_connections",
                "idle_closed",
                "slow_requests_closed", "output_paused", "output_limit_closed", "input_buffered_bytes",
                "input_budget_closed"):
        assert key in server, key
    assert server["connections_open"] >= 2  # this raw connection and r3
    assert stats["tiers"]["l1"]["max_bytes"] == 256 * 1024 * 1024
    assert isinstance(stats["tiers"]["l1"]["hit_ratio"], float)


def test_stats_resp2_is_flat_pairs(px):
    with px.raw() as conn:
        raw = conn.command("STATS")
    assert isinstance(raw, list)
    stats = pairs_to_dict(raw)
    assert list(stats) == ["server", "tiers", "types", "commands", "backend", "policy", "warming", "resilience",
                           "alerts", "users"]
    assert list(stats["resilience"]["breakers"]) == ["database"]
    assert list(stats["resilience"]["breakers"]["database"]) == BREAKER_KEYS
    assert stats["resilience"]["breakers"]["database"]["state"] == "closed"
    assert list(stats["tiers"]["l1"]) == L1_KEYS
    assert list(stats["types"]["user_sessions"]) == TYPE_KEYS
    # Doubles are decimal strings in RESP2.
    assert float(stats["types"]["user_sessions"]["ttl_seconds"]) == 1800.0


def test_stats_of_one_type(px, r3):
    r3.get("user_sessions:2")
    stats = px.stats("user_sessions")
    assert list(stats) == TYPE_KEYS
    assert list(stats["l1"]) == TYPE_L1_KEYS
    assert stats["ttl_seconds"] == 1800.0
    assert stats == px.stats()["types"]["user_sessions"]
    default = px.stats("default")
    assert list(default) == TYPE_KEYS
    with px.raw() as conn:
        reply = conn.command("STATS", "nosuch")
        assert reply == Err("ERR no data type 'nosuch'; known: api_responses, auth_tokens, compliance_checks, "
                            "governance_rules, key, policy_decisions, static_config, synthesis_results, "
                            "user_sessions, default")
        assert conn.command("STATS", "a", "b") == Err("ERR wrong number of arguments for 'stats' command")


def test_hit_ratio_math(proxy):
    p = proxy()
    r = p.client(protocol=3)
    # static_config: 1 miss + 3 hits; auth_tokens: 2 misses (one absent) + 2 hits; others untouched.
    r.get("static_config:1")
    for _ in range(3):
        r.get("static_config:1")
    r.get("auth_tokens:1")
    r.get("auth_tokens:5555")
    r.get("auth_tokens:1")
    r.get("auth_tokens:5555")
    stats = p.stats()
    sc = stats["types"]["static_config"]
    assert (sc["l1"]["hits"], sc["l1"]["misses"], sc["l1"]["hit_ratio"]) == (3, 1, 0.75)
    assert (sc["loads"], sc["loads_absent"], sc["l1"]["entries"]) == (1, 0, 1)
    at = stats["types"]["auth_tokens"]
    assert (at["l1"]["hits"], at["l1"]["misses"], at["l1"]["hit_ratio"]) == (2, 2, 0.5)
    assert (at["loads"], at["loads_absent"], at["l1"]["entries"]) == (2, 1, 2)
    l1 = stats["tiers"]["l1"]
    assert (l1["hits"], l1["misses"], l1["hit_ratio"]) == (5, 3, 5 / 8)
    assert l1["entries"] == 3
    # The tier's bytes are what counts against --l1-max-memory: the types' entries and the eviction policy's sketch.
    assert l1["bytes"] - l1["memory"]["policy_bytes"] == sum(t["l1"]["bytes"] for t in stats["types"].values()) > 0
    untouched = stats["types"]["governance_rules"]
    assert (untouched["l1"]["hits"], untouched["l1"]["misses"], untouched["l1"]["hit_ratio"]) == (0, 0, 0.0)
    assert stats["commands"]["GET"]["count"] == 8
    assert stats["backend"]["load"]["count"] == 3
    assert stats["backend"]["errors"] == 0


def test_command_latency_counts(proxy):
    p = proxy()
    r = p.client(protocol=3)
    for i in range(10):
        r.get(f"user_sessions:{i + 1}")
    r.set("user_sessions:x", "1")
    r.delete("user_sessions:x")
    r.execute_command("QUERY", "SELECT 1 AS one")
    r.execute_command("SQL.EXEC", "UPDATE user_sessions SET data = data WHERE id = 'none'")
    commands = p.stats()["commands"]
    assert commands["GET"]["count"] == 10
    assert commands["SET"]["count"] == 1
    assert commands["DEL"]["count"] == 1
    assert commands["QUERY"]["count"] == 1
    assert commands["SQL.EXEC"]["count"] == 1
    for name, latency in commands.items():
        assert latency["count"] > 0, name
        assert 0 <= latency["p50_us"] <= latency["p90_us"] <= latency["p99_us"] <= latency["p99.9_us"] <= \
            latency["max_us"], (name, latency)
    backend = p.stats()["backend"]
    assert (backend["store"]["count"], backend["delete"]["count"], backend["exec"]["count"]) == (1, 1, 1)


def test_tiercache_stats_table(px, r3):
    r3.get("user_sessions:3")
    r3.get("user_sessions:3")
    expected = px.stats()
    result = run_tiercache("stats", "--port", str(px.port))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert out.startswith("TierCache ")
    for name in SHIPPED_TYPES + [BENCHMARK_TYPE, "default"]:
        assert re.search(rf"^{name}\s", out, re.M), name
    assert re.search(r"^TYPE\s+L1 HITS\s+L1 MISSES\s+HIT RATIO", out, re.M)
    get_row = re.search(r"^GET\s+(\d+)\s", out, re.M)
    assert get_row, out
    assert int(get_row.group(1)) == expected["commands"]["GET"]["count"]
    row = re.search(r"^user_sessions\s+(\d+)\s+(\d+)\s+([\d.]+)%", out, re.M)
    us = expected["types"]["user_sessions"]["l1"]
    assert (int(row.group(1)), int(row.group(2))) == (us["hits"], us["misses"])
    assert float(row.group(3)) == pytest.approx(us["hit_ratio"] * 100, abs=0.051)
    assert re.search(r"^l1\s+\d+", out, re.M)
    l1 = expected["tiers"]["l1"]
    assert re.search(rf"^L1 eviction w-tinylfu, no entry bound; \d+ bytes counted = \d+ keys and values \+ \d+ overhead "
                     rf"\(96 per entry, sketch \d+\)$", out, re.M), out
    assert not re.search(r"^(pools|health)\s", out, re.M), "maps are not latency rows"
    pools = "readers 0/4 in use, 0 waiting, 0 timed out; writer 0/1 in use, 0 waiting, 0 timed out; client_readers" \
        " 0/3 in use" if px.backend == "sqlite" else "loads 0/4 in use, 0 waiting, 0 timed out; client_reads 0/2 in" \
        " use, 0 waiting, 0 timed out; writes 0/2 in use"
    assert re.search(rf"^DATABASE {pools}, 0 waiting, 0 timed out; health (unchecked|ok)", out, re.M), out
    assert re.search(r"^BREAKER\s+STATE\s+FOR S\s+CALLS\s+FAILED\s+SLOW\s+OPENED\s+REJECTED$", out, re.M), out
    assert re.search(r"^database\s+closed\s+[\d.]+\s+\d+\s+[\d.]+%\s+[\d.]+%\s+0\s+0$", out, re.M), out
    assert re.search(rf"^POLICY version {expected['policy']['version']}, 9 types, loaded \d+s ago, 0 reloads, 0 refused$",
                     out, re.M), out


def test_tiercache_stats_json_matches_stats(px, r3):
    for i in range(1, 6):
        r3.get(f"api_responses:{i}")
        r3.get(f"api_responses:{i}")
    expected = px.stats()
    result = run_tiercache("stats", "--port", str(px.port), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert list(data) == list(expected)
    # The stats command itself sends HELLO and STATS only: types, tiers and GET latency are unchanged by it.
    assert data["types"] == expected["types"]
    assert data["tiers"] == expected["tiers"]
    assert data["commands"]["GET"] == expected["commands"]["GET"]
    assert data["backend"]["load"] == expected["backend"]["load"]
    assert data["server"]["version"] == expected["server"]["version"]


def test_tiercache_stats_of_one_type(px, r3):
    r3.get("static_config:9")
    expected = px.stats("static_config")
    result = run_tiercache("stats", "--port", str(px.port), "--json", "static_config")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected
    result = run_tiercache("stats", "--port", str(px.port), "static_config")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("static_config\n  l1:\n    hits: ")
    assert f"  loads: {expected['loads']}\n" in result.stdout
    result = run_tiercache("stats", "--port", str(px.port), "nosuch")
    assert result.returncode == 1
    assert "no data type 'nosuch'" in result.stderr


def test_tiercache_stats_with_password(proxy):
    p = proxy("--requirepass", "pw1")
    result = run_tiercache("stats", "--port", str(p.port), "--password", "pw1", "--json")
    assert result.returncode == 0, result.stderr
    assert "types" in json.loads(result.stdout)
    result = run_tiercache("stats", "--port", str(p.port), "--json", env={"TIERCACHE_REQUIREPASS": "pw1"})
    assert result.returncode == 0, result.stderr
    result = run_tiercache("stats", "--port", str(p.port), "--password", "wrong")
    assert result.returncode == 1
    assert "WRONGPASS" in result.stderr
    result = run_tiercache("stats", "--port", str(p.port))
    assert result.returncode == 1
    assert "NOAUTH" in result.stderr


def test_tiercache_stats_no_proxy(tmp_path):
    from conftest import free_port
    result = run_tiercache("stats", "--port", str(free_port()))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("tiercache stats: ")


def test_server_counters(proxy):
    p = proxy()
    with RawConnection(p.port) as conn:
        conn.command("GET", "no-type")
        conn.command("NOSUCH")
        conn.command("PING")
    stats = p.stats()["server"]
    assert stats["error_replies"] == 2
    assert stats["protocol_errors"] == 0
    with RawConnection(p.port) as conn:
        conn.send(b"*abc\r\n")
        conn.expect_closed()
    assert p.stats()["server"]["protocol_errors"] == 1
    # Closed connections are forgotten (the only one open is the STATS connection itself).
    assert wait_for(lambda: p.stats()["server"]["connections_open"] == 1), p.stats()["server"]


def watch(px, *args: str, terminal: bool, until) -> tuple[bytes, int]:
    """`tiercache stats --watch …` on a terminal (a pty) or a pipe, until `until(output)`; then Ctrl-C (SIGINT).
    Returns what it printed and its exit status."""
    import os
    import pty
    import select
    import signal
    import subprocess
    import time

    from conftest import clean_environment, tiercache_binary
    argv = [str(tiercache_binary()), "stats", "--port", str(px.port), "--watch", *args]
    if terminal:
        reader, writer = pty.openpty()
    else:
        reader, writer = os.pipe()
    process = subprocess.Popen(argv, stdout=writer, stderr=writer, stdin=subprocess.DEVNULL,
                               env=clean_environment(None))
    os.close(writer)
    output = b""
    deadline = time.monotonic() + 15
    try:
        while time.monotonic() < deadline and not until(output):
            if select.select([reader], [], [], 0.2)[0]:
                output += os.read(reader, 65536)
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=5)
        while select.select([reader], [], [], 0.2)[0]:
            try:
                chunk = os.read(reader, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(reader)
    return output, status


def test_stats_watch_redraws_rates_in_place_and_stops_cleanly_on_ctrl_c(px, r3):
    r3.get("user_sessions:1")
    clear = b"\x1b[H\x1b[2J"

    def two_screens_with_traffic(output: bytes) -> bool:
        r3.get("user_sessions:1")  # an L1 hit between screens
        return output.count(clear) >= 3

    output, status = watch(px, "500ms", terminal=True, until=two_screens_with_traffic)
    assert status == 0, output[-2000:]
    text = output.decode(errors="replace")
    last = text.rsplit(clear.decode(), 1)[1]
    assert "every 0.5s" in last and "Ctrl-C to stop" in last, last
    assert re.search(r"^l1\s+\d+\.\d\s+\d+\.\d\s+100\.0%", last, re.M), last  # hits per second, all hits
    assert re.search(r"^user_sessions\s+\d+\.\d", last, re.M), last
    assert output.startswith(b"\x1b[?25l") and output.rstrip().endswith(b"\x1b[?25h"), output[-50:]


def test_stats_watch_on_a_pipe_prints_blocks_without_screen_control(px):
    output, status = watch(px, terminal=False, until=lambda out: out.count(b"Ctrl-C to stop") >= 2)
    assert status == 0
    assert b"\x1b[" not in output
    assert b"first sample" in output and b"every 1.0s" in output


def test_stats_watch_refuses_a_bad_interval(px):
    done = run_tiercache("stats", "--port", str(px.port), "--watch", "5x")
    assert done.returncode != 0 and "--watch takes an interval like 1s, 500ms or 2; got '5x'" in done.stderr
