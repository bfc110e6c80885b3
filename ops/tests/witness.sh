#!/usr/bin/env bash
# The built-in witness (C2SP tlog-witness) against a real log.
#
#  1. `greffe serve` on a fresh ledger; `greffe witness init` makes a witness
#     key (mode 0600, not printed; the vkey printed and in witness.vkey);
#     `greffe witness` follows the log; a second witness on the same
#     directory refuses to start.
#  2. A Python client drives add-checkpoint with the log's real checkpoints
#     (`GET /checkpoint`) and consistency proofs
#     (`GET /v1/proofs/consistency`). Every cosignature is checked with an
#     independent Ed25519 (Python `cryptography`) over the exact
#     `cosignature/v1` message, its key ID recomputed from the vkey.
#  3. Every refusal with the spec's status: stale old size → 409
#     `text/x.tlog.size` with the witness's size; a flipped proof hash → 422;
#     a flipped log signature → 403; another log → 404; old > size and
#     garbage → 400. A fork — same size, another root, signed with the log's
#     own key (read from its signing.key) — → 409; the fork beyond the
#     witness's size → 422.
#  4. The witness is restarted (SIGTERM, then kill -9 right after a
#     cosignature): a stale old size still answers 409 with the size it had
#     cosigned, and the log moves on from there.
#
# Usage: ops/tests/witness.sh   Env: GREFFE (binary, default .build/debug/greffe), KEEP=1
# Needs: python3 with cryptography (ops/install-deps.sh), curl. Loopback only; about 20 s.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=witness
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-witness.XXXXXX")
# shellcheck source=lib.sh
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
for cmd in python3 curl; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
"$PYTHON" -c 'import cryptography' 2>/dev/null || die "Python cryptography is missing (ops/install-deps.sh installs it)"

# ---------------------------------------------------------------------------
# The client: appends events, fetches checkpoints and proofs, posts
# add-checkpoint requests and checks the answers, independently of greffe.
cat >"$WORK/driver.py" <<'PY'
import base64, hashlib, json, struct, sys, time, urllib.error, urllib.request
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.exceptions import InvalidSignature
import cosigcheck
from cosigcheck import ok, fail, get, size_of, body_of, witness_vkey

phase, log_url, witness_url, token, data_dir, witness_vkey_path, other_checkpoint_path, state_path = sys.argv[1:9]

def append(count, tag):
    for start in range(0, count, 50):
        batch = [{"event_id": "witness-%s-%d" % (tag, n), "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z",
                  "platform": "witness.example", "schema_version": 1, "authority": "Parquet de Paris",
                  "reference": "ref-%d" % n, "direction": "received", "request_type": "preservation"}
                 for n in range(start, min(start + 50, count))]
        req = urllib.request.Request(log_url + "/v1/events", data=json.dumps({"events": batch}).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.status == 201, r.status

def checkpoint_at_least(size):
    for _ in range(300):
        note = get(log_url + "/checkpoint")
        if int(note.split(b"\n")[1]) >= size:
            return note
        time.sleep(0.1)
    sys.exit("no checkpoint of size >= %d" % size)

def consistency(first, second):
    answer = json.loads(get("%s/v1/proofs/consistency?first=%d&second=%d" % (log_url, first, second)))
    return [base64.b64decode(h) for h in answer["proof"]]

def post(old, proof, note):
    body = b"old %d\n" % old + b"".join(base64.b64encode(h) + b"\n" for h in proof) + b"\n" + note
    req = urllib.request.Request(witness_url + "/add-checkpoint", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()

name, key_id, witness_key = witness_vkey(witness_vkey_path)

def check_cosignature(what, status, ctype, answer, note):
    if status != 200:
        return fail("%s: HTTP %d %r" % (what, status, answer[:200]))
    lines = answer.decode().split("\n")
    if lines[-1] != "" or len(lines) != 2:
        return fail("%s: want one newline-terminated signature line, got %r" % (what, answer[:300]))
    prefix = "\u2014 " + name + " "
    if not lines[0].startswith(prefix):
        return fail("%s: line does not start with '— %s ': %r" % (what, name, lines[0]))
    blob = base64.b64decode(lines[0][len(prefix):], validate=True)
    if len(blob) != 4 + 8 + 64 or blob[:4] != key_id:
        return fail("%s: payload is %d bytes with key ID %s" % (what, len(blob), blob[:4].hex()))
    (timestamp,) = struct.unpack(">Q", blob[4:12])
    message = b"cosignature/v1\ntime %d\n" % timestamp + body_of(note)
    try:
        witness_key.verify(blob[12:], message)
    except InvalidSignature:
        return fail("%s: cosignature does not verify (Python cryptography) over the cosignature/v1 message" % what)
    if abs(timestamp - time.time()) > 120:
        return fail("%s: cosignature timestamp %d is far from now" % (what, timestamp))
    # Mutation probe: the same signature over any other timestamp or body must fail.
    for bad in (b"cosignature/v1\ntime %d\n" % (timestamp + 1) + body_of(note), message[:-1] + b"X\n", body_of(note)):
        try:
            witness_key.verify(blob[12:], bad)
            return fail("%s: cosignature also verifies over a different message" % what)
        except InvalidSignature:
            pass
    ok("%s: 200, cosignature by %s at time %d verifies with Python cryptography" % (what, name, timestamp))

def expect(what, got, status, ctype=None, body=None, contains=None):
    code, content_type, answer = got
    good = code == status and (ctype is None or content_type == ctype) and (body is None or answer == body) \
        and (contains is None or contains in answer)
    (ok if good else fail)("%s: HTTP %d %s %r%s" % (what, code, content_type, answer[:160], "" if good else
                                                    " (want %d %s %r)" % (status, ctype or "", body or contains or b"")))

# The log's key, read from its data directory: PRIVATE+KEY+name+hexkeyid+base64(0x01 || seed).
parts = open(data_dir + "/signing.key").read().strip().split("+", 4)
log_name, log_key_id, log_seed = parts[2], bytes.fromhex(parts[3]), base64.b64decode(parts[4])[1:]
log_key = Ed25519PrivateKey.from_private_bytes(log_seed)

def sign_as_log(text):
    return text + b"\n" + "\u2014 {} ".format(log_name).encode() + base64.b64encode(log_key_id + log_key.sign(text)) + b"\n"

def fork_of(note):
    lines = body_of(note).split(b"\n")
    root = bytearray(base64.b64decode(lines[2]))
    root[0] ^= 0xFF
    lines[2] = base64.b64encode(bytes(root))
    return sign_as_log(b"\n".join(lines))

if phase == "first":
    append(20, "a")
    cp1 = checkpoint_at_least(20)
    n1 = size_of(cp1)
    check_cosignature("first checkpoint (old 0, size %d)" % n1, *post(0, [], cp1), cp1)
    check_cosignature("the same checkpoint again (old %d)" % n1, *post(n1, [], cp1), cp1)

    append(37, "b")
    cp2 = checkpoint_at_least(n1 + 37)
    n2 = size_of(cp2)
    proof = consistency(n1, n2)
    check_cosignature("next checkpoint (old %d, size %d, %d proof lines)" % (n1, n2, len(proof)), *post(n1, proof, cp2), cp2)
    expect("stale old size %d" % n1, post(n1, proof, cp2), 409, "text/x.tlog.size", b"%d\n" % n2)
    expect("old size 0 when the witness holds %d" % n2, post(0, [], cp2), 409, "text/x.tlog.size", b"%d\n" % n2)

    append(64, "c")
    cp3 = checkpoint_at_least(n2 + 64)
    n3 = size_of(cp3)
    proof = consistency(n2, n3)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        expect("proof hash %d flipped" % i, post(n2, bad, cp3), 422)
    expect("proof with a hash missing", post(n2, proof[:-1], cp3), 422)
    expect("proof with a hash too many", post(n2, proof + proof[:1], cp3), 422)
    flipped = bytearray(cp3)
    flipped[-10] = ord("A") if flipped[-10] != ord("A") else ord("B")
    expect("log signature flipped", post(n2, proof, bytes(flipped)), 403)
    other = open(other_checkpoint_path, "rb").read()
    expect("checkpoint of a log the witness does not follow", post(0, [], other), 404)
    expect("old size past the checkpoint's size", post(n3 + 1, [], cp3), 400)
    expect("garbage", post(0, [], b"not a checkpoint\n"), 400)
    check_cosignature("after the refusals (old %d, size %d)" % (n2, n3), *post(n2, proof, cp3), cp3)

    # A fork: the log's own key signs another root for the size the witness cosigned.
    fork = fork_of(cp3)
    expect("forked checkpoint (size %d, another root, signed by the log's key)" % n3, post(n3, [], fork), 409, contains=b"forked")
    append(5, "d")
    cp4 = checkpoint_at_least(n3 + 5)
    n4 = size_of(cp4)
    expect("forked checkpoint beyond the witness's size (%d) with the real proof" % n4,
           post(n3, consistency(n3, n4), fork_of(cp4)), 422)
    check_cosignature("the true checkpoint %d still cosigned" % n3, *post(n3, [], cp3), cp3)
    json.dump({"n1": n1, "n3": n3}, open(state_path, "w"))
elif phase == "restart":
    state = json.load(open(state_path))
    n1, n3 = state["n1"], state["n3"]
    cp = checkpoint_at_least(n3 + 1)
    n = size_of(cp)
    expect("after restart, stale old size %d" % n1, post(n1, consistency(n1, n), cp), 409, "text/x.tlog.size", b"%d\n" % n3)
    check_cosignature("after restart, old %d → size %d" % (n3, n), *post(n3, consistency(n3, n), cp), cp)
    json.dump({"n1": n1, "n3": n3, "n": n}, open(state_path, "w"))
else:
    # After kill -9 right behind the last 200: the state it answered for was on disk.
    state = json.load(open(state_path))
    n3, n = state["n3"], state["n"]
    cp = checkpoint_at_least(n)
    expect("after kill -9, stale old size %d" % n3, post(n3, [], cp), 409, "text/x.tlog.size", b"%d\n" % n)
print("driver failures: %d" % cosigcheck.failures)
sys.exit(1 if cosigcheck.failures else 0)
PY

# ---------------------------------------------------------------------------
DATA=$WORK/log
ORIGIN="witness.greffe.test/log-$$"
"$GREFFE" init --data "$DATA" --origin "$ORIGIN" >/dev/null || die "greffe init"
TOKEN=$("$GREFFE" token create --data "$DATA" --role append --platform witness.example --name witness-test) || die "greffe token create"
# A second ledger whose checkpoint the witness must not know (404).
"$GREFFE" init --data "$WORK/other" --origin "witness.greffe.test/other-$$" >/dev/null || die "greffe init (other)"
PORT=$(free_port)
LOG_URL=http://127.0.0.1:$PORT
"$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.1 --log-level warning >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
wait_http "${PIDS[-1]}" "$LOG_URL" serve
pass "greffe serve up on $LOG_URL"

OTHER_PORT=$(free_port)
"$GREFFE" serve --data "$WORK/other" --listen "127.0.0.1:$OTHER_PORT" --checkpoint-interval 0.1 --log-level warning >"$WORK/other.log" 2>&1 &
OTHER_PID=$!
PIDS+=("$OTHER_PID")
wait_http "$OTHER_PID" "http://127.0.0.1:$OTHER_PORT" other
curl -sf "http://127.0.0.1:$OTHER_PORT/checkpoint" -o "$WORK/other.checkpoint" || die "checkpoint of the other log"
kill -TERM "$OTHER_PID"

# --- witness init ------------------------------------------------------------
WDATA=$WORK/witness
"$GREFFE" witness init --data "$WDATA" --name "witness.greffe.test/w1" >"$WORK/init.out" 2>&1 || die "greffe witness init: $(cat "$WORK/init.out")"
mode=$(stat -c %a "$WDATA/witness.key")
if [[ $mode == 600 ]] && ! grep -q PRIVATE "$WORK/init.out" && [[ $(cat "$WORK/init.out") == $(cat "$WDATA/witness.vkey") ]] \
    && grep -q '^witness.greffe.test/w1+[0-9a-f]\{8\}+' "$WDATA/witness.vkey"; then
    pass "witness init: key mode 600, not printed; vkey printed and in witness.vkey: $(cat "$WDATA/witness.vkey")"
else
    bad "witness init: mode $mode, printed: $(cat "$WORK/init.out")"
fi
if "$GREFFE" witness init --data "$WDATA" --name "witness.greffe.test/w1" >/dev/null 2>&1; then
    bad "a second witness init on the same directory succeeded"
else
    pass "a second witness init on the same directory is refused"
fi

WPORT=$(free_port)
WURL=http://127.0.0.1:$WPORT
LOG_ARG="$ORIGIN=$(cat "$DATA/verifier.vkey")"
start_witness() {
    "$GREFFE" witness --data "$WDATA" --listen "127.0.0.1:$WPORT" --log "$LOG_ARG" >>"$WORK/witness.log" 2>&1 &
    WITNESS_PID=$!
    PIDS+=("$WITNESS_PID")
    wait_http "$WITNESS_PID" "$WURL" witness
}
start_witness
pass "greffe witness up on $WURL"

SECOND_PORT=$(free_port)
if timeout 20 "$GREFFE" witness --data "$WDATA" --listen "127.0.0.1:$SECOND_PORT" --log "$LOG_ARG" >"$WORK/second.log" 2>&1; then
    bad "a second witness on the same data directory ran"
elif grep -q "locked" "$WORK/second.log"; then
    pass "a second witness on the same data directory refuses: $(head -c 200 "$WORK/second.log")"
else
    bad "second witness: $(head -c 300 "$WORK/second.log")"
fi

# --- the protocol ----------------------------------------------------------
run_driver() {
    PYTHONPATH="$ROOT/ops/tests" "$PYTHON" "$WORK/driver.py" "$1" "$LOG_URL" "$WURL" "$TOKEN" "$DATA" "$WDATA/witness.vkey" "$WORK/other.checkpoint" \
        "$WORK/state.json" >"$WORK/driver-$1.out" 2>&1
    report_driver "$1" $?
}
run_driver first

# --- restart ---------------------------------------------------------------
kill -TERM "$WITNESS_PID"
for _ in $(seq 100); do kill -0 "$WITNESS_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$WITNESS_PID" 2>/dev/null; then bad "witness did not stop on SIGTERM"; else pass "witness stopped on SIGTERM"; fi
start_witness
pass "witness restarted"
"$PYTHON" - "$LOG_URL" "$TOKEN" <<'PY' || bad "appending after the restart"
import json, sys, urllib.request
url, token = sys.argv[1:3]
batch = [{"event_id": "witness-e-%d" % n, "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z",
          "platform": "witness.example", "schema_version": 1, "authority": "Parquet de Paris",
          "reference": "ref-%d" % n, "direction": "received", "request_type": "preservation"} for n in range(3)]
req = urllib.request.Request(url + "/v1/events", data=json.dumps({"events": batch}).encode(), method="POST",
                             headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=60).read()
PY
run_driver restart

# --- kill -9 right after the last cosignature ---------------------------------
{ kill -KILL "$WITNESS_PID" && wait "$WITNESS_PID"; } 2>/dev/null
start_witness
pass "witness restarted after kill -9"
run_driver killed

# The cosigning key never leaves its file: not in the witness's log, not in any answer.
SEED=$(cut -d+ -f5- "$WDATA/witness.key")
if [[ -n $SEED ]] && ! grep -qF -- "$SEED" "$WORK/witness.log" "$WORK/init.out" "$WORK"/driver-*.out "$WORK/second.log"; then
    pass "the witness key appears in no log line and no answer"
else
    bad "the witness key leaked (or could not be read)"
fi

finish
