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
exec .build/release/greffe bench "$@" --json bench.json
