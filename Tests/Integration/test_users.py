"""Users and permissions (issue 17): a users file (`--users`) of users with their passwords' SHA-256 and the
command categories and types each may use, checked with real clients in their default configurations (redis-py,
redis-cli), reloaded while connections stay, and followed by protected mode and the admin listener."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request

import pytest
import redis

from conftest import Err, RawConnection, Simple, demo_value, free_port, redis_cli, run_tiercache, wait_for
from test_protected_mode import outside_address

def sha(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


USERS = f"""\
users:
  reader:
    password_sha256: {sha("read-pass")}
    commands: [read]
    types: [user_sessions]
  writer:
    password_sha256: {sha("write-pass")}
    commands: [read, write]
    types: [user_sessions, auth_tokens]
  ops:
    password_sha256: [{sha("ops-pass")}, {sha("ops-next")}]
    commands: [read, write, sql, admin]
    types: ['*']
  retired:
    password_sha256: {sha("old-pass")}
    enabled: false
    commands: [read]
    types: ['*']
"""


def nopermission_to_run(command: str) -> str:
    return f"NOPERM this user has no permissions to run the '{command}' command"


def nopermission_type(type_name: str) -> str:
    return f"NOPERM this user has no permissions to access the '{type_name}' type"


def start(proxy, tmp_path, text: str = USERS, *args: str):
    users = tmp_path / "users.yaml"
    users.write_text(text)
    px = proxy("--users", str(users), "--policy-poll-interval", "200ms", *args, wait=False)
    px.username, px.password = "ops", "ops-pass"  # for the harness' STATS and start-up check
    px.wait_ready()
    return px, users


def client(px, user: str | None, password: str | None, protocol: int = 2, **options) -> redis.Redis:
    """A redis-py client as an application builds one: username and password, default options otherwise."""
    connection = redis.Redis(host=px.host, port=px.port, username=user, password=password, protocol=protocol,
                             **options)
    px._clients.append(connection)
    return connection


def test_each_user_gets_its_commands_and_types(proxy, tmp_path):
    px, _ = start(proxy, tmp_path)
    with RawConnection(px.port) as anonymous:  # the users file gives default no password: everyone must AUTH
        assert anonymous.command("GET", "user_sessions:1") == Err("NOAUTH Authentication required.")
        assert anonymous.command("AUTH", "read-pass") == Err(
            "WRONGPASS invalid username-password pair or user is disabled.")

    reader = client(px, "reader", "read-pass")
    assert reader.get("user_sessions:1") == demo_value("user_sessions", 1)
    assert reader.mget("user_sessions:1", "user_sessions:2") == [demo_value("user_sessions", i) for i in (1, 2)]
    assert reader.exists("user_sessions:3") == 1
    assert reader.execute_command("ACL", "WHOAMI") == b"reader"
    refusals = [
        (lambda: reader.get("auth_tokens:1"), nopermission_type("auth_tokens")),
        (lambda: reader.mget("user_sessions:1", "static_config:1"), nopermission_type("static_config")),
        (lambda: reader.set("user_sessions:1", "x"), nopermission_to_run("set")),
        (lambda: reader.delete("user_sessions:1"), nopermission_to_run("del")),
        (lambda: reader.execute_command("SQL.EXEC", "DELETE FROM user_sessions"), nopermission_to_run("sql.exec")),
        (lambda: reader.execute_command("STATS"), nopermission_to_run("stats")),
        (lambda: reader.execute_command("CLIENT", "LIST"), nopermission_to_run("client")),
        (lambda: reader.execute_command("ACL", "LIST"), nopermission_to_run("acl")),
        (lambda: reader.execute_command("MULTI"), nopermission_to_run("multi")),
        (lambda: reader.execute_command("QUERY", "SELECT count(*) FROM auth_tokens"), nopermission_type("auth_tokens")),
    ]
    for call, message in refusals:
        with pytest.raises(redis.exceptions.NoPermissionError, match="^" + message.removeprefix("NOPERM ") + "$"):
            call()
    # QUERY is judged by the tables it read, the cached result's too: ops caches a result reading auth_tokens,
    # and the reader still may not see it.
    ops = client(px, "ops", "ops-pass")
    joined = "SELECT count(*) FROM user_sessions JOIN auth_tokens ON 1 = 1 WHERE user_sessions.id = '1'"
    assert ops.execute_command("QUERY", joined) == ops.execute_command("QUERY", joined)
    with pytest.raises(redis.exceptions.NoPermissionError, match="'auth_tokens' type"):
        reader.execute_command("QUERY", joined)
    assert reader.execute_command("QUERY", "SELECT count(*) FROM user_sessions") != []
    # A table no type reads is no type's: refused to a user limited to some types.
    assert ops.execute_command("SQL.EXEC", "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT)") == 0
    with pytest.raises(redis.exceptions.NoPermissionError, match="'notes' table: no type it may access reads it"):
        reader.execute_command("QUERY", "SELECT count(*) FROM notes")
    # SCAN and KEYS list only the reader's types.
    ops.get("auth_tokens:1")
    reader.get("user_sessions:1")
    assert set(ops.keys("*")) == {b"auth_tokens:1", b"user_sessions:1"}
    assert reader.keys("*") == [b"user_sessions:1"]
    assert reader.scan(0, count=1000)[1] == [b"user_sessions:1"]
    assert px.stats()["server"]["permission_refusals"] >= len(refusals) + 2

    writer = client(px, "writer", "write-pass")
    assert writer.set("user_sessions:9", "written") is True
    assert reader.get("user_sessions:9") == b"written"
    pipe = writer.pipeline()  # MULTI/EXEC, as redis-py sends it
    pipe.set("user_sessions:10", "ten").get("user_sessions:10")
    assert pipe.execute() == [True, b"ten"]
    pipe = writer.pipeline()
    pipe.set("user_sessions:9011", "x").get("static_config:1")
    with pytest.raises(redis.exceptions.NoPermissionError,
                       match=r"Command # 2 \(GET static_config:1\) of pipeline caused error: this user has no "
                             r"permissions to access the 'static_config' type"):
        pipe.execute()  # redis-py reports the refusal while queuing, as with Redis (EXEC then aborts)
    assert px.sql("SELECT data FROM user_sessions WHERE id = '9011'") == []  # refused while queuing: nothing ran

    # ops: everything, and a second password works (rotation).
    assert client(px, "ops", "ops-next").execute_command("ACL", "WHOAMI") == b"ops"
    assert ops.execute_command("SQL.EXEC", "UPDATE user_sessions SET data = 'ops' WHERE id = '2'") == 1
    assert sorted(ops.execute_command("ACL", "USERS")) == [b"ops", b"reader", b"retired", b"writer"]
    listed = [line.decode() for line in ops.execute_command("ACL", "LIST")]
    assert f"user reader on #{sha('read-pass')} types:user_sessions +@read" in listed
    assert f"user retired off #{sha('old-pass')} ~* +@read" in listed
    assert not any("pass" in line.split("#")[0].split()[-1] for line in listed)
    assert "read-pass" not in " ".join(listed)
    with pytest.raises(redis.exceptions.ResponseError, match="ACL SETUSER is not supported"):
        ops.execute_command("ACL", "SETUSER", "mallory", "on", ">x", "+@all")
    client_list = ops.execute_command("CLIENT", "LIST").decode()
    assert "user=reader" in client_list and "user=ops" in client_list

    # A disabled user, a wrong password: refused the same way. (redis-py's default retries would try again, each
    # attempt slower from the sixth failure in a minute, as failed AUTHs are slowed: retries off.)
    for user, password in [("retired", "old-pass"), ("reader", "write-pass"), ("nobody", "x")]:
        with pytest.raises(redis.exceptions.AuthenticationError,
                           match="invalid username-password pair or user is disabled"):
            client(px, user, password, retry=None).ping()


def test_hello_auth_and_redis_cli(proxy, tmp_path):
    px, _ = start(proxy, tmp_path)
    reader = client(px, "reader", "read-pass", protocol=3)  # HELLO 3 AUTH reader read-pass
    assert reader.get("user_sessions:1") == demo_value("user_sessions", 1)
    with RawConnection(px.port) as conn:
        assert conn.command("HELLO", "3", "AUTH", "writer", "write-pass")[b"proto"] == 3
        assert conn.command("SET", "auth_tokens:1", "x") == Err(
            "ERR type 'auth_tokens' has no store statement; SET is not available for it")
        assert conn.command("RESET") == Simple("RESET")  # back to default, which is off: must AUTH again
        assert conn.command("GET", "user_sessions:1") == Err("NOAUTH Authentication required.")
    cli = redis_cli(px.port, "--user", "reader", "--pass", "read-pass", "GET", "user_sessions:1", raw=True)
    assert cli.stdout.strip() == demo_value("user_sessions", 1).decode(), cli.stderr
    cli = redis_cli(px.port, "--user", "reader", "--pass", "read-pass", "SET", "user_sessions:1", "x", raw=True)
    assert "NOPERM this user has no permissions to run the 'set' command" in cli.stdout + cli.stderr


def test_stats_cli_logs_in_as_a_user_of_the_file(proxy, tmp_path):
    px, _ = start(proxy, tmp_path)
    ops = run_tiercache("stats", "--json", "--port", str(px.port), "--user", "ops", "--password", "ops-pass")
    assert ops.returncode == 0, ops.stderr
    assert "user_sessions" in json.loads(ops.stdout)["types"]
    by_environment = run_tiercache("stats", "--json", "--port", str(px.port),
                                   env={"TIERCACHE_USER": "ops", "TIERCACHE_REQUIREPASS": "ops-pass"})
    assert by_environment.returncode == 0, by_environment.stderr
    reader = run_tiercache("stats", "--port", str(px.port), "--user", "reader", "--password", "read-pass")
    assert reader.returncode != 0
    assert nopermission_to_run("stats") in reader.stdout + reader.stderr
    nobody = run_tiercache("stats", "--port", str(px.port), "--password", "ops-pass")  # as `default`
    assert nobody.returncode != 0
    assert "WRONGPASS" in nobody.stdout + nobody.stderr


def test_requirepass_is_the_default_users_password(proxy, tmp_path):
    px, users = start(proxy, tmp_path, USERS, "--requirepass", "default-pass")
    default = client(px, None, "default-pass")  # AUTH default-pass
    assert default.execute_command("ACL", "WHOAMI") == b"default"
    assert default.execute_command("STATS")  # default has every permission
    assert client(px, "reader", "read-pass").get("user_sessions:1") == demo_value("user_sessions", 1)
    # The file may not define default too.
    users.write_text(USERS + f"  default:\n    password_sha256: {sha('x')}\n    commands: [read]\n    types: ['*']\n")
    result = run_tiercache("serve", "--users", str(users), "--requirepass", "p", "--listen", f"127.0.0.1:{free_port()}",
                           "--database", f"sqlite:{tmp_path / 'x.db'}", timeout=30)
    assert result.returncode == 1
    assert f"{users}:19:3: user 'default' is defined here and by --requirepass" in result.stderr, result.stderr


def test_bad_users_file_stops_start_up_with_every_problem(tmp_path):
    users = tmp_path / "users.yaml"
    users.write_text("users:\n  reader:\n    password_sha256: read-pass\n    commands: [reed]\n    types: x\n")
    result = run_tiercache("serve", "--users", str(users), "--listen", f"127.0.0.1:{free_port()}",
                           "--database", f"sqlite:{tmp_path / 'x.db'}", timeout=30)
    assert result.returncode == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith(str(users))]
    assert [p.split(": ", 1)[0].removeprefix(str(users)) for p in problems] == [":3:22", ":4:16", ":5:12"], problems
    assert "read-pass" not in result.stderr  # a password pasted for its hash is never echoed


def test_reload_applies_to_open_connections_and_a_bad_file_keeps_the_users(proxy, tmp_path):
    px, users = start(proxy, tmp_path)
    writer = client(px, "writer", "write-pass")
    reader = client(px, "reader", "read-pass", retry=None)  # NOAUTH below: redis-py would reconnect and AUTH again
    assert writer.set("user_sessions:5", "before") is True
    # A broken file: refused, said where, and the users stay as they were.
    users.write_text(USERS.replace("commands: [read, write]", "commands: [read, wrte]"))
    assert wait_for(lambda: px.stats()["users"]["failed_reloads"] == 1, timeout=10)
    assert px.stats()["users"]["last_error"].startswith(f"{users}:8:22: user 'writer': unknown command category 'wrte'")
    assert writer.set("user_sessions:5", "still") is True
    # Writer loses write, reader is removed: both apply to the open connections at their next command.
    users.write_text(USERS.replace("commands: [read, write]", "commands: [read]").replace(
        f"  reader:\n    password_sha256: {sha('read-pass')}\n    commands: [read]\n    types: [user_sessions]\n", ""))
    assert wait_for(lambda: px.stats()["users"]["reloads"] == 1, timeout=10), px.log()[-2000:]
    assert px.stats()["users"]["last_error"] == ""
    with pytest.raises(redis.exceptions.NoPermissionError):
        writer.set("user_sessions:5", "after")
    assert writer.get("user_sessions:5") == b"still"
    with pytest.raises(redis.exceptions.AuthenticationError):
        reader.get("user_sessions:1")
    assert "users reloaded" in px.log()


def test_admin_listener_and_protected_mode_follow_the_users(proxy, tmp_path):
    address, admin = outside_address(), free_port()
    users = tmp_path / "users.yaml"
    users.write_text(USERS)
    port = free_port()
    px = proxy("--users", str(users), "--listen", f"0.0.0.0:{port}", "--admin-listen", f"0.0.0.0:{admin}",
               wait=False)
    px.port = port
    px.username, px.password = "ops", "ops-pass"
    px.wait_ready()
    # A users file is a password: protected mode lets other machines in, to AUTH.
    with RawConnection(port, host=address) as outside:
        assert outside.command("AUTH", "reader", "read-pass") == Simple("OK")
        assert outside.command("GET", "user_sessions:1") == demo_value("user_sessions", 1)

    def status(credentials: str | None) -> int:
        request = urllib.request.Request(f"http://{address}:{admin}/stats")
        if credentials:
            request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert status(None) == 401
    assert status("ops:ops-pass") == 200
    assert status("reader:read-pass") == 403
    assert status("ops:wrong") == 401
    with urllib.request.urlopen(f"http://{address}:{admin}/health/live", timeout=10) as response:
        assert response.status == 200  # probes need no one
