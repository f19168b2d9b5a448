"""RESP2/RESP3 wire behaviour: connection commands, reply shapes, inline commands, pipelining, auth."""

from __future__ import annotations

import redis
import pytest

from conftest import Err, RawConnection, Simple, demo_value, encode_command, redis_cli

AUTH5_RESP3 = (
    b"%3\r\n$7\r\nuser_id\r\n$6\r\nuser-5\r\n$6\r\nscopes\r\n$5\r\nadmin\r\n$10\r\nexpires_at\r\n:1798761605\r\n"
)
AUTH5_RESP2 = (
    b"*6\r\n$7\r\nuser_id\r\n$6\r\nuser-5\r\n$6\r\nscopes\r\n$5\r\nadmin\r\n$10\r\nexpires_at\r\n:1798761605\r\n"
)


def hello(conn: RawConnection, version: int) -> object:
    reply = conn.command("HELLO", version)
    assert not isinstance(reply, Err), reply
    return reply


# ---------------------------------------------------------------------------------------------------------------
# PING, ECHO, QUIT


def test_ping_and_echo_exact_bytes(px):
    with px.raw() as conn:
        conn.send(encode_command("PING"))
        assert conn.read_raw(len(b"+PONG\r\n")) == b"+PONG\r\n"
        conn.send(encode_command("PING", "hello world"))
        assert conn.read_raw(len(b"$11\r\nhello world\r\n")) == b"$11\r\nhello world\r\n"
        conn.send(encode_command("ECHO", b"a\x00b\r\nc"))
        assert conn.read_raw(len(b"$6\r\na\x00b\r\nc\r\n")) == b"$6\r\na\x00b\r\nc\r\n"
        conn.send(encode_command("ECHO", ""))
        assert conn.read_raw(len(b"$0\r\n\r\n")) == b"$0\r\n\r\n"
        conn.send(encode_command("PING", "a", "b"))
        assert conn.read_reply() == Err("ERR wrong number of arguments for 'ping' command")
        assert conn.command("ping") == Simple("PONG")  # command names ignore case


def test_ping_echo_redis_py(r3, r2):
    for client in (r3, r2):
        assert client.ping() is True
        assert client.echo("héllo") == "héllo".encode()


def test_quit_replies_ok_then_closes(px):
    conn = px.raw()
    conn.send(encode_command("QUIT") + encode_command("PING"))
    assert conn.expect_closed() == b"+OK\r\n"
    # The proxy is still fine for others.
    with px.raw() as other:
        assert other.command("PING") == Simple("PONG")


# ---------------------------------------------------------------------------------------------------------------
# HELLO


def test_hello_3_returns_map(px):
    with px.raw() as conn:
        conn.send(encode_command("HELLO", "3"))
        assert conn.read_raw(len(b"%7\r\n")) == b"%7\r\n"
        conn.buffer[:0] = b"%7\r\n"
        reply = conn.read_reply()
        assert list(reply.keys()) == [b"server", b"version", b"proto", b"id", b"mode", b"role", b"modules"]
        assert reply[b"server"] == b"tiercache"
        assert reply[b"proto"] == 3
        assert isinstance(reply[b"id"], int) and reply[b"id"] > 0
        assert reply[b"mode"] == b"standalone"
        assert reply[b"role"] == b"master"
        assert reply[b"modules"] == []
        client_id = conn.command("CLIENT", "ID")
        assert client_id == reply[b"id"]
        # From now on nil is RESP3's null.
        conn.send(encode_command("GET", "user_sessions:987654"))
        assert conn.read_raw(len(b"_\r\n")) == b"_\r\n"


def test_hello_2_returns_flat_array(px):
    with px.raw() as conn:
        hello(conn, 3)
        conn.send(encode_command("HELLO", "2"))
        assert conn.read_raw(len(b"*14\r\n")) == b"*14\r\n"
        conn.buffer[:0] = b"*14\r\n"
        reply = conn.read_reply()
        assert reply[0::2] == [b"server", b"version", b"proto", b"id", b"mode", b"role", b"modules"]
        assert reply[1] == b"tiercache"
        assert reply[5] == 2
        conn.send(encode_command("GET", "user_sessions:987654"))
        assert conn.read_raw(len(b"$-1\r\n")) == b"$-1\r\n"


def test_hello_switches_protocol_for_the_rest_of_the_same_send(px):
    with px.raw() as conn:
        conn.send(encode_command("GET", "user_sessions:987655") + encode_command("HELLO", "3")
                  + encode_command("GET", "user_sessions:987655") + encode_command("HELLO", "2")
                  + encode_command("GET", "user_sessions:987655"))
        assert conn.read_raw(5) == b"$-1\r\n"
        assert conn.read_reply()[b"proto"] == 3
        assert conn.read_raw(3) == b"_\r\n"
        assert conn.read_reply()[5] == 2
        assert conn.read_raw(5) == b"$-1\r\n"


@pytest.mark.parametrize("version", ["4", "1", "0", "-1"])
def test_hello_unsupported_version_is_noproto(px, version):
    with px.raw() as conn:
        reply = conn.command("HELLO", version)
        assert isinstance(reply, Err) and reply.startswith("NOPROTO "), reply
        # The connection stays in RESP2 and usable.
        conn.send(encode_command("GET", "user_sessions:987654"))
        assert conn.read_raw(len(b"$-1\r\n")) == b"$-1\r\n"


def test_hello_non_integer_version(px):
    with px.raw() as conn:
        reply = conn.command("HELLO", "three")
        assert reply == Err("ERR Protocol version is not an integer or out of range")
        assert conn.command("PING") == Simple("PONG")


def test_hello_setname(px):
    with px.raw() as conn:
        reply = conn.command("HELLO", "3", "SETNAME", "it-client")
        assert reply[b"proto"] == 3
        assert conn.command("CLIENT", "GETNAME") == b"it-client"


# ---------------------------------------------------------------------------------------------------------------
# Reply shapes per protocol version


def test_multi_column_get_resp3_map_and_resp2_flat_array_exact_bytes(px):
    with px.raw() as v3, px.raw() as v2:
        hello(v3, 3)
        # First the RESP3 client loads it (miss), then both read it from L1: every path must give each its shape.
        for _ in range(2):
            v3.send(encode_command("GET", "auth_tokens:5"))
            assert v3.read_raw(len(AUTH5_RESP3)) == AUTH5_RESP3
            v2.send(encode_command("GET", "auth_tokens:5"))
            assert v2.read_raw(len(AUTH5_RESP2)) == AUTH5_RESP2


def test_multi_column_get_resp2_first_then_resp3(px):
    # The other order: a RESP2 client fills L1, a RESP3 client must still get a map.
    with px.raw() as v3, px.raw() as v2:
        hello(v3, 3)
        assert v2.command("GET", "auth_tokens:6") == [
            b"user_id", b"user-6", b"scopes", b"read", b"expires_at", 1798761606]
        assert v3.command("GET", "auth_tokens:6") == {
            b"user_id": b"user-6", b"scopes": b"read", b"expires_at": 1798761606}


def test_multi_column_get_redis_py(r3, r2):
    assert r3.get("auth_tokens:7") == {b"user_id": b"user-7", b"scopes": b"read write", b"expires_at": 1798761607}
    assert r2.get("auth_tokens:7") == [b"user_id", b"user-7", b"scopes", b"read write", b"expires_at", 1798761607]
    assert r3.get("compliance_checks:10") == {b"status": b"failed", b"checked_at": 1767225610}


def test_nil_shapes_both_orders(px):
    with px.raw() as v3, px.raw() as v2:
        hello(v3, 3)
        for key, first, second in (("user_sessions:880001", v3, v2), ("user_sessions:880002", v2, v3)):
            for conn in (first, second, first, second):
                conn.send(encode_command("GET", key))
                expected = b"_\r\n" if conn is v3 else b"$-1\r\n"
                assert conn.read_raw(len(expected)) == expected
        v3.send(encode_command("MGET", "user_sessions:880001", "auth_tokens:880001"))
        assert v3.read_raw(len(b"*2\r\n_\r\n_\r\n")) == b"*2\r\n_\r\n_\r\n"
        v2.send(encode_command("MGET", "user_sessions:880001", "auth_tokens:880001"))
        assert v2.read_raw(len(b"*2\r\n$-1\r\n$-1\r\n")) == b"*2\r\n$-1\r\n$-1\r\n"


def test_nil_redis_py_does_not_hang(r3, r2):
    # A RESP2 nil on a RESP3 connection would make redis-py wait forever (socket_timeout turns that into a failure).
    assert r3.get("static_config:770001") is None
    assert r2.get("static_config:770001") is None
    assert r3.get("static_config:770001") is None


# ---------------------------------------------------------------------------------------------------------------
# Inline commands


def test_inline_commands(px):
    with px.raw() as conn:
        conn.send(b"PING\r\n")
        assert conn.read_raw(len(b"+PONG\r\n")) == b"+PONG\r\n"
        conn.send(b"GET user_sessions:1\n")
        assert conn.read_reply() == demo_value("user_sessions", 1)
        conn.send(b'ECHO "a b\\x41"\r\n')
        assert conn.read_reply() == b"a bA"
        conn.send(b"ECHO 'single quoted'  \r\n")
        assert conn.read_reply() == b"single quoted"
        conn.send(b'ECHO "tab\\there\\n"\r\n')
        assert conn.read_reply() == b"tab\there\n"
        # Empty lines are ignored, as Redis does.
        conn.send(b"\r\n\r\nPING\r\n")
        assert conn.read_raw(len(b"+PONG\r\n")) == b"+PONG\r\n"
        # Inline and multibulk interleaved in one send.
        conn.send(b"PING a\r\n" + encode_command("ECHO", "b") + b"ECHO c\n")
        assert [conn.read_reply() for _ in range(3)] == [b"a", b"b", b"c"]


def test_inline_quoting_matches_redis(px):
    cases = [
        (b"ECHO 'it\\'s'", b"it's"),
        (b'ECHO "\\x4g"', b"x4g"),
        (b'ECHO "\\q"', b"q"),
        (b'ECHO a"b c"', b"ab c"),
        (b'ECHO "\\xfF"', b"\xff"),
        (b'ECHO ""', b""),
        (b"  ECHO   x  ", b"x"),
    ]
    with px.raw() as conn:
        for line, expected in cases:
            conn.send(line + b"\r\n")
            assert conn.read_reply() == expected, line
        conn.send(b"\tPING\t\r\n")
        assert conn.read_reply() == "PONG"


def test_inline_unbalanced_quotes_is_protocol_error(px):
    conn = px.raw()
    conn.send(b'ECHO "abc\r\n')
    assert conn.expect_closed() == b"-ERR Protocol error: unbalanced quotes in request\r\n"


# ---------------------------------------------------------------------------------------------------------------
# Pipelining


def test_pipelined_reads_overlap_but_writes_are_barriers(px):
    """Misses in one pipeline are loaded concurrently, yet replies keep request order, and a write in the middle
    is seen by the reads after it and not by the reads before it."""
    # synthesis_results 971-973: rows no other test on the shared proxy touches.
    k1, k2, k3 = "synthesis_results:971", "synthesis_results:972", "synthesis_results:973"
    with px.raw() as conn:
        conn.send(b"".join([
            encode_command("GET", k1), encode_command("GET", k2), encode_command("GET", k3),
            encode_command("SET", k1, "written"), encode_command("GET", k1), encode_command("ECHO", "after"),
            encode_command("GET", k2), encode_command("DEL", k2), encode_command("GET", k2),
            encode_command("GET", k3),
        ]))
        replies = [conn.read_reply() for _ in range(10)]
    assert replies == [
        demo_value("synthesis_results", 971), demo_value("synthesis_results", 972),
        demo_value("synthesis_results", 973), Simple("OK"), b"written", b"after",
        demo_value("synthesis_results", 972), 1, None,
        demo_value("synthesis_results", 973),
    ]


def test_deep_pipeline_of_misses_beyond_the_outstanding_limit(px):
    """More misses than a connection may await at once (64): the rest wait their turn, in order."""
    keys = [f"policy_decisions:{i}" for i in range(500, 700)]
    with px.raw() as conn:
        conn.send(b"".join(encode_command("GET", key) for key in keys) + encode_command("PING"))
        replies = [conn.read_reply() for _ in range(len(keys) + 1)]
    assert replies[:-1] == [demo_value("policy_decisions", i) for i in range(500, 700)]
    assert replies[-1] == Simple("PONG")


def test_1000_pipelined_gets_in_one_send(px):
    keys = []
    expected = []
    for n in range(1000):
        type_name = ("user_sessions", "static_config", "auth_tokens", "api_responses")[n % 4]
        i = (n * 7919) % 1100 + 1  # some ids repeat, some (over 1000) are absent
        keys.append(f"{type_name}:{i}")
        if i > 1000:
            expected.append(None)
        else:
            value = demo_value(type_name, i)
            if isinstance(value, dict):  # RESP2 connection: flat field/value array
                value = [item for pair in value.items() for item in pair]
            expected.append(value)
    with px.raw() as conn:
        conn.send(b"".join(encode_command("GET", key) for key in keys))
        replies = [conn.read_reply() for _ in keys]
        for key, want, got in zip(keys, expected, replies):
            assert got == want, key
        # Again: now many are L1 hits, interleaved with misses and errors.
        batch = []
        for key in keys[:300]:
            batch.append(encode_command("GET", key))
            batch.append(encode_command("ECHO", key))
        batch.append(encode_command("GET", "no-type-here"))
        conn.send(b"".join(batch))
        for key, want in zip(keys[:300], expected[:300]):
            assert conn.read_reply() == want
            assert conn.read_reply() == key.encode()
        reply = conn.read_reply()
        assert isinstance(reply, Err) and reply.startswith("ERR no data type for key 'no-type-here'"), reply


def test_redis_py_pipeline_of_1000_mixed_commands(px):
    client = px.client(protocol=3)
    # transaction=False: a plain pipeline (test_transactions.py has the default, MULTI … EXEC).
    pipe = client.pipeline(transaction=False)
    expected = []
    for n in range(1000):
        i = n % 250 + 1
        match n % 8:
            case 0:
                pipe.get(f"user_sessions:{i}")
                expected.append(demo_value("user_sessions", i))
            case 1:
                pipe.set(f"synthesis_results:pipe-{n}", f"value-{n}")
                expected.append(True)
            case 2:
                pipe.get(f"synthesis_results:pipe-{n - 1}")  # reads the SET just before it
                expected.append(f"value-{n - 1}".encode())
            case 3:
                pipe.echo(f"echo-{n}")
                expected.append(f"echo-{n}".encode())
            case 4:
                pipe.exists(f"user_sessions:{i}", f"user_sessions:{i + 5000}", "auth_tokens:1")
                expected.append(2)
            case 5:
                pipe.mget(f"compliance_checks:{i}", f"static_config:{i + 5000}")
                expected.append([demo_value("compliance_checks", i), None])
            case 6:
                pipe.ping()
                expected.append(True)
            case 7:
                pipe.execute_command("QUERY", "SELECT id, expires_at FROM auth_tokens WHERE id = ?", str(i))
                expected.append([[b"id", b"expires_at"], [str(i).encode(), 1798761600 + i]])
    results = pipe.execute()
    assert len(results) == 1000
    for n, (want, got) in enumerate(zip(expected, results)):
        assert got == want, f"command {n}"


def test_redis_py_pipeline_collects_errors_in_place(r3):
    pipe = r3.pipeline(transaction=False)
    pipe.get("user_sessions:1")
    pipe.get("no-type:1")
    pipe.set("auth_tokens:1", "x")
    pipe.get("user_sessions:2")
    results = pipe.execute(raise_on_error=False)
    assert results[0] == demo_value("user_sessions", 1)
    assert isinstance(results[1], redis.ResponseError) and str(results[1]).startswith("no data type for key 'no-type:1'")
    assert isinstance(results[2], redis.ResponseError) and "has no store statement" in str(results[2])
    assert results[3] == demo_value("user_sessions", 2)


# ---------------------------------------------------------------------------------------------------------------
# COMMAND


COMMAND_NAMES = {
    "get", "mget", "exists", "set", "del", "query", "sql.query", "sql.exec", "multi", "exec", "discard", "watch",
    "unwatch", "ping", "echo", "quit", "hello", "auth", "command", "client", "config", "select", "info", "dbsize", "time", "ttl", "pttl",
    "type", "strlen", "hlen", "scan", "keys", "reset", "stats", "policy", "warm", "slowlog", "acl",
}


def test_command_count_and_list(px):
    with px.raw() as conn:
        assert conn.command("COMMAND", "COUNT") == len(COMMAND_NAMES)
        names = conn.command("COMMAND", "LIST")
        assert sorted(n.decode() for n in names) == sorted(COMMAND_NAMES)
        everything = conn.command("COMMAND")
        assert len(everything) == len(COMMAND_NAMES)
        assert {entry[0].decode() for entry in everything} == COMMAND_NAMES


def test_command_info(px):
    with px.raw() as conn:
        assert conn.command("COMMAND", "INFO", "get") == [
            [b"get", 2, [Simple("readonly"), Simple("fast")], 1, 1, 1, [], [], [], []]
        ]
        reply = conn.command("COMMAND", "INFO", "MGET", "nosuchcommand", "set")
        assert reply[0][:6] == [b"mget", -2, [Simple("readonly"), Simple("fast")], 1, -1, 1]
        assert reply[1] is None
        assert reply[2][:6] == [b"set", -3, [Simple("write")], 1, 1, 1]
    with px.raw() as conn:
        hello(conn, 3)
        conn.send(encode_command("COMMAND", "INFO", "nosuchcommand"))
        assert conn.read_raw(len(b"*1\r\n_\r\n")) == b"*1\r\n_\r\n"


def test_command_docs_and_bad_subcommand(px):
    with px.raw() as conn:
        assert conn.command("COMMAND", "DOCS") == []
        reply = conn.command("COMMAND", "FROB")
        assert isinstance(reply, Err) and reply.startswith("ERR unknown subcommand 'FROB'"), reply
        assert conn.command("PING") == Simple("PONG")


def test_redis_py_command_count(r3):
    assert r3.command_count() == len(COMMAND_NAMES)


# ---------------------------------------------------------------------------------------------------------------
# Errors keep the connection usable


def test_unknown_command_keeps_connection(px):
    with px.raw() as conn:
        reply = conn.command("LPUSH", "now", "please")
        assert reply == Err("ERR unknown command 'LPUSH', with args beginning with: 'now' 'please'")
        reply = conn.command("NOPE")
        assert reply == Err("ERR unknown command 'NOPE', with args beginning with:")
        assert conn.command("GET", "user_sessions:3") == demo_value("user_sessions", 3)


def test_unknown_command_redis_py(r3, r2):
    for client in (r3, r2):
        with pytest.raises(redis.ResponseError, match=r"^unknown command 'XADD', with args beginning with: 's'"):
            client.execute_command("XADD", "s", "*", "f", "v")
        assert client.get("user_sessions:4") == demo_value("user_sessions", 4)


def test_set_expiry_options_are_refused_with_the_reason(px):
    """NX, XX, GET and KEEPTTL work (test_transactions.py); the expiry options can't mean what they mean in Redis."""
    with px.raw() as conn:
        for args in (["SET", "user_sessions:1", "a", "EX", "10"], ["SET", "user_sessions:1", "a", "NX", "PX", "5"]):
            reply = conn.command(*args)
            assert isinstance(reply, Err) and reply.startswith("ERR SET's expiry options (EX, PX, EXAT, PXAT) are "
                                                              "not supported: an entry's life comes from"), reply
        assert conn.command("GET", "user_sessions:1") == demo_value("user_sessions", 1)


@pytest.mark.parametrize(
    "args,name",
    [
        (["GET"], "get"),
        (["GET", "a", "b"], "get"),
        (["SET", "user_sessions:1"], "set"),
        (["MGET"], "mget"),
        (["EXISTS"], "exists"),
        (["DEL"], "del"),
        (["QUERY"], "query"),
        (["SQL.EXEC"], "sql.exec"),
        (["SQL.QUERY"], "sql.query"),
        (["ECHO"], "echo"),
        (["ECHO", "a", "b"], "echo"),
        (["SELECT"], "select"),
        (["AUTH"], "auth"),
        (["CLIENT"], "client"),
        (["CONFIG"], "config"),
        (["POLICY"], "policy"),
    ],
)
def test_wrong_arity_keeps_connection(px, args, name):
    with px.raw() as conn:
        assert conn.command(*args) == Err(f"ERR wrong number of arguments for '{name}' command")
        assert conn.command("PING") == Simple("PONG")


def test_select_and_config_and_client(px):
    with px.raw() as conn:
        assert conn.command("SELECT", "0") == Simple("OK")
        reply = conn.command("SELECT", "1")
        assert isinstance(reply, Err) and reply.startswith("ERR DB index is out of range"), reply
        # The parameters clients ask about at connect (redis-benchmark: save, appendonly); nothing else.
        assert conn.command("CONFIG", "GET", "save") == [b"save", b""]
        assert conn.command("CONFIG", "GET", "appendonly") == [b"appendonly", b"no"]
        assert conn.command("CONFIG", "GET", "maxmemory") == []
        reply = conn.command("CONFIG", "SET", "save", "")
        assert isinstance(reply, Err) and reply.startswith("ERR CONFIG SET is not supported"), reply
        assert conn.command("CLIENT", "SETINFO", "LIB-NAME", "x") == Simple("OK")
        assert conn.command("CLIENT", "GETNAME") is None
        assert conn.command("CLIENT", "SETNAME", "abc") == Simple("OK")
        assert conn.command("CLIENT", "GETNAME") == b"abc"
        assert isinstance(conn.command("CLIENT", "ID"), int)


# ---------------------------------------------------------------------------------------------------------------
# AUTH and requirepass


@pytest.fixture(scope="module")
def auth_proxy(module_proxy_launcher):
    return module_proxy_launcher("--requirepass", "s3cr3t pw")


def test_requirepass_flow_raw(auth_proxy):
    with RawConnection(auth_proxy.port) as conn:
        for args in (["GET", "user_sessions:1"], ["PING"], ["STATS"], ["QUERY", "SELECT 1"], ["NOSUCH"]):
            reply = conn.command(*args)
            if args == ["NOSUCH"]:
                # Unknown commands are unknown before authentication too (Redis answers the same).
                assert isinstance(reply, Err) and reply.startswith("ERR unknown command 'NOSUCH'"), reply
            else:
                assert reply == Err("NOAUTH Authentication required."), args
        assert conn.command("AUTH", "wrong") == Err("WRONGPASS invalid username-password pair or user is disabled.")
        assert conn.command("AUTH", "other", "s3cr3t pw") == Err(
            "WRONGPASS invalid username-password pair or user is disabled.")
        assert conn.command("AUTH", "s3cr3t") == Err("WRONGPASS invalid username-password pair or user is disabled.")
        assert conn.command("GET", "user_sessions:1") == Err("NOAUTH Authentication required.")
        assert conn.command("AUTH", "s3cr3t pw") == Simple("OK")
        assert conn.command("GET", "user_sessions:1") == demo_value("user_sessions", 1)
    with RawConnection(auth_proxy.port) as conn:
        assert conn.command("AUTH", "default", "s3cr3t pw") == Simple("OK")
        assert conn.command("PING") == Simple("PONG")


def test_requirepass_auth_pipelined_with_commands(auth_proxy):
    with RawConnection(auth_proxy.port) as conn:
        conn.send(encode_command("GET", "user_sessions:3") + encode_command("AUTH", "s3cr3t pw")
                  + encode_command("GET", "user_sessions:3"))
        assert conn.read_reply() == Err("NOAUTH Authentication required.")
        assert conn.read_reply() == Simple("OK")
        assert conn.read_reply() == demo_value("user_sessions", 3)


def test_requirepass_hello(auth_proxy):
    with RawConnection(auth_proxy.port) as conn:
        reply = conn.command("HELLO", "3")
        assert isinstance(reply, Err) and reply.startswith("NOAUTH HELLO must be called with the client already "
                                                           "authenticated"), reply
        assert conn.command("HELLO", "3", "AUTH", "default", "nope") == Err(
            "WRONGPASS invalid username-password pair or user is disabled.")
        assert conn.command("GET", "user_sessions:1") == Err("NOAUTH Authentication required.")
        reply = conn.command("HELLO", "3", "AUTH", "default", "s3cr3t pw")
        assert reply[b"proto"] == 3
        conn.send(encode_command("GET", "user_sessions:999999"))
        assert conn.read_raw(len(b"_\r\n")) == b"_\r\n"
        assert conn.command("GET", "auth_tokens:2") == {
            b"user_id": b"user-2", b"scopes": b"admin", b"expires_at": 1798761602}


def test_requirepass_redis_py(auth_proxy):
    good = auth_proxy.client(protocol=3)  # password from the fixture
    assert good.get("user_sessions:1") == demo_value("user_sessions", 1)
    good2 = auth_proxy.client(protocol=2)
    assert good2.get("user_sessions:1") == demo_value("user_sessions", 1)
    # redis-py authenticates in its connect handshake (HELLO 3 AUTH default ...).
    with pytest.raises(redis.AuthenticationError, match="invalid username-password pair"):
        auth_proxy.client(protocol=3, password="wrong")
    with pytest.raises(redis.AuthenticationError, match="invalid username-password pair"):
        auth_proxy.client(protocol=2, password="wrong")
    # Without a password: HELLO 3 is refused with NOAUTH, which redis-py reports as an authentication error.
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=auth_proxy.port, protocol=3, retry=None, socket_timeout=5, single_connection_client=True)


def test_requirepass_counts_auth_failures(auth_proxy):
    before = auth_proxy.stats()["server"]["auth_failures"]
    with RawConnection(auth_proxy.port) as conn:
        conn.command("AUTH", "bad")
        conn.command("GET", "user_sessions:1")
    assert auth_proxy.stats()["server"]["auth_failures"] == before + 2


def test_auth_without_requirepass_is_refused(px):
    with px.raw() as conn:
        reply = conn.command("AUTH", "whatever")
        assert isinstance(reply, Err) and reply.startswith("ERR AUTH <password> called without any password"), reply
        assert conn.command("PING") == Simple("PONG")


def test_redis_cli_with_password(auth_proxy):
    result = redis_cli(auth_proxy.port, "GET", "user_sessions:2", raw=True, password="s3cr3t pw")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == demo_value("user_sessions", 2).decode() + "\n"
    result = redis_cli(auth_proxy.port, "GET", "user_sessions:2", password="nope")
    assert "WRONGPASS" in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------------------------
# redis-cli, non-interactive


def test_redis_cli_basic_calls_no_stderr(px):
    calls = [
        (["PING"], False, False, "PONG\n"),
        (["ECHO", "hi there"], False, False, '"hi there"\n'),
        (["GET", "user_sessions:1"], True, False, demo_value("user_sessions", 1).decode() + "\n"),
        (["GET", "static_config:2"], False, False, '"{\\"key\\":\\"setting-2\\",\\"value\\":2}"\n'),
        (["GET", "user_sessions:424242"], False, False, "(nil)\n"),
        (["GET", "user_sessions:424242"], False, True, "(nil)\n"),
        (["GET", "auth_tokens:5"], False, False,
         '1) "user_id"\n2) "user-5"\n3) "scopes"\n4) "admin"\n5) "expires_at"\n6) (integer) 1798761605\n'),
        (["GET", "auth_tokens:5"], False, True,
         '1# "user_id" => "user-5"\n2# "scopes" => "admin"\n3# "expires_at" => (integer) 1798761605\n'),
        (["EXISTS", "user_sessions:1", "user_sessions:424242"], False, False, "(integer) 1\n"),
        (["QUERY", "SELECT id, expires_at FROM auth_tokens WHERE id = ?", "3"], False, False,
         '1) 1) "id"\n   2) "expires_at"\n2) 1) "3"\n   2) (integer) 1798761603\n'),
        (["NOSUCHCMD", "x"], False, False,
         "(error) ERR unknown command 'NOSUCHCMD', with args beginning with: 'x'\n"),
    ]
    for args, raw, resp3, expected in calls:
        result = redis_cli(px.port, *args, raw=raw, resp3=resp3)
        assert result.stderr == "", (args, result.stderr)
        assert result.returncode == 0, (args, result.returncode)
        assert result.stdout == expected, args


def test_redis_cli_set_then_get(px):
    result = redis_cli(px.port, "SET", "api_responses:cli-1", "from cli")
    assert (result.returncode, result.stdout, result.stderr) == (0, "OK\n", "")
    result = redis_cli(px.port, "GET", "api_responses:cli-1")
    assert (result.returncode, result.stdout, result.stderr) == (0, '"from cli"\n', "")


def test_redis_cli_commands_from_stdin(px):
    result = redis_cli(px.port, stdin="PING\nGET user_sessions:9\nECHO done\n")
    assert result.stderr == ""
    assert result.stdout == "PONG\n" + '"' + demo_value("user_sessions", 9).decode().replace('"', '\\"') + '"\n' + \
        '"done"\n'
