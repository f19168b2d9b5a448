"""TierCache in front of PostgreSQL (issue 15): what only PostgreSQL has or does differently. The behaviour both
backends share runs in the other modules on both (the `backend` fixture). Each test here has a database of its
own on the run's PostgreSQL server; the failure tests that stop the server start one of their own."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
import redis

from conftest import (POSTGRES_SCRIPT, REPO_ROOT, get_or_none, postgres_database, psql, run_tiercache, wait_for,
                      write_policy)

ITEMS_POLICY = """\
types:
  people:
    load: SELECT name FROM people WHERE id = ?
    store: INSERT INTO people(id, name) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name
    delete: DELETE FROM people WHERE id = ?
    tables: [people]
    ttl: 1h
    max_stale: 1h
"""
BREAKER = "failure_rate=0.5,window=10,min_calls=4,open=2s,probes=1"


def database(server: str, request: pytest.FixtureRequest) -> str:
    name = "tp_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:50]
    return postgres_database(server, name)


def people_database(url: str, rows: int = 20) -> str:
    psql(url, "CREATE TABLE people (id integer PRIMARY KEY, name text NOT NULL)")
    psql(url, f"INSERT INTO people SELECT i, 'person ' || i FROM generate_series(1, {rows}) AS i")
    return url


def with_password(url: str, password: str | None) -> str:
    """`url` with its password replaced (None: without one)."""
    parsed = urlparse(url)
    user = parsed.username or ""
    auth = f"{user}:{password}@" if password is not None else f"{user}@"
    return urlunparse(parsed._replace(netloc=auth + f"{parsed.hostname}:{parsed.port}"))


@pytest.fixture
def pg_url(postgres_server: str, request: pytest.FixtureRequest) -> str:
    return database(postgres_server, request)


def test_integer_keys_bind_as_the_columns_type_and_a_bad_id_is_the_clients_mistake(proxy, tmp_path, pg_url):
    url = people_database(pg_url)
    px = proxy("--db-breaker", BREAKER, database_url=url, policies=write_policy(tmp_path, "p.yaml", ITEMS_POLICY))
    r = px.client()
    assert r.get("people:7") == b"person 7"
    for _ in range(10):
        with pytest.raises(redis.ResponseError, match=r"^DBERR 22P02 invalid input syntax for type integer"):
            r.get("people:abc")
    breaker = px.stats()["resilience"]["breakers"]["database"]
    assert breaker["state"] == "closed" and breaker["failure_rate"] == 0 and breaker["opened"] == 0, breaker
    assert r.get("people:8") == b"person 8"


def test_query_is_read_only_by_postgresqls_word(proxy, tmp_path, pg_url):
    url = people_database(pg_url)
    px = proxy(database_url=url, policies=write_policy(tmp_path, "p.yaml", ITEMS_POLICY))
    r = px.client()
    with pytest.raises(redis.exceptions.ReadOnlyError, match="25006"):
        r.execute_command("QUERY", "DELETE FROM people")
    with pytest.raises(redis.exceptions.ReadOnlyError, match="not a query"):
        r.execute_command("QUERY", "DROP TABLE people")
    assert r.execute_command("QUERY", "SELECT count(*) AS n FROM people") == [[b"n"], [20]]
    assert r.execute_command("QUERY", "SELECT name FROM people WHERE id = ?", "3") == [[b"name"], [b"person 3"]]


def test_postgresql_types_in_resp2_and_resp3(proxy, tmp_path, pg_url):
    """The README's type table, as a client sees it."""
    px = proxy(database_url=pg_url, policies=write_policy(tmp_path, "p.yaml", "types: {}\n"))
    sql = ("SELECT 7::int2 AS i2, 7::int8 AS i8, 2.50::numeric(5,2) AS num, 1.5::float8 AS f8, true AS b, "
           "'héllo'::text AS t, '\\x00ff'::bytea AS by, NULL::int AS z, '2026-12-04 10:00:00'::timestamp AS ts, "
           "'{1,NULL,3}'::int[] AS arr, '{\"a\": 1}'::jsonb AS j, '2026-12-04'::date AS d")
    r3 = px.client(protocol=3)
    header, row = r3.execute_command("QUERY", sql)
    assert header == [b"i2", b"i8", b"num", b"f8", b"b", b"t", b"by", b"z", b"ts", b"arr", b"j", b"d"]
    assert row == [7, 7, b"2.50", 1.5, 1, "héllo".encode(), b"\x00\xff", None, b"2026-12-04 10:00:00", b"{1,NULL,3}",
                   b'{"a": 1}', b"2026-12-04"]
    r2 = px.client(protocol=2)
    _, row2 = r2.execute_command("QUERY", sql)
    assert row2[:4] == [7, 7, b"2.50", b"1.5"]


def test_password_comes_from_a_file_or_pgpassword_and_shows_nowhere(proxy, tmp_path, postgres_server, pg_url):
    password = urlparse(postgres_server).password
    assert password
    url = people_database(pg_url)
    policies = write_policy(tmp_path, "p.yaml", ITEMS_POLICY)
    secret = tmp_path / "pgpass"
    secret.write_text(password + "\n")
    by_file = proxy("--database-password-file", str(secret), database_url=with_password(url, None), policies=policies)
    by_env = proxy(database_url=with_password(url, None), policies=policies, env={"PGPASSWORD": password})
    in_url = proxy(database_url=url, policies=policies)
    for px in (by_file, by_env, in_url):
        r = px.client()
        assert r.get("people:1") == b"person 1"
        cmdline = Path(f"/proc/{px.process.pid}/cmdline").read_bytes()
        assert password.encode() not in cmdline
        stats = str(px.stats())
        assert password not in stats and password not in px.log()
    assert "***" in in_url.log()
    # A wrong password: refused at start, with PostgreSQL's reason and without the password.
    bad = proxy(database_url=with_password(url, "not-" + password), policies=policies, wait=False)
    bad.expect_exit = True
    assert bad.process.wait(timeout=30) == 1
    log = bad.log()
    assert "cannot reach database" in log and "28P01" in log and password not in log


def test_writes_that_bypass_tiercache_are_heard_and_its_own_are_not_applied_twice(proxy, tmp_path, pg_url):
    url = people_database(pg_url)
    policies = write_policy(tmp_path, "p.yaml", ITEMS_POLICY)
    for _ in range(2):  # idempotent
        done = run_tiercache("db", "install-triggers", "--database", url, "--policies", str(policies))
        assert done.returncode == 0, done.stderr
    assert psql(url, "SELECT count(*) FROM pg_trigger WHERE tgname = 'tiercache_notify'") == [("1",)]
    px = proxy(database_url=url, policies=policies)
    assert wait_for(lambda: px.stats()["backend"]["external_writes"]["status"] == "listening")
    assert px.stats()["backend"]["external_writes"]["tables"] == "people"
    r = px.client()
    assert r.get("people:3") == b"person 3"
    psql(url, "UPDATE people SET name = 'renamed' WHERE id = 3")
    assert wait_for(lambda: r.get("people:3") == b"renamed", timeout=5.0)
    assert px.stats()["backend"]["external_writes"]["changes_heard"] == 1
    # TierCache's own write invalidates before its reply; its notification is not counted or applied again.
    assert r.set("people:4", "mine") is True
    assert r.get("people:4") == b"mine"
    time.sleep(0.3)
    assert px.stats()["backend"]["external_writes"]["changes_heard"] == 1
    # The listening connection killed: L1 flushed, reconnected by itself, changes heard again.
    psql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tiercache listener'"
              f" AND datname = '{urlparse(url).path[1:]}'")
    assert wait_for(lambda: px.stats()["backend"]["external_writes"]["losses"] == 1)
    assert wait_for(lambda: px.stats()["backend"]["external_writes"]["status"] == "listening")
    psql(url, "UPDATE people SET name = 'again' WHERE id = 3")
    assert wait_for(lambda: r.get("people:3") == b"again", timeout=5.0)
    done = run_tiercache("db", "uninstall-triggers", "--database", url)
    assert done.returncode == 0, done.stderr
    assert psql(url, "SELECT count(*) FROM pg_trigger WHERE tgname = 'tiercache_notify'") == [("0",)]


def test_without_triggers_nothing_changes_and_stats_say_so(proxy, tmp_path, pg_url):
    url = people_database(pg_url)
    px = proxy(database_url=url, policies=write_policy(tmp_path, "p.yaml", ITEMS_POLICY))
    assert wait_for(lambda: px.stats()["backend"]["external_writes"]["status"] == "not_installed")
    r = px.client()
    assert r.get("people:3") == b"person 3"
    psql(url, "UPDATE people SET name = 'unseen' WHERE id = 3")
    time.sleep(0.3)
    assert r.get("people:3") == b"person 3"  # TTL-bounded staleness, as before


def test_connections_tiercache_opens_itself_have_tcp_keepalive(proxy, tmp_path, pg_url):
    url = people_database(pg_url)
    policies = write_policy(tmp_path, "p.yaml", ITEMS_POLICY)
    done = run_tiercache("db", "install-triggers", "--database", url, "--policies", str(policies))
    assert done.returncode == 0, done.stderr
    px = proxy(database_url=url, policies=policies)
    assert px.client().get("people:1") == b"person 1"
    assert wait_for(lambda: px.stats()["backend"]["external_writes"]["status"] == "listening")
    port = urlparse(url).port

    def sockets() -> list[str]:
        out = subprocess.run(["ss", "-tnpo", "state", "established", f"( dport = :{port} )"],
                             capture_output=True, text=True, check=True).stdout
        return [line for line in out.splitlines() if f"pid={px.process.pid}," in line]

    # The loads connection (the GET) and the listener's: each with the kernel's keepalive timer, first probe after
    # --db keepalive's 30 s idle. The QUERY and writes pools ping with a query instead (postgres-nio's pool).
    keepalive = [line for line in sockets() if "timer:(keepalive," in line]
    assert len(keepalive) >= 2, sockets()
    seconds = [int(m.group(1)) for m in (re.search(r"timer:\(keepalive,(\d+)(?:\.\d+)?sec", line)
                                         for line in keepalive) if m]
    assert seconds and all(s <= 30 for s in seconds), keepalive


def test_a_statement_that_runs_too_long_is_cancelled_and_the_pool_goes_on(proxy, tmp_path, pg_url):
    url = people_database(pg_url)
    px = proxy("--db-timeout", "500ms", database_url=url, policies=write_policy(tmp_path, "p.yaml", ITEMS_POLICY))
    r = px.client()
    with pytest.raises(redis.ResponseError, match="57014|did not answer"):
        r.execute_command("QUERY", "SELECT pg_sleep(5)::text")
    assert r.get("people:2") == b"person 2"
    assert wait_for(lambda: psql(url, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"
                                      " AND state = 'active'") == [("0",)], timeout=3.0)


def test_terminated_pool_connections_and_a_renamed_table_cost_no_read(proxy, tmp_path, pg_url):
    url = people_database(pg_url, rows=50)
    policy = ITEMS_POLICY.replace("ttl: 1h", "ttl: 1s")
    px = proxy("--db-breaker", BREAKER, database_url=url, policies=write_policy(tmp_path, "p.yaml", policy))
    r = px.client()
    for i in range(1, 51):
        assert r.get(f"people:{i}") == f"person {i}".encode()
    psql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
              f" AND datname = '{urlparse(url).path[1:]}'")
    assert r.execute_command("QUERY", "SELECT name FROM people WHERE id = ?", "9") == [[b"name"], [b"person 9"]]
    # The table renamed away and every entry expired: each read reaches the database and fails, and the entry
    # read before answers (max_stale); the breaker opens.
    psql(url, "ALTER TABLE people RENAME TO people_gone")
    time.sleep(1.2)
    failed = 0
    for _ in range(3):
        for i in range(1, 51):
            try:
                assert r.get(f"people:{i}") is not None
            except redis.ResponseError:
                failed += 1
    assert failed == 0
    assert px.stats()["resilience"]["breakers"]["database"]["opened"] >= 1
    psql(url, "ALTER TABLE people_gone RENAME TO people")
    assert r.get("people:5") == b"person 5"


@pytest.mark.parametrize("mode", ["require", "prefer", "disable"])
def test_sslmode_decides_whether_every_connection_is_tls(proxy, tmp_path, mode):
    started = subprocess.run([str(POSTGRES_SCRIPT), "start", "--tls"], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    folder, server = started.stdout.strip().splitlines()[-1].split(" ")
    try:
        url = people_database(server)
        policies = write_policy(tmp_path, "p.yaml", ITEMS_POLICY)
        done = run_tiercache("db", "install-triggers", "--database", url, "--policies", str(policies))
        assert done.returncode == 0, done.stderr
        px = proxy(database_url=f"{url}?sslmode={mode}&application_name=tc_{mode}", policies=policies)
        r = px.client()
        assert r.get("people:1") == b"person 1"
        assert r.execute_command("QUERY", "SELECT name FROM people WHERE id = ?", "2") == [[b"name"], [b"person 2"]]
        assert r.set("people:3", "three")
        assert wait_for(lambda: px.stats()["backend"]["external_writes"]["status"] == "listening")
        # Every pool's connection and the listener's (which TierCache opens over a channel of its own, with TCP
        # keepalive, and hands to postgres-nio for TLS).
        rows = psql(url, "SELECT a.application_name, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)"
                         f" WHERE a.application_name LIKE 'tc_{mode}%'")
        names = {name for name, _ in rows}
        assert {f"tc_{mode}", f"tc_{mode} listener"} <= names, rows
        assert {ssl for _, ssl in rows} == ({"f"} if mode == "disable" else {"t"}), rows
    finally:
        subprocess.run([str(POSTGRES_SCRIPT), "stop", folder], capture_output=True, timeout=60)


def test_a_server_restart_under_load_is_recovered_without_restarting_tiercache(proxy, tmp_path):
    started = subprocess.run([str(POSTGRES_SCRIPT), "start"], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    folder, server = started.stdout.strip().splitlines()[-1].split(" ")
    try:
        url = people_database(server, rows=100)
        px = proxy("--db-breaker", BREAKER, "--db-acquire-timeout", "500ms", database_url=url,
                   policies=write_policy(tmp_path, "p.yaml", ITEMS_POLICY.replace("ttl: 1h", "ttl: 1s")))
        r = px.client()
        for i in range(1, 101):
            assert r.get(f"people:{i}") == f"person {i}".encode()
        stop = threading.Event()
        failures: list[str] = []

        def load() -> None:
            client = px.client()
            while not stop.is_set():
                for i in range(1, 101):
                    try:
                        if client.get(f"people:{i}") is None:
                            failures.append(f"people:{i} missing")
                    except redis.ResponseError as error:
                        failures.append(str(error))
        worker = threading.Thread(target=load)
        worker.start()
        pg_ctl = next(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_postgres, str(pg_ctl), "-D", f"{folder}/data", "-m", "fast", "-w", "restart",
                        "-l", f"{folder}/server.log"], check=True, capture_output=True, timeout=60)
        time.sleep(2.0)
        stop.set()
        worker.join(timeout=30)
        # Keys read before answer from their stale entries (max_stale) while the server is away: no failed read.
        assert failures == [], failures[:5]
        assert wait_for(lambda: get_or_none(r, "people:7") == b"person 7", timeout=10.0)
        psql(url, "UPDATE people SET name = 'after' WHERE id = 7")
        assert wait_for(lambda: get_or_none(r, "people:7") == b"after", timeout=10.0)
    finally:
        subprocess.run([str(POSTGRES_SCRIPT), "stop", folder], capture_output=True, timeout=60)


def test_a_read_inside_multi_that_writes_is_refused_and_rolled_back(proxy, tmp_path, pg_url):
    url = people_database(pg_url)
    psql(url, "CREATE FUNCTION sneaky() RETURNS integer LANGUAGE sql AS "
              "$$ DELETE FROM people WHERE id = 5 RETURNING 1 $$")
    px = proxy(database_url=url, policies=write_policy(tmp_path, "p.yaml", ITEMS_POLICY))
    r = px.client()
    for sql in ("DELETE FROM people WHERE id = 4", "SELECT sneaky()"):
        pipe = r.pipeline(transaction=True)
        pipe.set("people:1", "changed in the transaction")
        pipe.execute_command("QUERY", sql)
        replies = pipe.execute(raise_on_error=False)
        assert isinstance(replies[1], redis.exceptions.ReadOnlyError), replies
        assert not any(reply is True for reply in replies), replies
    assert psql(url, "SELECT count(*) FROM people WHERE id IN (4, 5)") == [("2",)]
    assert psql(url, "SELECT name FROM people WHERE id = 1") == [("person 1",)]


def test_a_write_through_one_sidecar_reaches_the_other_through_l2(proxy, tmp_path, pg_url):
    from test_l2 import RedisServer, wait_status
    url = people_database(pg_url)
    policies = write_policy(tmp_path, "p.yaml", ITEMS_POLICY)
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis").start()
    try:
        a = proxy("--redis", server.url, database_url=url, policies=policies)
        b = proxy("--redis", server.url, database_url=url, policies=policies)
        wait_status(a, "up")
        wait_status(b, "up")
        ra, rb = a.client(), b.client()
        assert rb.get("people:6") == b"person 6"
        assert ra.set("people:6", "written through a") is True
        assert wait_for(lambda: rb.get("people:6") == b"written through a", timeout=5.0)
        # A whole-table write (SQL.EXEC) too: b's cached entries of the type go.
        assert rb.get("people:7") == b"person 7"
        assert ra.execute_command("SQL.EXEC", "UPDATE people SET name = upper(name) WHERE id > ?", "6") == 14
        assert wait_for(lambda: rb.get("people:7") == b"PERSON 7", timeout=5.0)
    finally:
        for px in proxy.started:
            px.stop()
        server.stop()


def test_policy_statements_are_prepared_on_postgresql_at_start_and_reload(proxy, tmp_path, pg_url):
    url = people_database(pg_url)
    broken = ITEMS_POLICY.replace("SELECT name FROM people WHERE id = ?", "SELECT name FROM nobody WHERE id = ?")
    bad = proxy(database_url=url, policies=write_policy(tmp_path / "bad", "p.yaml", broken), wait=False)
    bad.expect_exit = True
    assert bad.process.wait(timeout=30) == 1
    assert re.search(r"p\.yaml:3:\d+: .*load statement does not prepare: 42P01 relation \"nobody\" does not exist",
                     bad.log()), bad.log()
    directory = tmp_path / "good"
    px = proxy(database_url=url, policies=write_policy(directory, "p.yaml", ITEMS_POLICY))
    r = px.client()
    assert r.get("people:2") == b"person 2"
    write_policy(directory, "p.yaml", broken)
    with pytest.raises(redis.ResponseError, match=r"policy reload refused.*p\.yaml:3:\d+: .*42P01"):
        r.execute_command("POLICY", "RELOAD")
    assert r.get("people:2") == b"person 2"


def test_files_programs_other_databases_and_session_changes_are_refused_on_every_path(proxy, tmp_path, pg_url):
    """Issue 17: whatever the user may run, no statement reaches the server's files or programs, another database,
    or a pooled connection's session; each refusal says why, and nothing ran."""
    url = people_database(pg_url)
    px = proxy("--sql-exec", "on", database_url=url, policies=write_policy(tmp_path, "p.yaml", ITEMS_POLICY))
    r = px.client()
    refused = {
        ("QUERY", "SELECT pg_read_file('/etc/hostname')"): "function pg_read_file() is not allowed through TierCache",
        ("QUERY", "SELECT name, pg_notify('x', name) FROM people"): "function pg_notify() is not allowed",
        ("SQL.EXEC", "COPY people TO PROGRAM 'touch /tmp/tiercache-pwned'"): "COPY is not allowed through TierCache",
        ("SQL.EXEC", "SET ROLE postgres"): "SET is not allowed through TierCache",
        ("SQL.EXEC", "SET SESSION AUTHORIZATION DEFAULT"): "SET is not allowed",
        ("SQL.EXEC", "RESET ALL"): "RESET is not allowed",
        ("SQL.EXEC", "LISTEN tiercache_changes"): "LISTEN is not allowed",
        ("SQL.EXEC", "NOTIFY tiercache_changes, 'forged'"): "NOTIFY is not allowed",
        ("SQL.EXEC", "SELECT lo_import('/etc/hostname')"): "function lo_import() is not allowed",
    }
    for (command, sql), message in refused.items():
        with pytest.raises(redis.ResponseError, match="^DBERR " + re.escape(message)):
            r.execute_command(command, sql)
    pipe = r.pipeline()  # MULTI/EXEC
    pipe.set("people:3", "three").execute_command("SQL.EXEC", "SELECT set_config('role', 'postgres', false)")
    with pytest.raises(redis.ResponseError, match=r"nothing was written: command 2 of the transaction \(SQL.EXEC\)"):
        pipe.execute()
    with pytest.raises(redis.ResponseError, match="^DBERR function set_config"):
        r.execute_command("QUERY", "SELECT set_config('role', 'postgres', false)")
    assert psql(url, "SELECT name FROM people WHERE id = 3") == [("person 3",)]  # the transaction ran nothing
    assert not os.path.exists("/tmp/tiercache-pwned")
    assert r.get("people:3") == b"person 3"  # and the proxy serves on
    # A policy is held to the same rules: refused at start-up, at its line.
    bad = write_policy(tmp_path, "bad.yaml", ITEMS_POLICY.replace(
        "SELECT name FROM people WHERE id = ?", "SELECT pg_read_file('/etc/hostname') FROM people WHERE id = ?"))
    result = run_tiercache("serve", "--database", url, "--policies", str(bad), "--listen", "127.0.0.1:1", timeout=60)
    assert result.returncode == 1 and "function pg_read_file() is not allowed" in result.stderr, result.stderr


def test_statements_on_connections_the_server_closed_fail_and_nothing_waits_forever(proxy, tmp_path, pg_url):
    """Found by bench/soak.py: after PostgreSQL closed TierCache's connections (a restart, a terminated backend),
    a statement sent on one already closed was never answered by postgres-nio, so MULTI/EXEC and loads waited
    forever and the loads pool ran dry. Now such a statement fails as a lost connection and the rest go on."""
    url = people_database(pg_url)
    px = proxy("--sql-exec", "on", database_url=url, policies=write_policy(tmp_path, "p.yaml", ITEMS_POLICY))
    r = px.client(timeout=30)
    # The transaction's own backend terminated mid-way: EXEC fails (its ROLLBACK meets a closed connection).
    pipe = r.pipeline()
    pipe.set("people:3", "changed").execute_command("SQL.EXEC", "SELECT pg_terminate_backend(pg_backend_pid())")
    with pytest.raises(redis.ResponseError, match="DBERR"):
        pipe.execute()
    assert psql(url, "SELECT name FROM people WHERE id = 3") == [("person 3",)]  # nothing was written
    # Every connection of TierCache's terminated at once, several times: each command is answered.
    for round in range(3):
        psql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        for i in range(1, 9):
            try:
                r.get(f"people:{10 + i + round * 10 % 7}")
                pipe = r.pipeline()
                pipe.set(f"people:{i}", f"round {round}").get(f"people:{i}")
                pipe.execute()
            except redis.ResponseError:
                pass  # a lost connection's error is an answer; a timeout is not
    assert r.get("people:1") is not None
    stats = px.stats()["server"]
    assert stats["connections_open"] >= 1
