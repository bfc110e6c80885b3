#!/usr/bin/env bash
# Audit and mirror against a real server.
#
#  1. `greffe serve` on a fresh ledger; ~2000 events appended over HTTP, a
#     checkpoint saved half-way.
#  2. `greffe mirror` copies the log into a directory, verified; the
#     directory is the C2SP tlog-tiles layout.
#  3. `greffe audit --tiles DIR` and `--url` pass, in full and from the
#     half-way checkpoint (incremental, with the server's consistency proof
#     or the tiles alone).
#  4. More events; `greffe mirror` again brings the copy forward (only the
#     new part), a third run finds it up to date, and a mirror whose
#     checkpoint was lost reuses the tiles on disk instead of downloading.
#  5. Tampering on disk — a byte of a level-0 hash tile, of an entry
#     bundle, of a level-1 tile, a missing bundle, another key — makes
#     `greffe audit --tiles` exit 1 naming the tile.
#
# Usage: ops/tests/audit.sh     Env: GREFFE (binary, default .build/debug/greffe),
#        EVENTS (default 2000), KEEP=1 (keep the work directory)
# Needs: python3, curl. Loopback only; bounded (about a minute on a debug build).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
EVENTS=${EVENTS:-2000}
NAME=audit
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-audit.XXXXXX")
PASSED=0
FAILED=0
SERVER_PID=

log() { printf '%s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); log "ok   $*"; }
bad() {
    FAILED=$((FAILED + 1))
    log "FAIL $*"
}
finish() {
    log "$NAME: $PASSED passed, $FAILED failed$([[ $FAILED == 0 ]] || echo " (work directory kept: $WORK)")"
    [[ $FAILED == 0 ]]
    exit $?
}
die() {
    bad "$*"
    if [[ -s $WORK/serve.log ]]; then
        log "--- server log (last 30 lines) ---"
        tail -n 30 "$WORK/serve.log"
    fi
    finish
}
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [[ $FAILED == 0 && ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'die "interrupted"' INT TERM

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (swift build, or set GREFFE)"
for cmd in python3 curl; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
PYTHON=$(python3 -c 'import sys; print(sys.executable)')

# ---------------------------------------------------------------------------
# Client: appends N events in batches of 100 (valid against Schemas/events/).
cat >"$WORK/client.py" <<'PY'
import json, sys, urllib.request

url, token, prefix, first, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

def event(n):
    return {"event_id": "%s-%06d" % (prefix, n), "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z",
            "platform": "audit.example", "schema_version": 1, "authority": "Parquet de Paris",
            "reference": "ref-%d" % n, "direction": "received", "request_type": "preservation"}

n = first
while n < first + count:
    batch = [event(i) for i in range(n, min(n + 100, first + count))]
    req = urllib.request.Request(url + "/v1/events", data=json.dumps({"events": batch}).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        if resp.status != 201:
            sys.exit("batch at %d: HTTP %d" % (n, resp.status))
        results = json.loads(resp.read())["results"]
        if len(results) != len(batch):
            sys.exit("batch at %d: %d results" % (n, len(results)))
    n += len(batch)
print(n - first)
PY

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

checkpoint_size() { sed -n 2p "$1"; }

# wait_for_size N: until the served checkpoint covers N entries; saves it in $WORK/cp.txt
wait_for_size() {
    for _ in $(seq 300); do
        if curl -sf --max-time 5 "$URL/checkpoint" -o "$WORK/cp.txt" && (($(checkpoint_size "$WORK/cp.txt") >= $1)); then
            return 0
        fi
        sleep 0.1
    done
    die "no checkpoint of size ≥ $1 within 30 s"
}

append() { # append FIRST COUNT
    "$PYTHON" "$WORK/client.py" "$URL" "$TOKEN" "audit-$$" "$1" "$2" >/dev/null || die "appending events $1…$(($1 + $2 - 1))"
}

# expect_ok WHAT COMMAND…: exit 0 and an OK verdict line
expect_ok() {
    local what=$1
    shift
    if "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" && grep -q ": OK —" "$WORK/out.txt"; then
        pass "$what: $(tail -n 1 "$WORK/out.txt")"
    else
        bad "$what: $(cat "$WORK/out.txt") $(tail -n 5 "$WORK/err.txt")"
    fi
}

# expect_failure WHAT NEEDLE COMMAND…: exit 1, a FAILED verdict naming NEEDLE
expect_failure() {
    local what=$1 needle=$2 status=0
    shift 2
    "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || status=$?
    if [[ $status == 1 ]] && grep -q "FAILED" "$WORK/out.txt" && grep -qF -- "$needle" "$WORK/out.txt"; then
        pass "$what is caught: $(cut -c1-220 "$WORK/out.txt")"
    else
        bad "$what: exit $status, want 1 with \"$needle\" named: $(cat "$WORK/out.txt") $(tail -n 5 "$WORK/err.txt")"
    fi
}

# flip FILE OFFSET: inverts one byte in place
flip() {
    "$PYTHON" - "$1" "$2" <<'PY'
import sys
path, offset = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(offset)
    b = f.read(1)
    f.seek(offset)
    f.write(bytes([b[0] ^ 0xFF]))
PY
}

# ---------------------------------------------------------------------------
DATA=$WORK/data
VKEY=$("$GREFFE" init --data "$DATA" --origin "audit.greffe.test/$$") || die "greffe init"
TOKEN=$("$GREFFE" token create --data "$DATA" --role append --platform audit.example --name audit) || die "greffe token create"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
"$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.2 --log-level warning --anonymous-rate 0 >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "greffe serve exited during start-up"
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/healthz" || true) == 200 ]] && break
    sleep 0.1
done
pass "greffe serve up on $URL"

HALF=$((EVENTS / 2))
append 0 "$HALF"
wait_for_size "$HALF"
cp "$WORK/cp.txt" "$WORK/early.checkpoint"
append "$HALF" $((EVENTS - HALF))
wait_for_size "$EVENTS"
SIZE=$(checkpoint_size "$WORK/cp.txt")
pass "appended $EVENTS events; checkpoints at $(checkpoint_size "$WORK/early.checkpoint") and $SIZE"

# --- mirror, then audit the copy and the server ----------------------------
MIRROR=$WORK/mirror
expect_ok "greffe mirror" "$GREFFE" mirror --url "$URL" --out "$MIRROR" --vkey "$DATA/verifier.vkey"
MSIZE=$(checkpoint_size "$MIRROR/checkpoint")
if [[ -f $MIRROR/tile/0/000 && -f $MIRROR/tile/entries/000 && ! -e $MIRROR/.incoming ]] && ((MSIZE >= SIZE)); then
    pass "the mirror is the tlog-tiles layout at size $MSIZE (checkpoint, tile/0/000, tile/entries/000; no staging left)"
else
    bad "mirror layout: $(cd "$MIRROR" && find . -maxdepth 3 | head -20 | tr '\n' ' ')"
fi
expect_ok "greffe audit --tiles (full)" "$GREFFE" audit --tiles "$MIRROR" --vkey "$DATA/verifier.vkey"
grep -q "audit: OK — $MSIZE entries" "$WORK/out.txt" || bad "audit --tiles did not report $MSIZE entries"
expect_ok "greffe audit --url (full)" "$GREFFE" audit --url "$URL" --vkey "$DATA/verifier.vkey"
expect_ok "greffe audit --url --from-checkpoint (consistency proof from the server)" \
    "$GREFFE" audit --url "$URL" --vkey "$DATA/verifier.vkey" --from-checkpoint "$WORK/early.checkpoint"
grep -q "replayed after the audited checkpoint" "$WORK/out.txt" || bad "incremental audit did not say it replayed only the new part"
expect_ok "greffe audit --tiles --from-checkpoint (old root rebuilt from the tiles)" \
    "$GREFFE" audit --tiles "$MIRROR" --vkey "$DATA/verifier.vkey" --from-checkpoint "$WORK/early.checkpoint"
expect_ok "greffe audit --tiles with the verifier key inline" "$GREFFE" audit --tiles "$MIRROR" --vkey "$VKEY"

# --- the mirror moves forward ----------------------------------------------
append "$EVENTS" 300
wait_for_size $((EVENTS + 300))
expect_ok "greffe mirror again (only the new entries)" "$GREFFE" mirror --url "$URL" --out "$MIRROR" --vkey "$DATA/verifier.vkey"
grep -q "new since" "$WORK/out.txt" || bad "the second mirror did not replay incrementally"
NSIZE=$(checkpoint_size "$MIRROR/checkpoint")
stale=$(cd "$MIRROR" && find tile -path '*.p/*' -type f | while read -r p; do
    base=${p%.p/*}
    [[ -f $base ]] && echo "$p"
done)
[[ -z $stale ]] && pass "no partial tile left beside its full tile (size $NSIZE)" || bad "stale partial tiles: $stale"
expect_ok "greffe audit --tiles after the update" "$GREFFE" audit --tiles "$MIRROR" --vkey "$DATA/verifier.vkey"
grep -q "audit: OK — $NSIZE entries" "$WORK/out.txt" || bad "audit --tiles after the update did not report $NSIZE entries"
expect_ok "greffe mirror when up to date" "$GREFFE" mirror --url "$URL" --out "$MIRROR" --vkey "$DATA/verifier.vkey"
grep -q "up to date\|new since" "$WORK/out.txt" || bad "third mirror: $(cat "$WORK/out.txt")"

# A mirror that lost its checkpoint replays everything but downloads only what it lacks.
RESUME=$WORK/resume
cp -a "$MIRROR" "$RESUME"
rm "$RESUME/checkpoint"
expect_ok "greffe mirror over tiles already on disk" "$GREFFE" mirror --url "$URL" --out "$RESUME" --vkey "$DATA/verifier.vkey"
if grep -Eq "; [0-9]+ tiles downloaded, [1-9][0-9]* reused from disk" "$WORK/out.txt"; then
    pass "full tiles on disk are reused, not downloaded again"
else
    bad "resume did not reuse tiles: $(cat "$WORK/out.txt")"
fi

# --- tampering on disk is caught and named ---------------------------------
tampered() { # tampered NAME: a fresh copy of the mirror
    rm -rf "$WORK/t"
    cp -a "$MIRROR" "$WORK/t"
}
tampered
flip "$WORK/t/tile/0/003" $((32 * 77 + 5))
expect_failure "a flipped byte in the level-0 hash tile tile/0/003" "tile/0/003" \
    "$GREFFE" audit --tiles "$WORK/t" --vkey "$DATA/verifier.vkey"
tampered
# Entry 2·256 + 0 starts after its 2-byte length; byte 60 is inside its commitment.
flip "$WORK/t/tile/entries/002" 62
expect_failure "a flipped byte in the entry bundle tile/entries/002" "tile/entries/002" \
    "$GREFFE" audit --tiles "$WORK/t" --vkey "$DATA/verifier.vkey"
grep -q "entry 512" "$WORK/out.txt" || bad "the entry (512) is not named: $(cat "$WORK/out.txt")"
tampered
L1=$(cd "$WORK/t" && ls tile/1/000* -d 2>/dev/null | head -1)
if [[ -d $WORK/t/$L1 ]]; then L1=$L1/$(ls "$WORK/t/$L1" | head -1); fi
flip "$WORK/t/$L1" 40
expect_failure "a flipped byte in the level-1 hash tile $L1" "$L1" \
    "$GREFFE" audit --tiles "$WORK/t" --vkey "$DATA/verifier.vkey"
tampered
rm "$WORK/t/tile/entries/004"
expect_failure "a missing entry bundle" "tile/entries/004" "$GREFFE" audit --tiles "$WORK/t" --vkey "$DATA/verifier.vkey"
tampered
OTHER=$("$GREFFE" init --data "$WORK/other" --origin "audit.greffe.test/$$") || die "greffe init (other key)"
expect_failure "a checkpoint under another key of the same name" "checkpoint" \
    "$GREFFE" audit --tiles "$WORK/t" --vkey "$OTHER"
expect_failure "a mirror under another key" "checkpoint" \
    "$GREFFE" mirror --url "$URL" --out "$WORK/other-mirror" --vkey "$OTHER"

# --- stop ---------------------------------------------------------------------
kill -TERM "$SERVER_PID"
for _ in $(seq 200); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
pass "greffe serve stopped"
finish
