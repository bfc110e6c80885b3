#!/usr/bin/env bash
# greffe-shard-bundle/v1 (Schemas/shards.md, "Bundles across shards") in
# three verifiers: verify.html's core (web/verify-core.js under node), the
# independent reading of the Schemas (ops/tests/bundlev3.py verify-set), and
# `greffe verify`. bundlev3.py make-set writes the files (ops/tests/shards.sh
# checks the server's own):
# three shards with a few events each, shard k >= 1 opened by its
# shard.opened link to shard k-1's final checkpoint.
#
#  1. Valid sets verify in all three: three seeds, one shard alone, and a set whose
#     last link is a restore (both name the lost entries).
#  2. Each change is refused by all three (with `greffe verify`), for the expected reason and naming the
#     shard: an element removed from the middle, two elements swapped, an
#     element's checkpoint signed as another shard's (or as the base log's),
#     the link removed from element 2, a link sealing another root, a link
#     naming another shard number, an extra or a missing top-level member,
#     another origin than the key's, an element's query not the file's, no
#     element, a restore's link past what the previous element proves; and a
#     valid set under another ledger's key.
#  3. The v3 path still holds (bundlev3.py verify was refactored for
#     verify-set): a sparse v3 bundle with an erasure and a hold verifies in
#     all three; the same bundle, its hold.lifted body naming shard 1
#     (committed: a lift recorded for a sealed shard, Schemas/shards.md "Legal
#     holds across shards"), is refused by all three for that reason.
#  4. Retention across shards (Schemas/shards.md, "Retention across shards"):
#     bodies of shard 0 (and of shard 1) dropped after their shard was sealed,
#     by a retention.applied record of the last shard ("shard": 0, or 1), and
#     one body of the last shard dropped by its own record, verify in all
#     three; the last element alone too. Refused, for the expected reason: an
#     element holding such bodies checked alone (ask for the bundle across
#     shards); the record naming another shard, or none (re-committed);
#     erased.shard naming an earlier shard, the event's own, a shard not in
#     the file, or a later element that does not hold the record; a
#     same-shard record with a shard member, in the set and alone.
#  4b. Erasure orders across shards (Schemas/shards.md, "Erasure orders in a
#     sealed shard"): a body of shard 0 (and of shard 1) erased after its
#     shard was sealed, by an erasure.executed order of the last shard
#     ("shard": 0, or 1), and one body of the last shard erased by its own
#     order, verify in all three; the last element alone too. Refused by all
#     three, each for the expected reason (`greffe verify` in verify-core.js's
#     words): shard 0's element alone; the order naming another shard, or none
#     (re-committed); erased.shard naming a later element that does not hold
#     the order, or an earlier shard; the last shard's own order with a shard
#     member (Schemas/bundle.md, Erasures, step 9), in the set and alone.
#  5. The public lookup across shards: disclosure certificates of shards 0, 1
#     and 2 from a real `greffe serve --shard-max-entries 2`, each verified
#     with the base key by verify-core.js and `greffe verify` in the same
#     words ("entry i of shard k (O/k) of the ledger O"); a checkpoint origin
#     changed to another shard, to O/01 or to the base log, and another
#     ledger's key, refused by both in the same words.
#
# Usage: ops/tests/shardbundle.sh   Env: KEEP=1 keeps the work directory.
# Needs: node 20+ (WebCrypto Ed25519), python3 with cryptography, curl, a built greffe. Under a minute.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NAME=shardbundle
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-shardbundle.XXXXXX")
# shellcheck source=lib.sh
source "$ROOT/ops/tests/lib.sh"

command -v node >/dev/null || die "node not found"
[[ $(node -p 'process.versions.node.split(".")[0]') -ge 20 ]] || die "node 20+ needed (WebCrypto Ed25519): $(node --version)"
python3 -c 'import cryptography' 2>/dev/null || die "python3 cryptography missing"
GEN=$ROOT/ops/tests/bundlev3.py
# The third reader: `greffe verify`, Greffe's own (Sources/GreffeVerify/ShardBundleVerifier.swift).
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
[[ -x $GREFFE ]] || die "greffe not built: $GREFFE (swift build)"

cat >"$WORK/jscheck.js" <<'JS'
const V = require(process.argv[2]);
const fs = require('fs');
V.check(new Uint8Array(fs.readFileSync(process.argv[3])), fs.readFileSync(process.argv[4], 'utf8'), process.argv[3].replace(/.*\//, ''))
  .then((r) => { console.log(r.status); console.log(r.text || r.message); process.exit(r.status === 'verified' ? 0 : 1); });
JS

# run_both FILE VKEY: PY_RC/PY_OUT (bundlev3.py) and JS_RC/JS_OUT (verify-core.js).
run_both() {
    local verb=${3:-verify-set}
    PY_RC=0 JS_RC=0 GR_RC=0
    PY_OUT=$(python3 "$GEN" "$verb" "$1" --vkey "$2" 2>&1) || PY_RC=$?
    JS_OUT=$(node "$WORK/jscheck.js" "$ROOT/web/verify-core.js" "$1" "$2" 2>&1) || JS_RC=$?
    GR_OUT=$("$GREFFE" verify --quiet --vkey "$2" "$1" 2>&1) || GR_RC=$?
}
# The file's first problem (after its RESULT line, not a shard's own report), or its refusal.
first_problem() {
    awk '/^RESULT: /{f=1; next} f && /^  - /{print; found=1; exit} /^NOT VERIFIED: /{n=$0} END{if (!found && n) print n}' <<<"$1" | cut -c1-200
}

# make_set NAME ARGS...: $WORK/NAME.json and $WORK/NAME.vkey from bundlev3.py make-set.
make_set() {
    local name=$1
    shift
    python3 "$GEN" make-set --out "$WORK/$name.json" --key-out "$WORK/$name.vkey" "$@" >"$WORK/$name.make" 2>&1 ||
        { bad "make-set $*: $(tail -n 3 "$WORK/$name.make")"; return 1; }
}

# accepted DESCRIPTION FILE VKEY [REGEX both reports must match] [VERB: verify-set, or verify for a v3 bundle]
accepted() {
    run_both "$2" "$3" "${5:-verify-set}"
    if [[ $PY_RC == 0 && $JS_RC == 0 && $GR_RC == 0 ]] && grep -q '^RESULT: VERIFIED' <<<"$JS_OUT" &&
        { [[ -z ${4:-} ]] || { grep -qE "$4" <<<"$PY_OUT" && grep -qE "$4" <<<"$JS_OUT"; }; }; then
        pass "$1: verified by all three$([[ -z ${4:-} ]] || echo " ($(grep -m1 -oE "$4" <<<"$JS_OUT" | cut -c1-160))")"
    else
        bad "$1: bundlev3.py rc $PY_RC: $(first_problem "$PY_OUT")$(tail -n 1 <<<"$PY_OUT" | cut -c1-120) | verify-core.js rc $JS_RC: $(first_problem "$JS_OUT") | greffe verify rc $GR_RC: $(first_problem "$GR_OUT")"
    fi
}

# refused DESCRIPTION FILE VKEY PY_REGEX JS_REGEX [VERB] [GR_REGEX]: all three refuse; bundlev3.py and verify-core.js each for the
# expected reason, and `greffe verify` for GR_REGEX when given.
refused() {
    run_both "$2" "$3" "${6:-verify-set}"
    if [[ $PY_RC == 0 || $JS_RC == 0 || $GR_RC == 0 ]]; then
        bad "$1: accepted (bundlev3.py rc $PY_RC, verify-core.js rc $JS_RC, greffe verify rc $GR_RC)"
    elif ! grep -qE "$4" <<<"$PY_OUT"; then
        bad "$1: bundlev3.py refused it, but not for /$4/: $(first_problem "$PY_OUT")"
    elif ! grep -qE "$5" <<<"$JS_OUT"; then
        bad "$1: verify-core.js refused it, but not for /$5/: $(first_problem "$JS_OUT")"
    elif grep -q '^RESULT: VERIFIED' <<<"$JS_OUT"; then
        bad "$1: verify-core.js's report says RESULT: VERIFIED although it failed"
    elif [[ -n ${7:-} ]] && ! grep -qE "$7" <<<"$GR_OUT"; then
        bad "$1: greffe verify refused it, but not for /$7/: $(first_problem "$GR_OUT")"
    else
        pass "$1: refused by all three — $(first_problem "$JS_OUT" | sed 's/^ *- //' | cut -c1-200) | greffe: $(first_problem "$GR_OUT" | sed 's/^ *- //' | cut -c1-100)"
    fi
}

# 1. Valid sets.
for seed in 1 2 3; do
    make_set "valid-$seed" --seed "$seed" && accepted "a valid 3-shard set (seed $seed)" "$WORK/valid-$seed.json" "$WORK/valid-$seed.vkey"
done
make_set one --shards 1 && accepted "a set of one shard (no link)" "$WORK/one.json" "$WORK/one.vkey"
make_set restore --seed 4 --restore &&
    accepted "a set whose last link is a restore, naming the lost entries" "$WORK/restore.json" "$WORK/restore.vkey" "entries [0-9,]+ to [0-9,]+ of shard 1 were lost"

# 2. Changes, each refused by all three, for the expected reason.
case_() {
    local name=$1 description=$2 py=$3 js=$4 gr=${5:-}
    make_set "$name" --seed 5 --mutate "$name" && refused "$description" "$WORK/$name.json" "$WORK/$name.vkey" "$py" "$js" verify-set "$gr"
}
case_ drop-middle "shard element 1 removed (shard 2's moves up)" \
    "shard 1: NOT VERIFIED as a v3 bundle.*no signature" "shard 1: checkpoint \[signature\]"
case_ swap "elements 1 and 2 swapped" \
    "shard 1: NOT VERIFIED as a v3 bundle" "shard 1: checkpoint \[signature\]"
case_ other-shard-checkpoint "element 1's checkpoint signed as shard 2's (same tree)" \
    "shard 1: NOT VERIFIED as a v3 bundle.*no signature" "shard 1: checkpoint \[signature\].*no valid signature by [^ ]*/1\+"
case_ base-named-checkpoint "element 1's checkpoint signed as the base log's (same tree)" \
    "shard 1: NOT VERIFIED as a v3 bundle.*no signature" "shard 1: checkpoint \[signature\]"
case_ drop-link "the link (entry 0) left out of element 2 (gaps recomputed)" \
    "shard 2: link to shard 1: .*entry 0 .*missing" "shard 2: link to shard 1 \[shardLink\]: .*entry 0 .*missing"
case_ link-other-root "element 2's link seals shard 1 at another root (signed by shard 1's key, committed)" \
    "shard 2: link to shard 1: it seals shard 1 at" "shard 2: link to shard 1 \[shardLink\]: .*seals shard 1 at .*not that final one"
case_ link-wrong-shard "element 2's link names shard 3 (committed)" \
    "shard 2: link to shard 1: its body names shard 3" "shard 2: link to shard 1 \[shardLink\]: its body names shard 3"
case_ extra-member "an extra top-level member" \
    "extra \['comment'\]" "member \"comment\" the format does not define"
case_ missing-member "created_at removed" \
    "missing \['created_at'\]" "lacks the member \"created_at\""
case_ other-origin "the file names another ledger than the key's" \
    "the file names the ledger 'evil.example'" "the file \[origin\]: it names the ledger evil.example"
case_ query-differs "element 1's query is not the file's" \
    "shard 1: its query is not the file's" "shard 1 \[query\]"
case_ empty-shards "no element at all" \
    "shards is not a non-empty array" "/shards is not a non-empty array"
case_ restore-past-first "a restore's link, with shard 1 proved past its first lost entry" \
    "shard 2: link to shard 1: .*past the first lost entry" "shard 2: link to shard 1 \[shardLink\]: .*past the first lost one"
if [[ -f $WORK/valid-1.json && -f $WORK/valid-2.vkey ]]; then
    refused "a valid set under another ledger's key" "$WORK/valid-1.json" "$WORK/valid-2.vkey" \
        "shard 0: NOT VERIFIED as a v3 bundle" "shard 0: checkpoint \[signature\]"
fi

# 3. The v3 path, after the refactoring of bundlev3.py verify; and a hold.lifted naming a shard (Schemas/shards.md,
#    "Legal holds across shards"): such a lift is recorded in a later shard for a sealed shard's hold, so it never
#    lifts a hold of its own log. The same bundle but for that member (committed by its entry), refused by all three.
# make_v3 NAME ARGS...: $WORK/NAME.json and $WORK/NAME.vkey from bundlev3.py make.
make_v3() {
    local name=$1
    shift
    python3 "$GEN" make --out "$WORK/$name.json" --key-out "$WORK/$name.vkey" "$@" >"$WORK/$name.make" 2>&1 ||
        { bad "bundlev3.py make $*: $(tail -n 3 "$WORK/$name.make")"; return 1; }
}
make_v3 v3 --events 20 --sparse --erase 1 --hold --seed 9 &&
    accepted "a v3 bundle (sparse, an erasure, a hold placed and lifted)" "$WORK/v3.json" "$WORK/v3.vkey" "" verify
make_v3 v3-lift-shard --events 20 --sparse --erase 1 --hold --hold-lift-shard 1 --seed 9 &&
    refused "the same v3 bundle, its hold.lifted body naming shard 1 (committed)" "$WORK/v3-lift-shard.json" "$WORK/v3-lift-shard.vkey" \
        "/holds/0: the lifted record names shard 1: it lifted another shard's hold" \
        "hold 0 \(lifted\) \[hold\]: the hold\.lifted record names shard 1: it lifted another shard's hold, not this log's" verify \
        "hold 0 \(lifted\) \[hold\]: the hold\.lifted record names shard 1: it lifted another shard's hold, not this log's"

# 4. Retention across shards. Each event's problem, in both readers' words:
withheld_py() { echo "shard $1: /events/[0-9]+: body withheld: $2"; }
withheld_js() { echo "shard $1: event [0-9]+ \(index [0-9]+\) \[bodyWithheld\]: body withheld: $2"; }
# element NAME SHARD: $WORK/NAME-eSHARD.json, element SHARD of $WORK/NAME.json alone, and its key.
element() {
    python3 "$GEN" element "$WORK/$1.json" --shard "$2" --vkey "$WORK/$1.vkey" --out "$WORK/$1-e$2.json" --key-out "$WORK/$1-e$2.vkey" ||
        { bad "bundlev3.py element $1 $2"; return 1; }
}
if make_set sealed0 --seed 6 --drop-sealed 2; then
    accepted "2 bodies of shard 0 dropped after it was sealed, by a record of shard 2 (and one of shard 2 by its own)" \
        "$WORK/sealed0.json" "$WORK/sealed0.vkey" "dropped.* of shard 2"
    element sealed0 0 && refused "shard 0's element alone, its bodies dropped by shard 2's record" \
        "$WORK/sealed0-e0.json" "$WORK/sealed0-e0.vkey" \
        "/events/[0-9]+: body withheld: its record is in shard 2: ask for the bundle across shards" \
        "body withheld: its record is in shard 2: ask for the bundle across shards \(POST /v1/bundles\) to prove it" verify \
        "body withheld: its record is in shard 2: ask for the bundle across shards \(POST /v1/bundles\) to prove it"
    element sealed0 2 && accepted "shard 2's element alone (its own record, no shard member)" "$WORK/sealed0-e2.json" "$WORK/sealed0-e2.vkey" "" verify
fi
make_set sealed1 --seed 7 --drop-sealed 3 --drop-shard 1 &&
    accepted "3 bodies of shard 1 dropped after it was sealed, by a record of shard 2" \
        "$WORK/sealed1.json" "$WORK/sealed1.vkey" "dropped.* of shard 2"
case_ ret-shard-other "the record names shard 1, the bodies are shard 0's (committed)" \
    "$(withheld_py 0 "the retention record names entries of shard 1, not of this event's shard 0")" \
    "$(withheld_js 0 "the record in shard 2 covers shard 1's entries, not shard 0's")" \
    "body withheld: the record in shard 2 covers shard 1's entries, not shard 0's"
case_ ret-no-shard "the record without a shard member, used across shards (committed)" \
    "$(withheld_py 0 "the retention record has no shard member: it names entries of its own shard 2")" \
    "$(withheld_js 0 "the retention record claimed in shard 2 names no shard: it covers that shard's own entries")" \
    "body withheld: the retention record claimed in shard 2 names no shard: it covers that shard's own entries"
case_ erased-shard-earlier "erased.shard names shard 0, before the event's shard 1" \
    "$(withheld_py 1 "the retention record is said to be in shard 0, before this event's shard 1")" \
    "$(withheld_js 1 "the record is in shard 0, before this event's shard 1 was opened")" \
    "body withheld: the record is in shard 0, before this event's shard 1 was opened"
case_ erased-shard-same "erased.shard names the event's own shard 0" \
    "$(withheld_py 0 "the claim names the event's own shard 0 as its record's")" \
    "$(withheld_js 0 "the claim names this event's own shard 0 as another shard")" \
    "body withheld: the claim names this event's own shard 0 as another shard"
case_ erased-shard-missing "erased.shard names shard 3, which the file does not hold" \
    "$(withheld_py 0 "the retention record is said to be in shard 3, but the file holds shards 0 to 2 only")" \
    "$(withheld_js 0 "its record is in shard 3, which the file does not hold")" \
    "body withheld: its record is in shard 3, which the file does not hold"
case_ erased-shard-wrong-element "erased.shard names shard 1, whose checkpoint does not hold the record" \
    "$(withheld_py 0 "the retention record's inclusion proof does not hold in shard 1's checkpoint")" \
    "$(withheld_js 0 "its record's inclusion proof does not hold in shard 1's checkpoint")" \
    "body withheld: its record's inclusion proof does not hold in shard 1's checkpoint"
case_ ret-same-shard-with-shard "shard 2's own retention record with a shard member (committed)" \
    "$(withheld_py 2 "the retention record names shard 2: such a record .*never proves a body of its own shard")" \
    "$(withheld_js 2 "the retention record names shard 2: it covers another shard's entries, not this log's")" \
    "body withheld: the retention record names shard 2: it covers another shard's entries, not this log's"
[[ -f $WORK/ret-same-shard-with-shard.json ]] && element ret-same-shard-with-shard 2 &&
    refused "that element alone: its own record with a shard member (Schemas/bundle.md, Retention, step 9)" \
        "$WORK/ret-same-shard-with-shard-e2.json" "$WORK/ret-same-shard-with-shard-e2.vkey" \
        "/events/[0-9]+: body withheld: the retention record names shard 2: such a record .*never proves a body of its own shard" \
        "event [0-9]+ \(index [0-9]+\) \[bodyWithheld\]: body withheld: the retention record names shard 2: it covers another shard's entries, not this log's" verify \
        "body withheld: the retention record names shard 2: it covers another shard's entries, not this log's"

# 4b. Erasure orders across shards: the same proofs with erasure.executed orders (one body each), and the
#     same-shard rule of Schemas/bundle.md, Erasures, step 9. `greffe verify` must refuse in the words
#     verify-core.js mirrors.
if make_set ordered0 --seed 8 --erase-sealed; then
    accepted "a body of shard 0 erased after it was sealed, by an order recorded in shard 2 (and one of shard 2 by its own order)" \
        "$WORK/ordered0.json" "$WORK/ordered0.vkey" "erased.* of shard 2"
    element ordered0 0 && refused "shard 0's element alone, its body erased by shard 2's order" \
        "$WORK/ordered0-e0.json" "$WORK/ordered0-e0.vkey" \
        "/events/[0-9]+: body withheld: its record is in shard 2: ask for the bundle across shards" \
        "body withheld: its record is in shard 2: ask for the bundle across shards \(POST /v1/bundles\) to prove it" verify \
        "body withheld: its record is in shard 2: ask for the bundle across shards \(POST /v1/bundles\) to prove it"
    element ordered0 2 && accepted "shard 2's element alone (its own order, no shard member)" "$WORK/ordered0-e2.json" "$WORK/ordered0-e2.vkey" \
        "" verify
fi
make_set ordered1 --seed 10 --erase-sealed --drop-shard 1 &&
    accepted "a body of shard 1 erased after it was sealed, by an order recorded in shard 2" \
        "$WORK/ordered1.json" "$WORK/ordered1.vkey" "erased.* of shard 2"
case_ order-shard-other "the order names shard 1, the erased body is shard 0's (committed)" \
    "$(withheld_py 0 "the erasure record erased an entry of shard 1, not of this event's shard 0")" \
    "$(withheld_js 0 "the record in shard 2 covers shard 1's entries, not shard 0's")" \
    "body withheld: the record in shard 2 covers shard 1's entries, not shard 0's"
case_ order-no-shard "the order without a shard member, used across shards (committed)" \
    "$(withheld_py 0 "the erasure record has no shard member: its target_index is an entry of its own shard 2")" \
    "$(withheld_js 0 "the erasure record claimed in shard 2 names no shard: it covers that shard's own entries, not this one")" \
    "body withheld: the erasure record claimed in shard 2 names no shard: it covers that shard's own entries, not this one"
case_ order-erased-shard-wrong-element "erased.shard names shard 1, whose checkpoint does not hold the order" \
    "$(withheld_py 0 "the erasure record's inclusion proof does not hold in shard 1's checkpoint")" \
    "$(withheld_js 0 "its record's inclusion proof does not hold in shard 1's checkpoint")" \
    "body withheld: its record's inclusion proof does not hold in shard 1's checkpoint"
case_ order-erased-shard-earlier "erased.shard names shard 0, before the erased body's shard 1" \
    "$(withheld_py 1 "the erasure record is said to be in shard 0, before this event's shard 1")" \
    "$(withheld_js 1 "the record is in shard 0, before this event's shard 1 was opened")" \
    "body withheld: the record is in shard 0, before this event's shard 1 was opened"
case_ order-same-shard-with-shard "shard 2's own order with a shard member (committed)" \
    "$(withheld_py 2 "the erasure record names shard 2: such an order .*never proves a body of its own shard")" \
    "$(withheld_js 2 "the erasure record names shard 2: it erased another shard's entry, not this log's")" \
    "body withheld: the erasure record names shard 2: it erased another shard's entry, not this log's"
[[ -f $WORK/order-same-shard-with-shard.json ]] && element order-same-shard-with-shard 2 &&
    refused "that element alone: its own order with a shard member (Schemas/bundle.md, Erasures, step 9)" \
        "$WORK/order-same-shard-with-shard-e2.json" "$WORK/order-same-shard-with-shard-e2.vkey" \
        "/events/[0-9]+: body withheld: the erasure record names shard 2: such an order .*never proves a body of its own shard" \
        "event [0-9]+ \(index [0-9]+\) \[bodyWithheld\]: body withheld: the erasure record names shard 2: it erased another shard's entry, not this log's" verify \
        "body withheld: the erasure record names shard 2: it erased another shard's entry, not this log's"

# 5. The public lookup across shards (Schemas/shards.md, "The public lookup across shards"): a real
#    `greffe serve --shard-max-entries 2`, four edit.completed events naming one output image, appended one by
#    one (shards 0, 0, 1, 2). GET /v1/lookup?sha256= finds the four, each naming its shard, and each
#    certificate verifies with the base key in verify-core.js and `greffe verify`, both saying the same
#    "entry i of shard k (O/k) of the ledger O" (shard 0: "of the ledger O"). A shard certificate whose
#    checkpoint origin line names another shard (O/2), the same shard with a leading zero (O/01) or the base
#    log (O) is refused by both, as is a shard certificate under another ledger's key.
LDATA=$WORK/lookup-data
LORIGIN=shardbundle.greffe.test/$$
if "$GREFFE" init --data "$LDATA" --origin "$LORIGIN" >"$WORK/lookup-init.log" 2>&1 &&
    LTOKEN=$("$GREFFE" token create --data "$LDATA" --role append --platform pixelforge.example --name lookup 2>>"$WORK/lookup-init.log"); then
    LPORT=$(free_port)
    LURL=http://127.0.0.1:$LPORT
    "$GREFFE" serve --data "$LDATA" --listen "127.0.0.1:$LPORT" --checkpoint-interval 0.1 --anonymous-rate 0 \
        --shard-max-entries 2 --log-level notice >"$WORK/serve.log" 2>&1 &
    LPID=$!
    PIDS+=("$LPID")
    wait_http "$LPID" "$LURL" serve
    OUTPUT=$(printf '5b%.0s' $(seq 32))
    # completed N: an edit.completed event (Schemas/events/examples/edit.completed) naming $OUTPUT as its output.
    completed() {
        python3 - "$ROOT/Schemas/events/examples/edit.completed/valid-modified-output.json" "$1" "$OUTPUT" <<'PY'
import json, sys
event = json.load(open(sys.argv[1]))
event.update({"event_id": "lookup-across-shards-%s" % sys.argv[2], "request_event_id": "lookup-request-%s" % sys.argv[2],
              "output_images": [{"sha256": sys.argv[3]}]})
print(json.dumps({"events": [event]}))
PY
    }
    placed=()
    for n in 1 2 3 4; do
        answer=$(completed "$n" | curl -s --max-time 30 -H "Authorization: Bearer $LTOKEN" -H 'Content-Type: application/json' \
            --data-binary @- "$LURL/v1/events?wait=checkpoint" || true)
        placed+=("$(python3 -c 'import json,sys; r=json.load(sys.stdin)["results"][0]; print("%s/%s" % (r.get("shard", 0), r["index"]))' <<<"$answer" 2>/dev/null || echo "? $answer")")
    done
    [[ ${placed[*]} == "0/0 0/1 1/1 2/1" ]] && pass "four events appended one by one land at shard/index ${placed[*]}" ||
        bad "four events appended: placed at ${placed[*]} (expected 0/0 0/1 1/1 2/1)"
    curl -s --max-time 30 "$LURL/v1/lookup?sha256=$OUTPUT" >"$WORK/lookup.json" || true
    # Each match's certificate as $WORK/cert-SHARD-INDEX.json, and doctored copies of shard 1's.
    found=$(python3 - "$WORK/lookup.json" "$WORK" "$LORIGIN" <<'PY'
import json, sys
answer, work, origin = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
places = []
for match in answer.get("matches", []):
    name = "%s/cert-%s-%s.json" % (work, match.get("shard", "none"), match["index"])
    json.dump(match["certificate"], open(name, "w"))
    places.append("%s/%s" % (match.get("shard", "none"), match["index"]))
    if match.get("shard") == 1:
        for label, other in (("other-shard", origin + "/2"), ("leading-zero", origin + "/01"), ("base", origin)):
            doctored = dict(match["certificate"])
            lines = doctored["checkpoint"].split("\n")
            lines[0] = other
            doctored["checkpoint"] = "\n".join(lines)
            json.dump(doctored, open("%s/doctored-%s.json" % (work, label), "w"))
print(" ".join(places))
PY
) || found="(unreadable answer)"
    [[ $found == "0/0 0/1 1/1 2/1" ]] && pass "GET /v1/lookup?sha256= finds all four, each naming its shard ($found)" ||
        bad "GET /v1/lookup?sha256=: matches at '$found' (expected 0/0 0/1 1/1 2/1): $(head -c 300 "$WORK/lookup.json")"
    kill "$LPID" 2>/dev/null || true
    wait "$LPID" 2>/dev/null || true
    # The server is gone: what follows is checked from the files and the base key alone.
    LVKEY=$LDATA/verifier.vkey
    for place in $found; do
        shard=${place%/*} index=${place#*/}
        file=$WORK/cert-$shard-$index.json
        if [[ $shard == 0 ]]; then where="entry $index of the ledger $LORIGIN,"; else where="entry $index of shard $shard ($LORIGIN/$shard) of the ledger $LORIGIN,"; fi
        JS_RC=0 GR_RC=0
        JS_OUT=$(node "$WORK/jscheck.js" "$ROOT/web/verify-core.js" "$file" "$LVKEY" 2>&1) || JS_RC=$?
        GR_OUT=$("$GREFFE" verify --vkey "$LVKEY" "$file" 2>&1) || GR_RC=$?
        # The same report in both, but for the file name verify-core.js gives its first line.
        if [[ $JS_RC == 0 && $GR_RC == 0 ]] && grep -qF "$where" <<<"$GR_OUT" && grep -q '^RESULT: VERIFIED' <<<"$GR_OUT" &&
            [[ $(tail -n +2 <<<"$JS_OUT" | sed 's/^Disclosure certificate [^:]*:/Disclosure certificate:/') == "$GR_OUT" ]]; then
            pass "shard $shard's certificate (entry $index) verifies with the base key in verify-core.js and greffe verify, in the same words: \"$where\""
        else
            bad "shard $shard's certificate (entry $index): verify-core.js rc $JS_RC: $(head -n 2 <<<"$JS_OUT" | tr '\n' ' ' | cut -c1-200) | greffe verify rc $GR_RC: $(head -n 1 <<<"$GR_OUT" | cut -c1-200)"
        fi
    done
    # refused_certificate DESCRIPTION FILE VKEY REGEX: both refuse it; verify-core.js for /REGEX/.
    refused_certificate() {
        JS_RC=0 GR_RC=0
        JS_OUT=$(node "$WORK/jscheck.js" "$ROOT/web/verify-core.js" "$2" "$3" 2>&1) || JS_RC=$?
        GR_OUT=$("$GREFFE" verify --vkey "$3" "$2" 2>&1) || GR_RC=$?
        if [[ $JS_RC == 0 || $GR_RC == 0 ]]; then
            bad "$1: accepted (verify-core.js rc $JS_RC, greffe verify rc $GR_RC)"
        elif ! grep -qE "$4" <<<"$JS_OUT"; then
            bad "$1: verify-core.js refused it, but not for /$4/: $(tail -n 1 <<<"$JS_OUT" | cut -c1-250)"
        # Both name the file as given (verify-core.js its base name): the same words after it.
        elif [[ $(tail -n 1 <<<"$JS_OUT" | sed 's/^.* is a disclosure certificate/…/') != "$(sed 's/^.* is a disclosure certificate/…/' <<<"$GR_OUT")" ]]; then
            bad "$1: refused by both, in other words: verify-core.js: $(tail -n 1 <<<"$JS_OUT" | cut -c1-200) | greffe verify: $(cut -c1-200 <<<"$GR_OUT")"
        else
            pass "$1: refused by both in the same words — $(tail -n 1 <<<"$JS_OUT" | sed 's/^.*does not hold: the checkpoint does not verify: //' | cut -c1-220)"
        fi
    }
    if [[ -f $WORK/doctored-other-shard.json ]]; then
        refused_certificate "shard 1's certificate, its checkpoint origin changed to $LORIGIN/2" "$WORK/doctored-other-shard.json" "$LVKEY" \
            "the checkpoint does not verify: checkpoint of size [0-9]+ carries no valid signature by any of the given keys \(${LORIGIN//./\\.}\+[0-9a-f]{8}, ${LORIGIN//./\\.}/2\+[0-9a-f]{8}\)"
        refused_certificate "shard 1's certificate, its checkpoint origin changed to $LORIGIN/01 (a leading zero: no shard)" "$WORK/doctored-leading-zero.json" "$LVKEY" \
            "the checkpoint does not verify: checkpoint of size [0-9]+ carries no valid signature by ${LORIGIN//./\\.}\+[0-9a-f]{8}$"
        refused_certificate "shard 1's certificate, its checkpoint origin changed to the base log's $LORIGIN" "$WORK/doctored-base.json" "$LVKEY" \
            "the checkpoint does not verify: checkpoint of size [0-9]+ carries no valid signature by ${LORIGIN//./\\.}\+[0-9a-f]{8}$"
    else
        bad "no certificate of shard 1 to doctor"
    fi
    if [[ -f $WORK/cert-1-1.json && -f $WORK/valid-2.vkey ]]; then
        refused_certificate "shard 1's certificate under another ledger's key" "$WORK/cert-1-1.json" "$WORK/valid-2.vkey" \
            "the checkpoint does not verify: checkpoint of size [0-9]+ carries no valid signature by "
    fi
else
    bad "greffe init / token create for the lookup ledger: $(tail -n 3 "$WORK/lookup-init.log")"
fi

finish
