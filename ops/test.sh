#!/usr/bin/env bash
# The test command: unit, store, HTTP and Go interop tests. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

./ops/install-deps.sh
swift build --build-tests
swift test --skip-build
GREFFE=.build/debug/greffe ./ops/tests/crash.py --cycles 3 --seed 1
GREFFE=.build/debug/greffe ./ops/tests/interop.sh
