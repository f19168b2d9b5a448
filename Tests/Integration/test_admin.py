"""The admin HTTP listener (issue 16): health probes, /metrics in Prometheus' format (checked by promtool and
scraped by a real Prometheus server), /stats, and the password on everything but the probes."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import redis

from conftest import (PrometheusServer, free_port, items_db, rename_table, run_tiercache, wait_for,
                      write_policy)

POLICY = """\
types:
  item:
    load: SELECT v FROM items WHERE id = ?
    store: INSERT INTO items(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v
    tables: [items]
    ttl: 1h
"""
BREAKER = "failure_rate=0.5,window=10,min_calls=4,open=30s,probes=1"


def items_proxy(proxy, tmp_path, *args, policy=POLICY):
    """A proxy over items(id, v) with ids 1…20, its admin listener on a port of its own: (proxy, admin URL)."""
    db = items_db(tmp_path / "items.db", 20)
    port = free_port()
    px = proxy("--admin-listen", f"127.0.0.1:{port}", *args,
               policies=write_policy(tmp_path / "policies", "items.yaml", policy), database=db)
    return px, f"http://127.0.0.1:{port}"


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    """(status, headers, body) of one request; an HTTP error status is an answer, not an exception."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of the one sample of `name` with exactly `labels` in an exposition."""
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.rsplit(" ", 1)[0] == wanted]
    assert len(values) == 1, f"{wanted}: {values}"
    return values[0]


def test_probes_answer_and_readiness_names_why_it_is_not_ready(proxy, tmp_path):
    px, admin = items_proxy(proxy, tmp_path, "--db-breaker", BREAKER)
    for probe, word in (("live", "live"), ("ready", "ready"), ("startup", "started")):
        status, headers, body = get(f"{admin}/health/{probe}")
        assert status == 200 and json.loads(body) == {"status": word, "reasons": []}, (probe, body)
        assert headers["Content-Type"] == "application/json"
    # The database fails (its table renamed away) until the breaker opens: not ready, as no type has max_stale.
    r = px.client()
    assert r.get("item:1") == b"v1"
    rename_table(px.db_path, "items", "items_gone")
    for i in range(2, 6):
        with pytest.raises(redis.ResponseError):
            r.get(f"item:{i}")
    assert px.stats()["resilience"]["breakers"]["database"]["state"] == "open"
    status, _, body = get(f"{admin}/health/ready")
    assert status == 503, body
    answer = json.loads(body)
    assert answer["status"] == "not_ready"
    assert answer["reasons"] == [
        "database unreachable and no type has max_stale to answer from: the database circuit breaker is open"]
    # Liveness is not readiness: the process serves, restarting it would not help.
    assert get(f"{admin}/health/live")[0] == 200


def test_readiness_holds_with_max_stale_when_the_database_is_down(proxy, tmp_path):
    px, admin = items_proxy(proxy, tmp_path, "--db-breaker", BREAKER,
                            policy=POLICY.replace("ttl: 1h", "ttl: 1h\n    max_stale: 1h"))
    r = px.client()
    rename_table(px.db_path, "items", "items_gone")
    for i in range(1, 6):
        with pytest.raises(redis.ResponseError):
            r.get(f"item:{i}")
    assert px.stats()["resilience"]["breakers"]["database"]["state"] == "open"
    assert get(f"{admin}/health/ready")[0] == 200


def test_metrics_pass_promtool_and_agree_with_stats(proxy, tmp_path):
    px, admin = items_proxy(proxy, tmp_path)
    r = px.client()
    for i in range(1, 11):
        assert r.get(f"item:{i}") == f"v{i}".encode()
    for i in range(1, 6):
        assert r.get(f"item:{i}") == f"v{i}".encode()
    assert r.set("item:3", "three")
    with pytest.raises(redis.ResponseError):
        r.execute_command("SQL.EXEC", "INSERT INTO items(id, v) VALUES ('1', 'dup')")
    # Histograms and L1's counts are copied once a second (a scrape takes no lock a GET takes): the next copy.
    assert wait_for(lambda: metric(get(f"{admin}/metrics")[2].decode(), "tiercache_command_duration_seconds_count",
                                   command="GET") == 15, timeout=3.0, interval=0.2)
    status, headers, body = get(f"{admin}/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = body.decode()
    if shutil.which("promtool"):
        checked = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30)
        assert checked.returncode == 0 and checked.stdout == b"" and checked.stderr == b"", checked
    else:
        pytest.fail("promtool is missing: scripts/install-deps.sh test installs Debian's prometheus")

    stats = px.stats()
    item = stats["types"]["item"]
    assert metric(text, "tiercache_cache_requests_total", tier="l1", type="item", result="hit") == \
        item["l1"]["hits"] == 5
    assert metric(text, "tiercache_cache_requests_total", tier="l1", type="item", result="miss") == \
        item["l1"]["misses"] == 10
    assert metric(text, "tiercache_backend_loads_total", type="item") == item["loads"] == 10
    assert metric(text, "tiercache_cache_entries", tier="l1", type="item") == item["l1"]["entries"]
    assert metric(text, "tiercache_cache_bytes", tier="l1") == stats["tiers"]["l1"]["bytes"]
    assert metric(text, "tiercache_command_duration_seconds_count", command="GET") == \
        stats["commands"]["GET"]["count"] == 15
    assert metric(text, "tiercache_command_duration_seconds_bucket", command="GET", le="+Inf") == 15
    assert metric(text, "tiercache_backend_duration_seconds_count", op="load") == stats["backend"]["load"]["count"]
    assert metric(text, "tiercache_backend_errors_total", op="exec", kind="constraint") == \
        stats["backend"]["errors"] == 1
    assert metric(text, "tiercache_invalidations_total", source="local") == item["invalidations"] == 1
    assert metric(text, "tiercache_breaker_state", dependency="database") == 0
    assert metric(text, "tiercache_warming_ready") == 1
    assert metric(text, "tiercache_policy_reloads_total", result="ok") == stats["policy"]["reloads"]
    # STATS counts the connection it is asked on.
    assert metric(text, "tiercache_connections", state="open") == stats["server"]["connections_open"] - 1 == 1
    assert metric(text, "tiercache_build_info", version=stats["server"]["version"]) == 1
    # Buckets are cumulative and end at the count.
    buckets = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('tiercache_command_duration_seconds_bucket{command="GET"')]
    assert buckets == sorted(buckets) and buckets[-1] == 15


def test_stats_route_is_the_stats_tree_as_json(proxy, tmp_path):
    px, admin = items_proxy(proxy, tmp_path)
    assert px.client().get("item:1") == b"v1"
    status, headers, body = get(f"{admin}/stats")
    assert status == 200 and headers["Content-Type"] == "application/json"
    tree = json.loads(body)
    stats = px.stats()
    assert list(tree) == list(stats)
    assert tree["types"]["item"]["l1"]["misses"] == stats["types"]["item"]["l1"]["misses"] == 1
    assert tree["policy"]["version"] == stats["policy"]["version"]


def test_password_guards_every_route_but_the_probes(proxy, tmp_path):
    px, admin = items_proxy(proxy, tmp_path, "--requirepass", "s3cret")
    for path in ("/metrics", "/stats"):
        status, headers, body = get(admin + path)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic realm="), (path, body)
        assert b"s3cret" not in body
        for wrong in ("Bearer nope", "Basic " + base64.b64encode(b"default:nope").decode(),
                      "Basic " + base64.b64encode(b"someone:s3cret").decode(), "Basic !!!", "Digest s3cret"):
            assert get(admin + path, {"Authorization": wrong})[0] == 401, wrong
        for right in ("Bearer s3cret", "Basic " + base64.b64encode(b"default:s3cret").decode(),
                      "Basic " + base64.b64encode(b":s3cret").decode()):
            assert get(admin + path, {"Authorization": right})[0] == 200, right
    for probe in ("live", "ready", "startup"):
        assert get(f"{admin}/health/{probe}")[0] == 200


def test_methods_paths_and_keep_alive(proxy, tmp_path):
    _, admin = items_proxy(proxy, tmp_path)
    status, headers, body = get(admin + "/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, headers, body = get(admin + "/nowhere")
    assert status == 404 and json.loads(body)["error"].startswith("no such path: /nowhere")
    status, headers, body = get(admin + "/metrics", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    # Two requests on one connection (as Prometheus scrapes), then a body that is too large closes it.
    port = int(admin.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        request = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(request * 2)
        received = b""
        while received.count(b"HTTP/1.1 200 OK") < 2:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        sock.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 413 Payload Too Large"), answer[:200]


def test_admin_listen_errors_are_clear(proxy, tmp_path):
    bad = run_tiercache("serve", "--admin-listen", "nowhere")
    assert bad.returncode != 0
    assert "--admin-listen must be HOST:PORT or off (e.g. 127.0.0.1:9680); got 'nowhere'" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        px = proxy("--admin-listen", f"127.0.0.1:{port}", wait=False)
        px.expect_exit = True
        assert px.process.wait(timeout=30) != 0
        assert f"cannot listen on 127.0.0.1:{port}" in px.log() and "--admin-listen" in px.log()


def test_a_real_prometheus_scrapes_tiercache(proxy, tmp_path):
    px, admin = items_proxy(proxy, tmp_path, "--requirepass", "s3cret")
    r = px.client(password="s3cret")
    for i in range(1, 8):
        assert r.get(f"item:{i}") == f"v{i}".encode()
    for i in range(1, 4):
        assert r.get(f"item:{i}") == f"v{i}".encode()
    prometheus = PrometheusServer(Path(tempfile.mkdtemp(prefix="prometheus-", dir=tmp_path)),
                                  admin.removeprefix("http://"), password="s3cret")
    try:
        def answer():
            reply = prometheus.query('sum(tiercache_cache_requests_total{tier="l1",type="item",result="hit"})')
            result = reply["data"]["result"] if reply and reply["status"] == "success" else []
            return float(result[0]["value"][1]) if result else None

        assert wait_for(lambda: answer() == 3.0, timeout=30.0, interval=0.5), (answer(), prometheus.log())
        target = prometheus.api("targets")["data"]["activeTargets"][0]
        assert target["health"] == "up" and target["lastError"] == "", target
    finally:
        prometheus.stop()


def read_events(sock: socket.socket, count: int, timeout: float = 10.0) -> list[tuple[str, dict]]:
    """The first `count` events (name, data) of an event stream on `sock`, past the HTTP head."""
    sock.settimeout(timeout)
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head, buffer = buffer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK") and b"text/event-stream" in head, head
    events: list[tuple[str, dict]] = []
    text = ""
    deadline = time.monotonic() + timeout
    while len(events) < count and time.monotonic() < deadline:
        text += dechunk_all(buffer)
        buffer = b""
        while "\n\n" in text and len(events) < count:
            block, text = text.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "data" in fields:
                events.append((fields.get("event", "message"), json.loads(fields["data"])))
        if len(events) < count:
            buffer = sock.recv(65536)
    return events


def dechunk_all(raw: bytes) -> str:
    """HTTP/1.1 chunked bytes (whole chunks, as NIO writes one per event) as text."""
    out = b""
    while raw:
        size_line, _, rest = raw.partition(b"\r\n")
        size = int(size_line, 16)
        out += rest[:size]
        raw = rest[size + 2:]
    return out.decode()


def events_socket(admin: str, headers: str = "") -> socket.socket:
    port = int(admin.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{headers}\r\n".encode())
    return sock


def test_events_stream_the_stats_every_second_and_each_alert(proxy, tmp_path):
    policy = POLICY + "alerts:\n  db_down:\n    metric: breaker_open\n"
    px, admin = items_proxy(proxy, tmp_path, "--db-breaker", BREAKER, "--slow-log-threshold", "0", policy=policy)
    r = px.client()
    assert r.get("item:1") == b"v1"
    with events_socket(admin) as sock:
        (first, data), (second, later) = read_events(sock, 2)
        assert first == second == "stats"
        assert data["stats"]["types"]["item"]["l1"]["misses"] == 1
        assert data["slowlog"][0]["operation"] == "LOAD" and data["slowlog"][0]["type"] == "item"
        assert data["slowlog"][0]["statement"] == "SELECT v FROM items WHERE id = ? 1"
        assert later["time"] > data["time"]
        assert data["stats"]["alerts"]["rules"]["db_down"]["state"] == "quiet"
        # The database fails until the breaker opens: the alert comes as its own event.
        rename_table(px.db_path, "items", "items_gone")
        for i in range(2, 6):
            with pytest.raises(redis.ResponseError):
                r.get(f"item:{i}")
        names = []
        for name, payload in read_events_more(sock, 6):
            names.append(name)
            if name == "alert":
                assert payload["alert"] == "db_down" and payload["state"] == "firing"
                break
        assert "alert" in names, names
    status, _, body = get(f"{admin}/metrics")
    assert wait_for(lambda: metric(get(f"{admin}/metrics")[2].decode(), "tiercache_admin_event_viewers") == 0)


def read_events_more(sock: socket.socket, count: int) -> list[tuple[str, dict]]:
    """Events from a stream already past its head."""
    events: list[tuple[str, dict]] = []
    pending = b""
    deadline = time.monotonic() + 15
    while len(events) < count and time.monotonic() < deadline:
        pending += sock.recv(65536)
        text = ""
        while True:
            size_line, sep, rest = pending.partition(b"\r\n")
            if not sep:
                break
            size = int(size_line, 16)
            if len(rest) < size + 2:
                break
            text += rest[:size].decode()
            pending = rest[size + 2:]
        for block in text.split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "data" in fields:
                events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


def test_a_viewer_that_stops_reading_is_skipped_not_buffered(proxy, tmp_path):
    px, admin = items_proxy(proxy, tmp_path)
    port = int(admin.rsplit(":", 1)[1])
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    stuck.connect(("127.0.0.1", port))
    stuck.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        with events_socket(admin) as reader:
            assert len(read_events(reader, 1)) == 1
            # The stuck viewer's buffers fill within seconds; then its ticks are skipped, the reader's are not.
            assert wait_for(lambda: metric(get(f"{admin}/metrics")[2].decode(),
                                           "tiercache_admin_events_skipped_total") > 0, timeout=30.0, interval=0.5)
            assert len(read_events_more(reader, 3)) >= 3
            assert px.client().get("item:2") == b"v2"
            assert metric(get(f"{admin}/metrics")[2].decode(), "tiercache_admin_event_viewers") == 2
    finally:
        stuck.close()


def test_one_source_of_figures_stats_info_metrics_json_and_events_agree(proxy, tmp_path):
    px, admin = items_proxy(proxy, tmp_path, "--slow-log-threshold", "0")
    r = px.client()
    for i in range(1, 16):
        assert r.get(f"item:{i}") == f"v{i}".encode()
    for i in range(1, 11):
        assert r.get(f"item:{i}") == f"v{i}".encode()
    assert r.get("item:999") is None
    assert r.set("item:2", "two")
    # No traffic from here on: every source must tell the same figures (once /metrics' copy of L1's counts, made
    # every second, is past the workload).
    time.sleep(1.2)
    stats = px.stats()["types"]["item"]
    info = r.info("tiercache")["type_item"]
    text = get(f"{admin}/metrics")[2].decode()
    tree = json.loads(get(f"{admin}/stats")[2])["types"]["item"]
    with events_socket(admin) as sock:
        ((_, event),) = read_events(sock, 1)
    streamed = event["stats"]["types"]["item"]
    hits, misses, loads = stats["l1"]["hits"], stats["l1"]["misses"], stats["loads"]
    assert (hits, misses, loads) == (10, 16, 16)
    assert (info["l1_hits"], info["l1_misses"], info["loads"]) == (hits, misses, loads)
    assert (metric(text, "tiercache_cache_requests_total", tier="l1", type="item", result="hit"),
            metric(text, "tiercache_cache_requests_total", tier="l1", type="item", result="miss"),
            metric(text, "tiercache_backend_loads_total", type="item")) == (hits, misses, loads)
    assert (tree["l1"]["hits"], tree["l1"]["misses"], tree["loads"]) == (hits, misses, loads)
    assert (streamed["l1"]["hits"], streamed["l1"]["misses"], streamed["loads"]) == (hits, misses, loads)
    assert info["entries"] == stats["l1"]["entries"] == tree["l1"]["entries"] == streamed["l1"]["entries"] == \
        metric(text, "tiercache_cache_entries", tier="l1", type="item")
    assert stats["invalidations"] == tree["invalidations"] == streamed["invalidations"] == 1
