#!/usr/bin/env python3
"""L1-hit GET over TLS: TierCache's TLS port against redis-server 7's own TLS port, same certificates, same run.

Makes a CA and a server certificate (EC P-256) with openssl, starts redis-server with only a TLS port and
TierCache with --tls-listen (its plain port only to warm L1), both holding the same N keys, runs
`redis-benchmark --tls --cacert … -t get -r N` against each, unpipelined and with -P 16, alternating over several
rounds, and prints medians, ratios and each server's CPU µs per GET. Then the same against TierCache's plain port,
for the cost of TLS itself.

Usage: bench/tls_get.py [--binary PATH] [--rounds 3] [--requests 100000] [--clients 50]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import l1_get  # noqa: E402
from benchlib import cpu_seconds  # noqa: E402


def openssl(work, *args):
    subprocess.run(["openssl", *args], cwd=work, check=True, capture_output=True)


def certificates(work):
    openssl(work, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key")
    openssl(work, "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=bench CA", "-days", "2", "-out", "ca.crt")
    openssl(work, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "server.key")
    openssl(work, "req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-out", "server.csr")
    with open(os.path.join(work, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(work, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "server.ext", "-out", "server.crt")


def benchmark(port, pid, requests, clients, pipeline, keys, tls_ca):
    command = ["redis-benchmark", "-p", str(port), "-t", "get", "-n", str(requests), "-c", str(clients),
               "-r", str(keys), "--csv"]
    if tls_ca:
        command += ["--tls", "--cacert", tls_ca]
    if pipeline > 1:
        command += ["-P", str(pipeline)]
    before = cpu_seconds(pid)
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    cpu = (cpu_seconds(pid) - before) / requests * 1e6
    for line in out.splitlines():
        cols = [c.strip('"') for c in line.split(",")]
        if cols and cols[0].startswith("GET"):
            return float(cols[1]), cpu
    raise SystemExit("unexpected redis-benchmark output:\n" + out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(l1_get.ROOT, ".build", "release", "tiercache"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--keys", type=int, default=10000)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="tiercache-tls-bench-")
    procs = []
    try:
        certificates(work)
        ca, cert, key = (os.path.join(work, name) for name in ("ca.crt", "server.crt", "server.key"))
        db, policies = l1_get.bench_data(work, args.keys)
        redis_plain, redis_tls = l1_get.free_port(), l1_get.free_port()
        tc_plain, tc_tls = l1_get.free_port(), l1_get.free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(redis_plain), "--tls-port", str(redis_tls), "--tls-cert-file", cert,
             "--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients", "no", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(redis)
        log = open(os.path.join(work, "tiercache.log"), "w")
        tc = subprocess.Popen(
            [args.binary, "serve", "--listen", f"127.0.0.1:{tc_plain}", "--tls-listen", f"127.0.0.1:{tc_tls}",
             "--tls-cert-file", cert, "--tls-key-file", key, "--database", f"sqlite:{db}", "--policies", policies,
             "--log-level", "warning"], stdout=log, stderr=log, env=dict(os.environ, TIERCACHE_ADMIN_LISTEN="off"))
        procs.append(tc)
        l1_get.wait_for(redis_plain)
        l1_get.wait_for(tc_plain)
        l1_get.fill_redis(redis_plain, args.keys, l1_get.VALUE)
        l1_get.warm(tc_plain, args.keys)
        print(f"redis-benchmark --tls -t get -c {args.clients} -r {args.keys} (-n {args.requests} unpipelined, "
              f"{args.requests * 10} with -P 16), {args.rounds} rounds alternating; medians")
        print(f"{'mode':<14}{'redis TLS':>12}{'tc TLS':>10}{'ratio':>8}{'range':>12}{'redis µs/GET':>14}"
              f"{'tc µs/GET':>11}{'tc plain':>10}{'tc plain µs':>13}")
        for pipeline in (1, 16):
            requests = args.requests * (10 if pipeline > 1 else 1)
            runs = {"redis": [], "tc": [], "plain": []}
            for _ in range(args.rounds):
                runs["redis"].append(benchmark(redis_tls, redis.pid, requests, args.clients, pipeline, args.keys, ca))
                runs["tc"].append(benchmark(tc_tls, tc.pid, requests, args.clients, pipeline, args.keys, ca))
                runs["plain"].append(benchmark(tc_plain, tc.pid, requests, args.clients, pipeline, args.keys, None))
            ratios = [t[0] / r[0] for r, t in zip(runs["redis"], runs["tc"])]
            med = {name: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
                   for name, v in runs.items()}
            label = "unpipelined" if pipeline == 1 else f"-P {pipeline}"
            print(f"{label:<14}{med['redis'][0]:>12,.0f}{med['tc'][0]:>10,.0f}{statistics.median(ratios):>8.2f}"
                  f"{min(ratios):>6.2f}-{max(ratios):.2f}{med['redis'][1]:>14.2f}{med['tc'][1]:>11.2f}"
                  f"{med['plain'][0]:>10,.0f}{med['plain'][1]:>13.2f}")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
