#!/usr/bin/env bash
# Interop test: a real `greffe serve` checked by an independent Go checker
# (Tests/Interop/tlogcheck, built on golang.org/x/mod/sumdb/{tlog,note}).
#
# It initialises a ledger, appends events over HTTP (batches, singles,
# idempotent re-sends), saves checkpoints along the way, restarts the server
# on the same data directory, appends more, and then has tlogcheck verify
# the checkpoint signature, the tiles, every entry, an inclusion proof for
# every acknowledgement and a consistency proof from every saved checkpoint.
#
# Usage:  ops/tests/interop.sh              # full run (needs the greffe binary)
#         ops/tests/interop.sh --selftest   # only the checker's vector self-test
# Env:    GREFFE   greffe binary (default .build/debug/greffe under the repo root)
#         EVENTS   events to append before the restart (default 3000)
#         VECTORS  rfc9162 vector file for the self-test
#         KEEP=1   keep the temporary directory even on success
# Needs:  go (Debian golang-go) with golang-golang-x-mod-dev, python3, curl.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
EVENTS=${EVENTS:-3000}
AFTER_RESTART=${AFTER_RESTART:-100}
BATCH=100
SINGLES=20
GO_GOPATH=${TLOGCHECK_GOPATH:-/usr/share/gocode}
if [[ -z ${VECTORS:-} ]]; then
    for v in "$ROOT/../shared/testvectors/rfc9162-seed1.json" /work/shared/testvectors/rfc9162-seed1.json; do
        if [[ -f $v ]]; then VECTORS=$v; break; fi
    done
fi
SELFTEST_ONLY=0
case "${1:-}" in
    --selftest) SELFTEST_ONLY=1 ;;
    "") ;;
    *) echo "usage: $0 [--selftest]" >&2; exit 2 ;;
esac

PASSED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-interop.XXXXXX")
SERVER_PID=
OK=0

log() { printf '%s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); log "ok   $*"; }
fail() {
    log "FAIL $*"
    if [[ -s $WORK/serve.log ]]; then
        log "--- server log (last 60 lines of $WORK/serve.log) ---"
        tail -n 60 "$WORK/serve.log"
        log "---"
    fi
    log "interop: $PASSED passed, 1 failed (work directory kept: $WORK)"
    exit 1
}

cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ $OK == 1 && ${KEEP:-0} != 1 ]]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM

for cmd in go python3 curl; do
    command -v "$cmd" >/dev/null || fail "$cmd not found"
done
# The interpreter itself, not a version-manager shim (pyenv's costs ~0.2 s a call).
PYTHON=$(python3 -c 'import sys; print(sys.executable)') || fail "python3 does not run"

# ---------------------------------------------------------------------------
# The events. ONE place to change when the strict schemas in Schemas/events/
# arrive. make_event N [VARIANT] prints event number N as one JSON object on
# stdout; VARIANT "conflict" must give the same event_id with another body.
RUN_ID=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(4))')
make_event() {
    # Valid against Schemas/events/: a rotation of three kinds. The conflict
    # variant keeps event_id and kind and changes one field.
    local n=$1 variant=${2:-}
    local id; id=$(printf 'interop-%s-%06d' "$RUN_ID" "$n")
    local account; account=$(printf 'hmac-sha256:%064x' $((n % 97)))
    local image; image=$(printf '%064x' $((n * 7919)))
    local tier=pro; [[ $variant == conflict ]] && tier=free
    local envelope; envelope=$(printf '"event_id":"%s","occurred_at":"2026-11-25T10:%02d:%02dZ","platform":"interop.example","schema_version":1' \
        "$id" $((n / 60 % 60)) $((n % 60)))
    case $((n % 3)) in
    0) printf '{%s,"kind":"generation.requested","account":"%s","subscription_tier":"%s","model":{"name":"imagine","version":"3"},"prompt":{"sha256":"%s"},"input_images":[],"flags":{"real_person_detected":false,"minor_suspected":false},"decision":{"outcome":"allowed","classifiers":[]}}' \
        "$envelope" "$account" "$tier" "$image" ;;
    1) printf '{%s,"kind":"subscription.started","account":"%s","subscription_id":"sub-%d","tier":"%s","price":{"amount_minor":1999,"currency":"EUR"},"features":["image.edit.real_person"]}' \
        "$envelope" "$account" "$n" "$tier" ;;
    2) printf '{%s,"kind":"report.received","report_id":"rep-%d-%s","reporter_type":"victim","content_hashes":[{"sha256":"%s"}],"category":"non_consensual_intimate_imagery"}' \
        "$envelope" "$n" "$tier" "$image" ;;
    esac
}

# ---------------------------------------------------------------------------
# JSON handling (python3; jq may be absent).
cat >"$WORK/helper.py" <<'PY'
import base64, json, sys

def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)

def load(path, what):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except Exception as e:
        with open(path, "rb") as f:
            die("%s is not JSON (%s): %r" % (what, e, f.read()[:300]))

def check_result(r, event_id, where):
    if not isinstance(r, dict):
        die("%s: result is not an object: %r" % (where, r))
    idx, lh, eid = r.get("index"), r.get("leaf_hash"), r.get("event_id")
    if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
        die("%s: bad index %r" % (where, idx))
    try:
        raw = base64.b64decode(lh, validate=True)
    except Exception:
        die("%s: leaf_hash %r is not standard base64" % (where, lh))
    if len(raw) != 32:
        die("%s: leaf_hash %r is %d bytes" % (where, lh, len(raw)))
    if eid != event_id:
        die("%s: event_id %r, sent %r" % (where, eid, event_id))
    return {"index": idx, "leaf_hash": lh, "event_id": eid}

def read_acks(path):
    acks = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                a = json.loads(line)
                acks[a["event_id"]] = a
    return acks

def cmd_record(req_path, resp_path, acks_path):
    """Append the acks of a 201 answer to acks_path (one JSON line each)."""
    req = load(req_path, "request")
    resp = load(resp_path, "answer")
    if "events" in req:
        events = req["events"]
        results = resp.get("results") if isinstance(resp, dict) else None
        if not isinstance(results, list) or len(results) != len(events):
            die("batch of %d: answer has no results list of that length: %r" % (len(events), str(resp)[:300]))
        out = [check_result(r, e["event_id"], "result %d" % i) for i, (r, e) in enumerate(zip(results, events))]
    else:
        out = [check_result(resp, req["event_id"], "single answer")]
    seen = read_acks(acks_path)
    used = {a["index"] for a in seen.values()}
    with open(acks_path, "a") as f:
        for a in out:
            if a["event_id"] in seen:
                die("event %s answered 201 but was acknowledged before" % a["event_id"])
            if a["index"] in used:
                die("event %s got index %d, already used" % (a["event_id"], a["index"]))
            used.add(a["index"])
            f.write(json.dumps(a) + "\n")
    print(len(out))

def cmd_same(req_path, resp_path, acks_path):
    """A re-sent single event must be answered with its original ack."""
    req = load(req_path, "request")
    resp = load(resp_path, "answer")
    a = check_result(resp, req["event_id"], "re-send answer")
    orig = read_acks(acks_path).get(req["event_id"])
    if orig is None:
        die("event %s was never acknowledged" % req["event_id"])
    if (a["index"], a["leaf_hash"]) != (orig["index"], orig["leaf_hash"]):
        die("re-send of %s answered index %d leaf %s, originally index %d leaf %s"
            % (req["event_id"], a["index"], a["leaf_hash"], orig["index"], orig["leaf_hash"]))
    print(a["index"])

def cmd_error(resp_path):
    """The body must be {"error": "<message>"}."""
    resp = load(resp_path, "error answer")
    if not isinstance(resp, dict) or not isinstance(resp.get("error"), str) or not resp["error"]:
        die("error answer is not {\"error\": \"...\"}: %r" % resp)

def cmd_needed(acks_path):
    """The tree size that covers every ack: max index + 1."""
    print(max(a["index"] for a in read_acks(acks_path).values()) + 1)

def cmd_size(cp_path):
    with open(cp_path, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    if len(lines) < 3 or not lines[1].isdigit():
        die("not a checkpoint: %r" % lines[:3])
    print(int(lines[1]))

cmds = {"record": cmd_record, "same": cmd_same, "error": cmd_error, "needed": cmd_needed, "size": cmd_size}
cmds[sys.argv[1]](*sys.argv[2:])
PY
helper() { "$PYTHON" "$WORK/helper.py" "$@"; }

# ---------------------------------------------------------------------------
# The checker.
(
    cd "$ROOT"
    if ! go env GOCACHE >/dev/null 2>&1 || [[ -z $(go env GOCACHE 2>/dev/null) ]]; then
        export GOCACHE=$WORK/gocache
    fi
    GO111MODULE=off GOPATH=$GO_GOPATH GOFLAGS= go build -o "$WORK/tlogcheck" ./Tests/Interop/tlogcheck
) >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fail "building tlogcheck (GOPATH mode, GOPATH=$GO_GOPATH; needs golang-golang-x-mod-dev)"; }
pass "tlogcheck built"
CHECK=$WORK/tlogcheck

if [[ -n ${VECTORS:-} ]]; then
    "$CHECK" -selftest-vectors "$VECTORS" >"$WORK/selftest.log" 2>&1 || { cat "$WORK/selftest.log"; fail "tlogcheck self-test against $VECTORS"; }
    pass "tlogcheck self-test against the Go vectors and 27 broken logs ($(tail -n 1 "$WORK/selftest.log"))"
else
    log "note: no rfc9162-seed1.json found (set VECTORS); checker self-test skipped"
fi
if [[ $SELFTEST_ONLY == 1 ]]; then
    OK=1
    log "interop: $PASSED passed, 0 failed"
    exit 0
fi

# ---------------------------------------------------------------------------
# The server.
[[ -x $GREFFE ]] || fail "greffe binary not found at $GREFFE (swift build, or set GREFFE)"
DATA=$WORK/data
ORIGIN="interop.greffe.test/$RUN_ID"
ACKS=$WORK/acks.jsonl
CPS=$WORK/checkpoints.txt
: >"$ACKS"
: >"$CPS"

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_server() {
    PORT=$(free_port)
    URL=http://127.0.0.1:$PORT
    log "---- greffe serve on $URL" >>"$WORK/serve.log"
    # No per-client limit: the Go checker proves every acknowledged event (3,000+ requests) as fast as it can, without retrying on 429.
    "$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.2 --anonymous-rate 0 >>"$WORK/serve.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 300); do
        kill -0 "$SERVER_PID" 2>/dev/null || fail "greffe serve exited during start-up"
        if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/healthz" || true) == 200 ]]; then
            return 0
        fi
        sleep 0.1
    done
    fail "greffe serve: /healthz not 200 within 30 s"
}

stop_server() {
    local status=0
    kill -TERM "$SERVER_PID"
    for _ in $(seq 200); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then fail "greffe serve still running 20 s after SIGTERM"; fi
    wait "$SERVER_PID" || status=$?
    SERVER_PID=
    [[ $status == 0 ]] || fail "greffe serve exited with status $status after SIGTERM (want a clean stop, 0)"
}

# post FILE [TOKEN]: POST /v1/events; the answer lands in $WORK/resp.json,
# the status in $STATUS.
post() {
    local tok=${2-$TOKEN} auth=()
    if [[ -n $tok ]]; then auth=(-H "Authorization: Bearer $tok"); fi
    STATUS=$(curl -sS --max-time 60 -o "$WORK/resp.json" -w '%{http_code}' -X POST \
        "${auth[@]}" -H 'Content-Type: application/json' --data-binary @"$1" "$URL/v1/events") ||
        fail "POST /v1/events: curl failed"
}

save_checkpoint() {
    curl -sS --max-time 10 -f "$URL/checkpoint" -o "$WORK/cp.txt" || fail "GET /checkpoint"
    cat "$WORK/cp.txt" >>"$CPS"
    printf -- '---\n' >>"$CPS"
    SAVED=$((SAVED + 1))
}

# Events are numbered 1..; NEXT is the next number.
NEXT=1
post_batch() { # post_batch COUNT
    local count=$1 i req=$WORK/req.json
    {
        printf '{"events":['
        for ((i = NEXT; i < NEXT + count; i++)); do
            if ((i > NEXT)); then printf ','; fi
            make_event "$i"
        done
        printf ']}'
    } >"$req"
    post "$req"
    [[ $STATUS == 201 ]] || fail "batch of $count (events $NEXT..$((NEXT + count - 1))): status $STATUS, want 201: $(head -c 300 "$WORK/resp.json")"
    helper record "$req" "$WORK/resp.json" "$ACKS" >/dev/null || fail "batch of $count: bad answer"
    NEXT=$((NEXT + count))
}
post_single() { # post_single: one event, kept in $WORK/single-N.json
    local req=$WORK/single-$NEXT.json
    make_event "$NEXT" >"$req"
    post "$req"
    [[ $STATUS == 201 ]] || fail "single event $NEXT: status $STATUS, want 201: $(head -c 300 "$WORK/resp.json")"
    helper record "$req" "$WORK/resp.json" "$ACKS" >/dev/null || fail "single event $NEXT: bad answer"
    LAST_SINGLE=$req
    NEXT=$((NEXT + 1))
}
resend_expect_same() { # resend_expect_same FILE WHAT
    post "$1"
    [[ $STATUS == 200 ]] || fail "$2: status $STATUS, want 200 (idempotent re-send): $(head -c 300 "$WORK/resp.json")"
    local idx
    idx=$(helper same "$1" "$WORK/resp.json" "$ACKS") || fail "$2: answer differs from the original acknowledgement"
    pass "$2 answered 200 with the original index $idx"
}

SAVED=0
VKEY_OUT=$("$GREFFE" init --data "$DATA" --origin "$ORIGIN") || fail "greffe init"
[[ $(printf '%s\n' "$VKEY_OUT" | wc -l) == 1 ]] || fail "greffe init printed more than one line: $VKEY_OUT"
[[ -f $DATA/verifier.vkey ]] || fail "greffe init did not write $DATA/verifier.vkey"
[[ $(tr -d '\n' <"$DATA/verifier.vkey") == "$VKEY_OUT" ]] || fail "verifier.vkey differs from the printed key"
[[ $VKEY_OUT != *PRIVATE* ]] || fail "greffe init printed a private key"
pass "greffe init: verifier key $VKEY_OUT"

TOKEN=$("$GREFFE" token create --data "$DATA" --role append --platform interop.example --name interop) || fail "greffe token create --role append"
[[ -n $TOKEN && $(printf '%s\n' "$TOKEN" | wc -l) == 1 ]] || fail "token create printed no token or several lines"
INV_TOKEN=$("$GREFFE" token create --data "$DATA" --role investigate --name interop-inv) || fail "greffe token create --role investigate"
pass "greffe token create (append, investigate)"

start_server
pass "greffe serve up on $URL"
save_checkpoint

# Authorisation: missing or wrong token 401, wrong role 403, bad body 4xx.
make_event 999999 >"$WORK/auth.json"
post "$WORK/auth.json" ""
[[ $STATUS == 401 ]] || fail "POST without a token: status $STATUS, want 401"
helper error "$WORK/resp.json" || fail "POST without a token: body"
post "$WORK/auth.json" "not-a-token"
[[ $STATUS == 401 ]] || fail "POST with a wrong token: status $STATUS, want 401"
post "$WORK/auth.json" "$INV_TOKEN"
[[ $STATUS == 403 ]] || fail "POST with an investigate token: status $STATUS, want 403"
printf '{"events":[' >"$WORK/bad.json"
post "$WORK/bad.json"
[[ $STATUS == 4* ]] || fail "POST of malformed JSON: status $STATUS, want 4xx"
helper error "$WORK/resp.json" || fail "POST of malformed JSON: body"
pass "POST /v1/events: 401 without or with a wrong token, 403 for the wrong role, 4xx for malformed JSON"

# EVENTS events: batches of $BATCH with $SINGLES single posts between them.
singles_left=$SINGLES
if ((singles_left > EVENTS / 2)); then singles_left=$((EVENTS / 2)); fi
nbatch=0
start=$(date +%s.%N)
while ((NEXT <= EVENTS)); do
    remaining=$((EVENTS - NEXT + 1 - singles_left))
    if ((remaining > 0)); then
        n=$((remaining < BATCH ? remaining : BATCH))
        post_batch "$n"
        nbatch=$((nbatch + 1))
        if ((nbatch % 5 == 0)); then save_checkpoint; fi
    fi
    if ((singles_left > 0)); then
        post_single
        singles_left=$((singles_left - 1))
        if ((singles_left == SINGLES / 2)); then save_checkpoint; fi
    fi
done
elapsed=$("$PYTHON" -c "print(round($(date +%s.%N) - $start, 2))")
pass "appended $EVENTS events ($nbatch batches of up to $BATCH, $((SINGLES < EVENTS / 2 ? SINGLES : EVENTS / 2)) singles) in ${elapsed}s"

# Idempotence: a single re-sent, an event of the first batch re-sent alone.
resend_expect_same "$LAST_SINGLE" "re-send of a single event"
make_event 1 >"$WORK/dup1.json"
resend_expect_same "$WORK/dup1.json" "re-send (alone) of an event first sent in a batch"
make_event 1 conflict >"$WORK/conflict.json"
post "$WORK/conflict.json"
[[ $STATUS == 409 ]] || fail "same event_id with another body: status $STATUS, want 409"
helper error "$WORK/resp.json" || fail "409 answer body"
pass "same event_id with another body answered 409"
save_checkpoint

# Restart on the same data directory.
stop_server
pass "greffe serve stopped cleanly on SIGTERM"
start_server
pass "greffe serve restarted on the same data directory ($URL)"
save_checkpoint
resend_expect_same "$WORK/dup1.json" "re-send after the restart"
post_batch "$AFTER_RESTART"
pass "appended $AFTER_RESTART events after the restart"

# Wait for a checkpoint that covers every acknowledged event.
NEEDED=$(helper needed "$ACKS")
for _ in $(seq 300); do
    curl -sS --max-time 10 -f "$URL/checkpoint" -o "$WORK/cp.txt" || fail "GET /checkpoint"
    SIZE=$(helper size "$WORK/cp.txt") || fail "GET /checkpoint: not a checkpoint"
    if ((SIZE >= NEEDED)); then break; fi
    sleep 0.1
done
((SIZE >= NEEDED)) || fail "checkpoint size $SIZE after 30 s, acknowledged events need $NEEDED"
save_checkpoint
pass "checkpoint covers all $((NEXT - 1)) events (size $SIZE; $SAVED checkpoints saved during the run)"

# The independent check.
"$CHECK" -url "$URL" -vkey "$DATA/verifier.vkey" -origin "$ORIGIN" \
    -acks "$ACKS" -old-checkpoints "$CPS" | tee "$WORK/check.log" ||
    fail "tlogcheck found a problem (see above)"
pass "tlogcheck: $(grep -c . "$ACKS") acks, $SAVED old checkpoints, tiles and entries verified"

# It must fail loudly with another key of the same name.
WRONG=$("$CHECK" -genkey "${VKEY_OUT%%+*}")
if "$CHECK" -url "$URL" -vkey "$WRONG" -acks "$ACKS" >"$WORK/wrongkey.log" 2>&1; then
    cat "$WORK/wrongkey.log"
    fail "tlogcheck accepted the checkpoint under a wrong verifier key"
fi
grep -q 'does not verify' "$WORK/wrongkey.log" || { cat "$WORK/wrongkey.log"; fail "tlogcheck failed for another reason than the wrong key"; }
pass "tlogcheck rejects the checkpoint under a wrong verifier key"

stop_server
pass "greffe serve stopped cleanly on SIGTERM"

OK=1
log "interop: $PASSED passed, 0 failed"
