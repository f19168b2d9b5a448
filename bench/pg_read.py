#!/usr/bin/env python3
"""Point reads of a 100,000-row PostgreSQL table with a 10,000-key hot set, 50 clients, in one run (issue 15):

- PostgreSQL directly: pgbench with a custom script, simple and prepared protocols;
- pgpool-II (Debian's pgpool2) with its in-memory query cache (memory_cache_enabled, shmem), warmed, simple
  protocol (its best case: with the extended protocol Parse/Bind still reach PostgreSQL);
- pgbouncer in transaction pooling (simple protocol);
- TierCache: L1 hits, L2 hits (`l1: false`, a redis-server), and misses (`l1: false, l2: false`: every GET is a
  load through postgres-nio's prepared statements), with redis-benchmark `-t get -r 10000` on `key:__rand_int__`.

The table is the demo's `key` table (`tiercache db init --demo-benchmark-keys 100000`: ids 000000000000 …,
3-byte values), so pgbench's `lpad(:id, 12, '0')` and redis-benchmark's key:__rand_int__ name the same rows.
Every target is run `--rounds` times, alternating; the script prints medians, p50/p99 latencies and the ratios the
issue sets targets for. Needs: pgbench (postgresql), pgpool2, pgbouncer, redis-server, redis-benchmark.

Usage: bench/pg_read.py [--binary .build/release/tiercache] [--rounds 3] [--seconds 10] [--clients 50]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HOT = 10_000
ROWS = 100_000
QUERY = "SELECT data FROM key WHERE id = lpad(:id::text, 12, '0');"


def pg_bin(name):
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        bl.fail(f"{name} not found: apt-get install postgresql")
    return str(found[-1])


def sbin(name, package):
    for directory in ("/usr/sbin", "/usr/bin"):
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    bl.fail(f"{name} not found: apt-get install {package}")


def as_postgres(argv):
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def start_server():
    out = subprocess.run([str(ROOT / "scripts/postgres-server.sh"), "start"], capture_output=True, text=True)
    if out.returncode != 0:
        bl.fail("scripts/postgres-server.sh start failed:\n" + out.stderr)
    folder, url = out.stdout.strip().splitlines()[-1].split(" ")
    return folder, url


def pgbench(url_parts, port, host, protocol, seconds, clients, log_dir, name, password=None):
    """One pgbench run; returns (tps, p50 ms, p99 ms) from its per-transaction log."""
    script = os.path.join(log_dir, "point.sql")
    with open(script, "w") as f:
        f.write(f"\\set id random(0, {HOT - 1})\n{QUERY}\n")
    prefix = os.path.join(log_dir, f"pgbench-{name}-{time.monotonic_ns()}")
    env = dict(os.environ, PGPASSWORD=password or url_parts["password"])
    argv = [pg_bin("pgbench"), "-n", "-h", host, "-p", str(port), "-U", url_parts["user"], "-c", str(clients),
            "-j", "2", "-T", str(seconds), "-M", protocol, "-f", script, "-l", "--log-prefix", prefix,
            url_parts["database"]]
    out = subprocess.run(argv, capture_output=True, text=True, env=env)
    tps = None
    for line in out.stdout.splitlines():
        if line.startswith("tps = "):
            tps = float(line.split()[2])
    if tps is None or out.returncode != 0:
        bl.fail(f"pgbench against {name} failed:\n{out.stdout}{out.stderr}")
    latencies = []
    for path in Path(log_dir).glob(os.path.basename(prefix) + "*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3:
                latencies.append(int(fields[2]))
        path.unlink()
    latencies.sort()
    p50 = latencies[len(latencies) // 2] / 1000 if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99)] / 1000 if latencies else float("nan")
    return tps, p50, p99


def redis_benchmark(port, seconds_hint, clients, name):
    """redis-benchmark GET on key:__rand_int__ over the hot set; returns (requests/s, p50 ms, p99 ms)."""
    requests = max(100_000, int(seconds_hint * 60_000))
    cmd = ["redis-benchmark", "-p", str(port), "-t", "get", "-n", str(requests), "-c", str(clients),
           "-r", str(HOT), "--csv"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        cols = [c.strip('"') for c in line.split(",")]
        if cols and cols[0] == "GET":
            return float(cols[1]), float(cols[4]), float(cols[6])
    bl.fail(f"redis-benchmark against {name} gave no GET result:\n{out.stdout}{out.stderr}")


GROUPS = ("postgres", "pgpool", "pgbouncer", "tiercache", "redis-server")


def cpu_seconds():
    """CPU seconds so far per program (by process name), this script's children (pgbench, redis-benchmark) as
    "client". A process' own time plus its reaped children's, so a PostgreSQL backend that ends during a run is
    still counted (in the postmaster's) and a difference of two snapshots is the run's CPU."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys(GROUPS, 0.0)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        group = next((g for g in GROUPS if name.startswith(g[:15])), None)
        if group:
            totals[group] += sum(int(v) for v in fields[11:15]) / ticks  # utime stime cutime cstime
    times = os.times()
    totals["client"] = times.children_user + times.children_system
    return totals


def measured(measure):
    """Runs `measure` (a benchmark returning (rate, p50, p99)); adds the CPU µs per request of each program."""
    before = cpu_seconds()
    start = time.monotonic()
    rate, p50, p99 = measure()
    after = cpu_seconds()
    requests = rate * (time.monotonic() - start)
    return rate, p50, p99, {name: (after[name] - before[name]) / requests * 1e6 for name in after}


def start_pgpool(run, pg_folder, pg_port):
    port, pcp = bl.free_port(), bl.free_port()
    directory = run.path("pgpool")
    os.makedirs(os.path.join(directory, "oiddir"))
    conf = os.path.join(directory, "pgpool.conf")
    with open(conf, "w") as f:
        f.write(f"""backend_clustering_mode = 'raw'
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{directory}'
pcp_listen_addresses = ''
pcp_port = {pcp}
pcp_socket_dir = '{directory}'
backend_hostname0 = '{pg_folder}'
backend_port0 = {pg_port}
backend_weight0 = 1
backend_flag0 = 'ALWAYS_PRIMARY|DISALLOW_TO_FAILOVER'
num_init_children = 64
max_pool = 1
enable_pool_hba = off
pool_passwd = ''
allow_clear_text_frontend_auth = off
load_balance_mode = off
health_check_period = 0
sr_check_period = 0
failover_on_backend_error = off
memory_cache_enabled = on
memqcache_method = 'shmem'
memqcache_total_size = 256MB
memqcache_max_num_cache = 200000
memqcache_expire = 0
memqcache_maxcache = 409600
memqcache_cache_block_size = 1MB
memqcache_oiddir = '{directory}/oiddir'
logdir = '{directory}'
pid_file_name = '{directory}/pgpool.pid'
log_destination = 'stderr'
""")
    with open(os.path.join(directory, "pcp.conf"), "w"):
        pass
    with open(os.path.join(directory, "pool_hba.conf"), "w") as f:
        f.write("host all all 127.0.0.1/32 trust\n")
    subprocess.run(["chown", "-R", "postgres", directory], check=False)
    argv = as_postgres([sbin("pgpool", "pgpool2"), "-n", "-f", conf, "-F", os.path.join(directory, "pcp.conf"),
                        "-a", os.path.join(directory, "pool_hba.conf")])
    proc = start_listening(run, "pgpool", argv, port)
    return port, proc


def start_pgbouncer(run, pg_folder, pg_port, database):
    port = bl.free_port()
    directory = run.path("pgbouncer")
    os.makedirs(directory)
    with open(os.path.join(directory, "users.txt"), "w") as f:
        f.write('"tiercache" ""\n')
    conf = os.path.join(directory, "pgbouncer.ini")
    with open(conf, "w") as f:
        f.write(f"""[databases]
{database} = host={pg_folder} port={pg_port} dbname={database} user=tiercache
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/users.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
logfile = {directory}/pgbouncer.log
pidfile = {directory}/pgbouncer.pid
""")
    subprocess.run(["chown", "-R", "postgres", directory], check=False)
    proc = start_listening(run, "pgbouncer", as_postgres([sbin("pgbouncer", "pgbouncer"), conf]), port)
    return port, proc


def start_listening(run, name, argv, port, timeout=30):
    """Starts argv and waits until something accepts on port (PING is Redis')."""
    import socket
    log = open(run.path(name + ".log"), "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    run.procs.append((name, proc, log))
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            bl.fail(f"{name} exited at start-up ({proc.returncode}):\n{bl.tail(run.path(name + '.log'))}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    bl.fail(f"{name} did not listen on {port} within {timeout}s")


def write_policies(directory, l1, l2):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "bench.yaml"), "w") as f:
        f.write("types:\n  key:\n    load: SELECT data FROM key WHERE id = ?\n    tables: [key]\n    ttl: 1d\n"
                f"    l1: {'true' if l1 else 'false'}\n    l2: {'true' if l2 else 'false'}\n")
    return directory


def start_tiercache(run, binary, url, name, l1, l2, redis_port=None, pool_max=None):
    port = bl.free_port()
    argv = [binary, "serve", "--listen", f"127.0.0.1:{port}", "--database", url, "--policies",
            write_policies(run.path("policies-" + name), l1, l2), "--log-level", "warning", "--hot-keys-file", "off"]
    if redis_port:
        argv += ["--redis", f"redis://127.0.0.1:{redis_port}"]
    if pool_max:
        argv += ["--db-pool-max", str(pool_max)]
    return port, run.start(name, argv, port)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=bl.DEFAULT_BINARY)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per pgbench run")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--miss-pool", type=int, default=40,
                        help="--db-pool-max of the TierCache that measures misses (its loads get half and more)")
    parser.add_argument("--only", action="append", help="measure only targets whose name contains this (repeatable)")
    args = parser.parse_args()
    bl.require_binary(args.binary)
    bl.require_tools(("redis-server", "redis-server"), ("redis-benchmark", "redis-tools"), ("psql", "postgresql"))
    folder, url = start_server()
    run = bl.Run("pg-read-")
    os.chmod(run.dir, 0o755)  # pgpool and pgbouncer run as postgres (pgbouncer refuses root) and read their files here
    try:
        from urllib.parse import urlparse
        parsed = urlparse(url)
        parts = {"user": parsed.username, "password": parsed.password, "database": parsed.path[1:]}
        init = subprocess.run([args.binary, "db", "init", "--database", url, "--demo-benchmark-keys", str(ROWS)],
                              capture_output=True, text=True)
        if init.returncode != 0:
            bl.fail("tiercache db init failed:\n" + init.stderr)
        subprocess.run(["psql", "-X", "-q", url, "-c", "VACUUM ANALYZE key"], check=True)
        pg_port = parsed.port
        pgpool_port, _ = start_pgpool(run, folder, pg_port)
        pgbouncer_port, _ = start_pgbouncer(run, folder, pg_port, parts["database"])
        redis_port = bl.start_redis(run)
        l1_port, _ = start_tiercache(run, args.binary, url, "tiercache-l1", True, False)
        l2_port, _ = start_tiercache(run, args.binary, url, "tiercache-l2", False, True, redis_port=redis_port)
        miss_port, _ = start_tiercache(run, args.binary, url, "tiercache-miss", False, False, pool_max=args.miss_pool)
        # Warm: TierCache's L1 and L2 over the hot set; pgpool's cache by a simple-protocol pgbench run long
        # enough to touch every hot key (100,000 reads of 10,000 keys miss one with probability e^-10).
        bl.warm_to_hits(args.binary, l1_port, HOT, name="tiercache-l1")
        bl.pipelined_gets(l2_port, HOT, what="L2 warm-up")
        pgbench(parts, pgpool_port, "127.0.0.1", "simple", max(5, args.seconds), args.clients, run.dir, "pgpool-warm")

        targets = [
            ("postgres simple", lambda: pgbench(parts, pg_port, "127.0.0.1", "simple", args.seconds, args.clients,
                                                run.dir, "pg-simple")),
            ("postgres prepared", lambda: pgbench(parts, pg_port, "127.0.0.1", "prepared", args.seconds,
                                                  args.clients, run.dir, "pg-prepared")),
            ("pgpool cache (simple)", lambda: pgbench(parts, pgpool_port, "127.0.0.1", "simple", args.seconds,
                                                      args.clients, run.dir, "pgpool")),
            ("pgbouncer (simple)", lambda: pgbench(parts, pgbouncer_port, "127.0.0.1", "simple", args.seconds,
                                                   args.clients, run.dir, "pgbouncer")),
            ("tiercache L1 hit", lambda: redis_benchmark(l1_port, args.seconds, args.clients, "tiercache-l1")),
            ("tiercache L2 hit", lambda: redis_benchmark(l2_port, args.seconds, args.clients, "tiercache-l2")),
            ("tiercache miss", lambda: redis_benchmark(miss_port, args.seconds / 4, args.clients, "tiercache-miss")),
        ]
        # A Redis GET round trip, for the ceiling of this machine: what any proxy speaking RESP can reach.
        bl.fill_redis(redis_port, HOT)
        targets.append(("redis-server GET", lambda: redis_benchmark(redis_port, args.seconds, args.clients, "redis")))
        if args.only:
            targets = [(name, measure) for name, measure in targets if any(o in name for o in args.only)]
        results = {name: [] for name, _ in targets}
        for round_ in range(args.rounds):
            for name, measure in targets:
                results[name].append(measured(measure))
                print(f"  round {round_ + 1} {name}: {results[name][-1][0]:,.0f}/s", flush=True)
        print(f"\n{args.clients} clients, {HOT:,}-key hot set of a {ROWS:,}-row table, {args.rounds} rounds "
              f"(medians):")
        print(f"{'target':<24}{'reads/s':>12}{'p50 ms':>10}{'p99 ms':>10}   CPU µs per read (medians)")
        med, cpu = {}, {}
        for name, runs in results.items():
            med[name] = tuple(statistics.median(r[i] for r in runs) for i in range(3))
            cpu[name] = {g: statistics.median(r[3][g] for r in runs) for g in runs[0][3]}
            spent = "  ".join(f"{g} {us:.1f}" for g, us in cpu[name].items() if us >= 0.5)
            print(f"{name:<24}{med[name][0]:>12,.0f}{med[name][1]:>10.3f}{med[name][2]:>10.3f}   {spent}")
        if args.only:
            return
        pool_best = med["pgpool cache (simple)"][0]
        prepared = med["postgres prepared"]
        print("\nratios (targets in brackets):")
        print(f"  TierCache L1 hit / pgpool cache hit:      {med['tiercache L1 hit'][0] / pool_best:6.2f}x  [>= 3]")
        print(f"  TierCache L1 hit / PostgreSQL prepared:   {med['tiercache L1 hit'][0] / prepared[0]:6.2f}x  [>= 2]")
        print(f"  TierCache miss / PostgreSQL prepared:     {med['tiercache miss'][0] / prepared[0]:6.2f}x  [>= 0.8]")
        print(f"  TierCache miss p50 / PostgreSQL prepared: {med['tiercache miss'][1] / prepared[1]:6.2f}x  [<= 1.3]")
        # Every program here shares this machine's cores: a proxy's miss costs what PostgreSQL spends on the read
        # plus what the client and the proxy spend, where pgbench's direct read costs only the first two.
        cores = os.cpu_count() or 1
        miss = cpu["tiercache miss"]
        budget = cores / (0.8 * prepared[0]) * 1e6 - miss["postgres"] - miss["client"]
        print(f"\nCPU on {cores} cores: a miss at 0.8x of PostgreSQL prepared leaves TierCache "
              f"{budget:.1f} µs per miss\n  ({cores} cores / {0.8 * prepared[0]:,.0f} reads/s, less PostgreSQL's "
              f"{miss['postgres']:.1f} µs and redis-benchmark's {miss['client']:.1f} µs per read in the miss run);"
              f"\n  TierCache spends {miss['tiercache']:.1f} µs per miss, {cpu['tiercache L1 hit']['tiercache']:.1f} "
              f"µs per L1 hit, and redis-server {cpu['redis-server GET']['redis-server']:.1f} µs per GET.")
    finally:
        run.close()
        subprocess.run([str(ROOT / "scripts/postgres-server.sh"), "stop", folder], capture_output=True)


if __name__ == "__main__":
    main()
