#!/usr/bin/env bash
# RFC 3161 trusted time end to end, against a local TSA built on
# `openssl ts -reply` with a test CA made here (ops/tests/tsa-ca.sh).
#
#  1. `greffe serve --tsa-url … --tsa-cert CA --tsa-policy …` obtains tokens
#     for its checkpoints; GET /v1/checkpoints/N/timestamp answers the DER
#     token, which `openssl ts -verify` accepts over SHA-256 of the
#     checkpoint's body; a size without token → 404 JSON, a bad size → 400 JSON.
#  2. An evidence bundle carries the token: `greffe verify --tsa-cert` → exit
#     0 with "existed no later than … attested by …"; without --tsa-cert the
#     report says the tokens were NOT CHECKED; another CA → exit 1
#     (untrusted chain); a flipped byte in the token → exit 1 naming it.
#  3. The TSA is killed: appends are still acknowledged, checkpoints still
#     signed, and /metrics counts the failures and the gap. It comes back
#     answering garbage: refused (invalid), nothing stored. Then it answers
#     properly again: tokens resume for the latest checkpoint.
#  4. All of issue 8 at once: the log's key rotated (both signatures), two
#     built-in witnesses trusting both keys, quorum 2, and the TSA. A bundle
#     carries the cosigned checkpoint and a token over it; `greffe verify
#     --vkey OLD|NEW --witness W1 --witness W2 --witness-quorum 2 --tsa-cert`
#     → exit 0 naming both witnesses and the attested time; a cosignature
#     removed, a token byte flipped, or both → exit 1 naming each.
#  5. Renewal: tokens under a day-long TSA certificate are renewed once the TSA
#     signs with a longer-lived one (not before: nothing gained); the bundle
#     carries the renewal; greffe verify names it; openssl accepts it over the
#     imprint of Schemas/bundle.md computed with hashlib; doctored → refused.
#
# Usage: ops/tests/timestamp.sh   Env: GREFFE (binary, default .build/debug/greffe), KEEP=1
# Needs: openssl, python3, curl. Loopback only; about 15 s.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=timestamp
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-timestamp.XXXXXX")
# shellcheck source=lib.sh
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
for cmd in openssl python3 curl; do command -v "$cmd" >/dev/null || die "$cmd not found"; done

# The test PKI: CA, TSA certificate (extendedKeyUsage critical timeStamping), an unrelated CA.
"$ROOT/ops/tests/tsa-ca.sh" "$WORK/pki" || die "cannot make the test PKI"
POLICY=1.3.6.1.4.1.59999.1

# ---------------------------------------------------------------------------
# The TSA: RFC 3161 over HTTP (§3.4), each request answered by `openssl ts -reply`.
# $WORK/tsa-mode says how: "ok", or "garbage" (HTTP 200 with bytes that are no TimeStampResp).
cat >"$WORK/tsa.py" <<'PY'
import http.server, os, subprocess, sys, tempfile
port, config, mode_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]

class TSA(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Type") != "application/timestamp-query":
            self.send_error(415)
            return
        mode = open(mode_file).read().strip()
        if mode == "garbage":
            reply = b"<html>not a time-stamp</html>"
        else:
            with tempfile.TemporaryDirectory() as scratch:
                q, r = os.path.join(scratch, "q.tsq"), os.path.join(scratch, "r.tsr")
                open(q, "wb").write(query)
                subprocess.run(["openssl", "ts", "-reply", "-config", config, "-queryfile", q, "-out", r],
                               check=True, capture_output=True)
                reply = open(r, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", port), TSA).serve_forever()
PY
TSA_PORT=$(free_port)
start_tsa() { # start_tsa MODE [CONFIG]: CONFIG names the signing certificate (default tsa.cnf)
    echo "$1" >"$WORK/tsa-mode"
    python3 "$WORK/tsa.py" "$TSA_PORT" "$WORK/pki/${2:-tsa.cnf}" "$WORK/tsa-mode" >>"$WORK/tsa.log" 2>&1 &
    TSA_PID=$!
    PIDS+=("$TSA_PID")
    for _ in $(seq 100); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $TSA_PORT), 1)" 2>/dev/null && return 0
        sleep 0.05
    done
    die "the test TSA did not start"
}
start_tsa ok

# ---------------------------------------------------------------------------
# The log.
DATA=$WORK/data
"$GREFFE" init --data "$DATA" --origin "timestamp.greffe.test/log-$$" >/dev/null || die "greffe init"
APPEND=$("$GREFFE" token create --data "$DATA" --role append --platform tsa.example --name tsa-test) || die "greffe token create"
INVESTIGATE=$("$GREFFE" token create --data "$DATA" --role investigate --name tsa-test-investigator) || die "greffe token create"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
"$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.1 --log-level info \
    --tsa-url "http://127.0.0.1:$TSA_PORT/tsa" --tsa-cert "$WORK/pki/ca.pem" --tsa-policy "$POLICY" --tsa-interval 0.3 --tsa-timeout 1 \
    >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
for _ in $(seq 300); do
    kill -0 "$SERVE_PID" 2>/dev/null || die "greffe serve exited: $(tail -n 5 "$WORK/serve.log")"
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/healthz" || true) == 200 ]] && break
    sleep 0.1
done
pass "greffe serve up with --tsa-url"

# append TAG COUNT → prints the receipt JSON (?wait=checkpoint), or nothing on failure
append() {
    local events="" n
    for n in $(seq "$2"); do
        events+="${events:+,}{\"event_id\":\"tsa-$1-$n\",\"kind\":\"legal.request\",\"occurred_at\":\"2026-11-25T10:00:00Z\",\"platform\":\"tsa.example\",\"schema_version\":1,\"authority\":\"Parquet de Paris\",\"reference\":\"ref-$n\",\"direction\":\"received\",\"request_type\":\"preservation\"}"
    done
    curl -s --max-time 30 -X POST "$URL/v1/events?wait=checkpoint" -H "Authorization: Bearer $APPEND" -d "{\"events\":[$events]}"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
metric() { # metric NAME_WITH_LABELS → value (0 when absent)
    curl -s "$URL/metrics" | python3 -c "
import sys
want = sys.argv[1]
for line in sys.stdin:
    if line.startswith(want + ' '): print(line.split()[-1]); break
else: print(0)" "$1"
}
# wait_token SIZE → 0 once GET /v1/checkpoints/SIZE/timestamp answers 200 (10 s at most)
wait_token() {
    for _ in $(seq 100); do
        [[ $(curl -s -o "$WORK/token-$1.der" -w '%{http_code}' "$URL/v1/checkpoints/$1/timestamp") == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------
# 1. Tokens are obtained, served, and verify with openssl.
RECEIPT=$(append first 5)
SIZE=$(json 'd["checkpoint"].split("\n")[1]' <<<"$RECEIPT") || die "no receipt: $RECEIPT"
wait_token "$SIZE" || die "no token for checkpoint $SIZE within 10 s: $(grep -i tsa "$WORK/serve.log" | tail -n 3)"
pass "GET /v1/checkpoints/$SIZE/timestamp answers a token"
TYPE=$(curl -s -o /dev/null -w '%{content_type}' "$URL/v1/checkpoints/$SIZE/timestamp")
[[ $TYPE == application/pkcs7-mime ]] && pass "served as $TYPE" || bad "token served as $TYPE"
# The imprint: SHA-256 of the checkpoint's body (the note up to its blank line).
DIGEST=$(json 'd["checkpoint"]' <<<"$RECEIPT" | python3 -c 'import sys,hashlib; n=sys.stdin.read(); print(hashlib.sha256(n[:n.index("\n\n")+1].encode()).hexdigest())')
if openssl ts -verify -token_in -in "$WORK/token-$SIZE.der" -digest "$DIGEST" -CAfile "$WORK/pki/ca.pem" >"$WORK/openssl-verify.log" 2>&1; then
    pass "openssl ts -verify accepts the token over SHA-256 of checkpoint $SIZE's body"
else
    bad "openssl ts -verify refuses the token: $(tail -n 3 "$WORK/openssl-verify.log")"
fi
openssl ts -reply -token_in -in "$WORK/token-$SIZE.der" -text 2>/dev/null | grep -q "Policy OID: $POLICY" \
    && pass "the token carries policy $POLICY" || bad "the token lacks policy $POLICY"
OTHER_DIGEST=$(printf 'another checkpoint\n' | sha256sum | cut -d' ' -f1)
openssl ts -verify -token_in -in "$WORK/token-$SIZE.der" -digest "$OTHER_DIGEST" -CAfile "$WORK/pki/ca.pem" >/dev/null 2>&1 \
    && bad "openssl accepts the token over another digest" || pass "openssl refuses the token over another digest"
for probe in "999999:404" "abc:400" "01:400" "-1:400"; do
    code=$(curl -s -o "$WORK/probe.json" -w '%{http_code}' "$URL/v1/checkpoints/${probe%%:*}/timestamp")
    if [[ $code == "${probe##*:}" ]] && json 'd["error"]' <"$WORK/probe.json" >/dev/null 2>&1; then
        pass "GET /v1/checkpoints/${probe%%:*}/timestamp → $code with a JSON error"
    else
        bad "GET /v1/checkpoints/${probe%%:*}/timestamp → $code $(head -c 200 "$WORK/probe.json")"
    fi
done

# ---------------------------------------------------------------------------
# 2. Bundles carry the token; greffe verify checks it.
curl -s -X POST "$URL/v1/bundles" -H "Authorization: Bearer $INVESTIGATE" -d '{"event_ids":["tsa-first-2","tsa-first-4"]}' \
    -o "$WORK/bundle.json" || die "bundle request failed"
COUNT=$(json 'len(d.get("timestamps", []))' <"$WORK/bundle.json") || die "the bundle is not JSON: $(head -c 300 "$WORK/bundle.json")"
[[ $COUNT -ge 1 ]] && pass "the bundle carries $COUNT timestamp token(s)" || bad "the bundle carries no timestamp"
"$GREFFE" verify "$WORK/bundle.json" --vkey "$DATA/verifier.vkey" --tsa-cert "$WORK/pki/ca.pem" --tsa-policy "$POLICY" >"$WORK/verify.txt"
status=$?
if [[ $status == 0 ]] && grep -q "existed no later than .*, attested by CN=Greffe Test TSA" "$WORK/verify.txt"; then
    pass "greffe verify --tsa-cert: exit 0, $(grep -o 'this state of the ledger (size [0-9,]*) existed no later than [^,]*' "$WORK/verify.txt" | head -n 1)"
else
    bad "greffe verify --tsa-cert: exit $status: $(tail -n 8 "$WORK/verify.txt")"
fi
"$GREFFE" verify "$WORK/bundle.json" --vkey "$DATA/verifier.vkey" --tsa-cert "$WORK/pki/tsa.pem" >/dev/null \
    && pass "the TSA's own certificate works as the anchor too" || bad "verify with the TSA's own certificate failed"
"$GREFFE" verify "$WORK/bundle.json" --vkey "$DATA/verifier.vkey" >"$WORK/verify-plain.txt"
status=$?
[[ $status == 0 ]] && grep -q "NOT CHECKED" "$WORK/verify-plain.txt" && ! grep -q "attested by" "$WORK/verify-plain.txt" \
    && pass "without --tsa-cert: exit 0 and the tokens are reported NOT CHECKED" || bad "without --tsa-cert: exit $status: $(tail -n 4 "$WORK/verify-plain.txt")"
"$GREFFE" verify "$WORK/bundle.json" --vkey "$DATA/verifier.vkey" --tsa-cert "$WORK/pki/other-ca.pem" >"$WORK/verify-other.txt"
status=$?
[[ $status == 1 ]] && grep -q "untrusted chain" "$WORK/verify-other.txt" \
    && pass "another CA: exit 1, untrusted chain named" || bad "another CA: exit $status: $(tail -n 3 "$WORK/verify-other.txt")"
python3 - "$WORK/bundle.json" "$WORK/tampered.json" <<'PY'
import base64, json, sys
bundle = json.load(open(sys.argv[1]))
token = bytearray(base64.b64decode(bundle["timestamps"][0]["token"]))
token[-5] ^= 0x01  # inside the signature value
bundle["timestamps"][0]["token"] = base64.b64encode(bytes(token)).decode()
json.dump(bundle, open(sys.argv[2], "w"))
PY
"$GREFFE" verify "$WORK/tampered.json" --vkey "$DATA/verifier.vkey" --tsa-cert "$WORK/pki/ca.pem" >"$WORK/verify-tampered.txt"
status=$?
if [[ $status == 1 ]] && grep -q "timestamp 0 .*the token does not hold" "$WORK/verify-tampered.txt"; then
    pass "tampered token: exit 1, $(grep -o 'timestamp 0 [^:]*: the token does not hold ([^)]*)' "$WORK/verify-tampered.txt" | head -n 1)"
else
    bad "tampered token: exit $status: $(tail -n 4 "$WORK/verify-tampered.txt")"
fi

# ---------------------------------------------------------------------------
# 3. The TSA goes down, then answers garbage, then recovers.
kill -KILL "$TSA_PID"; wait "$TSA_PID" 2>/dev/null
UNREACHABLE_BEFORE=$(metric 'greffe_tsa_requests_total{outcome="unreachable"}')
RECEIPT=$(append down 3)
DOWN_SIZE=$(json 'd["checkpoint"].split("\n")[1]' <<<"$RECEIPT" 2>/dev/null)
[[ -n $DOWN_SIZE ]] && pass "TSA down: appends still acknowledged with a signed checkpoint (size $DOWN_SIZE)" || bad "TSA down: append failed: $RECEIPT"
sleep 2.5  # AsyncHTTPClient retries a refused connection until --tsa-timeout (1 s here)
UNREACHABLE=$(metric 'greffe_tsa_requests_total{outcome="unreachable"}')
GAP=$(metric greffe_tsa_gap_entries)
python3 -c "import sys; sys.exit(0 if float('$UNREACHABLE') > float('$UNREACHABLE_BEFORE') and float('$GAP') > 0 else 1)" \
    && pass "metrics: unreachable $UNREACHABLE_BEFORE → $UNREACHABLE, gap $GAP entries" || bad "metrics: unreachable $UNREACHABLE, gap $GAP"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/checkpoints/$DOWN_SIZE/timestamp") == 404 ]] \
    && pass "no token while the TSA is down" || bad "a token appeared while the TSA was down"
grep -q "timestamp request failed" "$WORK/serve.log" && pass "the failure is logged" || bad "no warning in the log"
grep -q "tsa-test\|grf_" "$WORK/serve.log" && bad "a token or secret appears in the log" || pass "no secret in the log"

start_tsa garbage
sleep 1
INVALID=$(metric 'greffe_tsa_requests_total{outcome="invalid"}')
python3 -c "import sys; sys.exit(0 if float('$INVALID') > 0 else 1)" && pass "a garbage answer is refused (invalid: $INVALID)" || bad "garbage not counted as invalid"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/checkpoints/$DOWN_SIZE/timestamp") == 404 ]] \
    && pass "nothing stored from garbage" || bad "garbage was stored as a token"

echo ok >"$WORK/tsa-mode"
LATEST=$(curl -s "$URL/checkpoint" | sed -n 2p)
wait_token "$LATEST" && pass "TSA back: the latest checkpoint (size $LATEST) gets its token" || bad "no token after the TSA came back"
openssl ts -verify -token_in -in "$WORK/token-$LATEST.der" \
    -digest "$(curl -s "$URL/checkpoint" | python3 -c 'import sys,hashlib; n=sys.stdin.read(); print(hashlib.sha256(n[:n.index("\n\n")+1].encode()).hexdigest())')" \
    -CAfile "$WORK/pki/ca.pem" >/dev/null 2>&1 && pass "and openssl verifies it" || bad "openssl refuses the resumed token"
[[ $(metric greffe_tsa_gap_entries) == 0* ]] && pass "gap back to 0" || bad "gap still $(metric greffe_tsa_gap_entries)"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null

# ---------------------------------------------------------------------------
# 4. Rotated key + two witnesses (quorum 2) + the TSA, checked together offline.
ORIGIN=$(head -n 1 "$DATA/verifier.vkey" | cut -d+ -f1)
OLD_VKEY=$(cat "$DATA/verifier.vkey")
NEW_VKEY=$("$GREFFE" key rotate --data "$DATA" 2>"$WORK/rotate.log" | grep -o "^$ORIGIN+[0-9a-f]*+[A-Za-z0-9+/=]*" | head -n 1)
[[ -n $NEW_VKEY && $NEW_VKEY != "$OLD_VKEY" ]] || die "greffe key rotate printed no new verifier key"
WITNESS_ARGS=()
for w in 1 2; do
    "$GREFFE" witness init --data "$WORK/w$w" --name "timestamp.greffe.test/w$w" >/dev/null || die "greffe witness init w$w"
    WPORT=$(free_port)
    "$GREFFE" witness --data "$WORK/w$w" --listen "127.0.0.1:$WPORT" --log "$ORIGIN=$OLD_VKEY" --log "$ORIGIN=$NEW_VKEY" >"$WORK/w$w.log" 2>&1 &
    PIDS+=("$!")
    wait_http "$!" "http://127.0.0.1:$WPORT" "w$w"
    WITNESS_ARGS+=(--witness "$(cat "$WORK/w$w/witness.vkey")=http://127.0.0.1:$WPORT")
done
"$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.1 --log-level info \
    --tsa-url "http://127.0.0.1:$TSA_PORT/tsa" --tsa-cert "$WORK/pki/ca.pem" --tsa-policy "$POLICY" --tsa-interval 0.3 --tsa-timeout 1 \
    "${WITNESS_ARGS[@]}" --witness-quorum 2 --witness-timeout 2 >"$WORK/serve-all.log" 2>&1 &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
wait_http "$SERVE_PID" "$URL" serve-all
RECEIPT=$(append all 4)
ALL_SIZE=$(json 'd["checkpoint"].split("\n")[1]' <<<"$RECEIPT") || die "no receipt with all of issue 8: $RECEIPT"
LINES=$(json 'sum(1 for l in d["checkpoint"].split("\n\n", 1)[1].splitlines() if l.startswith("\u2014 "))' <<<"$RECEIPT")
[[ $LINES == 4 ]] && pass "the receipt's checkpoint (size $ALL_SIZE) carries 4 signature lines: two log keys, two witnesses" \
    || bad "the receipt's checkpoint carries $LINES signature lines, not 4: $(json 'd["checkpoint"]' <<<"$RECEIPT")"
wait_token "$ALL_SIZE" || die "no token for the cosigned checkpoint $ALL_SIZE: $(grep -i tsa "$WORK/serve-all.log" | tail -n 3)"
curl -s -X POST "$URL/v1/bundles" -H "Authorization: Bearer $INVESTIGATE" -d '{"event_ids":["tsa-all-1","tsa-all-4"]}' \
    -o "$WORK/bundle-all.json" || die "bundle request failed"
W1V=$(cat "$WORK/w1/witness.vkey"); W2V=$(cat "$WORK/w2/witness.vkey")
for key in OLD_VKEY NEW_VKEY; do
    "$GREFFE" verify "$WORK/bundle-all.json" --vkey "${!key}" --witness "$W1V" --witness "$W2V" --witness-quorum 2 \
        --tsa-cert "$WORK/pki/ca.pem" --tsa-policy "$POLICY" >"$WORK/verify-all-$key.txt"
    status=$?
    if [[ $status == 0 ]] && grep -q "existed no later than .*, attested by CN=Greffe Test TSA" "$WORK/verify-all-$key.txt" \
        && grep -q "timestamp.greffe.test/w1+" "$WORK/verify-all-$key.txt" && grep -q "timestamp.greffe.test/w2+" "$WORK/verify-all-$key.txt"; then
        pass "cosigned, timestamped bundle verifies with the ${key%_VKEY} log key, both witnesses and the TSA: exit 0"
    else
        bad "bundle with all of issue 8, ${key%_VKEY} key: exit $status: $(tail -n 8 "$WORK/verify-all-$key.txt")"
    fi
done
python3 - "$WORK/bundle-all.json" "$WORK" <<'PY'
import base64, json, sys
bundle, work = json.load(open(sys.argv[1])), sys.argv[2]
def without_w2(note):
    text, signatures = note.split("\n\n", 1)
    return text + "\n\n" + "".join(l + "\n" for l in signatures.splitlines() if not l.startswith("\u2014 timestamp.greffe.test/w2 "))
def flipped(token):
    raw = bytearray(base64.b64decode(token)); raw[-5] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()
cut = json.loads(json.dumps(bundle)); cut["checkpoint"] = without_w2(cut["checkpoint"])
flip = json.loads(json.dumps(bundle))
for stamp in flip["timestamps"]: stamp["token"] = flipped(stamp["token"])
both = json.loads(json.dumps(cut)); both["timestamps"] = flip["timestamps"]
for name, value in (("cut", cut), ("flip", flip), ("both", both)):
    json.dump(value, open(f"{work}/bundle-all-{name}.json", "w"))
PY
tampered_case() { # tampered_case NAME WHAT PATTERN...
    local name=$1 what=$2 pattern
    shift 2
    "$GREFFE" verify "$WORK/bundle-all-$name.json" --vkey "$NEW_VKEY" --witness "$W1V" --witness "$W2V" --witness-quorum 2 \
        --tsa-cert "$WORK/pki/ca.pem" >"$WORK/verify-all-$name.txt"
    local status=$?
    for pattern in "$@"; do
        grep -A12 "NOT VERIFIED" "$WORK/verify-all-$name.txt" | grep -q -- "$pattern" || { bad "$what: exit $status, '$pattern' not named: $(tail -n 6 "$WORK/verify-all-$name.txt")"; return; }
    done
    [[ $status == 1 ]] && pass "$what: exit 1, named" || bad "$what: exit $status"
}
tampered_case cut "w2's cosignature removed" "timestamp.greffe.test/w2"
tampered_case flip "token bytes flipped" "the token does not hold"
tampered_case both "cosignature removed and token flipped" "timestamp.greffe.test/w2" "the token does not hold"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null

# ---------------------------------------------------------------------------
# 5. Renewal (Schemas/bundle.md, "Renewed timestamps"). Tokens made under a TSA
#    certificate that lasts a day are due with --tsa-renew-within 2. While the TSA
#    still signs with that certificate a renewal gains nothing and is not stored;
#    once it signs with the ten-year one, each token is renewed over the checkpoint
#    and the token. The bundle carries the renewal, greffe verify names it, and
#    openssl accepts it over the imprint the schema defines, computed here with hashlib.
"$ROOT/ops/tests/tsa-ca.sh" "$WORK/pki" --tsa day 86400 || die "cannot issue the day-long TSA certificate"
kill -KILL "$TSA_PID"; wait "$TSA_PID" 2>/dev/null
start_tsa ok day.cnf
DATA=$WORK/data-renew
"$GREFFE" init --data "$DATA" --origin "timestamp.greffe.test/renew-$$" >/dev/null || die "greffe init (renewal)"
APPEND=$("$GREFFE" token create --data "$DATA" --role append --platform tsa.example --name renew-append) || die "greffe token create"
INVESTIGATE=$("$GREFFE" token create --data "$DATA" --role investigate --name renew-investigator) || die "greffe token create"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
serve_renewing() {
    "$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.1 --log-level info \
        --tsa-url "http://127.0.0.1:$TSA_PORT/tsa" --tsa-cert "$WORK/pki/ca.pem" --tsa-interval 0.3 --tsa-timeout 1 --tsa-renew-within 2 \
        >>"$WORK/serve-renew.log" 2>&1 &
    SERVE_PID=$!
    PIDS+=("$SERVE_PID")
    for _ in $(seq 300); do
        kill -0 "$SERVE_PID" 2>/dev/null || die "greffe serve exited: $(tail -n 5 "$WORK/serve-renew.log")"
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/healthz" || true) == 200 ]] && break
        sleep 0.1
    done
}
serve_renewing
RECEIPT=$(append renew 3)
SIZE=$(json 'd["checkpoint"].split("\n")[1]' <<<"$RECEIPT") || die "no receipt: $RECEIPT"
wait_token "$SIZE" || die "no token for checkpoint $SIZE: $(grep -i tsa "$WORK/serve-renew.log" | tail -n 3)"
# A second stamped checkpoint, so that one renewal request covers two chains (a batch tree of two).
RECEIPT=$(append renew-more 2)
SIZE2=$(json 'd["checkpoint"].split("\n")[1]' <<<"$RECEIPT") || die "no receipt: $RECEIPT"
wait_token "$SIZE2" || die "no token for checkpoint $SIZE2: $(grep -i tsa "$WORK/serve-renew.log" | tail -n 3)"
for _ in $(seq 100); do (( $(metric 'greffe_tsa_renewals_total{outcome="stale_certificate"}') >= 1 )) && break; sleep 0.1; done
if (( $(metric 'greffe_tsa_renewals_total{outcome="stale_certificate"}') >= 1 )) && (( $(metric 'greffe_tsa_renewals_total{outcome="success"}') == 0 )); then
    pass "a renewal by the same day-long certificate gains nothing: refused (stale_certificate), none stored"
else
    bad "no stale_certificate refusal: $(grep -i renew "$WORK/serve-renew.log" | tail -n 3)"
fi
# A stale answer pauses renewals for an hour (each such token is wasted): the operator moves the
# TSA to a certificate that outlives the tokens' and restarts greffe.
STALE_BEFORE=$(metric 'greffe_tsa_renewals_total{outcome="stale_certificate"}')
sleep 1
[[ $(metric 'greffe_tsa_renewals_total{outcome="stale_certificate"}') == "$STALE_BEFORE" ]] \
    && pass "after a stale answer renewals pause: no more requests wasted on the same certificate" \
    || bad "renewals kept asking the stale TSA: $(metric 'greffe_tsa_renewals_total{outcome="stale_certificate"}') after $STALE_BEFORE"
kill -KILL "$TSA_PID"; wait "$TSA_PID" 2>/dev/null
start_tsa ok tsa.cnf
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null
serve_renewing
for _ in $(seq 100); do (( $(metric 'greffe_tsa_renewals_total{outcome="success"}') >= 1 )) && break; sleep 0.1; done
(( $(metric 'greffe_tsa_renewals_total{outcome="success"}') >= 1 )) && pass "the TSA signs with a ten-year certificate: tokens renewed" \
    || bad "no renewal within 10 s: $(grep -i renew "$WORK/serve-renew.log" | tail -n 3)"
curl -s -X POST "$URL/v1/bundles" -H "Authorization: Bearer $INVESTIGATE" -d '{"event_ids":["tsa-renew-1"]}' -o "$WORK/bundle-renew.json" \
    || die "bundle request failed"
RENEWALS=$(json 'sum(len(t.get("renewals", [])) for t in d.get("timestamps", []))' <"$WORK/bundle-renew.json") || die "no bundle: $(head -c 300 "$WORK/bundle-renew.json")"
(( RENEWALS >= 1 )) && pass "the bundle carries $RENEWALS renewal(s)" || bad "the bundle carries no renewal"
"$GREFFE" verify "$WORK/bundle-renew.json" --vkey "$DATA/verifier.vkey" --tsa-cert "$WORK/pki/ca.pem" >"$WORK/verify-renew.txt"
status=$?
if [[ $status == 0 ]] && grep -q "attested by CN=Greffe Test TSA day,O=Greffe Test[^;]*; renewed at .* by CN=Greffe Test TSA,O=Greffe Test" "$WORK/verify-renew.txt"; then
    pass "greffe verify: exit 0, $(grep -o 'renewed at [^;]*' "$WORK/verify-renew.txt" | head -n 1)"
else
    bad "greffe verify of the renewed bundle: exit $status: $(tail -n 6 "$WORK/verify-renew.txt")"
fi
# The outsider's check, from the schema's words: M = SHA-256(SHA-256(body) || token DER), its leaf
# SHA-256(0x00 || M), folded up the inclusion proof (RFC 9162 2.1.3.2) to the root the renewal's token is over.
python3 - "$WORK/bundle-renew.json" "$WORK" <<'PY' || bad "cannot compute the renewal imprint"
import base64, hashlib, json, os, sys
sha = lambda b: hashlib.sha256(b).digest()
bundle, work = json.load(open(sys.argv[1])), sys.argv[2]
stamp = next(t for t in bundle["timestamps"] if t.get("renewals"))
note = stamp["checkpoint"]
body_digest = sha(note[:note.index("\n\n") + 1].encode())
renewal = stamp["renewals"][0]
message = sha(body_digest + base64.b64decode(stamp["token"]))
fn, sn, r = renewal["leaf_index"], renewal["tree_size"] - 1, sha(b"\x00" + message)
for p in map(base64.b64decode, renewal["inclusion_proof"]):
    if fn & 1 or fn == sn:
        r = sha(b"\x01" + p + r)
        while not fn & 1 and fn:
            fn, sn = fn >> 1, sn >> 1
    else:
        r = sha(b"\x01" + r + p)
    fn, sn = fn >> 1, sn >> 1
assert sn == 0, "the inclusion proof does not fit its position"
assert renewal["tree_size"] >= 2 and renewal["inclusion_proof"], "one request should have renewed both chains: %r" % renewal["tree_size"]
open(os.path.join(work, "renewal-1.der"), "wb").write(base64.b64decode(renewal["token"]))
open(os.path.join(work, "renewal-1.digest"), "w").write(r.hex())
open(os.path.join(work, "renewal-1.message-only"), "w").write(message.hex())
PY
if openssl ts -verify -token_in -in "$WORK/renewal-1.der" -digest "$(cat "$WORK/renewal-1.digest")" -CAfile "$WORK/pki/ca.pem" >"$WORK/openssl-renew.log" 2>&1; then
    pass "openssl ts -verify accepts renewal 1 over its batch root (two chains, one request), folded with hashlib from SHA-256(SHA-256(body) || token)"
else
    bad "openssl refuses renewal 1 over the schema's root: $(tail -n 3 "$WORK/openssl-renew.log")"
fi
openssl ts -verify -token_in -in "$WORK/renewal-1.der" -digest "$(cat "$WORK/renewal-1.message-only")" -CAfile "$WORK/pki/ca.pem" >/dev/null 2>&1 \
    && bad "openssl accepts renewal 1 over the bare message: the batch tree is not what it signs" || pass "renewal 1 is over the batch root, not the bare message"
# Doctored: the renewal replaced by the token it renews; an empty renewal list.
python3 - "$WORK/bundle-renew.json" "$WORK" <<'PY'
import json, os, sys
bundle, work = json.load(open(sys.argv[1])), sys.argv[2]
stamp = next(t for t in bundle["timestamps"] if t.get("renewals"))
stamp["renewals"][0]["token"] = stamp["token"]
json.dump(bundle, open(os.path.join(work, "renew-swapped.json"), "w"))
stamp["renewals"] = []
json.dump(bundle, open(os.path.join(work, "renew-empty.json"), "w"))
PY
"$GREFFE" verify "$WORK/renew-swapped.json" --vkey "$DATA/verifier.vkey" --tsa-cert "$WORK/pki/ca.pem" >"$WORK/verify-renew-swapped.txt"
status=$?
[[ $status == 1 ]] && grep -q "renewal 1 does not hold" "$WORK/verify-renew-swapped.txt" \
    && pass "a renewal replaced by the token it renews: exit 1, named" || bad "swapped renewal: exit $status: $(tail -n 4 "$WORK/verify-renew-swapped.txt")"
"$GREFFE" verify "$WORK/renew-empty.json" --vkey "$DATA/verifier.vkey" --tsa-cert "$WORK/pki/ca.pem" >"$WORK/verify-renew-empty.txt" 2>&1
status=$?
[[ $status != 0 ]] && grep -q "renewals is not a non-empty array" "$WORK/verify-renew-empty.txt" \
    && pass "an empty renewal list: refused (exit $status)" || bad "empty renewals: exit $status: $(tail -n 3 "$WORK/verify-renew-empty.txt")"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null
finish
