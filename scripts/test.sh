#!/usr/bin/env bash
# The whole test suite: Swift unit tests, then integration tests that start the real proxy and drive it
# with redis-cli and the Python redis package. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test

# One throwaway PostgreSQL server for the whole run (the PostgreSQL tests read its URL), stopped on any exit.
read -r pg_folder TIERCACHE_TEST_POSTGRES < <(scripts/postgres-server.sh start)
export TIERCACHE_TEST_POSTGRES
trap 'scripts/postgres-server.sh stop "$pg_folder"' EXIT

swift build --build-tests
swift test --skip-build

# Integration tests run the debug binary just built.
export TIERCACHE_BIN="$PWD/.build/debug/tiercache"
python3 -m pytest Tests/Integration -q -p no:cacheprovider
