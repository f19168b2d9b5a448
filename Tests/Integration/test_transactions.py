"""MULTI / EXEC / DISCARD (issue 13): Redis' semantics, with the writes of one EXEC committed in one database
transaction. Before, MULTI was refused, the queued SETs ran at once, and EXEC (TierCache's SQL command then)
failed: the client was told the transaction failed while its writes were in the database."""

from __future__ import annotations

import pytest
import redis

from conftest import Err, RawConnection, Simple, demo_value, encode_command


def stored(px, i: int):
    rows = px.sql(f"SELECT data FROM user_sessions WHERE id = '{i}'")
    return rows[0][0] if rows else None


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_default_pipeline_is_a_transaction(proxy, protocol):
    px = proxy()
    client = px.client(protocol=protocol)
    assert client.get("user_sessions:1") == demo_value("user_sessions", 1)  # cached in L1
    pipe = client.pipeline()  # transaction=True: MULTI … EXEC
    pipe.set("user_sessions:1", "one, in a transaction")
    pipe.get("user_sessions:1")
    pipe.set("user_sessions:2", "two, in a transaction")
    pipe.exists("user_sessions:2", "user_sessions:999999", "nope:1")
    pipe.execute_command("QUERY", "SELECT data FROM user_sessions WHERE id = ?", "2")
    pipe.execute_command("SQL.EXEC", "UPDATE user_sessions SET data = data || '!' WHERE id IN ('1', '2')")
    pipe.mget("user_sessions:1", "user_sessions:2", "nope:1")
    results = pipe.execute()
    assert results[0] is True
    # A read in the transaction sees the transaction's own earlier writes.
    assert results[1] == b"one, in a transaction"
    assert results[2] is True
    assert results[3] == 1
    assert results[4] == [[b"data"], [b"two, in a transaction"]]
    assert results[5] == 2
    assert results[6] == [b"one, in a transaction!", b"two, in a transaction!", None]
    assert stored(px, 1) == "one, in a transaction!"
    # Committed, then invalidated as one write: another client reads the new values, not L1's old one.
    other = px.client(protocol=2)
    assert other.get("user_sessions:1") == b"one, in a transaction!"
    assert px.stats()["backend"]["transaction"]["count"] == 1


def test_a_failing_command_rolls_the_whole_transaction_back(proxy):
    px = proxy()
    client = px.client(protocol=3)
    assert client.get("user_sessions:1") == demo_value("user_sessions", 1)
    pipe = client.pipeline()
    pipe.set("user_sessions:1", "must not stay")
    pipe.set("user_sessions:2", "must not stay either")
    # The primary key exists: the database refuses the third command, after two writes ran.
    pipe.execute_command("SQL.EXEC", "INSERT INTO user_sessions (id, data) VALUES ('3', 'duplicate')")
    with pytest.raises(redis.exceptions.ExecAbortError) as failure:
        pipe.execute()
    assert "Transaction rolled back, nothing was written: command 3 of the transaction (SQL.EXEC) failed" in str(
        failure.value)
    assert stored(px, 1) == demo_value("user_sessions", 1).decode()
    # What EXEC answers: an array in which no command claims success, the failing one with its own error.
    conn = px.raw()
    assert conn.command("MULTI") == Simple("OK")
    assert conn.command("SET", "user_sessions:1", "must not stay") == Simple("QUEUED")
    assert conn.command("SQL.EXEC", "INSERT INTO user_sessions (id, data) VALUES ('3', 'duplicate')") == Simple(
        "QUEUED")
    first, second = conn.command("EXEC")
    assert first == Err("EXECABORT Transaction rolled back, nothing was written: command 2 of the transaction "
                        "(SQL.EXEC) failed")
    assert isinstance(second, Err) and second.startswith("DBERR UNIQUE constraint failed"), second
    assert second.endswith("(the transaction was rolled back: nothing was written)")
    assert stored(px, 2) == demo_value("user_sessions", 2).decode()
    # Nothing was invalidated, and L1's entry is still the truth.
    assert client.get("user_sessions:1") == demo_value("user_sessions", 1)
    # The database breaker does not count the client's mistake.
    assert px.stats()["resilience"]["breakers"]["database"]["state"] == "closed"


def test_a_command_refused_while_queuing_makes_exec_run_nothing(px):
    conn = px.raw()
    assert conn.command("MULTI") == Simple("OK")
    assert conn.command("SET", "user_sessions:5", "never written") == Simple("QUEUED")
    assert conn.command("NOSUCHCOMMAND", "x") == Err(
        "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'x'")
    assert conn.command("GET") == Err("ERR wrong number of arguments for 'get' command")
    assert conn.command("STATS") == Err("ERR Command not allowed inside a transaction")
    assert conn.command("EXEC") == Err("EXECABORT Transaction discarded because of previous errors.")
    assert stored(px, 5) == demo_value("user_sessions", 5).decode()
    # The connection is out of the transaction and works as before.
    assert conn.command("GET", "user_sessions:5") == demo_value("user_sessions", 5)


def test_a_command_that_can_only_fail_is_queued_and_exec_runs_nothing(px):
    """As Redis queues `SET` of any key, a key of no type is queued; EXEC then writes nothing and says why."""
    conn = px.raw()
    assert conn.command("MULTI") == Simple("OK")
    assert conn.command("SET", "user_sessions:5", "never written") == Simple("QUEUED")
    assert conn.command("GET", "nope:1") == Simple("QUEUED")
    assert conn.command("SET", "user_sessions:5", "x", "EX", "10") == Simple("QUEUED")
    first, second, third = conn.command("EXEC")
    assert first == third == Err("EXECABORT Transaction rolled back, nothing was written: command 2 of the "
                                 "transaction (GET) failed")
    assert second.startswith("ERR no data type for key 'nope:1'"), second
    assert stored(px, 5) == demo_value("user_sessions", 5).decode()


def test_discard_and_the_errors_redis_gives(px):
    conn = px.raw()
    assert conn.command("EXEC") == Err("ERR EXEC without MULTI")
    assert conn.command("DISCARD") == Err("ERR DISCARD without MULTI")
    assert conn.command("MULTI") == Simple("OK")
    assert conn.command("MULTI") == Err("ERR MULTI calls can not be nested")
    assert conn.command("SET", "user_sessions:6", "discarded") == Simple("QUEUED")
    assert conn.command("PING") == Simple("QUEUED")
    assert conn.command("DISCARD") == Simple("OK")
    assert stored(px, 6) == demo_value("user_sessions", 6).decode()
    assert conn.command("MULTI") == Simple("OK")
    assert conn.command("PING") == Simple("QUEUED")
    assert conn.command("ECHO", "hi") == Simple("QUEUED")
    assert conn.command("EXEC") == [Simple("PONG"), b"hi"]
    assert conn.command("MULTI") == Simple("OK")
    assert conn.command("EXEC") == []


def test_a_pipelined_transaction_in_one_write(px):
    conn = RawConnection(px.port)
    conn.send(b"".join(encode_command(*c) for c in (
        ("MULTI",), ("SET", "user_sessions:7", "seven"), ("GET", "user_sessions:7"), ("EXEC",), ("GET", "user_sessions:7"),
    )))
    assert [conn.read_reply() for _ in range(5)] == [
        Simple("OK"), Simple("QUEUED"), Simple("QUEUED"), [Simple("OK"), b"seven"], b"seven"]
    conn.close()
    assert stored(px, 7) == "seven"


def test_watch_aborts_exec_when_a_watched_row_changed(px):
    conn, other = px.raw(), px.raw()
    assert conn.command("WATCH", "user_sessions:8", "nope:1") == Simple("OK")
    assert other.command("SET", "user_sessions:8", "changed by another client") == Simple("OK")
    assert conn.command("MULTI") == Simple("OK")
    assert conn.command("SET", "user_sessions:9", "must not be written") == Simple("QUEUED")
    assert conn.command("EXEC") is None  # nil: nothing ran
    assert stored(px, 9) == demo_value("user_sessions", 9).decode()
    # EXEC unwatched: the next transaction runs.
    assert conn.command("MULTI") == Simple("OK")
    assert conn.command("SET", "user_sessions:9", "nine") == Simple("QUEUED")
    assert conn.command("EXEC") == [Simple("OK")]
    assert stored(px, 9) == "nine"


def test_watch_sees_writes_that_bypass_the_proxy(px):
    """The check compares the database's rows, so a write by another program is seen too."""
    conn = px.raw()
    assert conn.command("WATCH", "user_sessions:10") == Simple("OK")
    px.sql("UPDATE user_sessions SET data = 'behind the proxy' WHERE id = '10'")
    assert conn.command("MULTI") == Simple("OK")
    assert conn.command("GET", "user_sessions:10") == Simple("QUEUED")
    assert conn.command("EXEC") is None


def test_watch_errors_unwatch_and_an_untouched_watch(px):
    conn, other = px.raw(), px.raw()
    assert conn.command("WATCH", "user_sessions:11") == Simple("OK")
    assert other.command("SET", "user_sessions:11", "eleven") == Simple("OK")
    assert conn.command("UNWATCH") == Simple("OK")
    assert conn.command("MULTI") == Simple("OK")
    assert conn.command("WATCH", "user_sessions:11") == Err("ERR WATCH inside MULTI is not allowed")
    assert conn.command("GET", "user_sessions:11") == Simple("QUEUED")
    assert conn.command("EXEC") == [b"eleven"]
    assert conn.command("WATCH", "user_sessions:12") == Simple("OK")
    assert conn.command("MULTI") == Simple("OK")
    assert conn.command("SET", "user_sessions:12", "twelve") == Simple("QUEUED")
    assert conn.command("EXEC") == [Simple("OK")]


def test_redis_py_transaction_helper_retries_after_a_conflict(px):
    client, other = px.client(protocol=3), px.client(protocol=2)
    calls = []

    def append_mark(pipe):
        value = pipe.get("user_sessions:13")
        if not calls:  # the first time, another client writes between WATCH and EXEC
            other.set("user_sessions:13", "conflict")
        calls.append(value)
        pipe.multi()
        pipe.set("user_sessions:13", value + b"+mark")

    assert client.transaction(append_mark, "user_sessions:13") == [True]
    assert calls == [demo_value("user_sessions", 13), b"conflict"]
    assert stored(px, 13) == "conflict+mark"


def test_set_nx_xx_get_keepttl_as_in_redis_and_expiry_options_refused(px):
    client = px.client(protocol=2)
    assert client.get("user_sessions:30") == demo_value("user_sessions", 30)  # cached: the writes must invalidate it
    assert client.set("user_sessions:30", "nx", nx=True) is None  # the row exists: not set
    assert client.set("user_sessions:30", "xx", xx=True) is True
    assert client.get("user_sessions:30") == b"xx"
    assert client.set("user_sessions:30", "get", get=True) == b"xx"  # the old value, then written
    assert client.set("user_sessions:30", "keepttl", keepttl=True) is True
    px.sql("DELETE FROM user_sessions WHERE id = 'new-nx'")
    assert client.set("user_sessions:new-nx", "created", nx=True) is True
    assert client.set("user_sessions:new-xx", "never", xx=True) is None
    assert client.set("user_sessions:new-get", "created", get=True) is None  # no old value
    assert stored(px, 30) == "keepttl"
    rows = dict(px.sql("SELECT id, data FROM user_sessions WHERE id LIKE 'new-%'"))
    assert rows == {"new-nx": "created", "new-get": "created"}
    with pytest.raises(redis.ResponseError, match="SET's expiry options .* are not supported"):
        client.set("user_sessions:30", "x", ex=10)
    with pytest.raises(redis.ResponseError, match="syntax error"):
        client.execute_command("SET", "user_sessions:30", "x", "NX", "XX")
    with pytest.raises(redis.ResponseError, match="SETEX is not supported"):
        client.execute_command("SETEX", "user_sessions:30", "10", "x")
    assert stored(px, 30) == "keepttl"
    # In a transaction too.
    pipe = client.pipeline()
    pipe.set("user_sessions:30", "in tx", nx=True)
    pipe.set("user_sessions:30", "in tx", xx=True)
    assert pipe.execute() == [None, True]
    assert client.get("user_sessions:30") == b"in tx"


def test_a_transactions_size_and_watched_keys_are_bounded(px):
    conn = RawConnection(px.port, timeout=30)
    assert conn.command("MULTI") == Simple("OK")
    conn.send(encode_command("PING") * 10_001)
    replies = [conn.read_reply() for _ in range(10_001)]
    assert replies[:10_000] == [Simple("QUEUED")] * 10_000
    assert replies[10_000] == Err("ERR transaction too large: at most 10000 commands and 64 MB of arguments")
    assert conn.command("EXEC") == Err("EXECABORT Transaction discarded because of previous errors.")
    keys = [f"user_sessions:{i}" for i in range(1, 1002)]
    assert conn.command("WATCH", *keys) == Err("ERR too many watched keys: at most 1000 per connection")
    assert conn.command("WATCH", *keys[:1000]) == Simple("OK")
    assert conn.command("UNWATCH") == Simple("OK")
    conn.close()


def test_unwatch_inside_multi_is_queued_and_answered_in_exec(px):
    conn = px.raw()
    assert conn.command("MULTI") == Simple("OK")
    assert conn.command("UNWATCH") == Simple("QUEUED")
    assert conn.command("PING") == Simple("QUEUED")
    assert conn.command("EXEC") == [Simple("OK"), Simple("PONG")]
    assert conn.command("PING") == Simple("PONG")  # nothing extra was left on the connection
