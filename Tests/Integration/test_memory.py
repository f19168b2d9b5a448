"""The process' allocator (issue 17's soak): `serve` caps glibc's malloc arenas at one per event loop, since an
arena per thread kept freed memory spread over many arenas and RSS crept up under a long mixed load; an operator's
MALLOC_ARENA_MAX wins. Arenas are counted in /proc/PID/maps: each one past the main arena is a 64 MB reservation,
64 MB-aligned, of which the used part is read-write and the rest inaccessible."""

from __future__ import annotations

import threading
from pathlib import Path

HEAP_RESERVATION = 64 << 20


def extra_arenas(pid: int) -> int:
    rows = [line.split() for line in Path(f"/proc/{pid}/maps").read_text().splitlines()]
    count = 0
    for index, row in enumerate(rows):
        start, end = (int(part, 16) for part in row[0].split("-"))
        if row[1] != "rw-p" or len(row) != 5 or start % HEAP_RESERVATION:
            continue
        if index + 1 < len(rows) and rows[index + 1][1] == "---p":
            end = int(rows[index + 1][0].split("-")[1], 16)
        count += end - start == HEAP_RESERVATION
    return count


def busy(proxy) -> None:
    """Reads from several connections at once, so the event loops and the database's threads all allocate."""
    def reader(number: int) -> None:
        client = proxy.client()
        for index in range(200):
            client.get(f"user_sessions:{(number * 200 + index) % 1000 + 1}")
            if index % 20 == 0:
                client.execute_command("QUERY", "SELECT count(*) FROM user_sessions")
        client.close()

    threads = [threading.Thread(target=reader, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_malloc_arenas_are_capped_at_one_per_event_loop(proxy):
    p = proxy("--threads", "3", "--log-level", "info")
    busy(p)
    assert "malloc arenas capped" in p.log() and "arenas=3" in p.log(), p.log()[-2000:]
    assert extra_arenas(p.process.pid) <= 2  # the main arena and two more


def test_malloc_arena_max_set_by_the_operator_wins(proxy):
    p = proxy("--threads", "3", "--log-level", "info", env={"MALLOC_ARENA_MAX": "32"})
    busy(p)
    assert "malloc arenas capped" not in p.log()
    # glibc's own rule, an arena for each thread that allocates: more than the cap above would allow.
    assert extra_arenas(p.process.pid) > 2
