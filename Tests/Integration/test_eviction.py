"""L1 eviction (issue 18) through the real proxy and a real client: W-TinyLFU by default, LRU on request,
`--l1-max-entries` besides the memory bound, what `STATS` and the log say about them, and the behaviour that
motivates W-TinyLFU: a one-off scan of many keys does not push the popular ones out of L1 (it does with LRU)."""

from __future__ import annotations

import pytest

HOT = [f"user_sessions:{i}" for i in range(1, 21)]
SCAN = [f"user_sessions:{i}" for i in range(101, 741)]


def l1(proxy_process) -> dict:
    return proxy_process.stats()["tiers"]["l1"]


def hot_hits_after_a_scan(proxy_process) -> int:
    """Reads the hot keys five times, scans ten times the cache's entries once, then reads the hot keys again;
    returns how many of those last reads L1 served."""
    client = proxy_process.client()
    for _ in range(5):
        for key in HOT:
            assert client.get(key) is not None
    for key in SCAN:
        assert client.get(key) is not None
    before = l1(proxy_process)["hits"]
    for key in HOT:
        assert client.get(key) is not None
    client.close()
    return l1(proxy_process)["hits"] - before


def test_w_tinylfu_is_the_default_and_says_so(proxy):
    p = proxy("--log-level", "info")
    client = p.client()
    for i in range(1, 51):
        assert client.get(f"user_sessions:{i}") is not None
    tier = l1(p)
    assert tier["eviction"] == "w-tinylfu"
    assert tier["max_entries"] == 0
    memory = tier["memory"]
    assert memory["entries"] == tier["entries"] == 50
    assert memory["bytes_counted"] == tier["bytes"]
    assert memory["keys_and_values"] + memory["overhead"] == memory["bytes_counted"]
    assert memory["overhead"] == 50 * memory["overhead_per_entry"] + memory["policy_bytes"]
    assert memory["policy_bytes"] > 0, "the frequency sketch is counted in the bound"
    assert "eviction=w-tinylfu" in p.log(), p.log()[-2000:]


@pytest.mark.parametrize("eviction", ["w-tinylfu", "lru"])
def test_the_entry_bound_holds(proxy, eviction):
    p = proxy("--l1-max-entries", "64", "--l1-eviction", eviction, "--l1-shards", "4")
    client = p.client()
    for i in range(1, 401):
        assert client.get(f"user_sessions:{i}") is not None
    tier = l1(p)
    assert tier["eviction"] == eviction
    assert tier["max_entries"] == 64
    assert 40 <= tier["memory"]["entries"] <= 64
    assert tier["evictions"] > 0
    # Every value is still served right, from L1 or the database.
    for i in (1, 200, 400):
        assert client.get(f"user_sessions:{i}") is not None


def test_a_scan_does_not_push_the_hot_keys_out(proxy):
    p = proxy("--l1-max-entries", "64", "--l1-shards", "1")
    assert hot_hits_after_a_scan(p) >= 18  # the target: 90 % of the hot set's hits survive a scan


def test_with_lru_the_same_scan_empties_the_cache_of_them(proxy):
    p = proxy("--l1-max-entries", "64", "--l1-shards", "1", "--l1-eviction", "lru")
    assert hot_hits_after_a_scan(p) == 0
