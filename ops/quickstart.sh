#!/usr/bin/env bash
# Sets up a ledger on the embedded SQLite store and serves it:
#   ops/quickstart.sh [DATA_DIR] [HOST:PORT] [ORIGIN] [PLATFORM]
# On first run it creates the ledger and an append token (printed once).
set -euo pipefail
cd "$(dirname "$0")/.."

data="${1:-./greffe-data}"
listen="${2:-127.0.0.1:8080}"
origin="${3:-$(hostname)/greffe}"
platform="${4:-pixelforge.example}"   # the one platform the append token writes for

./ops/install-deps.sh
swift build -c release --product greffe
greffe=.build/release/greffe

if [ ! -f "$data/signing.key" ]; then
    echo "== new ledger in $data (origin $origin); verifier key:"
    "$greffe" init --data "$data" --origin "$origin"
    echo "== append token for this platform (shown once, keep it secret):"
    "$greffe" token create --data "$data" --role append --platform "$platform" --name platform
    echo "== investigator token (shown once):"
    "$greffe" token create --data "$data" --role investigate --name investigator
fi
echo "== serving $data on http://$listen (SIGTERM or Ctrl-C stops it cleanly)"
exec "$greffe" serve --data "$data" --listen "$listen"
