#!/usr/bin/env bash
# Issue 22's tier report and DSA statements of reasons, on a live `greffe serve`:
#   a synthetic platform where real-person nudity edits move behind the paid
#   "pro" tier on 16 March 2026 (free: allowed before, blocked after; pro:
#   allowed); GET /v1/reports/tiers shows the shift week by week and is
#   recorded as access.granted; bad parameters and wrong roles are refused;
#   the bundle of the query the report names recomputes every figure
#   (greffe verify --report); a tampered count, a report with a member added,
#   and a bundle missing one event fail, naming the figure; greffe report
#   tiers (text) marks the paywall; greffe report dsa-sor exports statements
#   valid against Schemas/dsa-sor.schema.json (python-jsonschema), each naming
#   its ledger entry.
# Usage: ops/tests/tiers.sh   Env: GREFFE (default .build/debug/greffe), KEEP=1
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=tiers
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-tiers.XXXXXX")
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
DATA=$WORK/data
"$GREFFE" init --data "$DATA" --origin tiers.greffe.test/log >/dev/null || die "greffe init"
APPEND=$("$GREFFE" token create --data "$DATA" --role append --platform pixelforge.example --name pixelforge) || die "token create append"
INVESTIGATE=$("$GREFFE" token create --data "$DATA" --role investigate --name parquet) || die "token create investigate"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
"$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.05 --log-level warning >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
wait_http "${PIDS[-1]}" "$URL" serve

# --- The platform's month: the paywall on 16 March.
python3 - "$WORK" <<'PY' || die "generating the events"
import hashlib, json, sys
work = sys.argv[1]
def h(text): return hashlib.sha256(text.encode()).hexdigest()
def account(n): return "hmac-sha256:" + h("account-%d" % n)
envelope = lambda kind, eid, at: {"event_id": eid, "kind": kind, "occurred_at": at, "platform": "pixelforge.example", "schema_version": 1}
def edit(n, day, acct, tier, outcome, real=True, nudity=True):
    e = envelope("edit.requested", "edit-%d" % n, "2026-03-%02dT14:00:00Z" % day)
    e.update({"account": account(acct), "subscription_tier": tier, "model": {"name": "pf-inpaint", "version": "4.3.0"},
              "prompt": {"sha256": h("prompt-%d" % n)}, "input_images": [{"sha256": h("image-%d" % n)}],
              "flags": {"real_person_detected": real, "minor_suspected": False, "nudity_requested": nudity},
              "decision": {"outcome": outcome, "policy": "ncii.real-person-nudity"}})
    return e
def subscription(kind, n, day, acct, tier, features, previous=None):
    e = envelope(kind, "sub-%d" % n, "2026-03-%02dT09:00:00Z" % day)
    e.update({"account": account(acct), "subscription_id": "sub_%d" % acct, "tier": tier,
              "price": {"amount_minor": 1999, "currency": "EUR"}, "features": features})
    if previous: e["previous_tier"] = previous
    return e
before = ["image.edit", "image.generate.hd"]
after = ["image.edit", "image.edit.real_person", "image.generate.hd"]
events = [subscription("subscription.started", 1, 2, 1, "pro", before)]
n = 0
for day in range(2, 16):                       # before: free accounts get real-person nudity edits
    n += 1; events.append(edit(n, day, 10 + day % 4, "free", "allowed"))
events.append(subscription("subscription.changed", 2, 16, 1, "pro", after, previous="pro"))
for acct in (2, 3):
    events.append(subscription("subscription.changed", 10 + acct, 16, acct, "pro", after, previous="free"))
for day in range(16, 31):                      # after: free refused, pro allowed
    n += 1; events.append(edit(n, day, 10 + day % 4, "free", "blocked"))
    if day % 2 == 0:
        n += 1; events.append(edit(n, day, 1 + day % 3, "pro", "allowed"))
n += 1; events.append(edit(n, 20, 11, "free", "allowed", real=False, nudity=False))
# A victim's report, the decision (with what a statement of reasons needs) and its takedown; a no_action.
content = [{"sha256": h("output-7")}]
report = envelope("report.received", "report-1", "2026-03-21T07:00:00Z")
report.update({"report_id": "rep_1", "reporter_type": "victim", "category": "non_consensual_intimate_imagery", "content_hashes": content})
decision = envelope("moderation.decision", "mod-1", "2026-03-21T09:00:00Z")
decision.update({"report_id": "rep_1", "content_hashes": content, "decision": "remove", "reason": "synthetic nudity of a real person without consent",
                 "statement_of_reasons": {"decision_ground": "illegal_content", "legal_ground": "Code pénal, article 226-8-1", "content_date": "2026-03-20",
                                          "territorial_scope": ["FR"], "automated_detection": True, "automated_decision": "partially"}})
takedown = envelope("takedown.executed", "takedown-1", "2026-03-21T09:05:00Z")
takedown.update({"report_id": "rep_1", "content_hashes": content, "action": "removed"})
keep = envelope("moderation.decision", "mod-2", "2026-03-22T09:00:00Z")
keep.update({"content_hashes": [{"sha256": h("output-9")}], "decision": "no_action", "reason": "consenting adult, own image"})
bare = envelope("moderation.decision", "mod-3", "2026-03-23T09:00:00Z")
bare.update({"content_hashes": [{"sha256": h("output-11")}], "decision": "remove", "reason": "policy breach"})
events += [report, decision, takedown, keep, bare]
# The last event counted is a pro edit: the short bundle below leaves it out.
n += 1; events.append(edit(n, 30, 2, "pro", "allowed"))
json.dump({"events": events}, open(work + "/events.json", "w"))
print(len(events), file=open(work + "/count", "w"))
PY
EVENTS=$(cat "$WORK/count")
status=$(curl -s -o "$WORK/append.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $APPEND" -H 'Content-Type: application/json' \
    --data-binary @"$WORK/events.json" "$URL/v1/events?wait=checkpoint")
[[ $status == 201 ]] && pass "$EVENTS events of a month appended in one batch, covered by a checkpoint" || die "append: $status $(head -c 300 "$WORK/append.out")"

get() { # TOKEN PATH -> status; body in $WORK/answer
    curl -s -o "$WORK/answer" -w '%{http_code}' ${1:+-H "Authorization: Bearer $1"} "$URL$2"
}

# --- The report, week by week.
status=$(get "$INVESTIGATE" "/v1/reports/tiers?period=week")
[[ $status == 200 ]] || die "GET /v1/reports/tiers: $status $(head -c 300 "$WORK/answer")"
cp "$WORK/answer" "$WORK/report.json"
python3 - "$WORK/report.json" "$EVENTS" >"$WORK/driver-shift.out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
nudity = "real_person_detected+nudity_requested"
def count(tier, outcome, weeks):
    return sum(f["count"] for f in r["figures"] if f["kind"] == "edit.requested" and f["tier"] == tier and f["outcome"] == outcome
               and f["flags"] == nudity and f["period"] in weeks)
before, after = {"2026-03-02", "2026-03-09"}, {"2026-03-16", "2026-03-23", "2026-03-30"}
checks = [
    ("free real-person nudity edits allowed before the paywall", count("free", "allowed", before), 14),
    ("free real-person nudity edits allowed after the paywall", count("free", "allowed", after), 0),
    ("free real-person nudity edits blocked after the paywall", count("free", "blocked", after), 15),
    ("pro real-person nudity edits allowed after the paywall", count("pro", "allowed", after), 9),
    ("events counted", r["event_count"], int(sys.argv[2])),
    ("tier changes free -> pro in the week of 16 March",
     sum(c["count"] for c in r["tier_changes"] if c["period"] == "2026-03-16" and c["previous_tier"] == "free" and c["tier"] == "pro"), 2),
    ("pro unlocks image.edit.real_person from the week of 16 March",
     [f["period"] for f in r["tier_features"] if f["tier"] == "pro" and "image.edit.real_person" in f["features"]], ["2026-03-16"]),
    ("the named bundle query", r["bundle_query"], {"index_range": {"from": 0, "to": int(sys.argv[2])}}),
]
for what, got, want in checks:
    print(("ok   " if got == want else "FAIL ") + "%s: %s%s" % (what, got, "" if got == want else " (expected %s)" % (want,)))
PY
report_driver shift $?

access=$(get "$INVESTIGATE" "/v1/events?kind=access.granted" && python3 -c '
import json,sys; e=json.load(open(sys.argv[1]))["events"]
print(sum(1 for x in e if x["body"]["action"] == "tier_report" and x["body"]["query"] == {"period": "week", "time": "occurred"} and x["body"]["result_count"] == int(sys.argv[2])))' "$WORK/answer" "$EVENTS")
[[ $access == 200* && ${access#200} == 1 ]] && pass "the report is in the log as access.granted (tier_report, its parameters, the events counted)" \
    || bad "access.granted for the report: $access"

# --- Refusals: wrong role, no token, bad parameters.
for probe in "APPEND|/v1/reports/tiers|403" "|/v1/reports/tiers|401" "INVESTIGATE|/v1/reports/tiers?period=year|400" \
    "INVESTIGATE|/v1/reports/tiers?perod=week|400" "INVESTIGATE|/v1/reports/tiers?from=yesterday|400" \
    "INVESTIGATE|/v1/reports/tiers?time=local|400" "INVESTIGATE|/v1/reports/tiers?from=2026-04-01T00:00:00Z&to=2026-03-01T00:00:00Z|400"; do
    IFS='|' read -r who path want <<<"$probe"
    token=""; [[ -n $who ]] && token=${!who}
    status=$(get "$token" "$path")
    if [[ $status == "$want" ]] && grep -q '"error"' "$WORK/answer"; then
        pass "${who:-no token} $path: $status $(head -c 120 "$WORK/answer")"
    else
        bad "${who:-no token} $path: $status (expected $want) $(head -c 200 "$WORK/answer")"
    fi
done

# --- The bundle of the named query backs every figure.
QUERY=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["bundle_query"]))' "$WORK/report.json")
bundle() { # QUERY FILE
    curl -s -o "$2" -w '%{http_code}' -X POST -H "Authorization: Bearer $INVESTIGATE" -H 'Content-Type: application/json' --data-binary "$1" "$URL/v1/bundles"
}
status=$(bundle "$QUERY" "$WORK/bundle.json")
[[ $status == 200 ]] || die "bundle of $QUERY: $status $(head -c 300 "$WORK/bundle.json")"
verify() { "$GREFFE" verify "$1" --vkey "$DATA/verifier.vkey" --report "$2" --quiet >"$WORK/verify.out" 2>&1; }
if verify "$WORK/bundle.json" "$WORK/report.json" && grep -q "REPORT MATCHES" "$WORK/verify.out"; then
    pass "greffe verify --report: $(grep 'REPORT MATCHES' "$WORK/verify.out")"
else
    bad "greffe verify --report on the named bundle: $(tail -n 5 "$WORK/verify.out")"
fi

# The same bundle as greffe-bundle/v2 (read whole, not streamed): the same figures.
if "$GREFFE" bundle expand "$WORK/bundle.json" --out "$WORK/bundle-v2.json" >/dev/null 2>&1 && verify "$WORK/bundle-v2.json" "$WORK/report.json" \
    && grep -q "REPORT MATCHES" "$WORK/verify.out"; then
    pass "greffe verify --report on the bundle expanded to v2 matches too"
else
    bad "verify --report on the v2 bundle: $(tail -n 5 "$WORK/verify.out")"
fi
# A tampered count: one blocked free edit fewer.
python3 - "$WORK/report.json" "$WORK/tampered.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
f = next(f for f in r["figures"] if f["tier"] == "free" and f["outcome"] == "blocked" and f["period"] == "2026-03-23")
f["count"] -= 1
json.dump(r, open(sys.argv[2], "w"))
PY
if ! verify "$WORK/bundle.json" "$WORK/tampered.json" && grep -q "figure period 2026-03-23, tier free, kind edit.requested, outcome blocked.*stated .*, recomputed " "$WORK/verify.out"; then
    pass "a tampered count fails, naming it: $(grep -m1 'figure period' "$WORK/verify.out" | sed 's/^ *- //')"
else
    bad "tampered count: $(tail -n 5 "$WORK/verify.out")"
fi
# A member added to the report.
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["figures"][0]["note"]="trust me"; json.dump(r, open(sys.argv[2],"w"))' "$WORK/report.json" "$WORK/added.json"
if ! verify "$WORK/bundle.json" "$WORK/added.json" && grep -q 'figures\[0\]: unknown member "note"' "$WORK/verify.out"; then
    pass "a report with a member added fails, naming it"
else
    bad "report with a member added: $(tail -n 5 "$WORK/verify.out")"
fi
# Members and rows reordered: the same figures.
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["figures"].reverse(); json.dump(dict(reversed(list(r.items()))), open(sys.argv[2],"w"), indent=1)' "$WORK/report.json" "$WORK/reordered.json"
verify "$WORK/bundle.json" "$WORK/reordered.json" && pass "a report with members and rows reordered still matches" || bad "reordered report: $(tail -n 5 "$WORK/verify.out")"
# A bundle missing one event: the last pro edit.
SHORT=$(python3 -c 'import json,sys; q=json.loads(sys.argv[1]); q["index_range"]["to"]-=1; print(json.dumps(q))' "$QUERY")
status=$(bundle "$SHORT" "$WORK/short.json")
[[ $status == 200 ]] || bad "bundle of $SHORT: $status"
if ! verify "$WORK/short.json" "$WORK/report.json" && grep -q "figure period 2026-03-30, tier pro, kind edit.requested, outcome allowed.*stated 2, recomputed 1" "$WORK/verify.out" \
    && grep -q "event_count: stated $EVENTS, recomputed $((EVENTS - 1))" "$WORK/verify.out" \
    && grep -q "bundle_query: the report's figures come from the bundle of" "$WORK/verify.out"; then
    pass "a bundle missing one event (another query's) fails, naming the query and the figure: $(grep -m1 'figure period' "$WORK/verify.out" | sed 's/^ *- //')"
else
    bad "bundle missing one event: $(tail -n 5 "$WORK/verify.out")"
fi

# --- The operator's view: the same figures, the paywall marked.
"$GREFFE" report tiers --data "$DATA" --period week --format json >"$WORK/cli.json" 2>"$WORK/cli.err" || bad "greffe report tiers: $(cat "$WORK/cli.err")"
# The log has grown since by the investigator's own access records: the rest is the same.
python3 -c '
import json,sys
a,b=(json.load(open(p)) for p in sys.argv[1:3])
own=lambda r: [f for f in r["figures"] if f["kind"] != "access.granted"]
sys.exit(0 if own(a)==own(b) and a["tier_changes"]==b["tier_changes"] and a["event_count"] > b["event_count"] else 1)' \
    "$WORK/cli.json" "$WORK/report.json" && pass "greffe report tiers gives the API's figures (plus the access records written since)" || bad "greffe report tiers differs from the API"
"$GREFFE" report tiers --data "$DATA" --period month >"$WORK/cli.txt" 2>&1
grep -q "pro .*image.edit.real_person" "$WORK/cli.txt" && grep -q "index_range" "$WORK/cli.txt" && pass "greffe report tiers (text) names the bundle query and the features per tier" \
    || bad "greffe report tiers text: $(head -n 5 "$WORK/cli.txt")"
"$GREFFE" report tiers --data "$DATA" --period week >"$WORK/cli-week.txt" 2>&1
grep -q "^2026-03-16  *pro .*image.edit.real_person.*← changed" "$WORK/cli-week.txt" && pass "week by week, the text marks where pro began to unlock image.edit.real_person" \
    || bad "no paywall mark in: $(grep -A4 unlock "$WORK/cli-week.txt")"
"$GREFFE" report tiers --data "$DATA" --period fortnight >/dev/null 2>"$WORK/cli.err" && bad "--period fortnight accepted" \
    || pass "greffe report tiers --period fortnight refused: $(grep -m1 -i period "$WORK/cli.err")"

# --- DSA statements of reasons.
"$GREFFE" report dsa-sor --data "$DATA" --platform pixelforge.example >"$WORK/sor.json" 2>"$WORK/sor.err" || bad "greffe report dsa-sor: $(cat "$WORK/sor.err")"
python3 - "$WORK/sor.json" "$ROOT/Schemas/dsa-sor.schema.json" "$URL" "$INVESTIGATE" >"$WORK/driver-sor.out" <<'PY'
import base64, json, sys, urllib.request
import jsonschema
export, schema = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
statements = export["statements"]
print(("ok   " if len(statements) == 1 else "FAIL ") + "one statement (the decision; its takedown is the same decision): %d" % len(statements))
for s in statements:
    errors = [e.message for e in validator.iter_errors(s)]
    print(("ok   " if not errors else "FAIL ") + "statement %s valid against dsa-sor.schema.json (python-jsonschema)%s" % (s["puid"], ": %s" % errors if errors else ""))
    entry = next(e for e in export["ledger_entries"] if e["puid"] == s["puid"])
    req = urllib.request.Request("%s/v1/events/%d" % (sys.argv[3], entry["index"]), headers={"Authorization": "Bearer " + sys.argv[4]})
    event = json.load(urllib.request.urlopen(req))
    leaf = base64.b64decode(event["leaf_hash"]).hex()
    ok = s["puid"] == "greffe-%d-%s" % (entry["index"], leaf) and event["event_id"] == "mod-1"
    print(("ok   " if ok else "FAIL ") + "its puid names ledger entry %d (leaf hash %s…) of event %s" % (entry["index"], leaf[:12], event["event_id"]))
    print(("ok   " if s["source_type"] == "SOURCE_ARTICLE_16" and s["category"] == "STATEMENT_CATEGORY_CYBER_VIOLENCE" else "FAIL ")
          + "source and category from the victim's report: %s, %s" % (s["source_type"], s["category"]))
reasons = {e["event_id"]: e for e in export["not_exported"]}
checks = [
    ("takedown-1" in reasons and "carries out" in reasons["takedown-1"]["reason"], "the takedown of a stated decision is not stated twice"),
    ("mod-2" in reasons and "Art. 17" in reasons["mod-2"]["reason"], "no_action is no statement"),
    ("mod-3" in reasons and {"statement_of_reasons.decision_ground", "statement_of_reasons.content_date", "statement_of_reasons.automated_detection",
                             "statement_of_reasons.automated_decision", "statement_of_reasons.category"} <= set(reasons["mod-3"]["missing"]),
     "a decision without statement_of_reasons names what it lacks: %s" % reasons.get("mod-3", {}).get("missing")),
]
for ok, what in checks:
    print(("ok   " if ok else "FAIL ") + what)
PY
report_driver sor $?
"$GREFFE" report dsa-sor --data "$DATA" >/dev/null 2>"$WORK/sor.err" && bad "dsa-sor without --platform accepted" \
    || pass "greffe report dsa-sor needs --platform: $(grep -m1 -i platform "$WORK/sor.err")"
finish
