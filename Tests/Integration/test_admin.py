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

from conftest import free_port, make_sqlite_db, rename_table, run_tiercache, wait_for, write_policy

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
    script = ("CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT NOT NULL);"
              + "".join(f"INSERT INTO items VALUES ('{i}', 'v{i}');" for i in range(1, 21)))
    db = make_sqlite_db(tmp_path / "items.db", script)
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
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus is missing: scripts/install-deps.sh test installs Debian's prometheus")
    px, admin = items_proxy(proxy, tmp_path, "--requirepass", "s3cret")
    r = px.client(password="s3cret")
    for i in range(1, 8):
        assert r.get(f"item:{i}") == f"v{i}".encode()
    for i in range(1, 4):
        assert r.get(f"item:{i}") == f"v{i}".encode()
    directory = Path(tempfile.mkdtemp(prefix="prometheus-", dir=tmp_path))
    (directory / "password").write_text("s3cret")
    config = directory / "prometheus.yml"
    config.write_text(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: tiercache
    authorization:
      credentials_file: {directory / 'password'}
    static_configs:
      - targets: ['{admin.removeprefix('http://')}']
""")
    web = free_port()
    log = open(directory / "prometheus.log", "wb")
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
         f"--web.listen-address=127.0.0.1:{web}"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    try:
        query = urllib.parse.urlencode(
            {"query": 'sum(tiercache_cache_requests_total{tier="l1",type="item",result="hit"})'})

        def answer():
            try:
                status, _, body = get(f"http://127.0.0.1:{web}/api/v1/query?{query}")
            except OSError:
                return None
            result = json.loads(body)["data"]["result"] if status == 200 else []
            return float(result[0]["value"][1]) if result else None

        assert wait_for(lambda: answer() == 3.0, timeout=30.0, interval=0.5), (
            answer(), (directory / "prometheus.log").read_text()[-3000:])
        status, _, body = get(f"http://127.0.0.1:{web}/api/v1/targets")
        target = json.loads(body)["data"]["activeTargets"][0]
        assert target["health"] == "up" and target["lastError"] == "", target
    finally:
        server.terminate()
        server.wait(timeout=30)
