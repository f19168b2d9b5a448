"""The live page (issue 16) in a real headless Chromium, driven through the DevTools protocol: it loads with no
console error or exception, fills itself from /events with the figures STATS reports, shows an alert as it fires
and the slow log, and asks for the password when the proxy has one. With TIERCACHE_DASHBOARD_SCREENSHOT=PATH the
test also saves a screenshot there (the README's)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from conftest import free_port, items_db, rename_table, write_policy

websocket = pytest.importorskip("websocket", reason="scripts/install-deps.sh test installs websocket-client")

POLICY = """\
types:
  item:
    load: SELECT v FROM items WHERE id = ?
    store: INSERT INTO items(id, v) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET v = excluded.v
    tables: [items]
    ttl: 1h
  other:
    load: SELECT v FROM items WHERE id = ?
    tables: [items]
    ttl: 10m
alerts:
  db_down:
    metric: breaker_open
"""
BREAKER = "failure_rate=0.5,window=10,min_calls=4,open=30s,probes=1"


class Browser:
    """A headless Chromium on a page, through the DevTools protocol: console messages and exceptions collected."""

    def __init__(self, directory: Path):
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            pytest.fail("chromium is missing: scripts/install-deps.sh test installs Debian's chromium")
        port = free_port()
        self.log = open(directory / "chromium.log", "wb")
        self.process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", f"--user-data-dir={directory / 'profile'}",
             f"--remote-debugging-port={port}", "--window-size=1400,1800", "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        target = None
        deadline = time.monotonic() + 30
        while target is None and time.monotonic() < deadline:
            try:
                pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2))
                target = next((p for p in pages if p["type"] == "page"), None)
            except OSError:
                time.sleep(0.2)
        assert target is not None, (directory / "chromium.log").read_text()[-2000:]
        self.socket = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.next_id = 0
        self.console: list[tuple[str, str]] = []
        self.exceptions: list[str] = []
        self.auth_challenges = 0
        for method in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(method)

    def call(self, method: str, **params):
        self.next_id += 1
        ident = self.next_id
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.event(message)

    def event(self, message: dict):
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            self.console.append((params.get("type", ""), text))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.exceptions.append(details.get("exception", {}).get("description") or details.get("text", ""))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.console.append((entry.get("level", ""), entry.get("text", "")))
        elif method == "Fetch.authRequired":
            self.auth_challenges += 1
            self.socket.send(json.dumps({"id": 0, "method": "Fetch.continueWithAuth", "params": {
                "requestId": params["requestId"],
                "authChallengeResponse": {"response": "ProvideCredentials", **self.credentials}}}))
        elif method == "Fetch.requestPaused":
            self.socket.send(json.dumps({"id": 0, "method": "Fetch.continueRequest",
                                         "params": {"requestId": params["requestId"]}}))

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def text(self, element_id: str) -> str:
        return self.evaluate(f"document.getElementById({json.dumps(element_id)}).textContent")

    def rows(self, table_id: str) -> list[list[str]]:
        return self.evaluate(
            f"[...document.querySelectorAll('#{table_id} tbody tr')].map(r => [...r.cells].map(c => c.textContent))")

    def wait(self, expression: str, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return True
            time.sleep(0.2)
        return False

    def errors(self) -> list[str]:
        return self.exceptions + [text for level, text in self.console if level in ("error", "assert")]

    def screenshot(self, path: str):
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.socket.close()
        finally:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.log.close()


@pytest.fixture
def browser(tmp_path):
    browser = Browser(Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)))
    yield browser
    browser.close()


def items_proxy(proxy, tmp_path, *args):
    db = items_db(tmp_path / "items.db", 50)
    admin = free_port()
    px = proxy("--admin-listen", f"127.0.0.1:{admin}", "--slow-log-threshold", "0", *args,
               policies=write_policy(tmp_path / "policies", "items.yaml", POLICY), database=db)
    return px, f"http://127.0.0.1:{admin}/"


def test_the_page_shows_what_stats_reports_with_no_console_error(proxy, tmp_path, browser):
    px, page = items_proxy(proxy, tmp_path, "--db-breaker", BREAKER)
    r = px.client()
    for i in range(1, 11):
        assert r.get(f"item:{i}") == f"v{i}".encode()
    for i in range(1, 6):
        assert r.get(f"item:{i}") == f"v{i}".encode()
    assert r.get("other:1") == b"v1"
    # A client's statement with markup in it: shown as text in the slow log, never run as markup.
    r.execute_command("QUERY", "SELECT '<img src=x onerror=alert(1)>' AS v")

    browser.call("Page.navigate", url=page)
    assert browser.wait("document.getElementById('connection').textContent === 'live'"), browser.errors()
    assert browser.wait("document.querySelectorAll('#types tbody tr').length > 0"), browser.errors()
    stats = px.stats()
    assert browser.text("version") == stats["server"]["version"]
    assert browser.text("policy-version") == stats["policy"]["version"]
    assert browser.text("l1-hits") == f"{stats['tiers']['l1']['hits']:,}"
    assert browser.text("l1-misses") == f"{stats['tiers']['l1']['misses']:,}"
    types = {row[0]: row for row in browser.rows("types")}
    assert set(types) == {"item", "other", "default"}
    assert types["item"][1] == f"{stats['types']['item']['l1']['hit_ratio'] * 100:.1f} %"
    assert types["item"][2:4] == ["5", "10"] and types["item"][7] == "10"
    assert browser.text("l1-entries") == f"{stats['tiers']['l1']['entries']:,}"
    breakers = {row[0]: row for row in browser.rows("breakers")}
    assert breakers["database"][1] == "closed"
    assert browser.text("warming-ready") == "ready"
    slow = browser.rows("slowlog")
    assert any(row[2] == "QUERY" and "<img src=x onerror=alert(1)>" in row[4] for row in slow), slow
    assert browser.evaluate("document.querySelectorAll('#slowlog img').length") == 0
    assert any(row[2] == "LOAD" and row[3] == "item" for row in slow), slow
    # The latency chart of GET, from the last second's traffic.
    for i in range(1, 6):
        r.get(f"item:{i}")
    assert browser.wait("[...document.querySelectorAll('#charts .legend span')].some(s => s.textContent === 'GET')")

    # An alert fires: the header, the alerts table and the notifications show it.
    rename_table(px.db_path, "items", "items_gone")
    for i in range(20, 26):
        with pytest.raises(redis.ResponseError):
            r.get(f"item:{i}")
    assert browser.wait("document.getElementById('alert-count').textContent === '1 alert(s) firing'"), \
        browser.errors()
    assert browser.wait("document.querySelectorAll('#notices tbody tr').length === 1")
    assert browser.rows("notices")[0][1:3] == ["db_down", "firing"]
    assert {row[0]: row[1] for row in browser.rows("alerts")}["db_down"] == "firing"
    assert {row[0]: row for row in browser.rows("breakers")}["database"][1] == "open"

    if os.environ.get("TIERCACHE_DASHBOARD_SCREENSHOT"):
        browser.screenshot(os.environ["TIERCACHE_DASHBOARD_SCREENSHOT"])
    assert browser.errors() == [], browser.errors()


def test_the_page_asks_for_the_password_and_works_with_it(proxy, tmp_path, browser):
    px, page = items_proxy(proxy, tmp_path, "--requirepass", "s3cret")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(page, timeout=10)
    assert refused.value.code == 401 and refused.value.headers["WWW-Authenticate"].startswith("Basic")
    # The browser answers the challenge as a person would, once; the event stream reuses the credentials.
    browser.credentials = {"username": "default", "password": "s3cret"}
    browser.call("Fetch.enable", handleAuthRequests=True)
    browser.call("Page.navigate", url=page)
    assert browser.wait("document.getElementById('connection').textContent === 'live'"), browser.errors()
    assert browser.auth_challenges >= 1
    assert browser.wait("document.getElementById('version').textContent !== ''")
    # A 401 answered with credentials is not a page error; nothing else may be.
    assert [e for e in browser.errors() if "401" not in e] == [], browser.errors()
