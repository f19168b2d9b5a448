"""Protected mode (issue 17), as Redis has it: with no password, clients from other machines get Redis' -DENIED
explanation and are closed (the admin listener a 403 with the same words); loopback clients are served; a
password or --protected-mode no lifts it. "Another machine" here is this machine's own non-loopback address, which
the kernel reports as the client's address."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
import redis

from conftest import free_port, run_tiercache, wait_for


def outside_address() -> str:
    """An IPv4 address of this machine that is not loopback: a client connecting to it comes from it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent, the kernel only picks a route
            address = probe.getsockname()[0]
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        pytest.fail("this machine has no non-loopback IPv4 address to come from")
    return address


def started(proxy, *args):
    address = outside_address()
    port, admin = free_port(), free_port()
    # `proxy` passes its own loopback --listen first; this one, later, wins.
    px = proxy("--listen", f"0.0.0.0:{port}", "--admin-listen", f"0.0.0.0:{admin}", *args, wait=False)
    px.port = port
    px.wait_ready()
    return px, address, admin


def test_without_a_password_only_loopback_clients_are_served(proxy):
    px, address, admin = started(proxy)
    assert px.client().ping()  # loopback
    remote = redis.Redis(host=address, port=px.port, retry=None, socket_timeout=5)
    with pytest.raises(redis.ResponseError, match=r"^DENIED TierCache is running in protected mode"):
        remote.ping()
    with socket.create_connection((address, px.port), timeout=5) as raw:
        reply = raw.recv(4096)
        assert reply.startswith(b"-DENIED TierCache is running in protected mode") and reply.endswith(b"\r\n")
        assert b"--requirepass" in reply and b"--protected-mode no" in reply
        assert raw.recv(4096) == b""  # closed
    with pytest.raises(urllib.error.HTTPError) as forbidden:
        urllib.request.urlopen(f"http://{address}:{admin}/health/live", timeout=5)
    assert forbidden.value.code == 403
    assert json.load(forbidden.value)["error"].startswith("TierCache is running in protected mode")
    assert urllib.request.urlopen(f"http://127.0.0.1:{admin}/health/live", timeout=5).status == 200
    stats = px.stats()
    assert stats["server"]["denied_connections"] == 3
    assert "protected mode: no password is set" in px.log()


def test_a_password_or_protected_mode_no_lets_other_machines_in(proxy):
    px, address, admin = started(proxy, "--requirepass", "s3cret")
    assert redis.Redis(host=address, port=px.port, password="s3cret", retry=None, socket_timeout=5).ping()
    assert urllib.request.urlopen(f"http://{address}:{admin}/health/live", timeout=5).status == 200
    open_px, address, admin = started(proxy, "--protected-mode", "no")
    assert redis.Redis(host=address, port=open_px.port, retry=None, socket_timeout=5).ping()
    assert urllib.request.urlopen(f"http://{address}:{admin}/metrics", timeout=5).status == 200
    assert "protected mode" not in open_px.log()


def test_protected_mode_takes_yes_or_no():
    done = run_tiercache("serve", "--protected-mode", "maybe")
    assert done.returncode != 0 and "--protected-mode must be yes or no; got 'maybe'" in done.stderr
