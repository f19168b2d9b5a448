"""Failed AUTH attempts (issue 17): counted, logged with the user and the client's address but never the
password, and from the sixth failure in a minute from one address answered after a growing wait (100 ms, 200 ms,
…), so guessing from one address crawls while other addresses are counted on their own."""

from __future__ import annotations

import re
import time

from conftest import Err, RawConnection, Simple, free_port
from test_protected_mode import outside_address

WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."


def test_failures_are_counted_logged_without_the_password_and_slowed(proxy):
    port = free_port()
    px = proxy("--listen", f"0.0.0.0:{port}", "--requirepass", "s3cret", wait=False)
    px.port = port
    px.wait_ready()
    conn = RawConnection(port)
    for attempt in range(1, 8):
        started = time.monotonic()
        assert conn.command("AUTH", "default", f"guess-{attempt}") == Err(WRONGPASS)
        waited = time.monotonic() - started
        if attempt == 6:
            assert waited >= 0.09, waited  # the first slowed answer: 100 ms
        if attempt == 7:
            assert waited >= 0.19, waited  # then 200 ms
    # HELLO's AUTH counts the same way.
    assert conn.command("HELLO", "3", "AUTH", "default", "guess-8") == Err(WRONGPASS)
    assert conn.command("AUTH", "default", "s3cret") == Simple("OK")  # the right one still works
    conn.close()
    assert px.stats()["server"]["auth_failures"] == 8
    log = px.log()
    assert "guess-" not in log  # never the password
    lines = [line for line in log.splitlines() if "authentication failed" in line]
    assert len(lines) == 5  # the first five per address and minute, then every hundredth
    assert all("user=default" in line and "client=127.0.0.1:" in line for line in lines), lines
    assert re.search(r"failures_from_address_this_minute=5\b", lines[-1]), lines[-1]
    # Another address is counted on its own.
    with RawConnection(port, host=outside_address()) as other:
        assert other.command("AUTH", "default", "guess-9") == Err(WRONGPASS)
    assert re.search(r"client=" + re.escape(outside_address()) + r":\d+.*failures_from_address_this_minute=1\b",
                     px.log()), px.log()[-2000:]
