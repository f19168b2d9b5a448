#!/usr/bin/env python3
"""Policy edits under load: what clients see while operators edit `ttl-policies/`, and how soon an edit is in force.

Starts TierCache (SQLite, one `item` type over N keys, no Redis), reads every key once, then runs R readers (one
connection each, asyncio, as in chaos.py) at a steady pace while the script edits the policy file E times (the TTL
alternating between two values), then writes a broken file and fixes it. For each edit it measures the time from
the file's rename into place to the moment `POLICY SHOW` reports the new version, polling every millisecond.

It prints the requests and failures during the edits, and the reload latency (p50 and max over the edits). The
issue's target: 0 failed requests, and the new policy in force within 1 s of the change.

Usage: bench/policy_reload.py [--binary PATH] [--readers 50] [--keys 1000] [--edits 20] [--rate 50]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from chaos import run_load  # noqa: E402


def policy(ttl):
    return bl.policy_yaml(ttl, type_name="item")



def status(port):
    """The `status` map of POLICY SHOW (RESP2: flat pairs), as a dict of str to str/int."""
    with bl.Client(port) as c:
        reply = c.call("POLICY", "SHOW")
    pairs = dict(zip(reply[0::2], reply[1::2]))
    inner = pairs[b"status"]
    return {k.decode(): (v.decode() if isinstance(v, bytes) else v) for k, v in zip(inner[0::2], inner[1::2])}


def write_atomically(path, text):
    """As editors and config tools do: a new file renamed over the old one."""
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        f.write(text)
    os.rename(temporary, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=bl.DEFAULT_BINARY)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--rate", type=float, default=50.0, help="GETs per second per reader (default: 50)")
    args = parser.parse_args()
    bl.require_binary(args.binary)

    run = bl.Run("tiercache-policy-reload-")
    try:
        db = run.path("reload.db")
        bl.make_database(db, args.keys)
        policies = run.path("policies")
        os.makedirs(policies)
        policy_file = os.path.join(policies, "items.yaml")
        write_atomically(policy_file, policy("1h"))
        port, _, _ = bl.start_tiercache(run, args.binary, db, policies)
        bl.pipelined_gets(port, args.keys, what="warm-up GET through TierCache")

        def during():
            time.sleep(2)
            latencies = []
            for edit in range(args.edits):
                before = status(port)["version"]
                write_atomically(policy_file, policy("30m" if edit % 2 == 0 else "1h"))
                written = time.monotonic()
                while status(port)["version"] == before:
                    if time.monotonic() - written > 10:
                        raise SystemExit(f"edit {edit}: no reload within 10 s")
                    time.sleep(0.001)
                latencies.append(time.monotonic() - written)
                time.sleep(0.2)
            # A broken edit is refused and reported; the fix clears it.
            write_atomically(policy_file, policy("1h") + "    l1: maybe\n")
            deadline = time.monotonic() + 10
            while "last_error" not in status(port):
                if time.monotonic() > deadline:
                    raise SystemExit("the broken edit was not reported within 10 s")
                time.sleep(0.001)
            broken = status(port)
            write_atomically(policy_file, policy("45m"))
            while "last_error" in status(port):
                if time.monotonic() > deadline + 10:
                    raise SystemExit("the fix did not clear the error within 10 s")
                time.sleep(0.001)
            time.sleep(2)
            return latencies, broken, status(port)

        seconds = 2 + args.edits * 0.3 + 8
        results, (latencies, broken, final) = run_load(port, args.readers, args.keys, args.rate, seconds, during)
        failures = sum(1 for r in results if not r[2])
        print(f"{args.readers} readers x {args.rate:.0f} GET/s on {args.keys} keys; {args.edits} edits of the TTL, "
              f"then a broken edit and its fix")
        print(f"requests {len(results):,}, failed {failures}")
        ms = sorted(latency * 1000 for latency in latencies)
        print(f"reload latency (file renamed into place -> POLICY SHOW reports the new version): "
              f"p50 {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms over {len(ms)} edits")
        print(f"broken edit: reload_failures {broken['reload_failures']}, last_error: {broken['last_error']}")
        print(f"after the fix: reloads {final['reloads']}, reload_failures {final['reload_failures']}, "
              f"last_error {'present' if 'last_error' in final else 'cleared'}")
    finally:
        run.close()


if __name__ == "__main__":
    main()
