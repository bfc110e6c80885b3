#!/usr/bin/env bash
# The web pages in headless Chromium (Selenium): status page, investigator
# console, and verify.html from file:// with the server stopped, agreeing
# with `greffe verify` on the real bundle and on every tampered copy
# (ops/tests/browser.py); the public lookup page with the network limited
# to the ledger (ops/tests/lookup_page.py), and facing unusual, garbled
# and hostile answers from a fake ledger (ops/tests/lookup_answers.py).
# This checks the tools are there and runs them.
#
# Usage: ops/tests/browser.sh [--screenshots docs]   (rewrites docs/*.png)
# Env: GREFFE (binary, default .build/debug/greffe), KEEP=1 (keep the work directories)
# Needs: chromium, chromium-driver (Debian), selenium, Pillow (PyPI): ops/install-deps.sh.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for cmd in chromium chromedriver python3; do
    command -v "$cmd" >/dev/null || { echo "FAIL $cmd not found (ops/install-deps.sh)"; echo "browser: 0 passed, 1 failed"; exit 1; }
done
python3 -c 'import selenium, PIL' 2>/dev/null || { echo "FAIL selenium or Pillow not installed (ops/install-deps.sh)"; echo "browser: 0 passed, 1 failed"; exit 1; }
status=0
python3 "$ROOT/ops/tests/browser.py" "$@" || status=1
python3 "$ROOT/ops/tests/lookup_page.py" "$@" || status=1
python3 "$ROOT/ops/tests/lookup_answers.py" "$@" || status=1
exit $status
