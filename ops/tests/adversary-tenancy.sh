#!/usr/bin/env bash
# Issue 16 probes, as an adversary would run them against a live `greffe serve`:
#   tenancy: a platform's token writes in another platform's name (single and
#     hidden in a batch); an admin token and a legacy unbound token append;
#     one platform squats another's event IDs, then probes them for indices;
#   custody: the erasure of Greffe's own access.granted record; eight
#     concurrent erasures of one event (one order recorded, one erasure);
#   restore: a backup holding a body whose erasure the log records (a backup
#     caught between the order and the deletion) is restored with the body
#     erased again before anything serves it.
# Each probe fails on a ledger without the corresponding defence.
# Usage: ops/tests/adversary-tenancy.sh   Env: GREFFE (default .build/debug/greffe), KEEP=1
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=adversary-tenancy
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-adversary-tenancy.XXXXXX")
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
DATA=$WORK/data
"$GREFFE" init --data "$DATA" --origin adversary.greffe.test/log >/dev/null || die "greffe init"
VICTIM=$("$GREFFE" token create --data "$DATA" --role append --platform victim.example --name victim) || die "token create victim"
SQUATTER=$("$GREFFE" token create --data "$DATA" --role append --platform squatter.example --name squatter) || die "token create squatter"
INVESTIGATE=$("$GREFFE" token create --data "$DATA" --role investigate --name inv) || die "token create investigate"
ADMIN=$("$GREFFE" token create --data "$DATA" --role admin --name adm) || die "token create admin"
if "$GREFFE" token create --data "$DATA" --role append --name unbound >/dev/null 2>"$WORK/unbound.err"; then
    bad "an append token without --platform was created"
else
    pass "an append token needs --platform: $(head -n 1 "$WORK/unbound.err")"
fi
if "$GREFFE" token create --data "$DATA" --role append --platform greffe --name fake-greffe >/dev/null 2>&1; then
    bad "an append token was bound to Greffe's own platform"
else
    pass "no append token can be bound to Greffe's own platform"
fi
# A legacy token (as an older greffe stored it: no platform), straight into the store.
LEGACY=grf_legacy-token-0123456789abcdef0123456789abcdef
python3 - "$DATA/greffe.sqlite" "$LEGACY" <<'PY' || die "legacy token"
import hashlib, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO tokens (name, role, secret_hash, created_at) VALUES ('legacy', 'append', ?, 0)", (hashlib.sha256(sys.argv[2].encode()).digest(),))
c.commit()
PY

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
"$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.05 >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
wait_http "${PIDS[-1]}" "$URL" serve

event() { # ID PLATFORM [REFERENCE]
    printf '{"event_id":"%s","kind":"legal.request","occurred_at":"2026-11-25T10:00:00Z","platform":"%s","schema_version":1,"authority":"Parquet de Paris","reference":"%s","direction":"received","request_type":"preservation"}' "$1" "$2" "${3:-ref}"
}
post() { # TOKEN BODY [PATH] -> "STATUS BODY" in $WORK/answer
    curl -s -o "$WORK/answer" -w '%{http_code}' -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
        --data-binary "$2" "$URL${3:-/v1/events}"
}
size() { curl -s "$URL/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tree_size"])'; }

# --- Tenancy
status=$(post "$SQUATTER" "$(event forged-1 victim.example)")
if [[ $status == 403 ]] && grep -q victim.example "$WORK/answer" && grep -q squatter.example "$WORK/answer"; then
    pass "a write in another platform's name is refused (403, naming both): $(cat "$WORK/answer")"
else
    bad "a write in another platform's name: $status $(cat "$WORK/answer")"
fi
status=$(post "$SQUATTER" "{\"events\":[$(event own-1 squatter.example),$(event forged-2 victim.example)]}")
[[ $status == 403 && $(size) == 0 ]] && pass "a forged event hidden in a batch refuses the whole batch; nothing appended" \
    || bad "batch with a forged event: $status $(cat "$WORK/answer"), tree size $(size)"
for who in ADMIN LEGACY; do
    status=$(post "${!who}" "$(event by-$who victim.example)")
    [[ $status == 403 ]] && pass "$who token cannot append in a platform's name (403)" || bad "$who token appended: $status $(cat "$WORK/answer")"
done
# Squatting: the squatter takes the victim's predictable IDs first.
post "$SQUATTER" "{\"events\":[$(event invoice-1 squatter.example),$(event invoice-2 squatter.example)]}" >/dev/null
status=$(post "$VICTIM" "{\"events\":[$(event invoice-1 victim.example),$(event invoice-2 victim.example)]}")
[[ $status == 201 ]] && pass "the victim's batch with squatted IDs goes in (201): $(cat "$WORK/answer")" \
    || bad "squatted IDs blocked the victim: $status $(cat "$WORK/answer")"
status=$(post "$SQUATTER" "$(event invoice-1 victim.example)")
if [[ $status == 403 ]] && ! grep -q '"index"' "$WORK/answer" && ! grep -q 'index 2' "$WORK/answer"; then
    pass "probing the victim's event under the squatter's token reveals no index: $status"
else
    bad "probing the victim's event: $status $(cat "$WORK/answer")"
fi
status=$(post "$SQUATTER" "$(event invoice-1 squatter.example other-body)")
[[ $status == 409 ]] && grep -q 'index 0' "$WORK/answer" && pass "the squatter's own conflict names its own event only" \
    || bad "squatter's conflict: $status $(cat "$WORK/answer")"

# --- Custody: Greffe's own records cannot be erased; one event is erased once.
curl -s -o /dev/null -H "Authorization: Bearer $INVESTIGATE" "$URL/v1/events/0"   # writes an access.granted record
ACCESS=$(curl -s -H "Authorization: Bearer $INVESTIGATE" "$URL/v1/events?kind=access.granted" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["events"][0]["index"])')
status=$(post "$ADMIN" '{"legal_reference":"TJ Paris 26/1","reason":"hide the investigator"}' "/v1/events/$ACCESS/erasure")
[[ $status == 422 ]] && pass "the erasure of an access.granted record is refused (422): $(cat "$WORK/answer")" \
    || bad "erasure of access.granted: $status $(cat "$WORK/answer")"
for n in 1 2 3 4 5 6 7 8; do
    curl -s -o "$WORK/erase-$n" -w '%{http_code}\n' -X POST -H "Authorization: Bearer $ADMIN" \
        --data-binary "{\"legal_reference\":\"TJ Paris 26/$n\",\"reason\":\"order\"}" "$URL/v1/events/2/erasure" >"$WORK/erase-$n.status" &
done
wait_erasures() { for _ in $(seq 100); do [[ $(cat "$WORK"/erase-*.status 2>/dev/null | wc -l) == 8 ]] && return; sleep 0.1; done; }
wait_erasures
ok=$(grep -c '^200$' "$WORK"/erase-*.status | awk -F: '{s+=$2} END {print s}')
orders=$(curl -s -H "Authorization: Bearer $INVESTIGATE" "$URL/v1/events?kind=erasure.executed" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["events"]))')
[[ $ok == 1 && $orders == 1 ]] && pass "8 concurrent erasures of one event: 1 done, 1 order in the log" \
    || bad "8 concurrent erasures: $ok answered 200, $orders erasure.executed records"

# --- Restore re-erases: a backup that still holds a body the log says was erased.
"$GREFFE" backup --data "$DATA" --out "$WORK/after.sqlite" >/dev/null || die "backup"
python3 - "$WORK/after.sqlite" <<'PY' || die "making the mid-erasure backup"
import sqlite3, sys
# As if the backup had been taken between the order's record and the deletion.
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE events SET body = CAST('{\"secret\":\"resurrected\"}' AS BLOB), salt = zeroblob(32), erased_at = NULL, erasure_reference = NULL, erasure_index = NULL WHERE idx = 2")
c.commit()
PY
mkdir -p "$WORK/restored"
cp "$DATA/signing.key" "$WORK/restored/signing.key" && chmod 600 "$WORK/restored/signing.key"
if "$GREFFE" restore --backup "$WORK/after.sqlite" --data "$WORK/restored" >"$WORK/restore.out" 2>&1; then
    left=$(python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("SELECT COUNT(*) FROM events WHERE idx = 2 AND body IS NULL AND erased_at IS NOT NULL").fetchone()[0])' "$WORK/restored/greffe.sqlite")
    if [[ $left == 1 ]] && ! grep -a -q resurrected "$WORK/restored/greffe.sqlite"* ; then
        pass "restore erased the body again before serving: $(grep -m1 'erased again' "$WORK/restore.out")"
    else
        bad "restore brought an erased body back"
    fi
else
    bad "restore failed: $(tail -n 3 "$WORK/restore.out")"
fi
finish
