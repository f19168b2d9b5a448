"""The `tiercache` command line: policy check, serve refusing bad policies, POLICY over RESP."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (REPO_ROOT, SHIPPED_POLICIES, Err, Simple, clean_environment, decode_tree, free_port,
                      run_tiercache, tiercache_binary, write_policy, wait_for)

BAD_TTL = """\
types:
  widgets:
    load: SELECT data FROM user_sessions WHERE id = ?
    tables: [user_sessions]
    ttl: 30x
"""

MISSING_TABLE = """\
# A type reading a table the database lacks.
types:
  widgets:
    load: SELECT data FROM no_such_table WHERE id = ?
    tables: [no_such_table]
    ttl: 30s
"""


def serve_expecting_failure(tmp_path: Path, policies: Path, timeout: float = 10.0):
    """Runs `tiercache serve` that must refuse to start; returns (exit code, stderr, seconds, port)."""
    port = free_port()
    started = time.monotonic()
    result = subprocess.run(
        [str(tiercache_binary()), "serve", "--listen", f"127.0.0.1:{port}", "--database",
         f"sqlite:{tmp_path / 'serve.db'}", "--policies", str(policies)],
        cwd=tmp_path, env=clean_environment(None), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=timeout,
    )
    return result.returncode, result.stderr, time.monotonic() - started, port


def assert_not_listening(port: int) -> None:
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex(("127.0.0.1", port)) != 0, f"something listens on {port}"


def test_policy_check_shipped_policies():
    result = run_tiercache("policy", "check", "ttl-policies", cwd=REPO_ROOT)
    assert (result.returncode, result.stdout, result.stderr) == (0, "ttl-policies: ok, 9 types in 5 files\n", "")
    # Default path is ttl-policies, relative to the working directory.
    result = run_tiercache("policy", "check", cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    # A single file.
    result = run_tiercache("policy", "check", str(SHIPPED_POLICIES / "sessions.yaml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(": ok, 2 types in 1 files\n")


def test_policy_check_bad_ttl_reports_file_line_column(tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "bad.yaml", BAD_TTL)
    result = run_tiercache("policy", "check", str(policies))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [f"{policies}/bad.yaml:5:10: type 'widgets': invalid ttl '30x' (expected seconds or a number "
                     "with unit ms, s, m, h, d, e.g. 30s, 10m)"]


def test_policy_check_reports_every_error(tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "a.yaml", """\
types:
  one:
    load: SELECT data FROM user_sessions WHERE id = ?
    tables: [user_sessions]
    ttl: 5 minutes
  two:
    tables: [user_sessions]
    ttl: 1m
""")
    write_policy(policies, "b.yaml", """\
types:
  three:
    load: SELECT data FROM user_sessions WHERE id = ?
    tables: [user_sessions]
    tll: 1m
""")
    result = run_tiercache("policy", "check", str(policies))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"{policies}/a.yaml:5:10: ") for line in lines), lines
    assert any(line.startswith(f"{policies}/a.yaml:6:") and "load" in line for line in lines), lines
    assert any(line.startswith(f"{policies}/b.yaml:5:") and "tll" in line for line in lines), lines
    for line in lines:
        assert line.split(":")[0].endswith(".yaml") and line.split(":")[1].isdigit(), line


def test_policy_check_missing_path(tmp_path):
    result = run_tiercache("policy", "check", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{tmp_path / 'nope'}:1:1: ")


def test_policy_check_yaml_syntax_error(tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "broken.yaml", "types:\n  x: [unclosed\n")
    result = run_tiercache("policy", "check", str(policies))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{policies}/broken.yaml:"), result.stderr


def test_serve_with_invalid_policy_exits_quickly_without_listening(tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "bad.yaml", BAD_TTL)
    code, stderr, seconds, port = serve_expecting_failure(tmp_path, policies)
    assert code == 1
    assert seconds < 10
    assert f"{policies}/bad.yaml:5:10: type 'widgets': invalid ttl '30x'" in stderr
    assert "listening" not in stderr
    assert_not_listening(port)


def test_serve_refuses_load_of_missing_table(tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "m.yaml", MISSING_TABLE)
    code, stderr, seconds, port = serve_expecting_failure(tmp_path, policies)
    assert code == 1
    assert seconds < 10
    # Line 4, column 11: the load statement's place in the file.
    assert (f"{policies}/m.yaml:4:11: type 'widgets': load statement does not prepare: no such table: no_such_table"
            in stderr.splitlines())
    assert "listening" not in stderr
    assert_not_listening(port)


def test_serve_refuses_wrong_placeholder_counts(tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "w.yaml", """\
types:
  widgets:
    load: SELECT data FROM user_sessions WHERE id = ?
    store: UPDATE user_sessions SET data = ? WHERE id = ? AND data = ?
    delete: DELETE FROM user_sessions
    tables: [user_sessions]
    ttl: 30s
""")
    code, stderr, _, port = serve_expecting_failure(tmp_path, policies)
    assert code == 1
    assert stderr.splitlines() == [
        f"{policies}/w.yaml:4:12: type 'widgets': store has 3 '?' placeholders, expected 2 (the id, then the value)",
        f"{policies}/w.yaml:5:13: type 'widgets': delete has 0 '?' placeholders, expected 1 (the id)",
    ]
    assert_not_listening(port)


def test_serve_refuses_load_that_writes(tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "w.yaml", """\
types:
  widgets:
    load: DELETE FROM user_sessions WHERE id = ?
    tables: [user_sessions]
    ttl: 30s
""")
    code, stderr, _, port = serve_expecting_failure(tmp_path, policies)
    assert code == 1
    assert f"{policies}/w.yaml:3:11: type 'widgets': load statement must be read-only" in stderr.splitlines(), stderr
    assert_not_listening(port)
    # The database was not touched by the refused statement.
    import sqlite3
    with sqlite3.connect(tmp_path / "serve.db") as db:
        assert db.execute("SELECT count(*) FROM user_sessions").fetchone() == (1000,)


@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--listen", "nonsense", "--listen must be HOST:PORT"),
        ("--database", "postgres://x", "--database: postgres:// needs a database"),
        ("--l1-max-memory", "lots", "--l1-max-memory must be a size"),
        ("--l1-eviction", "lfu", "--l1-eviction must be w-tinylfu or lru; got 'lfu'"),
        ("--l1-max-entries", "0", "--l1-max-entries must be a positive count; got '0'"),
        ("--threads", "0", "--threads must be 1…64"),
        ("--log-level", "loud", "--log-level must be one of"),
    ],
)
def test_serve_refuses_bad_flags(tmp_path, flag, value, message):
    args = [str(tiercache_binary()), "serve", "--database", f"sqlite:{tmp_path / 'f.db'}", "--policies",
            str(SHIPPED_POLICIES)]
    if flag != "--listen":
        args += ["--listen", f"127.0.0.1:{free_port()}"]
    result = subprocess.run([*args, flag, value], cwd=tmp_path, env=clean_environment(None),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    assert result.returncode != 0
    assert message in result.stderr


def test_serve_with_custom_valid_policy(proxy, tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "only.yaml", """\
types:
  sess:
    prefix: s
    load: SELECT data FROM user_sessions WHERE id = ?
    store: UPDATE user_sessions SET data = ? WHERE id = ?
    tables: [user_sessions]
    ttl: 10s
""")
    p = proxy(policies=policies)
    r = p.client(protocol=3)
    assert r.get("s:1") is not None
    with p.raw() as conn:
        reply = conn.command("GET", "user_sessions:1")
        assert isinstance(reply, Err) and reply.startswith("ERR no data type for key 'user_sessions:1': keys are "
                                                           "PREFIX:ID with PREFIX one of s"), reply
        reply = conn.command("DEL", "s:1")
        assert reply == Err("ERR type 'sess' has no delete statement; DEL is not available for it")
    assert list(p.stats()["types"]) == ["sess", "default"]


def test_policy_check_reports_a_broken_edit_of_the_running_directory(proxy, tmp_path):
    import shutil
    policies = tmp_path / "policies"
    shutil.copytree(SHIPPED_POLICIES, policies)
    p = proxy(policies=policies)
    write_policy(policies, "bad.yaml", BAD_TTL)
    with p.raw() as conn:
        reply = conn.command("POLICY", "CHECK")
        assert reply == Err(f"ERR policy at {policies} has 1 error: {policies}/bad.yaml:5:10: type 'widgets': invalid "
                            "ttl '30x' (expected seconds or a number with unit ms, s, m, h, d, e.g. 30s, 10m)")
        # The running policy is untouched.
        assert conn.command("GET", "user_sessions:1") is not None


def test_policy_commands_over_resp(px, tmp_path):
    bad = tmp_path / "bad"
    write_policy(bad, "bad.yaml", BAD_TTL)
    with px.raw() as conn:
        assert conn.command("POLICY", "CHECK") == Simple(f"OK 9 types in 5 files under {SHIPPED_POLICIES}")
        # Clients may not make the proxy read other paths; operators have `tiercache policy check PATH`.
        reply = conn.command("POLICY", "CHECK", str(bad))
        assert reply == Err("ERR POLICY CHECK validates the running policy directory only; "
                            "use `tiercache policy check PATH` for other paths")
        reply = conn.command("POLICY", "FROB")
        assert reply == Err("ERR unknown POLICY subcommand; use POLICY SHOW, POLICY CHECK or POLICY RELOAD")
        conn.command("HELLO", "3")
        show = decode_tree(conn.command("POLICY", "SHOW"))
    assert show["path"] == str(SHIPPED_POLICIES)
    assert sorted(show["types"]) == sorted(["user_sessions", "auth_tokens", "policy_decisions", "governance_rules",
                                            "static_config", "api_responses", "compliance_checks",
                                            "synthesis_results", "key"])
    auth = show["types"]["auth_tokens"]
    assert auth["ttl_seconds"] == 3600.0
    assert auth["load"] == "SELECT user_id, scopes, expires_at FROM auth_tokens WHERE id = ?"
    assert "store" not in auth
    assert auth["source"].startswith(f"{SHIPPED_POLICIES}/sessions.yaml:")
    assert show["default"]["cache"] == 0


def test_serve_logs_listening_and_creates_demo_database(proxy):
    p = proxy()
    # The port accepts as soon as it is bound, a moment before the line is logged: wait for it.
    assert wait_for(lambda: "listening" in p.log()), p.log()
    assert p.db_path.exists()
    import sqlite3
    with sqlite3.connect(p.db_path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"user_sessions", "auth_tokens", "policy_decisions", "governance_rules", "static_config",
                "api_responses", "compliance_checks", "synthesis_results"} <= tables
        assert db.execute("SELECT min(CAST(id AS INTEGER)), max(CAST(id AS INTEGER)), count(*) "
                          "FROM user_sessions").fetchone() == (1, 1000, 1000)


def test_serve_refuses_unopenable_database(tmp_path):
    port = free_port()
    result = subprocess.run(
        [str(tiercache_binary()), "serve", "--listen", f"127.0.0.1:{port}", "--database",
         f"sqlite:{tmp_path / 'no' / 'such' / 'dir.db'}", "--policies", str(SHIPPED_POLICIES)],
        cwd=tmp_path, env=clean_environment(None), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=10)
    assert result.returncode == 1
    assert f"cannot open database sqlite:{tmp_path / 'no' / 'such' / 'dir.db'}: " in result.stderr
    assert_not_listening(port)


def test_serve_on_a_taken_port_says_so_and_exits_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(tiercache_binary()), "serve", "--listen", f"127.0.0.1:{port}", "--database",
             f"sqlite:{tmp_path / 'db.db'}", "--policies", str(SHIPPED_POLICIES)],
            cwd=tmp_path, env=clean_environment(None), stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=10)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: " in result.stderr
    assert "Address already in use" in result.stderr


def test_environment_variables_configure_serve_and_flags_win(proxy):
    p = proxy(env={"TIERCACHE_L1_MAX_MEMORY": "64kb", "TIERCACHE_MAX_INLINE_LENGTH": "100"})
    assert p.stats()["tiers"]["l1"]["max_bytes"] == 64 * 1024
    with p.raw() as conn:
        conn.send(b"ECHO " + b"x" * 200 + b"\r\n")
        assert conn.expect_closed() == b"-ERR Protocol error: too big inline request (limit 100 bytes)\r\n"
    q = proxy("--l1-max-memory", "1mb", env={"TIERCACHE_L1_MAX_MEMORY": "64kb"})
    assert q.stats()["tiers"]["l1"]["max_bytes"] == 1024 * 1024


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_serve_stops_cleanly_on_signal(proxy, sig):
    import os
    import signal as signals
    p = proxy()
    r = p.client(protocol=3)
    assert r.get("user_sessions:1") is not None
    os.kill(p.process.pid, getattr(signals, sig))
    assert p.process.wait(timeout=10) == 0, p.log()
    assert "shut down" in p.log()
