#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, from Debian's packages: a new folder of its own (data, log, its
# unix socket), a free loopback port, a password for TCP (scram-sha-256) and trust on the socket.
#   scripts/postgres-server.sh start       prints "DIR URL": the server's folder and its postgres:// URL (TCP,
#                                          with its password)
#   scripts/postgres-server.sh start --tls the same, and the server also takes TLS (a self-signed certificate
#                                          made for it, in DIR): for the tests of `sslmode`
#   scripts/postgres-server.sh stop DIR    stops it by the pid in DIR and removes DIR
# initdb refuses to run as root: as root, the server runs as the `postgres` user the package created, in a
# folder under ${TMPDIR:-/tmp} that user can reach.
set -euo pipefail

usage="usage: postgres-server.sh start [--tls] | stop DIR"
command=${1:?$usage}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ]; then
    echo "postgres-server.sh: no PostgreSQL server: apt-get install postgresql (scripts/install-deps.sh test)" >&2
    exit 1
fi

as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "$command" in
start)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/tiercache-pg.XXXXXX")
    # A start that fails half-way (initdb, the server, createdb) leaves no server or folder behind.
    started=no
    trap '[ "$started" = yes ] || "$0" stop "$dir" >/dev/null 2>&1' EXIT
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
    as_server_user sh -c "umask 077 && printf '%s\n' '$password' > '$dir/password'"
    as_server_user "$bindir/initdb" --pgdata="$dir/data" --username=tiercache --pwfile="$dir/password" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    tls=""
    if [ "${2:-}" = "--tls" ]; then
        as_server_user openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
            -keyout "$dir/server.key" -out "$dir/server.crt" >"$dir/openssl.log" 2>&1 \
            || { cat "$dir/openssl.log" >&2; exit 1; }
        tls="-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
    fi
    # Durability off: a test server's data is thrown away, and fsync would dominate every write test.
    as_server_user "$bindir/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --silent start \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 $tls" \
        || { cat "$dir/server.log" >&2; exit 1; }
    as_server_user "$bindir/createdb" --host="$dir" --port="$port" --username=tiercache tiercache_test
    started=yes
    echo "$dir postgres://tiercache:$password@127.0.0.1:$port/tiercache_test"
    ;;
stop)
    dir=${2:?$usage}
    pidfile="$dir/data/postmaster.pid"
    if [ -f "$pidfile" ]; then
        pid=$(head -n 1 "$pidfile")
        # SIGINT: PostgreSQL's fast shutdown (clients disconnected, no waiting for them).
        kill -INT "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "$usage" >&2
    exit 2
    ;;
esac
