#!/usr/bin/env bash
# Post-quantum checkpoint signatures (Schemas/pq-signatures.md), end to end:
# init, `greffe key pq-add` (key file 0600, vkey printed; a second pq-add is
# refused), serve, append; the checkpoint from GET /checkpoint carries an
# Ed25519 line and an ML-DSA-65 line (3309-byte signature), and
#  - pyca/cryptography (>= 47, ML-DSA from its OpenSSL) verifies the ML-DSA
#    signature over the note text with the public key of verifier-mldsa65.vkey,
#    and refuses it after one changed byte of the text or of the signature;
#  - Go's x/mod sumdb/note (Tests/Interop/notecheck) still verifies the note
#    with the Ed25519 key alone (the unknown line is skipped);
#  - `greffe verify CHECKPOINT --vkey --pq-vkey` reports both signatures
#    valid, and refuses an altered text or ML-DSA signature.
# Usage: ops/tests/mldsa.sh   Env: GREFFE (binary, default .build/debug/greffe), KEEP=1
# Needs: python3 with cryptography >= 47 (ops/install-deps.sh), curl, go with golang-golang-x-mod-dev.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=mldsa
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-mldsa.XXXXXX")
# shellcheck source=lib.sh
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
for cmd in python3 curl go; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
python3 -c 'from cryptography.hazmat.primitives.asymmetric import mldsa; mldsa.MLDSA65PrivateKey.generate()' 2>/dev/null \
    || die "pyca/cryptography with ML-DSA (>= 47, run ops/install-deps.sh)"
ORIGIN="mldsa.greffe.test/log"
DATA=$WORK/data
PORT=$(free_port)
URL=http://127.0.0.1:$PORT

(
    cd "$ROOT"
    if [[ -z $(go env GOCACHE 2>/dev/null) ]]; then export GOCACHE=$WORK/gocache; fi
    GO111MODULE=off GOPATH=${TLOGCHECK_GOPATH:-/usr/share/gocode} GOFLAGS= go build -o "$WORK/notecheck" ./Tests/Interop/notecheck
) >"$WORK/build.log" 2>&1 || die "building Tests/Interop/notecheck (needs golang-golang-x-mod-dev): $(cat "$WORK/build.log")"

"$GREFFE" init --data "$DATA" --origin "$ORIGIN" >"$WORK/ed.vkey" 2>"$WORK/init.err" || die "greffe init: $(cat "$WORK/init.err")"
"$GREFFE" key pq-add --data "$DATA" >"$WORK/pq.vkey" 2>"$WORK/pq.err" || die "greffe key pq-add: $(cat "$WORK/pq.err")"
[[ $(stat -c %a "$DATA/signing-mldsa65.key") == 600 ]] && pass "the ML-DSA key file is mode 0600" || bad "ML-DSA key mode $(stat -c %a "$DATA/signing-mldsa65.key")"
cmp -s "$WORK/pq.vkey" "$DATA/verifier-mldsa65.vkey" && pass "pq-add prints the verifier key it wrote" || bad "printed vkey differs from verifier-mldsa65.vkey"
grep -q PRIVATE "$WORK/pq.vkey" "$WORK/pq.err" && bad "pq-add printed the private key" || pass "pq-add prints no private key"
if "$GREFFE" key pq-add --data "$DATA" >/dev/null 2>&1; then bad "a second pq-add replaced the key"; else pass "a second pq-add is refused"; fi

"$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.05 --anonymous-rate 0 >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
wait_http "${PIDS[-1]}" "$URL" serve
TOKEN=$("$GREFFE" token create --data "$DATA" --role append --platform mldsa.example --name pq) || die "token create"
python3 - "$URL" "$TOKEN" <<'PY' || die "append"
import json, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
events = [{"event_id": "pq-%d" % n, "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z",
           "platform": "mldsa.example", "schema_version": 1, "authority": "Parquet de Paris",
           "reference": "ref-%d" % n, "direction": "received", "request_type": "preservation"} for n in range(5)]
req = urllib.request.Request(url + "/v1/events?wait=checkpoint", data=json.dumps({"events": events}).encode(), method="POST",
                             headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=60).read()
PY
curl -sf "$URL/checkpoint" >"$WORK/C" || die "GET /checkpoint"
grep -q 'PRIVATE' "$WORK/serve.log" && bad "serve logged a private key" || pass "serve logs no private key"
[[ $(grep -c '^— ' "$WORK/C") == 2 ]] && pass "the checkpoint (size $(sed -n 2p "$WORK/C"), $(wc -c <"$WORK/C") bytes) has two signature lines" \
    || bad "checkpoint has $(grep -c '^— ' "$WORK/C") signature lines"

# pyca/cryptography: the ML-DSA-65 signature over the note text, and two mutations refused.
out=$(python3 - "$WORK/C" "$WORK/pq.vkey" <<'PY'
import base64, hashlib, sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import mldsa
note = open(sys.argv[1], "rb").read()
name, keyid, blob = open(sys.argv[2]).read().strip().split("+", 2)
typ = b"\xff" + b"greffe/ML-DSA-65"
raw = base64.b64decode(blob, validate=True)
assert raw.startswith(typ) and len(raw) == len(typ) + 1952, "verifier key layout"
pub = raw[len(typ):]
kid = hashlib.sha256(name.encode() + b"\n" + typ + pub).digest()[:4]
assert kid.hex() == keyid, "key ID is SHA-256(name || 0x0A || type || key)[:4]"
key = mldsa.MLDSA65PublicKey.from_public_bytes(pub)
text, sigs = note[: note.rindex(b"\n\n") + 1], note[note.rindex(b"\n\n") + 2 :]
lines = [l for l in sigs.decode().split("\n") if l]
mine = [base64.b64decode(l.split(" ")[2]) for l in lines if l.split(" ")[1] == name and base64.b64decode(l.split(" ")[2])[:4] == kid]
assert len(mine) == 1, "one ML-DSA line"
sig = mine[0][4:]
assert len(sig) == 3309, "ML-DSA-65 signature is 3309 bytes, got %d" % len(sig)
key.verify(sig, text)  # raises on failure
def refused(s, t):
    try:
        key.verify(s, t)
        return False
    except InvalidSignature:
        return True
bad_text = bytes([text[0] ^ 1]) + text[1:]
bad_sig = sig[:1000] + bytes([sig[1000] ^ 0x01]) + sig[1001:]
assert refused(sig, bad_text), "changed text accepted"
assert refused(bad_sig, text), "changed signature accepted"
print("cryptography %s verified %d-byte signature; refused changed text and changed signature" % (__import__("cryptography").__version__, len(sig)))
PY
) && pass "pyca/cryptography: $out" || bad "pyca/cryptography ML-DSA check: $out"

out=$("$WORK/notecheck" "$WORK/C" "$(cat "$WORK/ed.vkey")" 2>&1) && pass "Go x/mod note.Open with the Ed25519 key alone skips the ML-DSA line: $out" \
    || bad "Go x/mod note.Open refused the checkpoint with the extra line: $out"

"$GREFFE" verify "$WORK/C" --vkey "$WORK/ed.vkey" --pq-vkey "$DATA/verifier-mldsa65.vkey" >"$WORK/v.out" 2>&1
rc=$?
[[ $rc == 0 ]] && grep -q "ML-DSA-65 signature by .*: valid" "$WORK/v.out" && grep -q "Ed25519 signature by .*: valid" "$WORK/v.out" \
    && pass "greffe verify --pq-vkey checks both signatures" || bad "greffe verify --pq-vkey: exit $rc: $(cat "$WORK/v.out")"
"$GREFFE" verify "$WORK/C" --vkey "$WORK/ed.vkey" >"$WORK/v.out" 2>&1 && grep -q "ML-DSA-65 signature: not checked" "$WORK/v.out" \
    && pass "greffe verify without --pq-vkey says the ML-DSA line was not checked" || bad "verify without --pq-vkey: $(cat "$WORK/v.out")"
# A changed ML-DSA signature byte (Ed25519 line intact): refused by the PQ check alone.
python3 - "$WORK/C" "$WORK/C.badsig" <<'PY'
import base64, sys
note = open(sys.argv[1]).read()
head, last = note.rstrip("\n").rsplit("\n", 1)
dash, name, blob = last.split(" ")
raw = bytearray(base64.b64decode(blob)); raw[2000] ^= 0x01
open(sys.argv[2], "w").write(head + "\n" + " ".join([dash, name, base64.b64encode(bytes(raw)).decode()]) + "\n")
PY
if "$GREFFE" verify "$WORK/C.badsig" --vkey "$WORK/ed.vkey" --pq-vkey "$DATA/verifier-mldsa65.vkey" >"$WORK/v.out" 2>&1; then
    bad "greffe verify accepted a changed ML-DSA signature"
else
    grep -q "ML-DSA-65 signature by .* is invalid" "$WORK/v.out" && pass "greffe verify refuses a changed ML-DSA signature" || bad "changed ML-DSA signature: $(cat "$WORK/v.out")"
fi
sed '2s/.*/999/' "$WORK/C" >"$WORK/C.badtext"
if "$GREFFE" verify "$WORK/C.badtext" --vkey "$WORK/ed.vkey" --pq-vkey "$DATA/verifier-mldsa65.vkey" >"$WORK/v.out" 2>&1; then
    bad "greffe verify accepted a changed checkpoint text"
else
    grep -q "NOT VERIFIED" "$WORK/v.out" && pass "greffe verify refuses a changed checkpoint text" || bad "changed text: $(cat "$WORK/v.out")"
fi
finish
