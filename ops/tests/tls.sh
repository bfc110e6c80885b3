#!/usr/bin/env bash
# TLS: `greffe serve --tls-cert --tls-key` serves HTTPS with a certificate
# made here (openssl, a throwaway CA-less self-signed one for 127.0.0.1);
# plain HTTP is not answered; a mismatched or missing key refuses to start.
set -uo pipefail
GREFFE=${GREFFE:-.build/debug/greffe}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-tls.XXXXXX")
PASSED=0 FAILED=0 SERVER=
pass() { PASSED=$((PASSED + 1)); echo "ok   $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
cleanup() { [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

openssl req -x509 -newkey ed25519 -nodes -days 1 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null || { echo "tls: 0 passed, 1 failed (openssl req)"; exit 1; }
openssl genpkey -algorithm ed25519 -out "$WORK/other.pem" 2>/dev/null
"$GREFFE" init --data "$WORK/data" --origin tls.greffe.test/log >/dev/null

P=$(port)
"$GREFFE" serve --data "$WORK/data" --listen "127.0.0.1:$P" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf --cacert "$WORK/cert.pem" "https://127.0.0.1:$P/healthz" >/dev/null && break; sleep 0.1; done
if curl -sf --cacert "$WORK/cert.pem" "https://127.0.0.1:$P/healthz" | grep -q '"status":"ok"'; then pass "HTTPS answers with the given certificate"; else fail "HTTPS /healthz"; fi
if curl -sf --cacert "$WORK/cert.pem" "https://127.0.0.1:$P/checkpoint" | grep -q "tls.greffe.test/log"; then pass "checkpoint over HTTPS"; else fail "checkpoint over HTTPS"; fi
if curl -sf -m 3 "http://127.0.0.1:$P/healthz" >/dev/null 2>&1; then fail "plain HTTP was answered on the TLS port"; else pass "plain HTTP is not answered"; fi
if curl -sf -m 3 "https://127.0.0.1:$P/healthz" >/dev/null 2>&1; then fail "an untrusted client accepted the certificate"; else pass "a client that does not trust the certificate refuses it"; fi
kill "$SERVER"; wait "$SERVER" 2>/dev/null; SERVER=

P=$(port)
if timeout 20 "$GREFFE" serve --data "$WORK/data" --listen "127.0.0.1:$P" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/other.pem" >"$WORK/mismatch.log" 2>&1; then
    fail "serve started with a key that does not match the certificate"
else
    pass "a key that does not match the certificate: serve refuses to start"
fi
if timeout 20 "$GREFFE" serve --data "$WORK/data" --listen "127.0.0.1:$P" --tls-cert "$WORK/cert.pem" >"$WORK/nokey.log" 2>&1; then
    fail "serve started with --tls-cert alone"
elif grep -q "go together" "$WORK/nokey.log"; then pass "--tls-cert without --tls-key is refused with a clear message"; else fail "no clear message for a missing --tls-key"; fi
if grep -q "PRIVATE KEY" "$WORK"/*.log; then fail "key material in the output"; else pass "no key material in the output"; fi
# TLS 1.0 and 1.1 are refused (RFC 8996), 1.2 is served. An ECDSA certificate, since an Ed25519 one
# cannot be used below TLS 1.2 anyway; SECLEVEL=0 lets this client offer 1.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$WORK/ec-key.pem" -out "$WORK/ec-cert.pem" 2>/dev/null
P=$(port)
"$GREFFE" serve --data "$WORK/data" --listen "127.0.0.1:$P" --tls-cert "$WORK/ec-cert.pem" --tls-key "$WORK/ec-key.pem" >"$WORK/serve-ec.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf --cacert "$WORK/ec-cert.pem" "https://127.0.0.1:$P/healthz" >/dev/null && break; sleep 0.1; done
if openssl s_client -connect "127.0.0.1:$P" -tls1_1 -cipher "DEFAULT:@SECLEVEL=0" </dev/null >"$WORK/tls11.out" 2>&1; then
    fail "a TLS 1.1 handshake succeeded"
else
    pass "TLS 1.1 is refused"
fi
if openssl s_client -connect "127.0.0.1:$P" -tls1_2 </dev/null >"$WORK/tls12.out" 2>&1; then pass "TLS 1.2 is served"; else fail "TLS 1.2 handshake failed: $(tail -n 2 "$WORK/tls12.out")"; fi
kill "$SERVER"; wait "$SERVER" 2>/dev/null; SERVER=
echo "tls: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
