"""The clients people use, each in its default configuration (issue 13): node-redis, phpredis, the Ruby redis gem and
Perl's Redis (Debian's packages), valkey-py and redis-py (PyPI). Each connects, reads, writes, pipelines, runs a
transaction and an aborted one (the database unchanged), authenticates, and sees errors as errors."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import redis
import redis.asyncio

from conftest import demo_value

CLIENTS = Path(__file__).parent / "clients"
PASSWORD = "s3cret-pass"

# (name, interpreter, script, extra environment)
SCRIPTS = [
    ("node-redis", "node", "client.js", {"NODE_PATH": "/usr/share/nodejs:/usr/lib/nodejs"}),
    ("phpredis", "php", "client.php", {}),
    ("ruby redis", "ruby", "client.rb", {}),
    ("perl Redis", "perl", "client.pl", {}),
]


@pytest.fixture(scope="module")
def secured(module_proxy_launcher):
    return module_proxy_launcher("--requirepass", PASSWORD)


def stored(px, i: int):
    with px.sqlite() as db:
        row = db.execute("SELECT data FROM user_sessions WHERE id = ?", (str(i),)).fetchone()
    return row[0] if row else None


def run_script(interpreter: str, script: str, env: dict, port: int, password: str | None) -> dict[str, str]:
    binary = shutil.which(interpreter)
    if binary is None:
        pytest.fail(f"{interpreter} is not installed: scripts/install-deps.sh test installs it")
    args = [binary, str(CLIENTS / script), str(port)] + ([password] if password else [])
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    return lines


@pytest.mark.parametrize("secure", [False, True], ids=["open", "requirepass"])
@pytest.mark.parametrize("name,interpreter,script,env", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_client_in_its_default_configuration(px, secured, name, interpreter, script, env, secure):
    target = secured if secure else px
    out = run_script(interpreter, script, env, target.port, PASSWORD if secure else None)
    assert out["get"] == demo_value("user_sessions", 1).decode()
    assert out["set"] in ("OK", "true")
    word = interpreter  # each script writes "written by node", "php tx", …
    assert out["pipeline"].replace('"', "") == f"[written by {word},1]", out
    assert out["multi"].replace('"', "").replace("true", "OK") == f"[OK,{word} tx]", out
    assert "ERR unknown command 'NOSUCHCOMMAND'" in out["aborted"] or "EXECABORT" in out["aborted"], out
    assert "ERR no data type for key 'nope" in out["error"], out
    assert f"{word} tx" in out["query"], out
    assert stored(target, 2) == f"written by {word}"
    assert stored(target, 3) == f"{word} tx"
    assert stored(target, 4) == demo_value("user_sessions", 4).decode()  # the aborted transaction wrote nothing
    if secure:
        assert secured.stats()["server"]["auth_failures"] == 0


@pytest.mark.parametrize("secure", [False, True], ids=["open", "requirepass"])
def test_valkey_py_in_its_default_configuration(px, secured, secure):
    import valkey  # installed by scripts/install-deps.sh test
    target = secured if secure else px
    client = valkey.Valkey(port=target.port, password=PASSWORD if secure else None)
    assert client.get("user_sessions:1") == demo_value("user_sessions", 1)
    info = client.client_info()  # parses every CLIENT INFO field (it raised KeyError: 'age' before)
    assert info["age"] >= 0 and info["cmd"] == "client" and info["resp"] == "2"
    pipe = client.pipeline()
    pipe.set("user_sessions:20", "valkey tx")
    pipe.get("user_sessions:20")
    assert pipe.execute() == [True, b"valkey tx"]
    with pytest.raises(valkey.exceptions.ResponseError):
        client.get("nope:1")
    assert client.info()["loading"] == 0
    client.close()


def test_redis_py_sync_and_async_defaults(px):
    client = redis.Redis(port=px.port)  # RESP3 (HELLO 3), CLIENT SETINFO, MAINT_NOTIFICATIONS on connect
    assert client.get("user_sessions:21") == demo_value("user_sessions", 21)
    assert client.pipeline().set("user_sessions:21", "sync tx").get("user_sessions:21").execute() == [
        True, b"sync tx"]
    client.close()

    async def main():
        aclient = redis.asyncio.Redis(port=px.port)
        assert await aclient.get("user_sessions:22") == demo_value("user_sessions", 22)
        async with aclient.pipeline() as pipe:
            results = await pipe.set("user_sessions:22", "async tx").get("user_sessions:22").execute()
        assert results == [True, b"async tx"]
        await aclient.aclose()

    asyncio.run(main())
    assert stored(px, 21) == "sync tx" and stored(px, 22) == "async tx"
    refused = px.stats()["commands"].get("refused", {})
    assert set(refused) <= {"NOSUCHCOMMAND"}, refused  # nothing these clients send on connect is refused
