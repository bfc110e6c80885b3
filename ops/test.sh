#!/usr/bin/env bash
# The test command: unit, store, HTTP, crash (short), reliability, Go
# interop, static tiles (nginx) and ops/ configuration tests. CI runs
# exactly this. Long runs (crash --cycles 100, schemathesis, benchmarks)
# have their own commands; see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

./ops/install-deps.sh
# docs/ARCHITECTURE.md's module graph is Package.swift's.
./ops/module-graph.py --check
swift build --build-tests
# The storage suite runs on SQLite and on a throwaway PostgreSQL 15.
eval "$(./ops/tests/pg.sh start)"
trap './ops/tests/pg.sh stop "$GREFFE_TEST_PGDATA"' EXIT
export GREFFE_REQUIRE_POSTGRES=1
swift test --skip-build
export GREFFE=.build/debug/greffe
./ops/tests/crash.py --cycles 3 --seed 1
./ops/tests/crash.py --cycles 3 --seed 2 --shard-max-entries 300
./ops/tests/crash.py --cycles 3 --seed 3 --shard-max-entries 300 --postgres
./ops/tests/fork.sh
./ops/tests/faults.sh
./ops/tests/backup.sh
./ops/tests/disaster.sh
./ops/tests/secrets.sh
./ops/tests/tls.sh
./ops/tests/limits.sh
./ops/tests/adversary.sh
./ops/tests/tiers.sh
./ops/tests/disclosure.py scenario
./ops/tests/pyclient.sh
./ops/tests/cose.py
./ops/tests/audit.sh
./ops/tests/witness.sh
./ops/tests/witnessed-log.sh
./ops/tests/timestamp.sh
./ops/tests/rotation.sh
./ops/tests/mldsa.sh
./ops/tests/interop.sh
./ops/tests/failover.py --seed 1 --kills 1 --stops 1
./ops/tests/replication.py --seed 1
./ops/tests/replication.py --async --seed 1
./ops/tests/relay.py --seed 1
./ops/tests/browser.sh
./ops/tests/pdq.sh
./ops/tests/static-tiles.sh
./ops/tests/shards.sh
./ops/tests/shardbundle.sh
./ops/tests/ops-config.sh
