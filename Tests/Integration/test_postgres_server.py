"""The throwaway PostgreSQL server the test suite runs its PostgreSQL tests against (scripts/postgres-server.sh):
started from Debian's packages in a folder of its own, reachable with its password only, stopped by pid, and
gone without a trace."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import IN_CI, REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "postgres-server.sh"


def psql(url: str, sql: str, password: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    parsed = urlparse(url)
    return subprocess.run(
        ["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-h", parsed.hostname, "-p", str(parsed.port),
         "-U", parsed.username, "-d", parsed.path.lstrip("/"), "-w", "-c", sql],
        capture_output=True, text=True, env=env, timeout=30)


def test_a_throwaway_server_starts_answers_with_its_password_only_and_leaves_nothing() -> None:
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or subprocess.run(
            ["which", "psql"], capture_output=True).returncode != 0:
        message = "PostgreSQL is not installed (scripts/install-deps.sh test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    started = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    folder, url = started.stdout.split()
    directory = Path(folder)
    parsed = urlparse(url)
    try:
        assert parsed.scheme == "postgres" and parsed.hostname == "127.0.0.1" and parsed.path == "/tiercache_test"
        pid = int((directory / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)  # running

        answered = psql(url, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (7); SELECT id FROM t",
                        parsed.password)
        assert answered.returncode == 0, answered.stderr
        assert answered.stdout.split() == ["7"]
        refused = psql(url, "SELECT 1", None)
        assert refused.returncode != 0
        assert "password" in refused.stderr
        wrong = psql(url, "SELECT 1", "not-" + (parsed.password or ""))
        assert wrong.returncode != 0
        assert "password authentication failed" in wrong.stderr
    finally:
        stopped = subprocess.run([str(SCRIPT), "stop", str(directory)], capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert not directory.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
