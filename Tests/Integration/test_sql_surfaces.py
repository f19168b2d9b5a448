"""Safe SQL surfaces (issue 17): SQL.EXEC is off unless --sql-exec on, refused before it does anything with the
reason and the way to turn it on, outside and inside MULTI; QUERY stays read-only either way."""

from __future__ import annotations

import pytest
import redis

from conftest import wait_for

OFF = "SQL.EXEC command not allowed. The --sql-exec option is off (the default): start TierCache with --sql-exec on"


def test_sql_exec_is_off_by_default_and_refused_before_it_runs(proxy):
    px = proxy(env={"TIERCACHE_SQL_EXEC": None})  # the default, not the test suite's
    r = px.client()
    with pytest.raises(redis.ResponseError) as refused:
        r.execute_command("SQL.EXEC", "UPDATE user_sessions SET data = 'x' WHERE id = ?", "1")
    assert str(refused.value).startswith(OFF), str(refused.value)
    assert px.sql("SELECT data FROM user_sessions WHERE id = '1'")[0][0] != "x"
    # Inside MULTI it is refused while queuing, so EXEC runs nothing (as Redis does for a refused command).
    assert r.execute_command("MULTI") == b"OK"
    r.execute_command("SET", "user_sessions:1", "changed")
    with pytest.raises(redis.ResponseError, match="SQL.EXEC command not allowed"):
        r.execute_command("SQL.EXEC", "DELETE FROM user_sessions")
    with pytest.raises(redis.exceptions.ExecAbortError, match="Transaction discarded because of previous errors"):
        r.execute_command("EXEC")
    assert px.sql("SELECT count(*) FROM user_sessions")[0][0] != "0"
    assert r.get("user_sessions:1") != b"changed"
    # QUERY still reads; SET and DEL still write through the policies.
    assert r.execute_command("QUERY", "SELECT 1 AS one") == [[b"one"], [1]]
    assert r.set("user_sessions:2", '{"user":"u"}')
    assert wait_for(lambda: r.get("user_sessions:2") == b'{"user":"u"}')


def test_sql_exec_on_runs_statements(proxy):
    px = proxy("--sql-exec", "on", env={"TIERCACHE_SQL_EXEC": None})
    assert px.client().execute_command("SQL.EXEC", "UPDATE user_sessions SET data = ? WHERE id = ?", "x", "1") == 1


def test_sql_exec_takes_on_or_off(proxy):
    from conftest import run_tiercache
    done = run_tiercache("serve", "--sql-exec", "yes")
    assert done.returncode != 0 and "--sql-exec must be on or off; got 'yes'" in done.stderr
