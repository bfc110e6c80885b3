#!/usr/bin/env bash
# A log with two built-in witnesses (issue 8, "What it must show").
#
#  1. Two `greffe witness` follow one `greffe serve --witness W1=URL1
#     --witness W2=URL2 --witness-quorum 2`. `?wait=checkpoint` receipts and
#     GET /checkpoint carry both cosignatures, each verified with an
#     independent Ed25519 (Python `cryptography`) over the exact
#     `cosignature/v1` message; the metrics count them.
#  2. An evidence bundle verifies with `greffe verify --witness W1 --witness W2
#     --witness-quorum 2` (and `greffe audit` with the same policy); tampered
#     copies (a cosignature removed, a byte flipped, one replaced by an
#     unknown key's) exit 1 naming the witness.
#  3. W2 killed (quorum 2): appends are still acknowledged at once, no new
#     checkpoint is published. W2 restarted: its state survived (a stale
#     old size 0 gets 409 with a size at least what it had cosigned), and
#     cosigned checkpoints flow again.
#  4. The log restarted with quorum 1: it serves the last cosigned
#     checkpoint at once; W2 killed again: receipts keep coming, cosigned by
#     W1 alone (the delay is printed), and an audit asking for both fails
#     naming W2.
#  5. A forked tree (a second root for a cosigned size, signed with the
#     log's real key) is refused by the witness with tlog-witness's 409.
#
# Usage: ops/tests/witnessed-log.sh   Env: GREFFE (binary, default .build/debug/greffe), KEEP=1
# Needs: python3 with cryptography (ops/install-deps.sh), curl. Loopback only; about 30 s.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=witnessed-log
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-witnessed.XXXXXX")
# shellcheck source=lib.sh
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
for cmd in python3 curl; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
"$PYTHON" -c 'import cryptography' 2>/dev/null || die "Python cryptography is missing (ops/install-deps.sh installs it)"
STARTED=$SECONDS

stop() { # stop PID: SIGTERM, wait
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
}

# ---------------------------------------------------------------------------
# The independent checks: appends, receipts, checkpoints, cosignatures.
cat >"$WORK/driver.py" <<'PY'
import base64, hashlib, json, struct, sys, time, urllib.error, urllib.request
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.exceptions import InvalidSignature
import cosigcheck
from cosigcheck import ok, fail, get, size_of, body_of, witness_vkey

phase, log_url, token, data_dir, w1_url, w2_url, state_path = sys.argv[1:8]
vkey_paths = sys.argv[8:10]
state = json.load(open(state_path)) if phase != "cosigned" else {}

counter = [int(time.time() * 1000)]
def events(count):
    counter[0] += 1
    return [{"event_id": "wl-%d-%d" % (counter[0], n), "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z",
             "platform": "witnessed.example", "schema_version": 1, "authority": "Parquet de Paris",
             "reference": "ref-%d" % n, "direction": "received", "request_type": "preservation"} for n in range(count)]

def append(count, wait=False):
    req = urllib.request.Request(log_url + "/v1/events" + ("?wait=checkpoint" if wait else ""),
                                 data=json.dumps({"events": events(count)}).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    start = time.monotonic()
    with urllib.request.urlopen(req, timeout=60) as r:
        answer = json.loads(r.read())
        assert r.status == 201, r.status
    return answer, time.monotonic() - start

witnesses = [witness_vkey(path) for path in vkey_paths]

def cosigners(note):
    """Names of the witnesses whose cosignature on this note verifies (Python cryptography, exact cosignature/v1 message)."""
    text = body_of(note)
    found = {}
    for line in note[len(text) + 1:].decode().splitlines():
        assert line.startswith("\u2014 "), line
        lname, blob = line[2:].split(" ")
        blob = base64.b64decode(blob, validate=True)
        for name, key_id, key in witnesses:
            if lname == name and blob[:4] == key_id:
                if len(blob) != 4 + 8 + 64:
                    raise ValueError("cosignature by %s is %d bytes" % (name, len(blob)))
                (timestamp,) = struct.unpack(">Q", blob[4:12])
                message = b"cosignature/v1\ntime %d\n" % timestamp + text
                key.verify(blob[12:], message)  # raises InvalidSignature
                # Mutation probe: not valid over the next second.
                try:
                    key.verify(blob[12:], b"cosignature/v1\ntime %d\n" % (timestamp + 1) + text)
                    raise ValueError("cosignature by %s also verifies at another time" % name)
                except InvalidSignature:
                    pass
                if abs(timestamp - time.time()) > 300:
                    raise ValueError("cosignature by %s has timestamp %d, far from now" % (name, timestamp))
                found[name] = timestamp
    return sorted(found)

def expect_cosigners(what, note, want):
    try:
        got = cosigners(note)
    except Exception as e:
        return fail("%s: a cosignature does not verify: %r" % (what, e))
    names = sorted(witnesses[i][0] for i in want)
    (ok if got == names else fail)("%s (size %d): cosigned by %s (want %s), verified with Python cryptography" % (what, size_of(note), got, names))

def checkpoint():
    return get(log_url + "/checkpoint")

def metrics():
    return get(log_url + "/metrics").decode()

def post(url, old, proof, note):
    body = b"old %d\n" % old + b"".join(base64.b64encode(h) + b"\n" for h in proof) + b"\n" + note
    req = urllib.request.Request(url + "/add-checkpoint", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()

def wait_for(predicate, seconds):
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        value = predicate()
        if value:
            return value, time.monotonic() - start
        time.sleep(0.05)
    return None, time.monotonic() - start

if phase == "cosigned":
    answer, took = append(20, wait=True)
    note = answer["checkpoint"].encode()
    expect_cosigners("?wait=checkpoint receipt's checkpoint", note, [0, 1])
    if size_of(note) < 20 or len(answer["results"]) != 20 or "inclusion_proof" not in answer["results"][0]:
        fail("receipt: %r" % answer)
    served = checkpoint()
    expect_cosigners("GET /checkpoint", served, [0, 1])
    answer, took = append(7, wait=True)
    expect_cosigners("second receipt", answer["checkpoint"].encode(), [0, 1])
    text = metrics()
    for name, _, _ in witnesses:
        line = 'greffe_witness_requests_total{witness="%s",outcome="cosigned"}' % name
        (ok if line in text else fail)("metrics count %s" % line)
    cosigned_size = size_of(answer["checkpoint"].encode())
    m = [l for l in text.splitlines() if l.startswith("greffe_checkpoint_cosigned_tree_size ")]
    (ok if m and float(m[0].split()[1]) >= cosigned_size else fail)("metrics: %s (want >= %d)" % (m, cosigned_size))
    state["w2_size"] = cosigned_size
    json.dump(state, open(state_path, "w"))
elif phase == "w2-down-q2":
    published = size_of(checkpoint())
    slowest = 0
    for _ in range(5):
        answer, took = append(3)
        slowest = max(slowest, took)
    tree = answer["results"][-1]["index"] + 1
    (ok if slowest < 2 else fail)("W2 down, quorum 2: 5 appends acknowledged, slowest in %.3f s" % slowest)
    time.sleep(2)
    still = size_of(checkpoint())
    (ok if still == published < tree else fail)(
        "W2 down, quorum 2: GET /checkpoint stays at the last cosigned size %d after 2 s (tree %d)" % (still, tree))
    text = metrics()
    down = [l for l in text.splitlines() if l.startswith('greffe_witness_requests_total{witness="%s",outcome="unreachable"}' % witnesses[1][0])]
    (ok if down else fail)("metrics count W2's failures: %s" % down)
    state["tree"] = tree
    json.dump(state, open(state_path, "w"))
elif phase == "w2-back":
    # The restarted W2 kept its state: a client claiming old size 0 is told the size it holds.
    note = checkpoint()
    code, ctype, body = post(w2_url, 0, [], note)
    held = int(body) if code == 409 and ctype == "text/x.tlog.size" else None
    (ok if held is not None and held >= state["w2_size"] else fail)(
        "restarted W2: old size 0 → %d %s %r (it had cosigned %d before the kill)" % (code, ctype, body[:40], state["w2_size"]))
    fresh, took = wait_for(lambda: (lambda n: n if size_of(n) >= state["tree"] else None)(checkpoint()), 20)
    if fresh is None:
        fail("W2 back: no cosigned checkpoint of size >= %d within 20 s" % state["tree"])
    else:
        ok("W2 back: checkpoint of size %d published %.2f s after its restart" % (size_of(fresh), took))
        expect_cosigners("checkpoint after W2's return", fresh, [0, 1])
    state["published"] = checkpoint().decode()
    json.dump(state, open(state_path, "w"))
elif phase == "restarted-q1":
    served = checkpoint()
    (ok if served.decode() == state["published"] else fail)("log restarted: GET /checkpoint is at once the last cosigned checkpoint (size %d)" % size_of(served))
    expect_cosigners("after the log's restart", served, [0, 1])
elif phase == "w2-down-q1":
    delays = []
    for round in range(5):
        answer, took = append(4, wait=True)
        delays.append(took)
        if round in (0, 4):
            expect_cosigners("W2 down, quorum 1: receipt %d" % round, answer["checkpoint"].encode(), [0])
    ok("W2 down, quorum 1: receipts (append → cosigned checkpoint) in %s s" % ", ".join("%.2f" % d for d in delays))
    (ok if max(delays) < 3 else fail)("W2 down, quorum 1: slowest receipt %.2f s (< 3 s: the down witness delays nothing)" % max(delays))
elif phase == "fork":
    parts = open(data_dir + "/signing.key").read().strip().split("+", 4)
    log_name, log_key_id = parts[2], bytes.fromhex(parts[3])
    log_key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(parts[4])[1:])
    note = checkpoint()
    size = size_of(note)
    lines = body_of(note).split(b"\n")
    root = bytearray(base64.b64decode(lines[2]))
    root[0] ^= 0xFF
    lines[2] = base64.b64encode(bytes(root))
    text = b"\n".join(lines)
    forked = text + b"\n" + "\u2014 {} ".format(log_name).encode() + base64.b64encode(log_key_id + log_key.sign(text)) + b"\n"
    code, ctype, body = post(w1_url, size, [], forked)
    (ok if code == 409 and ctype != "text/x.tlog.size" and b"forked" in body else fail)(
        "forked tree (size %d, second root, signed with the log's key) → W1 answers %d %s %r" % (size, code, ctype, body[:120]))
    code, ctype, body = post(w1_url, size, [], note)
    (ok if code == 200 else fail)("the true checkpoint of size %d is still cosigned by W1: %d" % (size, code))
print("driver failures: %d" % cosigcheck.failures)
sys.exit(1 if cosigcheck.failures else 0)
PY

cat >"$WORK/tamper.py" <<'PY'
# tamper.py BUNDLE OUT HOW [W2_VKEY_PATH]: a copy of the bundle with its checkpoint's cosignatures altered.
import base64, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import hashlib, struct, time
src, out, how = sys.argv[1:4]
bundle = json.load(open(src))
note = bundle["checkpoint"]
text, block = note.split("\n\n", 1)
lines = block.splitlines()
w2_name = open(sys.argv[4]).read().split("+")[0]
w2 = [i for i, l in enumerate(lines) if l.startswith("\u2014 " + w2_name + " ")][0]
if how == "remove":
    del lines[w2]
elif how == "flip":
    name, blob = lines[w2][2:].split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[40] ^= 0x01  # inside the Ed25519 signature
    lines[w2] = "\u2014 %s %s" % (name, base64.b64encode(bytes(raw)).decode())
elif how == "unknown":
    # A cosignature/v1 by another key under W2's name: another key ID, so not W2's.
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(w2_name.encode() + b"\n\x04" + pub).digest()[:4]
    t = int(time.time())
    sig = key.sign(b"cosignature/v1\ntime %d\n" % t + (text + "\n").encode())
    lines[w2] = "\u2014 %s %s" % (w2_name, base64.b64encode(key_id + struct.pack(">Q", t) + sig).decode())
bundle["checkpoint"] = text + "\n\n" + "".join(l + "\n" for l in lines)
json.dump(bundle, open(out, "w"))
PY

# ---------------------------------------------------------------------------
DATA=$WORK/log
ORIGIN="witnessed.greffe.test/log-$$"
"$GREFFE" init --data "$DATA" --origin "$ORIGIN" >/dev/null || die "greffe init"
TOKEN=$("$GREFFE" token create --data "$DATA" --role append --platform witnessed.example --name platform) || die "greffe token create"
INVESTIGATE=$("$GREFFE" token create --data "$DATA" --role investigate --name investigator) || die "greffe token create (investigate)"
LOG_ARG="$ORIGIN=$(cat "$DATA/verifier.vkey")"

declare -A WPORT WPID
for w in 1 2; do
    "$GREFFE" witness init --data "$WORK/w$w" --name "witnessed.greffe.test/w$w" >/dev/null || die "greffe witness init w$w"
    WPORT[$w]=$(free_port)
done
W1_URL=http://127.0.0.1:${WPORT[1]}
W2_URL=http://127.0.0.1:${WPORT[2]}
start_witness() { # start_witness N
    "$GREFFE" witness --data "$WORK/w$1" --listen "127.0.0.1:${WPORT[$1]}" --log "$LOG_ARG" >>"$WORK/w$1.log" 2>&1 &
    WPID[$1]=$!
    PIDS+=("${WPID[$1]}")
    wait_http "${WPID[$1]}" "http://127.0.0.1:${WPORT[$1]}" "w$1"
}
start_witness 1
start_witness 2
pass "two witnesses up: $(cat "$WORK/w1/witness.vkey"), $(cat "$WORK/w2/witness.vkey")"

PORT=$(free_port)
LOG_URL=http://127.0.0.1:$PORT
start_log() { # start_log QUORUM
    "$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.1 --log-level warning --anonymous-rate 0 \
        --witness "$(cat "$WORK/w1/witness.vkey")=$W1_URL" --witness "$(cat "$WORK/w2/witness.vkey")=$W2_URL/" \
        --witness-quorum "$1" --witness-timeout 2 >>"$WORK/serve.log" 2>&1 &
    LOG_PID=$!
    PIDS+=("$LOG_PID")
    wait_http "$LOG_PID" "$LOG_URL" serve
}

# The command line refuses a quorum it cannot meet, with a clear message.
if out=$("$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --witness "$(cat "$WORK/w1/witness.vkey")=$W1_URL" --witness-quorum 2 2>&1); then
    bad "serve accepted --witness-quorum 2 with one witness"
elif grep -q "between 1 and the number of witnesses (1), not 2" <<<"$out"; then
    pass "serve refuses --witness-quorum 2 with one witness: $(grep -o 'the witness quorum.*' <<<"$out" | head -1)"
else
    bad "serve with a bad quorum: $out"
fi

start_log 2
pass "greffe serve up with both witnesses, quorum 2"

run_driver() {
    PYTHONPATH="$ROOT/ops/tests" "$PYTHON" "$WORK/driver.py" "$1" "$LOG_URL" "$TOKEN" "$DATA" "$W1_URL" "$W2_URL" "$WORK/state.json" \
        "$WORK/w1/witness.vkey" "$WORK/w2/witness.vkey" >"$WORK/driver-$1.out" 2>&1
    report_driver "$1" $?
}
run_driver cosigned

# --- bundles and offline verification ----------------------------------------
W1V=$WORK/w1/witness.vkey
W2V=$WORK/w2/witness.vkey
curl -sf -X POST -H "Authorization: Bearer $INVESTIGATE" "$LOG_URL/v1/bundles" -d '{"index_range":{"from":0,"to":5}}' -o "$WORK/bundle.json" \
    || die "POST /v1/bundles"
if "$GREFFE" verify "$WORK/bundle.json" --vkey "$DATA/verifier.vkey" --witness "$W1V" --witness "$W2V" --witness-quorum 2 >"$WORK/verify.out" 2>&1 \
    && grep -q "witnessed.greffe.test/w1+[0-9a-f]* at 20" "$WORK/verify.out" && grep -q "witnessed.greffe.test/w2+[0-9a-f]* at 20" "$WORK/verify.out"; then
    pass "greffe verify --witness W1 --witness W2 --witness-quorum 2: exit 0; $(grep -o 'Independent witnesses.*' "$WORK/verify.out" | cut -c1-200)"
else
    bad "greffe verify of the witnessed bundle: $(tail -n 8 "$WORK/verify.out")"
fi
for how in remove flip unknown; do
    "$PYTHON" "$WORK/tamper.py" "$WORK/bundle.json" "$WORK/bundle-$how.json" "$how" "$W2V" || die "tamper $how"
    "$GREFFE" verify "$WORK/bundle-$how.json" --vkey "$DATA/verifier.vkey" --witness "$W1V" --witness "$W2V" --witness-quorum 2 >"$WORK/verify-$how.out" 2>&1
    status=$?
    if [[ $status == 1 ]] && grep -q "witnessed.greffe.test/w2+" <(grep -A5 "NOT VERIFIED" "$WORK/verify-$how.out"); then
        pass "cosignature tampered ($how): exit 1, $(grep -m1 '  - ' "$WORK/verify-$how.out" | cut -c1-220)"
    else
        bad "cosignature tampered ($how): exit $status: $(tail -n 4 "$WORK/verify-$how.out")"
    fi
done
if "$GREFFE" verify "$WORK/bundle-remove.json" --vkey "$DATA/verifier.vkey" --witness "$W1V" --witness "$W2V" --witness-quorum 1 >/dev/null 2>&1; then
    pass "the bundle missing W2's cosignature still meets quorum 1"
else
    bad "the bundle missing W2's cosignature fails quorum 1"
fi
# verify.html's verifier (web/verify-core.js) reads the cosigned checkpoint: cosignature lines are other keys' signatures to it.
if command -v node >/dev/null; then
    if out=$(node -e '
        const fs = require("fs"); const V = require(process.argv[1]);
        V.check(new Uint8Array(fs.readFileSync(process.argv[2])), fs.readFileSync(process.argv[3], "utf8"), "bundle.json")
          .then((r) => { console.log(r.status); process.exit(r.status === "verified" ? 0 : 1); });
        ' "$ROOT/web/verify-core.js" "$WORK/bundle.json" "$DATA/verifier.vkey" 2>&1); then
        pass "verify.html's verifier (node) accepts the bundle with cosignatures: $out"
    else
        bad "verify.html's verifier on the cosigned bundle: $out"
    fi
fi
if "$GREFFE" audit --url "$LOG_URL" --vkey "$DATA/verifier.vkey" --witness "$W1V" --witness "$W2V" --quiet >"$WORK/audit.out" 2>&1 \
    && grep -q "cosigned by witnessed.greffe.test/w1" "$WORK/audit.out"; then
    pass "greffe audit with both witnesses required: $(cut -c1-240 "$WORK/audit.out")"
else
    bad "greffe audit with both witnesses: $(cat "$WORK/audit.out")"
fi

# --- W2 down, quorum 2; then back ----------------------------------------------
kill -KILL "${WPID[2]}"
wait "${WPID[2]}" 2>/dev/null
run_driver w2-down-q2
start_witness 2
run_driver w2-back

# --- the log restarted with quorum 1; W2 down again -----------------------------
stop "$LOG_PID"
start_log 1
run_driver restarted-q1
stop "${WPID[2]}"
run_driver w2-down-q1
"$GREFFE" audit --url "$LOG_URL" --vkey "$DATA/verifier.vkey" --witness "$W1V" --witness "$W2V" --quiet >"$WORK/audit2.out" 2>&1
status=$?
if [[ $status == 1 ]] && grep -q "missing: witnessed.greffe.test/w2+" "$WORK/audit2.out"; then
    pass "greffe audit requiring W2 on a checkpoint W2 did not cosign: exit 1, $(cut -c1-200 "$WORK/audit2.out")"
else
    bad "audit requiring W2: exit $status: $(cat "$WORK/audit2.out")"
fi
run_driver fork

stop "$LOG_PID"
grep -q "PRIVATE" "$WORK/serve.log" "$WORK/w1.log" "$WORK/w2.log" && bad "a private key appears in a log"
pass "done in $((SECONDS - STARTED)) s"
finish
