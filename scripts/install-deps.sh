#!/usr/bin/env bash
# Installs what TierCache needs on Debian, only what is missing.
#   scripts/install-deps.sh run    libraries to build and run the proxy, and redis-cli to talk to it
#   scripts/install-deps.sh test   plus redis-server, redis-cli and the Python test packages
set -euo pipefail

mode=${1:-run}
packages=(libsqlite3-dev libhiredis-dev pkg-config redis-tools)
if [ "$mode" = test ]; then
    packages+=(redis-server sqlite3 python3)
    # A throwaway PostgreSQL server of the tests' own (scripts/postgres-server.sh) and psql.
    packages+=(postgresql)
    # The clients the compatibility tests run in their default configuration (Tests/Integration/test_clients.py).
    packages+=(nodejs node-redis php-cli php-redis ruby-redis libredis-perl)
    # promtool checks /metrics, and a Prometheus server scrapes it (Tests/Integration/test_admin.py); the live
    # page is tested in a headless Chromium (Tests/Integration/test_dashboard.py).
    packages+=(prometheus chromium)
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "$mode" = test ] && ! python3 -m pip --version >/dev/null 2>&1; then
    missing+=(python3-pip)
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$mode" = test ]; then
    # websocket-client drives Chromium through the DevTools protocol.
    if ! python3 -c 'import redis, pytest, valkey, websocket; assert int(redis.__version__.split(".")[0]) == 8' \
        2>/dev/null; then
        echo "installing Python packages: redis pytest valkey websocket-client" >&2
        python3 -m pip install --quiet --disable-pip-version-check 'redis>=8,<9' 'pytest>=8' 'valkey>=6,<7' \
            'websocket-client>=1.8,<2' 2>/dev/null \
            || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages 'redis>=8,<9' \
                'pytest>=8' 'valkey>=6,<7' 'websocket-client>=1.8,<2'
    fi
fi
