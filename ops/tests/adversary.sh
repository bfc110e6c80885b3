#!/usr/bin/env bash
# Issue 16's adversarial probes, one script per boundary; each fails on a
# ledger without the defence it probes:
#   adversary-erasure.sh       a body withheld and passed off as a legal erasure (greffe verify; verify.html in browser.sh)
#   adversary-tenancy.sh       writes in another platform's name, ID squatting, custody records, concurrent erasures, restore
#   adversary-availability.sh  half-sent unauthenticated requests, floods, oversized query objects
# Usage: ops/tests/adversary.sh   Env: GREFFE (default .build/debug/greffe)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
status=0
for probe in adversary-erasure adversary-tenancy adversary-availability; do
    "$HERE/$probe.sh" || status=1
done
exit $status
