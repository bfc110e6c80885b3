#!/usr/bin/env bash
# The Python client (clients/python): installed with pip into a throwaway
# virtual environment, exactly as a platform would install it, then its pytest
# suite: unit tests on the RFC 9162 / RFC 8785 / signed-note / field-tree
# vectors and on bundles from ops/tests/bundlev3.py, the retry policy against
# a scripted server, and integration tests against a live `greffe serve`
# (started by the suite's fixture on a temporary data directory and free port).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
NAME=pyclient
WORK=$(mktemp -d /tmp/greffe-pyclient.XXXXXX)
source ops/tests/lib.sh

GREFFE=${GREFFE:-.build/debug/greffe}
[[ $GREFFE == /* ]] || GREFFE=$ROOT/$GREFFE
[[ -x $GREFFE ]] || die "no greffe binary at $GREFFE (build first, or set GREFFE)"
export GREFFE

# --system-site-packages: cryptography and pytest come from ops/install-deps.sh.
python3 -m venv --system-site-packages "$WORK/venv" || die "python3 -m venv failed"
# Installed from a copy so that pip's build leftovers stay out of the work tree.
cp -r clients/python "$WORK/src"
rm -rf "$WORK/src/build" "$WORK/src/src/"*.egg-info
if "$WORK/venv/bin/pip" install --quiet "$WORK/src" >"$WORK/pip.log" 2>&1; then
    pass "pip install ./clients/python"
else
    die "pip install ./clients/python: $(tail -n 5 "$WORK/pip.log")"
fi
# The tests import the installed package, never the source tree (no PYTHONPATH).
if (cd "$WORK" && "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/clients/python/tests" 2>&1 | tee "$WORK/pytest.log"); then
    pass "pytest clients/python/tests: $(tail -n 1 "$WORK/pytest.log")"
else
    bad "pytest clients/python/tests: $(tail -n 1 "$WORK/pytest.log")"
fi
grep -q "skipped" "$WORK/pytest.log" && bad "some client tests were skipped (vectors or binary missing): $(grep -m1 SKIPPED "$WORK/pytest.log" || tail -n 1 "$WORK/pytest.log")"
finish
