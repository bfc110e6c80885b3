#!/usr/bin/env bash
# Measures acknowledged appends/s (batched and single-event) and inclusion
# proofs served/s against a fresh `greffe serve` on SQLite, with wrk.
#   ops/bench/http-load.sh [GREFFE_BINARY]   (default .build/release/greffe)
# Loopback only; every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/../.."
greffe="${1:-.build/release/greffe}"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
duration="${DURATION:-10s}"

data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$greffe" init --data "$data" --origin bench.greffe.test/log >/dev/null
token=$("$greffe" token create --data "$data" --role append --platform bench.example --name bench)
"$greffe" serve --data "$data" --listen "127.0.0.1:$port" --log-level warning &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

export GREFFE_TOKEN="$token"
echo "== appends, 100 events per request, 8 connections, $duration"
GREFFE_BATCH=100 GREFFE_RUN=b wrk -t2 -c8 -d"$duration" -s ops/bench/append.lua "http://127.0.0.1:$port" | tail -1
echo "== appends, single-event requests, 64 connections, $duration"
GREFFE_BATCH=1 GREFFE_RUN=s wrk -t2 -c64 -d"$duration" -s ops/bench/append.lua "http://127.0.0.1:$port" | tail -1
size=$(curl -s "http://127.0.0.1:$port/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tree_size"])')
echo "== inclusion proofs in a tree of $size entries, 32 connections, $duration"
GREFFE_SIZE=$size wrk -t2 -c32 -d"$duration" -s ops/bench/proofs.lua "http://127.0.0.1:$port" | tail -1
echo "== full tiles, 32 connections, $duration"
wrk -t2 -c32 -d"$duration" "http://127.0.0.1:$port/tile/0/000" | grep -E "Requests/sec|Latency"
