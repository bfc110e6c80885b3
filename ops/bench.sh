#!/usr/bin/env bash
# The performance benchmarks (not part of the test run): builds release, installs
# wrk and Go's x/mod (the peer), runs `greffe bench` with every figure beside its
# reference measured in the same run, and writes bench.json.
#   ops/bench.sh [NAMES…]      e.g. ops/bench.sh hash verify
set -euo pipefail
cd "$(dirname "$0")/.."
./ops/install-deps.sh
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
swift build -c release --product greffe
swift build -c release --product greffe-bench
# append runs on SQLite and on PostgreSQL: GREFFE_BENCH_POSTGRES names a server, else a throwaway PostgreSQL 15 is started.
if [ -z "${GREFFE_BENCH_POSTGRES:-}" ]; then
    eval "$(./ops/tests/pg.sh start)"
    trap './ops/tests/pg.sh stop "$GREFFE_TEST_PGDATA"' EXIT
    GREFFE_BENCH_POSTGRES=$GREFFE_TEST_POSTGRES
fi
# Dirty pages of earlier work (a build, big copies) written back during the run took a
# core from the 2-thread figures (verify ran below its 1-thread rate twice): flush them first.
sync
.build/release/greffe bench "$@" --postgres "$GREFFE_BENCH_POSTGRES" --json bench.json
