#!/usr/bin/env bash
# Builds the probe (release), starts a private redis-server on a free loopback port, fills it, runs the
# measurements and stops that server by pid. Extra arguments go to `redis-io-probe bench`
# (e.g. ./run.sh --rounds 1 --impls A1,B1f). Default run: about 3 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")"

swift build -c release 2>&1 | grep -v 'prohibited flag' | tail -n 3
probe=.build/release/redis-io-probe

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
       2>/dev/null || echo $((20000 + RANDOM % 30000)))
log=$(mktemp /tmp/redis-io-probe.XXXXXX.log)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --logfile "$log" &
redis_pid=$!
stop_redis() { kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null; rm -f "$log"; }
trap stop_redis EXIT

for _ in $(seq 50); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
done
[ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] || { echo "redis-server did not start:"; cat "$log"; exit 1; }

"$probe" fill --port "$port"
echo "redis-server $(redis-server --version | grep -o 'v=[0-9.]*') pid $redis_pid port $port, keys: $(redis-cli -p "$port" dbsize)"
"$probe" bench --port "$port" --redis-pid "$redis_pid" \
    --rounds 5 --warmup 0.3 --seconds 1.5 --concurrency 50,800 --producers 1,2 --impls A1,A2,B1,B1f "$@"
