#!/usr/bin/env bash
# Runs TierCache on the embedded default: SQLite (./tiercache.db, created with demo rows when absent) and the
# shipped ttl-policies/, listening on 127.0.0.1:6380. Extra arguments go to `tiercache serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh run
swift build -c release --static-swift-stdlib --product tiercache
exec .build/release/tiercache serve "$@"
