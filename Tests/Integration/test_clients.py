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

from conftest import demo_database, demo_value
from test_l2 import RedisServer, wait_status

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
def secured(module_proxy_launcher, backend, request):
    return module_proxy_launcher("--requirepass", PASSWORD, database_url=demo_database(request, backend, "_secured"))


@pytest.fixture(scope="module")
def with_l2(tmp_path_factory, backend, request):
    """A proxy with the shared Redis tier (its own launcher, so it stops before its redis-server)."""
    from conftest import ProxyLauncher
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    launcher = ProxyLauncher(tmp_path_factory.mktemp("l2-proxies"))
    try:
        proxy = launcher("--redis", server.url, database_url=demo_database(request, backend, "_l2"))
        wait_status(proxy, "up")
        yield proxy
    finally:
        problems = launcher.stop_all()
        server.stop()
    assert not problems, problems


@pytest.fixture(params=["open", "requirepass", "redis"])
def target(request, px, secured, with_l2):
    """(proxy, password) for each deployment the clients are tried against."""
    return {"open": (px, None), "requirepass": (secured, PASSWORD), "redis": (with_l2, None)}[request.param]


def stored(px, i: int):
    rows = px.sql(f"SELECT data FROM user_sessions WHERE id = '{i}'")
    return rows[0][0] if rows else None


def run_script(interpreter: str, script: str, env: dict, port: int, password: str | None) -> dict[str, str]:
    binary = shutil.which(interpreter)
    if binary is None:
        pytest.fail(f"{interpreter} is not installed: scripts/install-deps.sh test installs it")
    args = [binary, str(CLIENTS / script), str(port)] + ([password] if password else [])
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    return lines


@pytest.mark.parametrize("name,interpreter,script,env", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_client_in_its_default_configuration(target, name, interpreter, script, env):
    target, password = target
    out = run_script(interpreter, script, env, target.port, password)
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
    assert target.stats()["server"]["auth_failures"] == 0


def test_valkey_py_in_its_default_configuration(target):
    import valkey  # installed by scripts/install-deps.sh test
    target, password = target
    client = valkey.Valkey(port=target.port, password=password)
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


def test_redis_py_sync_and_async_defaults(target):
    px, password = target
    # RESP3 (HELLO 3, with AUTH when there is a password), CLIENT SETINFO, MAINT_NOTIFICATIONS on connect.
    client = redis.Redis(port=px.port, password=password)
    assert client.get("user_sessions:21") == demo_value("user_sessions", 21)
    assert client.pipeline().set("user_sessions:21", "sync tx").get("user_sessions:21").execute() == [
        True, b"sync tx"]
    client.close()

    async def main():
        aclient = redis.asyncio.Redis(port=px.port, password=password)
        assert await aclient.get("user_sessions:22") == demo_value("user_sessions", 22)
        async with aclient.pipeline() as pipe:
            results = await pipe.set("user_sessions:22", "async tx").get("user_sessions:22").execute()
        assert results == [True, b"async tx"]
        await aclient.aclose()

    asyncio.run(main())
    assert stored(px, 21) == "sync tx" and stored(px, 22) == "async tx"
    refused = px.stats()["commands"].get("refused", {})
    assert set(refused) <= {"NOSUCHCOMMAND"}, refused  # nothing these clients send on connect is refused
