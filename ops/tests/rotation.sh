#!/usr/bin/env bash
# Signing-key rotation, end to end (ops/RUNBOOK.md "Rotating the signing key").
#
#  1. init, serve, append; bundle B1 and checkpoint C1 (old key only); a
#     built-in witness trusting the old key cosigns C1.
#  2. stop; `greffe key rotate` (prints only the new vkey; the new key file is
#     0600; a second rotate is refused); serve; append: checkpoint C2 carries
#     two signature lines, and Go's x/mod sumdb/note (Tests/Interop/notecheck)
#     verifies it with each key alone; bundle B2 verifies with the old key, with
#     the new key, and with verifier-keys; GET /v1/keys shows transitional +
#     active. The witness, restarted with --log ORIGIN=OLD --log ORIGIN=NEW,
#     cosigns C2.
#  3. stop; `greffe key retire --key OLD` deletes signing.key (retiring the
#     remaining key is then refused); serve; append: C3
#     carries the new key only (Go: new verifies, old does not); bundle B3
#     verifies with the new key and NOT with the old key alone; B1 still
#     verifies with the old key; the witness cosigns C3; a witness trusting
#     only the old key refuses C3 (403); `greffe audit` (whole log, and from
#     C1) and `greffe mirror` pass with both keys (and with verifier-keys),
#     and audit fails with the old key alone.
#
# Usage: ops/tests/rotation.sh   Env: GREFFE (binary, default .build/debug/greffe), KEEP=1
# Needs: python3, curl; go with golang-golang-x-mod-dev for the Go check (as interop.sh).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=rotation
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-rotation.XXXXXX")
# shellcheck source=lib.sh
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
for cmd in python3 curl go; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
ORIGIN="rotation.greffe.test/log"
DATA=$WORK/data
WDATA=$WORK/witness

PORT=$(free_port)
WPORT=$(free_port)
URL=http://127.0.0.1:$PORT
WURL=http://127.0.0.1:$WPORT

# The Go oracle: note.Open with one trusted key.
(
    cd "$ROOT"
    if [[ -z $(go env GOCACHE 2>/dev/null) ]]; then export GOCACHE=$WORK/gocache; fi
    GO111MODULE=off GOPATH=${TLOGCHECK_GOPATH:-/usr/share/gocode} GOFLAGS= go build -o "$WORK/notecheck" ./Tests/Interop/notecheck
) >"$WORK/build.log" 2>&1 || die "building Tests/Interop/notecheck (needs golang-golang-x-mod-dev): $(cat "$WORK/build.log")"

SERVE_PID=
start_serve() {
    "$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.05 --anonymous-rate 0 >>"$WORK/serve.log" 2>&1 &
    SERVE_PID=$!
    PIDS+=("$SERVE_PID")
    for _ in $(seq 300); do
        kill -0 "$SERVE_PID" 2>/dev/null || die "serve exited during start-up: $(tail -n 5 "$WORK/serve.log")"
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/healthz" || true) == 200 ]] && return 0
        sleep 0.1
    done
    die "serve did not answer within 30 s"
}
stop_pid() {
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$1" 2>/dev/null && die "process $1 did not stop on SIGTERM"
    wait "$1" 2>/dev/null
}
WITNESS_PID=
start_witness() { # start_witness LOG-ARG...
    local args=()
    for key in "$@"; do args+=(--log "$ORIGIN=$key"); done
    "$GREFFE" witness --data "$WDATA" --listen "127.0.0.1:$WPORT" "${args[@]}" >>"$WORK/witness.log" 2>&1 &
    WITNESS_PID=$!
    PIDS+=("$WITNESS_PID")
    for _ in $(seq 300); do
        kill -0 "$WITNESS_PID" 2>/dev/null || die "witness exited during start-up: $(tail -n 5 "$WORK/witness.log")"
        curl -s -o /dev/null --max-time 2 "$WURL/" && return 0
        sleep 0.1
    done
    die "witness did not answer within 30 s"
}

# append TAG COUNT: a batch, answered once a checkpoint covers it; prints that checkpoint's size.
append() {
    "$PYTHON" - "$URL" "$TOKEN" "$1" "$2" <<'PY'
import json, sys, urllib.request
url, token, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
events = [{"event_id": "rot-%s-%d" % (tag, n), "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z",
           "platform": "rotation.example", "schema_version": 1, "authority": "Parquet de Paris",
           "reference": "ref-%s-%d" % (tag, n), "direction": "received", "request_type": "preservation"} for n in range(count)]
req = urllib.request.Request(url + "/v1/events?wait=checkpoint", data=json.dumps({"events": events}).encode(), method="POST",
                             headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=60) as r:
    print(int(json.loads(r.read())["checkpoint"].split("\n")[1]))
PY
}
bundle() { # bundle FROM TO OUT
    local code
    code=$(curl -s -o "$3" -w '%{http_code}' -X POST -H "Authorization: Bearer $INVESTIGATE" \
        -d "{\"index_range\":{\"from\":$1,\"to\":$2}}" "$URL/v1/bundles")
    [[ $code == 200 ]] || die "POST /v1/bundles $1..$2 answered $code: $(head -c 300 "$3")"
}
# witness_add OLD-SIZE NOTE-FILE: posts add-checkpoint with the log's consistency proof; prints the HTTP status.
witness_add() {
    "$PYTHON" - "$URL" "$WURL" "$1" "$2" <<'PY'
import base64, json, sys, urllib.error, urllib.request
log, witness, old, note = sys.argv[1], sys.argv[2], int(sys.argv[3]), open(sys.argv[4], "rb").read()
size = int(note.split(b"\n")[1])
proof = []
if 0 < old < size:
    proof = json.loads(urllib.request.urlopen("%s/v1/proofs/consistency?first=%d&second=%d" % (log, old, size), timeout=30).read())["proof"]
body = b"old %d\n" % old + b"".join(p.encode() + b"\n" for p in proof) + b"\n" + note
try:
    with urllib.request.urlopen(urllib.request.Request(witness + "/add-checkpoint", data=body, method="POST"), timeout=30) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
}
sig_lines() { grep -c '^— ' "$1"; }
go_check() { # go_check NOTE VKEY-FILE WANT(ok|fail) WHAT
    local out
    out=$("$WORK/notecheck" "$1" "$(cat "$2")" 2>&1)
    local rc=$?
    if [[ $3 == ok && $rc == 0 ]] || [[ $3 == fail && $rc == 1 ]]; then pass "$4 (Go x/mod note: $out)"; else bad "$4: Go x/mod note exit $rc: $out"; fi
}
verify() { # verify WANT(ok|fail) WHAT BUNDLE VKEY...
    local want=$1 what=$2 file=$3
    shift 3
    local args=()
    for key in "$@"; do args+=(--vkey "$key"); done
    "$GREFFE" verify "$file" "${args[@]}" >"$WORK/verify.out" 2>&1
    local rc=$?
    if [[ $want == ok && $rc == 0 ]] && grep -q "RESULT: VERIFIED" "$WORK/verify.out"; then
        pass "$what"
    elif [[ $want == fail && $rc == 1 ]] && grep -q "NOT VERIFIED" "$WORK/verify.out"; then
        pass "$what ($(grep -m1 'no valid signature' "$WORK/verify.out" | sed 's/^ *//' | cut -c1-120))"
    else
        bad "$what: exit $rc: $(tail -n 4 "$WORK/verify.out")"
    fi
}

# ---------------------------------------------------------------------------
# 1. One key.
"$GREFFE" init --data "$DATA" --origin "$ORIGIN" >"$WORK/old.vkey" 2>"$WORK/init.err" || die "greffe init: $(cat "$WORK/init.err")"
[[ -f $DATA/keys.json && -f $DATA/verifier-keys ]] && pass "init writes keys.json and verifier-keys" || bad "init wrote no key list"
TOKEN=$("$GREFFE" token create --data "$DATA" --role append --platform rotation.example --name rot) || die "token create"
INVESTIGATE=$("$GREFFE" token create --data "$DATA" --role investigate --name rot-inv) || die "token create (investigate)"
"$GREFFE" witness init --data "$WDATA" --name witness.greffe.test/rot >/dev/null 2>&1 || die "greffe witness init"
OLD_ID=$(cut -d+ -f2 "$WORK/old.vkey")

start_serve
N1=$(append one 12) || die "append (one key)"
bundle 0 "$N1" "$WORK/B1.json"
curl -sf "$URL/checkpoint" >"$WORK/C1" || die "GET /checkpoint"
# The bundle request appended its access.granted entry: C1 may be larger than N1.
C1_SIZE=$(sed -n 2p "$WORK/C1")
[[ $(sig_lines "$WORK/C1") == 1 ]] && pass "C1 (size $C1_SIZE) has one signature line" || bad "C1 has $(sig_lines "$WORK/C1") signature lines"
start_witness "$(cat "$WORK/old.vkey")"
[[ $(witness_add 0 "$WORK/C1") == 200 ]] && pass "the witness (old key) cosigns C1" || bad "the witness refused C1"
stop_pid "$SERVE_PID"

# ---------------------------------------------------------------------------
# 2. Rotate: both keys sign.
"$GREFFE" key rotate --data "$DATA" >"$WORK/new.vkey" 2>"$WORK/rotate.err" || die "greffe key rotate: $(cat "$WORK/rotate.err")"
NEW_ID=$(cut -d+ -f2 "$WORK/new.vkey")
[[ $(wc -l <"$WORK/new.vkey") == 1 && $(cut -d+ -f1 "$WORK/new.vkey") == "$ORIGIN" && $NEW_ID != "$OLD_ID" ]] &&
    pass "key rotate prints one line: the new verifier key (same name, key ID $NEW_ID)" || bad "key rotate printed: $(cat "$WORK/new.vkey")"
! grep -q PRIVATE "$WORK/new.vkey" "$WORK/rotate.err" && pass "key rotate prints no private key" || bad "key rotate printed a private key"
[[ $(stat -c %a "$DATA/signing-$NEW_ID.key") == 600 ]] && pass "the new key file is mode 0600" || bad "new key mode $(stat -c %a "$DATA/signing-$NEW_ID.key")"
grep -q "next greffe serve start" "$WORK/rotate.err" && pass "key rotate says it takes effect at the next serve start" || bad "rotate.err: $(cat "$WORK/rotate.err")"
if "$GREFFE" key rotate --data "$DATA" >"$WORK/rotate2.out" 2>&1; then bad "a second rotation during the transition was accepted"; else
    grep -q "already in progress" "$WORK/rotate2.out" && pass "a second rotation during the transition is refused" || bad "second rotate: $(cat "$WORK/rotate2.out")"
fi

start_serve
if "$GREFFE" key retire --data "$DATA" --key "$OLD_ID" >"$WORK/locked.out" 2>&1; then bad "key retire ran while serve held the directory"; else
    grep -q "stop greffe serve" "$WORK/locked.out" && pass "key retire refuses while serve runs" || bad "retire while serving: $(cat "$WORK/locked.out")"
fi
N2=$(append two 9) || die "append (two keys)"
bundle 0 "$N2" "$WORK/B2.json"
curl -sf "$URL/checkpoint" >"$WORK/C2" || die "GET /checkpoint"
C2_SIZE=$(sed -n 2p "$WORK/C2")
[[ $(sig_lines "$WORK/C2") == 2 ]] && pass "C2 (size $C2_SIZE) carries two signature lines" || bad "C2 has $(sig_lines "$WORK/C2") signature lines"
go_check "$WORK/C2" "$WORK/old.vkey" ok "C2 verifies with the old key alone"
go_check "$WORK/C2" "$WORK/new.vkey" ok "C2 verifies with the new key alone"
verify ok "B2 verifies with the old key" "$WORK/B2.json" "$WORK/old.vkey"
verify ok "B2 verifies with the new key" "$WORK/B2.json" "$WORK/new.vkey"
verify ok "B2 verifies with DIR/verifier-keys" "$WORK/B2.json" "$DATA/verifier-keys"
curl -sf "$URL/v1/keys" >"$WORK/keys.json" || bad "GET /v1/keys"
"$PYTHON" - "$WORK/keys.json" "$OLD_ID" "$NEW_ID" <<'PY' && pass "GET /v1/keys: $OLD_ID transitional, $NEW_ID active, both signing" || bad "GET /v1/keys: $(cat "$WORK/keys.json")"
import json, sys
k = json.load(open(sys.argv[1]))
assert [(x["key_id"], x["status"]) for x in k["keys"]] == [(sys.argv[2], "transitional"), (sys.argv[3], "active")], k
assert sorted(k["signing_now"]) == sorted([sys.argv[2], sys.argv[3]]), k
assert all("private" not in key for key in k["keys"][0])
PY
stop_pid "$WITNESS_PID"
start_witness "$(cat "$WORK/old.vkey")" "$(cat "$WORK/new.vkey")"
[[ $(witness_add "$C1_SIZE" "$WORK/C2") == 200 ]] && pass "the witness (--log twice: old and new key) cosigns C2" || bad "the witness refused C2"
stop_pid "$SERVE_PID"

# ---------------------------------------------------------------------------
# 3. Retire the old key: only the new one signs.
"$GREFFE" key retire --data "$DATA" --key "$OLD_ID" >"$WORK/retire.out" 2>&1 || die "greffe key retire: $(cat "$WORK/retire.out")"
[[ ! -e $DATA/signing.key ]] && pass "key retire deletes the old private key" || bad "signing.key is still there"
grep -q "$(cat "$WORK/old.vkey")" "$DATA/verifier-keys" && pass "the retired public key stays in verifier-keys" || bad "verifier-keys lost the old key"
if "$GREFFE" key retire --data "$DATA" --key "$NEW_ID" >"$WORK/last.out" 2>&1; then bad "retiring the last signing key was accepted"; else
    grep -q "last signing key" "$WORK/last.out" && pass "retiring the last signing key is refused" || bad "retire last: $(cat "$WORK/last.out")"
fi
start_serve
N3=$(append three 7) || die "append (new key)"
bundle 0 "$N3" "$WORK/B3.json"
curl -sf "$URL/checkpoint" >"$WORK/C3" || die "GET /checkpoint"
[[ $(sig_lines "$WORK/C3") == 1 ]] && grep -q "^— $ORIGIN " "$WORK/C3" && pass "C3 (size $N3) carries one signature line" || bad "C3 signature lines: $(sig_lines "$WORK/C3")"
go_check "$WORK/C3" "$WORK/new.vkey" ok "C3 verifies with the new key"
go_check "$WORK/C3" "$WORK/old.vkey" fail "C3 does not verify with the retired key"
verify ok "B3 verifies with the new key" "$WORK/B3.json" "$WORK/new.vkey"
verify fail "B3 does not verify with the old key alone" "$WORK/B3.json" "$WORK/old.vkey"
verify ok "B3 verifies with --vkey old --vkey new" "$WORK/B3.json" "$WORK/old.vkey" "$WORK/new.vkey"
verify ok "B1 (before the rotation) still verifies with the old key" "$WORK/B1.json" "$WORK/old.vkey"
verify ok "B1 verifies with DIR/verifier-keys" "$WORK/B1.json" "$DATA/verifier-keys"
verify fail "B1 does not verify with the new key alone" "$WORK/B1.json" "$WORK/new.vkey"
# The browser verifier's core (web/verify-core.js) picks the signature line of its one key: run it under
# Node (WebCrypto Ed25519 needs Node 20+) when there is one; browser.sh covers the page itself.
if command -v node >/dev/null && [[ $(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0) -ge 20 ]]; then
    cat >"$WORK/jscheck.js" <<'JS'
const V = require(process.argv[2]);
const fs = require('fs');
V.check(new Uint8Array(fs.readFileSync(process.argv[3])), fs.readFileSync(process.argv[4], 'utf8').trim(), 'bundle')
  .then((r) => { console.log(r.status); process.exit(r.status === 'verified' ? 0 : 1); });
JS
    JS_RESULTS=""
    for case in "B1 old verified" "B1 new failed" "B2 old verified" "B2 new verified" "B3 old failed" "B3 new verified"; do
        read -r b k want <<<"$case"
        got=$(node "$WORK/jscheck.js" "$ROOT/web/verify-core.js" "$WORK/$b.json" "$WORK/$k.vkey" 2>&1)
        [[ $got == "$want" ]] || JS_RESULTS+=" $b/$k: $got (want $want);"
    done
    [[ -z $JS_RESULTS ]] && pass "the browser verifier core: B1 old key only, B2 either key (two signature lines), B3 new key only" ||
        bad "the browser verifier core:$JS_RESULTS"
else
    log "skip the browser verifier core check: no Node 20+ (browser.sh checks the page)"
fi
[[ $(witness_add "$C2_SIZE" "$WORK/C3") == 200 ]] && pass "the witness cosigns C3 (new key only)" || bad "the witness refused C3"
stop_pid "$WITNESS_PID"
start_witness "$(cat "$WORK/old.vkey")"
STATUS=$(witness_add "$N3" "$WORK/C3")
[[ $STATUS == 403 ]] && pass "a witness trusting only the retired key refuses C3 (403)" || bad "old-key witness answered $STATUS to C3"
stop_pid "$WITNESS_PID"

"$GREFFE" audit --url "$URL" --vkey "$WORK/old.vkey" --vkey "$WORK/new.vkey" --quiet >"$WORK/audit.out" 2>&1 &&
    grep -q "audit: OK — [0-9]* entries" "$WORK/audit.out" && pass "audit of the whole log with both keys: $(cut -c1-60 "$WORK/audit.out")…" ||
    bad "audit with both keys: $(cat "$WORK/audit.out")"
# C1 was signed by the old key only, the current checkpoint by the new key only: both keys given, the log only grew.
"$GREFFE" audit --url "$URL" --vkey "$WORK/old.vkey" --vkey "$WORK/new.vkey" --from-checkpoint "$WORK/C1" --quiet >"$WORK/audit1.out" 2>&1 &&
    grep -q "replayed after the audited checkpoint of size $C1_SIZE" "$WORK/audit1.out" && pass "audit from C1 (old key) to now (new key)" ||
    bad "audit --from-checkpoint C1: $(cat "$WORK/audit1.out")"
"$GREFFE" audit --url "$URL" --vkey "$DATA/verifier-keys" --quiet >"$WORK/audit2.out" 2>&1 &&
    grep -q "signed by $ORIGIN+$NEW_ID" "$WORK/audit2.out" && pass "audit with verifier-keys names the key that verified" || bad "audit with verifier-keys: $(cat "$WORK/audit2.out")"
if "$GREFFE" audit --url "$URL" --vkey "$WORK/old.vkey" --quiet >"$WORK/audit3.out" 2>&1; then bad "audit passed with the retired key alone"; else
    grep -q "no valid signature" "$WORK/audit3.out" && pass "audit with the retired key alone fails" || bad "audit old key: $(cat "$WORK/audit3.out")"
fi
"$GREFFE" mirror --url "$URL" --out "$WORK/mirror" --vkey "$WORK/old.vkey" --vkey "$WORK/new.vkey" --quiet >"$WORK/mirror.out" 2>&1 &&
    pass "mirror with both keys: $(cut -c1-50 "$WORK/mirror.out")…" || bad "mirror: $(cat "$WORK/mirror.out")"
stop_pid "$SERVE_PID"
finish
