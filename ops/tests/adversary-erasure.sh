#!/usr/bin/env bash
# Issue 16, point 1: whoever hands a bundle over cannot pass withheld content
# off as a court-ordered erasure. Against a real `greffe serve`: events
# appended, one erased through the admin API, a bundle made; then
#   genuine bundle: greffe verify exits 0 and names the legal reference and
#     the entry that records the order (text and JSON reports);
#   a kept event doctored (body and salt nulled, an `erased` claim added):
#     with no record, with the genuine record of another event's erasure,
#     with a changed legal reference: non-zero, "body withheld", naming it;
#   a member added to `erased`: the file is refused;
#   the bundle downgraded to greffe-bundle/v1: the claims are reported
#     unproven, never "erased under the legal order".
# Usage: ops/tests/adversary-erasure.sh   Env: GREFFE (default .build/debug/greffe), KEEP=1
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=adversary-erasure
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-adversary-erasure.XXXXXX")
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
DATA=$WORK/data
REFERENCE="TJ Paris 26/123"

# The one place append tokens are made: bound to the platform the events name.
append_token() { "$GREFFE" token create --data "$DATA" --role append --platform example-ai --name "$1"; }

"$GREFFE" init --data "$DATA" --origin adversary.greffe.test/log >/dev/null || die "greffe init"
APPEND=$(append_token platform-a) || die "token create (append)"
INVESTIGATE=$("$GREFFE" token create --data "$DATA" --role investigate --name investigator) || die "token create (investigate)"
ADMIN=$("$GREFFE" token create --data "$DATA" --role admin --name court-officer) || die "token create (admin)"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
"$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.2 --log-level warning >"$WORK/serve.log" 2>&1 &
SERVE=$!
PIDS+=($SERVE)
wait_http "$SERVE" "$URL" serve

post() { # post PATH TOKEN BODY: prints the HTTP status, the answer in $WORK/answer.json
    curl -s -o "$WORK/answer.json" -w '%{http_code}' --max-time 60 -X POST -H "Authorization: Bearer $2" \
        -H 'Content-Type: application/json' --data-binary "$3" "$URL$1"
}
for i in 0 1 2 3; do
    status=$(post '/v1/events?wait=checkpoint' "$APPEND" "{\"event_id\":\"report-$i\",\"kind\":\"report.received\",\
\"occurred_at\":\"2026-11-25T10:00:0${i}Z\",\"platform\":\"example-ai\",\"schema_version\":1,\"report_id\":\"r-$i\",\
\"reporter_type\":\"user\",\"category\":\"non_consensual_intimate_imagery\",\"content_hashes\":[{\"sha256\":\"$(printf '%064x' $((200 + i)))\"}]}")
    [[ $status == 201 ]] || die "append report-$i: HTTP $status $(cat "$WORK/answer.json")"
done
pass "4 events appended"
status=$(post /v1/events/1/erasure "$ADMIN" "{\"legal_reference\":\"$REFERENCE\",\"reason\":\"data-protection order\"}")
[[ $status == 200 ]] || die "erasure: HTTP $status $(cat "$WORK/answer.json")"
ERASURE_ENTRY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["erasure_entry_index"])' "$WORK/answer.json")
pass "event 1 erased under $REFERENCE, recorded as entry $ERASURE_ENTRY"
# At once: the server itself waits for a checkpoint covering the record.
status=$(post /v1/bundles "$INVESTIGATE" '{"index_range":{"from":0,"to":4}}')
[[ $status == 200 ]] || die "bundle: HTTP $status $(cat "$WORK/answer.json")"
mv "$WORK/answer.json" "$WORK/genuine.json"
kill -TERM "$SERVE" 2>/dev/null
wait "$SERVE" 2>/dev/null
pass "bundle made; the server is stopped (verification is offline)"

verify() { # verify FILE [--format json]: greffe verify's output in $WORK/out, its exit code in $CODE
    "$GREFFE" verify "$1" --vkey "$DATA/verifier.vkey" "${@:2}" >"$WORK/out" 2>&1
    CODE=$?
}
has() { grep -qF -- "$1" "$WORK/out"; }

verify "$WORK/genuine.json"
if [[ $CODE == 0 ]] && has "its content was erased under the legal order \"$REFERENCE\", which the ledger recorded as entry $ERASURE_ENTRY"; then
    pass "genuine bundle: exit 0, names the legal reference and entry $ERASURE_ENTRY"
else
    bad "genuine bundle: exit $CODE: $(cat "$WORK/out")"
fi
verify "$WORK/genuine.json" --format json
if [[ $CODE == 0 ]] && python3 - "$WORK/out" "$REFERENCE" "$ERASURE_ENTRY" <<'PY'; then
import json, sys
report = json.load(open(sys.argv[1]))
erased = report["events"][1]
ok = (erased["erasure"] == "proven" and erased["erasure_legal_reference"] == sys.argv[2]
      and erased["erasure_entry_index"] == int(sys.argv[3]) and report["events"][2]["erasure"] is None)
sys.exit(0 if ok else 1)
PY
    pass "genuine bundle, JSON report: erasure proven, its legal reference and entry"
else
    bad "genuine bundle, JSON report: exit $CODE: $(cat "$WORK/out")"
fi

# forge NAME PYTHON [SOURCE]: the genuine bundle (or SOURCE) with PYTHON applied to `b`, written to $WORK/NAME.json.
forge() {
    python3 - "${3:-$WORK/genuine.json}" "$WORK/$1.json" "$REFERENCE" <<PY || die "forging $1"
import copy, json, sys
b = json.load(open(sys.argv[1]))
reference = sys.argv[3]
$2
json.dump(b, open(sys.argv[2], "w"))
PY
}
# expect_withheld NAME WORDS: greffe verify fails, says "body withheld" for event 2 and WORDS.
expect_withheld() {
    verify "$WORK/$1.json"
    if [[ $CODE != 0 ]] && has "event 2 (index 2) [bodyWithheld]: body withheld: $2" && ! has "RESULT: VERIFIED"; then
        pass "$1: exit $CODE, body withheld: $2"
    else
        bad "$1: exit $CODE, expected \"body withheld: $2\": $(cat "$WORK/out")"
    fi
}

forge forged-no-record '
e = b["events"][2]
e["body"] = e["salt"] = None
e["erased"] = {"erased_at": "2026-11-26T09:00:00.000Z", "legal_reference": "TJ Nowhere 1/1", "erasure_entry_index": b["events"][1]["erased"]["erasure_entry_index"]}'
expect_withheld forged-no-record 'the bundle claims an erasure under "TJ Nowhere 1/1" but carries no erasure record to prove it'

forge forged-other-record '
e = b["events"][2]
e["body"] = e["salt"] = None
e["erased"] = copy.deepcopy(b["events"][1]["erased"])'
expect_withheld forged-other-record 'the erasure record erased entry 1, not this one (2)'

forge forged-target '
e = b["events"][2]
e["body"] = e["salt"] = None
e["erased"] = copy.deepcopy(b["events"][1]["erased"])
e["erased"]["record"]["body"]["target_index"] = 2'
expect_withheld forged-target "the erasure record's body and salt do not match its entry's commitment"

forge changed-reference 'b["events"][1]["erased"]["legal_reference"] = "TJ Paris 26/999"'
verify "$WORK/changed-reference.json"
if [[ $CODE != 0 ]] && has "event 1 (index 1) [bodyWithheld]: body withheld: the erasure record's legal reference is \"$REFERENCE\", not \"TJ Paris 26/999\""; then
    pass "a changed legal reference on the genuine erasure: exit $CODE, body withheld"
else
    bad "changed legal reference: exit $CODE: $(cat "$WORK/out")"
fi

forge added-member 'b["events"][1]["erased"]["approved_by"] = "the court"'
verify "$WORK/added-member.json"
if [[ $CODE != 0 ]] && has '/events/1/erased has the unknown field "approved_by"'; then
    pass "a member added to erased: the file is refused"
else
    bad "a member added to erased: exit $CODE: $(cat "$WORK/out")"
fi

forge body-and-claim '
b["events"][2]["erased"] = copy.deepcopy(b["events"][1]["erased"])'
verify "$WORK/body-and-claim.json"
if [[ $CODE != 0 ]] && has "event 2 (index 2) [erasureClaim]: the body is shown, yet the bundle claims it was erased"; then
    pass "a body shown with an erasure claim: exit $CODE"
else
    bad "a body shown with an erasure claim: exit $CODE: $(cat "$WORK/out")"
fi

# v1 has per-event proofs: expand the v3 bundle first (anyone can), then relabel it.
"$GREFFE" bundle expand "$WORK/genuine.json" --out "$WORK/expanded.json" || die "greffe bundle expand"
forge downgraded '
b["format"] = "greffe-bundle/v1"
for e in b["events"]:
    if "erased" in e:
        del e["erased"]["record"]
e = b["events"][2]
e["body"] = e["salt"] = None
e["erased"] = {"erased_at": "2026-11-26T09:00:00.000Z", "legal_reference": "TJ Nowhere 1/1", "erasure_entry_index": 9}' "$WORK/expanded.json"
verify "$WORK/downgraded.json"
if has 'the bundle claims an erasure under "TJ Nowhere 1/1" but a greffe-bundle/v1 bundle carries no proof of it: unproven' \
    && has "the bundle claims an erasure under \"$REFERENCE\" but a greffe-bundle/v1 bundle carries no proof of it: unproven" \
    && has "UNPROVEN ERASURE: 2 event(s)" && ! has "its content was erased"; then
    pass "downgraded to greffe-bundle/v1 (exit $CODE): both claims reported unproven, none as erased by legal order"
else
    bad "downgraded to v1: exit $CODE: $(cat "$WORK/out")"
fi
finish
