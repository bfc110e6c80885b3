#!/usr/bin/env bash
# The test command: unit, store, HTTP, crash (short), reliability and Go
# interop tests. CI runs exactly this. Long runs (crash --cycles 100,
# schemathesis, benchmarks) have their own commands; see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

./ops/install-deps.sh
swift build --build-tests
swift test --skip-build
export GREFFE=.build/debug/greffe
./ops/tests/crash.py --cycles 3 --seed 1
./ops/tests/fork.sh
./ops/tests/faults.sh
./ops/tests/backup.sh
./ops/tests/secrets.sh
./ops/tests/tls.sh
./ops/tests/limits.sh
./ops/tests/audit.sh
./ops/tests/interop.sh
