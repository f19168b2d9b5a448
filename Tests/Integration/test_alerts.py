"""Alerts (issue 16): rules in the policy files, evaluated every second, notified once per firing and resolution
(log, STATS alerts, /alerts, /metrics) and posted to a real HTTP receiver (--alert-webhook), hot-reloaded."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis

from conftest import free_port, items_db, rename_table, wait_for, write_policy

TYPES = """\
types:
  item:
    load: SELECT v FROM items WHERE id = ?
    tables: [items]
    ttl: 1h
"""
BREAKER = "failure_rate=0.5,window=10,min_calls=4,open=2s,probes=1"


class Receiver:
    """An HTTP server that keeps every JSON body POSTed to it, answering `status`."""

    def __init__(self, status: int = 204):
        self.posts: list[dict] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append({"path": self.path, "type": self.headers["Content-Type"], **json.loads(body)})
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/tiercache"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def states(self, alert: str) -> list[str]:
        return [post["state"] for post in self.posts if post["alert"] == alert]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def items_proxy(proxy, tmp_path, alerts: str, *args):
    db = items_db(tmp_path / "items.db", 200)
    policies = tmp_path / "policies"
    write_policy(policies, "items.yaml", TYPES)
    write_policy(policies, "alerts.yaml", alerts)
    admin = free_port()
    px = proxy("--admin-listen", f"127.0.0.1:{admin}", *args, policies=policies, database=db)
    return px, f"http://127.0.0.1:{admin}", policies


def rule(px, name):
    return px.stats()["alerts"]["rules"][name]


def metric_line(admin: str, alert: str) -> str:
    text = urllib.request.urlopen(f"{admin}/metrics", timeout=10).read().decode()
    return next(line for line in text.splitlines() if line.startswith(f'tiercache_alerts_firing{{alert="{alert}"}}'))


def test_a_breaker_alert_fires_and_resolves_everywhere_once(proxy, tmp_path, receiver):
    alerts = "alerts:\n  db_down:\n    metric: breaker_open\n    for: 0s\n    cooldown: 10m\n"
    px, admin, _ = items_proxy(proxy, tmp_path, alerts, "--db-breaker", BREAKER, "--alert-webhook", receiver.url)
    r = px.client()
    assert rule(px, "db_down")["state"] == "quiet"
    assert metric_line(admin, "db_down").endswith(" 0")
    rename_table(px.db_path, "items", "items_gone")
    for i in range(1, 6):
        with pytest.raises(redis.ResponseError):
            r.get(f"item:{i}")
    assert wait_for(lambda: receiver.states("db_down") == ["firing"], timeout=5.0), receiver.posts
    post = receiver.posts[0]
    assert post["path"] == "/hooks/tiercache" and post["type"] == "application/json"
    assert post["value"] == 1 and post["threshold"] is None and post["condition"] == "breaker_open"
    assert post["time"].endswith("Z") and post["time"][:4] >= "2026"
    assert rule(px, "db_down")["state"] == "firing" and px.stats()["alerts"]["firing"] == 1
    assert metric_line(admin, "db_down").endswith(" 1")
    listed = json.load(urllib.request.urlopen(f"{admin}/alerts", timeout=10))
    assert listed["firing"] == 1 and listed["rules"]["db_down"]["state"] == "firing"
    assert "alert firing: db_down: breaker_open (value 1.0)" in px.log()

    rename_table(px.db_path, "items_gone", "items")
    time.sleep(2.2)  # the breaker's open period, then a probe closes it
    assert r.get("item:1") == b"v1"
    assert wait_for(lambda: receiver.states("db_down") == ["firing", "resolved"], timeout=5.0), receiver.posts
    status = rule(px, "db_down")
    assert status["state"] == "quiet" and status["fired"] == 1 and status["resolved"] == 1
    assert px.log().count("alert firing: db_down") == 1 and px.log().count("alert resolved: db_down") == 1
    assert px.stats()["alerts"]["webhook"]["sent"] == 2


def test_a_hit_ratio_alert_over_its_window(proxy, tmp_path, receiver):
    alerts = ("alerts:\n  cold:\n    metric: hit_ratio\n    tier: l1\n    type: item\n    below: 0.8\n"
              "    window: 2s\n    for: 0s\n    cooldown: 1s\n")
    px, _, _ = items_proxy(proxy, tmp_path, alerts, "--alert-webhook", receiver.url)
    r = px.client()
    assert rule(px, "cold")["value"] == "none"  # no reads yet: nothing to measure, not firing
    # Misses only (each id once) until it fires: the ratio over the window is 0.
    next_id = 1
    deadline = time.monotonic() + 10
    while not receiver.states("cold") and time.monotonic() < deadline:
        assert r.get(f"item:{next_id}") == f"v{next_id}".encode()
        next_id += 1
        time.sleep(0.02)
    assert receiver.states("cold") == ["firing"], receiver.posts
    assert receiver.posts[0]["value"] == 0 and receiver.posts[0]["threshold"] == 0.8
    assert receiver.posts[0]["condition"] == "hit_ratio{tier=l1,type=item} < 0.8"
    # Hits only (the ids read above): once the misses are out of the 2 s window, the ratio is 1.
    deadline = time.monotonic() + 10
    while len(receiver.states("cold")) < 2 and time.monotonic() < deadline:
        assert r.get("item:1") == b"v1"
        time.sleep(0.01)
    assert receiver.states("cold") == ["firing", "resolved"], receiver.posts
    assert receiver.posts[1]["value"] > 0.8


def test_cooldown_keeps_a_flapping_alert_to_one_notification(proxy, tmp_path, receiver):
    alerts = "alerts:\n  flap:\n    metric: reload_failed\n    cooldown: 1h\n"
    px, _, policies = items_proxy(proxy, tmp_path, alerts, "--alert-webhook", receiver.url)
    good = (policies / "items.yaml").read_text()
    for _ in range(2):
        (policies / "items.yaml").write_text(good.replace("ttl: 1h", "ttl: never"))
        assert wait_for(lambda: rule(px, "flap")["state"] == "firing", timeout=10.0)
        (policies / "items.yaml").write_text(good + "\n")
        assert wait_for(lambda: rule(px, "flap")["state"] == "quiet", timeout=10.0)
    status = rule(px, "flap")
    assert status["fired"] == 2 and status["resolved"] == 2
    time.sleep(0.5)
    assert receiver.states("flap") == ["firing", "resolved"], receiver.posts  # the second round within the cooldown


def test_alerts_reload_with_the_policy_and_a_bad_rule_is_refused_at_its_place(proxy, tmp_path):
    alerts = "alerts:\n  slow:\n    metric: p99_ms\n    command: GET\n    above: 100\n"
    px, _, policies = items_proxy(proxy, tmp_path, alerts)
    assert rule(px, "slow")["condition"] == "p99_ms{command=GET} > 100"
    (policies / "alerts.yaml").write_text(alerts.replace("above: 100", "above: 5"))
    assert wait_for(lambda: rule(px, "slow")["condition"] == "p99_ms{command=GET} > 5", timeout=10.0)
    (policies / "alerts.yaml").write_text(alerts.replace("command: GET", "command: GETT"))
    assert wait_for(lambda: "last_error" in px.stats()["policy"], timeout=10.0)
    error = px.stats()["policy"]["last_error"]
    assert f"{policies / 'alerts.yaml'}:2:3: alert 'slow': no command 'GETT'" in error, error
    assert rule(px, "slow")["condition"] == "p99_ms{command=GET} > 5"  # the running policy is kept


def test_a_dead_webhook_costs_the_proxy_nothing(proxy, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/nobody"
    alerts = "alerts:\n  db_down:\n    metric: breaker_open\n"
    px, _, _ = items_proxy(proxy, tmp_path, alerts, "--db-breaker", BREAKER, "--alert-webhook", dead)
    r = px.client()
    assert r.get("item:1") == b"v1"
    rename_table(px.db_path, "items", "items_gone")
    for i in range(2, 7):
        with pytest.raises(redis.ResponseError):
            r.get(f"item:{i}")
    assert wait_for(lambda: rule(px, "db_down")["state"] == "firing", timeout=5.0)
    assert wait_for(lambda: px.stats()["alerts"]["webhook"]["failed_attempts"] >= 1, timeout=10.0)
    assert r.get("item:1") == b"v1"  # served from L1 throughout
    assert px.stats()["alerts"]["webhook"]["sent"] == 0


def test_a_bad_webhook_url_is_refused_at_start(tmp_path):
    from conftest import run_tiercache
    done = run_tiercache("serve", "--alert-webhook", "ftp://example.com/x")
    assert done.returncode != 0
    assert ("--alert-webhook must be http://HOST[:PORT][/PATH] or https://HOST[:PORT][/PATH]; "
            "got 'ftp://example.com/x'") in done.stderr
