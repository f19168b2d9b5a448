"""Issue 12, finding 8: policy files must not be followed out of the policy directory, nor echoed back.

A file another user can link or copy into the policy directory must not make the proxy show what it holds: not in
the `POLICY RELOAD` reply, `STATS`, `POLICY SHOW`, nor the log. Each test runs its own proxy on a copy of the
shipped policies; the "secret" is a shadow-like line in a temporary file (never the real /etc/shadow).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import redis

from conftest import SHIPPED_POLICIES, demo_value, wait_for

RELOAD_BOUND = 5.0
SECRET = "S3cr3tH4shD0NotLeak"
SHADOW = f"root:$y$j9T${SECRET}/Qx7Zp0:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"
REFUSED = "policy reload refused, the running policy stays: "


def policies_and_secret(tmp_path: Path) -> tuple[Path, Path]:
    policies = tmp_path / "policies"
    shutil.copytree(SHIPPED_POLICIES, policies)
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "shadow"
    secret.write_text(SHADOW)
    return policies, secret


def assert_nothing_leaked(px, *texts: str) -> None:
    """The secret (and the line it sits in) is in no reply given and nowhere in STATS, POLICY SHOW or the log."""
    for text in (*texts, repr(px.stats()), repr(px.policy_show()), px.log()):
        assert SECRET not in text and "root:" not in text, text[-2000:]


def assert_still_serving(px, client: redis.Redis, version: str) -> None:
    assert client.get("user_sessions:1") == demo_value("user_sessions", 1).decode()
    assert px.stats()["policy"]["version"] == version


def reload_refused(client: redis.Redis) -> str:
    with pytest.raises(redis.ResponseError) as refused:
        client.execute_command("POLICY", "RELOAD")
    return str(refused.value)


def test_a_link_out_of_the_directory_is_refused_unread(proxy, tmp_path):
    policies, secret = policies_and_secret(tmp_path)
    px = proxy("--policy-watch", "off", policies=policies)
    r = px.client(protocol=2, decode_responses=True)
    version = px.stats()["policy"]["version"]
    assert_still_serving(px, r, version)

    os.symlink(secret, policies / "zz.yaml")
    reply = reload_refused(r)
    assert reply == f"{REFUSED}{policies}/zz.yaml:1:1: zz.yaml links outside the policy directory; not read", reply

    assert_still_serving(px, r, version)
    status = px.stats()["policy"]
    assert status["reload_failures"] == 1
    assert "zz.yaml links outside the policy directory" in status["last_error"], status
    assert "zz.yaml links outside the policy directory" in px.policy_show()["status"]["last_error"]
    assert "zz.yaml links outside the policy directory" in px.log()
    assert_nothing_leaked(px, reply)


def test_a_secret_copied_into_the_directory_is_not_echoed(proxy, tmp_path):
    policies, secret = policies_and_secret(tmp_path)
    px = proxy("--policy-watch", "off", policies=policies)
    r = px.client(protocol=2, decode_responses=True)
    version = px.stats()["policy"]["version"]

    shutil.copy(secret, policies / "zz.yaml")
    reply = reload_refused(r)
    unknown = "unknown top-level key (not a key name; expected one of: types, default, alerts)"
    assert reply == f"{REFUSED}{policies}/zz.yaml:1:1: {unknown}; {policies}/zz.yaml:2:1: {unknown}", reply
    assert_still_serving(px, r, version)
    assert_nothing_leaked(px, reply)


def test_the_watcher_reports_a_link_out_without_reading_it(proxy, tmp_path):
    policies, secret = policies_and_secret(tmp_path)
    px = proxy(policies=policies)
    r = px.client(protocol=2, decode_responses=True)
    version = px.stats()["policy"]["version"]

    os.symlink(secret, policies / "zz.yaml")
    assert wait_for(lambda: px.stats()["policy"]["reload_failures"] == 1, timeout=RELOAD_BOUND), px.log()[-2000:]
    assert "zz.yaml links outside the policy directory" in px.stats()["policy"]["last_error"]
    assert_still_serving(px, r, version)
    assert_nothing_leaked(px)
