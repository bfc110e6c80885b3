#!/usr/bin/env bash
# Secrets never leak: bearer tokens and the signing key appear in no log
# line, no metric, no response body or header, no command output, and the
# store keeps tokens only as hashes.
#
# A ledger with tokens of every role (and one revoked while serving) is
# served with `--log-level trace`. Every endpoint is called with each
# token, with near-miss tokens (the real one plus a character, minus its last
# character, as `bearer` lower case, as Basic credentials, after two spaces)
# and with none. Then the server log, /metrics, every response (headers and
# body), the output of `greffe token list`, `greffe backup` and
# `greffe restore`, and the database files are searched for: each token,
# each token's secret part (after `grf_`), the signing key line
# (DIR/signing.key), its base64 key part, and the 32-byte seed in base64
# and hex.
#
# Usage: ops/tests/secrets.sh   Env: GREFFE (default .build/debug/greffe), KEEP=1
# Loopback only; bounded (about 15 s).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=secrets
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-secrets.XXXXXX")
PASSED=0
FAILED=0
SPID=

log() { printf '%s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); log "ok   $*"; }
bad() { FAILED=$((FAILED + 1)); log "FAIL $*"; }
finish() {
    log "$NAME: $PASSED passed, $FAILED failed$([[ $FAILED == 0 ]] || echo " (work directory kept: $WORK)")"
    [[ $FAILED == 0 ]]
    exit $?
}
die() { bad "$*"; finish; }
cleanup() {
    if [[ -n $SPID ]] && kill -0 "$SPID" 2>/dev/null; then kill -KILL "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi
    if [[ $FAILED == 0 && ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
for cmd in python3 curl; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
PYTHON=$(python3 -c 'import sys; print(sys.executable)')

DATA=$WORK/data
OUT=$WORK/out          # everything that must hold no secret
mkdir -p "$OUT"
"$GREFFE" init --data "$DATA" --origin secrets.greffe.test/log >"$OUT/init.out" 2>&1 || die "greffe init"
declare -A TOK
for role in append investigate admin; do
    platform=(); [[ $role == append ]] && platform=(--platform secrets.example)
    TOK[$role]=$("$GREFFE" token create --data "$DATA" --role "$role" "${platform[@]}" --name "s-$role") || die "token create $role"
done
TOK[revoked]=$("$GREFFE" token create --data "$DATA" --role admin --name s-revoked) || die "token create (to revoke)"

# The secrets, one a line.
SECRETS=$WORK/secrets.txt
"$PYTHON" - "$DATA/signing.key" "${TOK[append]}" "${TOK[investigate]}" "${TOK[admin]}" "${TOK[revoked]}" >"$SECRETS" <<'PY'
import base64, sys
key = open(sys.argv[1]).read().strip()
print(key)
# PRIVATE+KEY+name+keyid+base64: the base64 itself may contain "+".
encoded = key.split("+", 4)[4]
raw = base64.b64decode(encoded)
print(encoded)                               # base64(0x01 || seed)
print(base64.b64encode(raw[1:]).decode())    # base64(seed)
print(base64.b64encode(raw[1:]).decode().rstrip("=")[:24])  # a long prefix of it
print(raw[1:].hex())                         # seed in hex
print(base64.urlsafe_b64encode(raw[1:]).decode().rstrip("="))
for t in sys.argv[2:]:
    print(t)
    print(t[4:] if t.startswith("grf_") else t)
PY
[[ $(wc -l <"$SECRETS") -ge 14 ]] || die "could not derive the secrets list"

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
URL=http://127.0.0.1:$PORT
"$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.1 --log-level trace >"$OUT/serve.log" 2>&1 &
SPID=$!
for _ in $(seq 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$URL/healthz") == 200 ]] && break
    kill -0 "$SPID" 2>/dev/null || die "serve exited: $(tail -n 5 "$OUT/serve.log")"
    sleep 0.1
done
"$GREFFE" token revoke --data "$DATA" --name s-revoked >"$OUT/revoke.out" 2>&1 || bad "token revoke while serving"
"$GREFFE" token list --data "$DATA" >"$OUT/token-list.out" 2>&1 || bad "token list"

event() { # event N
    printf '{"event_id":"sec-%s","kind":"legal.request","occurred_at":"2026-11-25T10:00:00Z","platform":"secrets.example","schema_version":1,"authority":"Parquet de Paris","reference":"ref-%s","direction":"received","request_type":"preservation","account":"hmac-sha256:%064d"}' "$1" "$1" 7
}
N=0
REQUESTS=0
call() { # call LABEL AUTH-HEADER-OR-EMPTY METHOD PATH [BODY]
    local label=$1 auth=$2 method=$3 path=$4 body=${5-}
    N=$((N + 1))
    local args=(-s -S --max-time 30 -X "$method" -D "$OUT/r$N.headers" -o "$OUT/r$N.body" -w '%{http_code}')
    [[ -n $auth ]] && args+=(-H "$auth")
    [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    local code; code=$(curl "${args[@]}" "$URL$path") || code=curl-failed
    REQUESTS=$((REQUESTS + 1))
    printf '%s %s %s %s\n' "$code" "$label" "$method" "$path" >>"$WORK/calls.log"
    [[ $code == 5* && $code != 503 ]] && bad "$label $method $path answered $code: $(head -c 200 "$OUT/r$N.body")"
}
# Tokens as sent: the real ones, near misses, other schemes, none.
declare -a AUTHS=(
    "append|Authorization: Bearer ${TOK[append]}"
    "investigate|Authorization: Bearer ${TOK[investigate]}"
    "admin|Authorization: Bearer ${TOK[admin]}"
    "revoked|Authorization: Bearer ${TOK[revoked]}"
    "plus-char|Authorization: Bearer ${TOK[admin]}x"
    "minus-char|Authorization: Bearer ${TOK[admin]%?}"
    "lowercase-scheme|Authorization: bearer ${TOK[investigate]}"
    "basic|Authorization: Basic $(printf 'user:%s' "${TOK[admin]}" | base64 -w0)"
    "two-spaces|Authorization: Bearer  ${TOK[append]}"
    "token-as-scheme|Authorization: ${TOK[admin]}"
    "x-api-key|X-Api-Key: ${TOK[admin]}"
    "none|"
)
for entry in "${AUTHS[@]}"; do
    label=${entry%%|*}; auth=${entry#*|}
    call "$label" "$auth" POST /v1/events "$(event "$label")"
    call "$label" "$auth" POST '/v1/events?wait=checkpoint' "{\"events\":[$(event "$label-b1"),$(event "$label-b2")]}"
    call "$label" "$auth" POST /v1/events '{"events":[{"event_id":"bad"}]}'
    call "$label" "$auth" GET '/v1/events?kind=legal.request&limit=5'
    call "$label" "$auth" GET '/v1/events?account=hmac-sha256:0000000000000000000000000000000000000000000000000000000000000007'
    call "$label" "$auth" GET /v1/events/0
    call "$label" "$auth" GET /v1/events/999999
    call "$label" "$auth" POST /v1/bundles '{"index_range":{"from":0,"to":5}}'
    call "$label" "$auth" POST /v1/bundles '{"nonsense":true}'
    call "$label" "$auth" GET /v1/reports/takedowns
    call "$label" "$auth" POST /v1/events/1/erasure '{"legal_reference":"x"}'
    call "$label" "$auth" GET /checkpoint
    call "$label" "$auth" GET /tile/0/000.p/1
    call "$label" "$auth" GET /tile/entries/000.p/1
    call "$label" "$auth" GET /tile/9/000
    call "$label" "$auth" GET '/v1/proofs/inclusion?index=0&tree_size=1'
    call "$label" "$auth" GET '/v1/proofs/consistency?first=1&second=2'
    call "$label" "$auth" GET /healthz
    call "$label" "$auth" GET /metrics
    call "$label" "$auth" DELETE /v1/events
done
call admin "Authorization: Bearer ${TOK[admin]}" POST /v1/events/0/erasure '{"legal_reference":"TJ Paris 2026/1","reason":"court order"}'
call admin "Authorization: Bearer ${TOK[admin]}" GET /v1/events/0
curl -s "$URL/metrics" >"$OUT/metrics.txt"
grep -q '^greffe_' "$OUT/metrics.txt" && pass "/metrics answers ($(grep -c '^greffe_' "$OUT/metrics.txt") greffe_ samples)" || bad "/metrics has no greffe_ samples"
STATUSES=$(cut -d' ' -f1 "$WORK/calls.log" | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
pass "$REQUESTS requests over every endpoint with ${#AUTHS[@]} kinds of Authorization; statuses: $STATUSES"
# Sanity: the tokens did what they should.
grep -q '^201 append POST /v1/events$' "$WORK/calls.log" && grep -q '^401 revoked POST /v1/events$' "$WORK/calls.log" &&
    grep -q '^401 plus-char GET /v1/events/0$' "$WORK/calls.log" && grep -q '^200 investigate GET /v1/events/0$' "$WORK/calls.log" &&
    grep -q '^403 append GET /v1/events/0$' "$WORK/calls.log" && pass "tokens behave: append 201, investigate reads, wrong role 403, revoked and near-miss 401" ||
    bad "token behaviour unexpected (see $WORK/calls.log)"

# Backup and restore output too.
"$GREFFE" backup --data "$DATA" --out "$WORK/backup.sqlite" >"$OUT/backup.out" 2>&1 || bad "greffe backup"
"$GREFFE" restore --backup "$WORK/backup.sqlite" --data "$WORK/restored" >"$OUT/restore.out" 2>&1 || bad "greffe restore"

kill -TERM "$SPID"
for _ in $(seq 200); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
wait "$SPID" 2>/dev/null
SPID=
LOGLINES=$(wc -l <"$OUT/serve.log")
TRACE=$(grep -c ' trace \| debug ' "$OUT/serve.log")
((LOGLINES > 0)) && pass "server log at --log-level trace: $LOGLINES lines ($TRACE trace/debug)" || bad "server log is empty"

# The search: every file under out/ (log, metrics, every response's headers and body, command outputs).
FILES=$(find "$OUT" -type f | wc -l)
BYTES=$(cat "$OUT"/* | wc -c)
LEAKS=0
while IFS= read -r secret; do
    [[ -z $secret ]] && continue
    hits=$(grep -rlF -- "$secret" "$OUT" || true)
    if [[ -n $hits ]]; then
        LEAKS=$((LEAKS + 1))
        bad "a secret (${secret:0:6}…, ${#secret} chars) appears in: $(echo "$hits" | xargs -n1 basename | head -n 5 | tr '\n' ' ')"
        grep -rhF -- "$secret" "$OUT" | head -n 2 | cut -c1-200 | sed 's/^/     /'
    fi
done <"$SECRETS"
((LEAKS == 0)) && pass "no token, token secret, signing key or seed in $FILES files ($BYTES bytes): the trace log, /metrics, $REQUESTS responses' headers and bodies, init/token list/revoke/backup/restore output"

# The store holds token hashes only.
STORE_HITS=0
for role in append investigate admin revoked; do
    for f in "$DATA"/greffe.sqlite* "$WORK/backup.sqlite"; do
        [[ -f $f ]] && grep -qF -- "${TOK[$role]#grf_}" "$f" && { STORE_HITS=$((STORE_HITS + 1)); bad "token $role in clear in $(basename "$f")"; }
    done
done
((STORE_HITS == 0)) && pass "no token in clear in the database, its WAL or the backup"
grep -qF -- "$(head -n 1 "$SECRETS")" "$DATA/greffe.sqlite" "$WORK/backup.sqlite" && bad "the signing key is in the database or the backup" || pass "the signing key is not in the database or the backup"
finish
