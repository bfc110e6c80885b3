#!/usr/bin/env bash
# Disaster recovery without a fork (issue 18, "A disaster test").
#
# A ledger with a witness (quorum 1) publishes cosigned checkpoints, is
# backed up, goes on (appends, an erasure), is mirrored (`greffe mirror`, the
# off-site copy of its public tiles), then dies with its disk (kill -9, data
# directory deleted). `greffe restore --tail-from MIRROR` must:
#   - refuse, writing nothing, a doctored copy (an entry byte changed), the
#     copy of another ledger, a copy older than what the witness cosigned
#     (--witness), a witness that cannot answer, a missing --reason, a
#     directory without the key;
#   - put back the entries after the backup, so that the tree is the one the
#     witness cosigned; record the gap as a ledger.restored entry naming the
#     lost range and the lost erasure order, and say so;
# and then, served again with the same witness: the witness cosigns what
# follows (a fork would get its 409), `greffe audit --from-checkpoint` proves
# the last checkpoint published before the loss consistent with the new one
# and reports the restore, the record reads back, a lost entry's event
# answers 404 with the reason, and the platform's re-send of a lost event is
# taken as new.
#
# Usage: ops/tests/disaster.sh   Env: GREFFE (binary, default .build/debug/greffe), KEEP=1
# Needs: python3, curl. Loopback only; about 20 s.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=disaster
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-disaster.XXXXXX")
# shellcheck source=lib.sh
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
for cmd in python3 curl; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
STARTED=$SECONDS

DATA=$WORK/data
ORIGIN="disaster.greffe.test/log-$$"
"$GREFFE" init --data "$DATA" --origin "$ORIGIN" >/dev/null || die "greffe init"
TOKEN=$("$GREFFE" token create --data "$DATA" --role append --platform disaster.example --name platform) || die "token create"
ADMIN=$("$GREFFE" token create --data "$DATA" --role admin --name admin) || die "token create (admin)"
INVESTIGATE=$("$GREFFE" token create --data "$DATA" --role investigate --name investigator) || die "token create (investigate)"
# The operator keeps the keys apart from the data (RUNBOOK): they survive the disk.
mkdir -p "$WORK/keys" && cp "$DATA/signing.key" "$DATA/verifier.vkey" "$WORK/keys/" || die "saving the keys"

"$GREFFE" witness init --data "$WORK/w1" --name "disaster.greffe.test/w1" >/dev/null || die "witness init"
WPORT=$(free_port)
"$GREFFE" witness --data "$WORK/w1" --listen "127.0.0.1:$WPORT" --log "$ORIGIN=$(cat "$DATA/verifier.vkey")" >>"$WORK/w1.log" 2>&1 &
WPID=$!
PIDS+=("$WPID")
wait_http "$WPID" "http://127.0.0.1:$WPORT" w1
WVKEY=$WORK/w1/witness.vkey

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
start_log() {
    "$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.1 --log-level warning --anonymous-rate 0 \
        --witness "$(cat "$WVKEY")=http://127.0.0.1:$WPORT" --witness-quorum 1 --witness-timeout 2 >>"$WORK/serve.log" 2>&1 &
    LOG_PID=$!
    PIDS+=("$LOG_PID")
    wait_http "$LOG_PID" "$URL" serve
}

append() { # append FIRST COUNT [wait]: events disaster-FIRST … as one request; prints the answer
    python3 - "$1" "$2" >"$WORK/batch.json" <<'PY'
import json, sys
first, count = int(sys.argv[1]), int(sys.argv[2])
print(json.dumps({"events": [{"event_id": "disaster-%d" % n, "kind": "legal.request", "occurred_at": "2026-12-06T10:00:00Z",
    "platform": "disaster.example", "schema_version": 1, "authority": "Parquet de Paris", "reference": "ref-%d" % n,
    "direction": "received", "request_type": "preservation"} for n in range(first, first + count)]}))
PY
    curl -s --max-time 60 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary @"$WORK/batch.json" \
        "$URL/v1/events${3:+?wait=checkpoint}" | tee -a "${RECEIPTS:-$WORK/receipts.jsonl}"
    echo >>"${RECEIPTS:-$WORK/receipts.jsonl}"
}
size_of() { sed -n 2p "$1"; }
cosigned_by_witness() { grep -q "^— disaster.greffe.test/w1 " "$1"; }

start_log
append 0 100 wait >/dev/null || die "append 0"
# A copy taken early (an off-site mirror that stopped syncing): older than the backup.
"$GREFFE" mirror --url "$URL" --out "$WORK/early-mirror" --vkey "$DATA/verifier.vkey" --quiet >"$WORK/mirror.out" 2>&1 || die "greffe mirror (early): $(cat "$WORK/mirror.out")"
for n in 100 200; do append "$n" 100 >/dev/null || die "append $n"; done
"$GREFFE" backup --data "$DATA" --out "$WORK/backup.sqlite" >"$WORK/backup.out" 2>&1 || die "greffe backup: $(cat "$WORK/backup.out")"
BACKUP_SIZE=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select value from meta where key=\"tree_size\"").fetchone()[0])' "$WORK/backup.sqlite")
# More than 4,096 entries after the backup: the restore writes the tail in batches as the replay checks it.
for n in $(seq 300 100 4900); do append "$n" 100 >/dev/null || die "append $n"; done
# A copy that stopped syncing after the backup, before the last checkpoints the witness cosigned.
"$GREFFE" mirror --url "$URL" --out "$WORK/mid-mirror" --vkey "$DATA/verifier.vkey" --quiet >"$WORK/mirror.out" 2>&1 || die "greffe mirror (mid): $(cat "$WORK/mirror.out")"
# An erasure ordered after the backup: its order is in the lost tail, the body it erased is in the backup.
ERASE_STATUS=$(curl -s -o "$WORK/erase.json" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    --data-binary '{"legal_reference":"TJ Paris 26/0042","reason":"order to erase"}' "$URL/v1/events/7/erasure")
[[ $ERASE_STATUS == 200 || $ERASE_STATUS == 201 ]] || die "erasure of event 7: $ERASE_STATUS $(cat "$WORK/erase.json")"
append 5000 50 wait >"$WORK/last.json" || die "append with wait=checkpoint"
curl -sf "$URL/checkpoint" -o "$WORK/published.txt" || die "GET /checkpoint"
PUBLISHED=$(size_of "$WORK/published.txt")
if cosigned_by_witness "$WORK/published.txt" && (( PUBLISHED > BACKUP_SIZE )); then
    pass "before the loss: backup at tree size $BACKUP_SIZE, then checkpoint $PUBLISHED published, cosigned by the witness"
else
    die "the published checkpoint ($PUBLISHED) is not cosigned or not beyond the backup ($BACKUP_SIZE): $(cat "$WORK/published.txt")"
fi
"$GREFFE" mirror --url "$URL" --out "$WORK/mirror" --vkey "$DATA/verifier.vkey" --quiet >"$WORK/mirror.out" 2>&1 || die "greffe mirror: $(cat "$WORK/mirror.out")"
[[ $(size_of "$WORK/mirror/checkpoint") == "$PUBLISHED" ]] || die "the mirror holds $(size_of "$WORK/mirror/checkpoint"), not $PUBLISHED"

# The disk is lost.
kill -KILL "$LOG_PID"
wait "$LOG_PID" 2>/dev/null
rm -rf "$DATA"
pass "the ledger killed (-9) and its data directory deleted"

fresh() { rm -rf "$DATA" && mkdir -p "$DATA" && chmod 700 "$DATA" && cp "$WORK/keys/signing.key" "$DATA/" && chmod 600 "$DATA/signing.key"; }
no_database() { [[ ! -e $DATA/greffe.sqlite && ! -e $DATA/greffe.sqlite.restoring ]]; }
refused() { # refused WHAT EXPECTED-TEXT ARGS…: the restore exits non-zero, names EXPECTED-TEXT, leaves no database
    local what=$1 expected=$2
    shift 2
    fresh
    if "$GREFFE" restore --backup "$WORK/backup.sqlite" --data "$DATA" "$@" >"$WORK/refused.out" 2>&1; then
        bad "restore with $what succeeded: $(cat "$WORK/refused.out")"
    elif ! grep -q -- "$expected" "$WORK/refused.out"; then
        bad "restore with $what: the message does not say \"$expected\": $(cat "$WORK/refused.out")"
    elif ! no_database; then
        bad "restore with $what left a database behind"
    else
        pass "restore with $what refused, nothing written: $(grep -m1 -o 'restore refused.*\|Error.*' "$WORK/refused.out" | cut -c1-200)"
    fi
}

# A doctored copy: one byte of a tail entry's commitment changed (its level-0 hash left as it was).
cp -r "$WORK/mirror" "$WORK/doctored"
python3 - "$WORK/doctored" "$BACKUP_SIZE" <<'PY' || die "doctoring the copy"
import glob, os, sys
root, backup = sys.argv[1], int(sys.argv[2])
index = backup + 17
base = os.path.join(root, "tile", "entries", "%03d" % (index // 256))
path = base if os.path.exists(base) else sorted(glob.glob(base + ".p/*"))[-1]
data = bytearray(open(path, "rb").read())
offset = 0
for _ in range(index % 256):
    offset += 2 + (data[offset] << 8 | data[offset + 1])
data[offset + 2 + 49] ^= 1  # the entry's commitment, first byte
open(path, "wb").write(bytes(data))
PY
refused "a doctored copy (an entry changed)" "does not prove its checkpoint" --tail-from "$WORK/doctored" --reason "disk lost" --no-witnesses
# The copy of another ledger (another key): its checkpoint is not this ledger's.
OTHER=$WORK/other
"$GREFFE" init --data "$OTHER" --origin "$ORIGIN" >/dev/null || die "init of another ledger"
mkdir -p "$WORK/other-mirror/tile" && cp "$WORK/mirror/checkpoint" "$WORK/other-mirror/checkpoint"
python3 - "$WORK/other-mirror/checkpoint" "$OTHER/signing.key" <<'PY' || die "signing another ledger's checkpoint"
import base64, hashlib, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
path, keyfile = sys.argv[1], sys.argv[2]
note = open(path, "rb").read()
body = note[:note.index(b"\n\n") + 1]
parts = open(keyfile).read().strip().split("+", 4)
name, keyid, secret = parts[2], bytes.fromhex(parts[3]), base64.b64decode(parts[4])[1:]
signature = Ed25519PrivateKey.from_private_bytes(secret).sign(body)
open(path, "wb").write(body + b"\n\xe2\x80\x94 " + name.encode() + b" " + base64.b64encode(keyid + signature) + b"\n")
PY
refused "another ledger's copy" "is not one this ledger signed" --tail-from "$WORK/other-mirror" --reason "disk lost" --no-witnesses
refused "--tail-from without --reason" "needs --reason" --tail-from "$WORK/mirror"
refused "--tail-from naming no witness" "or --no-witnesses if it has none" --tail-from "$WORK/mirror" --reason "disk lost"
WITNESS_ARG="$(cat "$WVKEY")=http://127.0.0.1:$WPORT"
refused "a copy older than what the witness cosigned (--witness)" "witness disaster.greffe.test/w1 cosigned this log at size $PUBLISHED, but the copy" \
    --tail-from "$WORK/mid-mirror" --reason "disk lost" --witness "$WITNESS_ARG"
refused "a witness that cannot answer (--witness)" "could not say what it holds" \
    --tail-from "$WORK/mirror" --reason "disk lost" --witness "$(cat "$WVKEY")=http://127.0.0.1:1"
rm -rf "$DATA" && mkdir -p "$DATA"
if "$GREFFE" restore --backup "$WORK/backup.sqlite" --data "$DATA" --tail-from "$WORK/mirror" --reason "disk lost" --no-witnesses >"$WORK/refused.out" 2>&1; then
    bad "restore --tail-from without the signing key succeeded"
elif grep -q "needs the ledger's signing key" "$WORK/refused.out" && no_database; then
    pass "restore --tail-from without the signing key in the directory refused, nothing written"
else
    bad "restore --tail-from without the key: $(cat "$WORK/refused.out")"
fi

# The control: the backup restored alone, as before --tail-from. Its next checkpoint is a fork, and the witness says so.
NAIVE=$WORK/naive
mkdir -p "$NAIVE" && chmod 700 "$NAIVE" && cp "$WORK/keys/signing.key" "$NAIVE/" && chmod 600 "$NAIVE/signing.key"
"$GREFFE" restore --backup "$WORK/backup.sqlite" --data "$NAIVE" >"$WORK/naive-restore.out" 2>&1 || die "plain restore: $(cat "$WORK/naive-restore.out")"
NPORT=$(free_port)
"$GREFFE" serve --data "$NAIVE" --listen "127.0.0.1:$NPORT" --checkpoint-interval 0.1 --log-level warning --anonymous-rate 0 \
    --witness "$(cat "$WVKEY")=http://127.0.0.1:$WPORT" --witness-quorum 1 --witness-timeout 2 >>"$WORK/naive.log" 2>&1 &
NAIVE_PID=$!
PIDS+=("$NAIVE_PID")
wait_http "$NAIVE_PID" "http://127.0.0.1:$NPORT" naive
for _ in 1 2 3; do
    URL=http://127.0.0.1:$NPORT RECEIPTS=$WORK/naive-receipts.jsonl append $((2000 + RANDOM)) 300 >/dev/null
done
sleep 2
curl -s "http://127.0.0.1:$NPORT/checkpoint" -o "$WORK/naive-checkpoint.txt"
# The witness refuses a checkpoint it cannot see extend what it holds: another root for a size it saw, or a smaller tree.
if (( $(size_of "$WORK/naive-checkpoint.txt") <= BACKUP_SIZE )) && grep -q "witness refused the checkpoint\|witness holds a size this checkpoint cannot extend" "$WORK/naive.log"; then
    pass "control: the backup restored alone is refused by the witness (its tree is not one that extends what the witness holds), nothing past the backup is cosigned ($(grep -m1 -o 'answer=.*status=[0-9]*\|witness_size=[0-9]* \[' "$WORK/naive.log" | cut -c1-160))"
else
    bad "control: the plain restore was not refused by the witness: $(cat "$WORK/naive-checkpoint.txt"; tail -n 3 "$WORK/naive.log")"
fi
{ kill -KILL "$NAIVE_PID" && wait "$NAIVE_PID"; } 2>/dev/null
# That forked log, served without the witness, publishes its own tree under the ledger's real key: a copy of it
# is signed by this ledger and replays from the backup's root. Only the witness can tell it is not the log it saw.
"$GREFFE" serve --data "$NAIVE" --listen "127.0.0.1:$NPORT" --checkpoint-interval 0.1 --log-level warning --anonymous-rate 0 >>"$WORK/naive.log" 2>&1 &
NAIVE_PID=$!
PIDS+=("$NAIVE_PID")
wait_http "$NAIVE_PID" "http://127.0.0.1:$NPORT" naive
"$GREFFE" mirror --url "http://127.0.0.1:$NPORT" --out "$WORK/forked-mirror" --vkey "$WORK/keys/verifier.vkey" --quiet >"$WORK/mirror.out" 2>&1 \
    || die "greffe mirror of the forked log: $(cat "$WORK/mirror.out")"
{ kill -KILL "$NAIVE_PID" && wait "$NAIVE_PID"; } 2>/dev/null
(( $(size_of "$WORK/forked-mirror/checkpoint") > BACKUP_SIZE )) || die "the forked log published nothing past the backup"
refused "a forked copy signed with the ledger's own key (--witness)" "witness disaster.greffe.test/w1 cosigned this log at size $PUBLISHED, but the copy" \
    --tail-from "$WORK/forked-mirror" --reason "disk lost" --witness "$WITNESS_ARG"

# A copy older than the backup: nothing to recover from it, and the restore says what that means.
fresh
if "$GREFFE" restore --backup "$WORK/backup.sqlite" --data "$DATA" --tail-from "$WORK/early-mirror" --reason "disk lost" --no-witnesses >"$WORK/early.out" 2>&1 \
    && grep -q "holds nothing beyond the backup (tree size $BACKUP_SIZE): nothing recovered" "$WORK/early.out" \
    && [[ $(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from events where kind=\"ledger.restored\"").fetchone()[0])' "$DATA/greffe.sqlite") == 0 ]]; then
    pass "restore --tail-from a copy older than the backup: restored, nothing recovered, no record, and it warns of the fork: $(grep -o 'If the lost.*' "$WORK/early.out" | cut -c1-120)"
else
    bad "restore from a copy older than the backup: $(cat "$WORK/early.out")"
fi

# The restore.
fresh
if "$GREFFE" restore --backup "$WORK/backup.sqlite" --data "$DATA" --tail-from "$WORK/mirror" --reason "disk of the ledger lost (test)" \
    --witness "$WITNESS_ARG" >"$WORK/restore.out" 2>&1; then
    pass "greffe restore --tail-from: $(grep -m1 recovered "$WORK/restore.out" | cut -c1-200)"
else
    die "greffe restore --tail-from: $(cat "$WORK/restore.out")"
fi
RECORD=$PUBLISHED
grep -q "witness disaster.greffe.test/w1 holds size $PUBLISHED, which the copy covers" "$WORK/restore.out" \
    && pass "the witness was asked first: it holds $PUBLISHED, which the copy covers" || bad "the witness check: $(cat "$WORK/restore.out")"
grep -q "recorded as entry $RECORD (ledger.restored)" "$WORK/restore.out" \
    && pass "the gap is recorded as entry $RECORD, and the restore says so" || bad "the restore's report: $(cat "$WORK/restore.out")"
grep -q "(erasure.executed) was an erasure whose order is lost" "$WORK/restore.out" \
    && pass "the restore names the erasure order lost with the tail: $(grep -m1 -o 'entry [0-9]* (erasure.executed)' "$WORK/restore.out")" \
    || bad "the lost erasure order is not named: $(cat "$WORK/restore.out")"

# The same restore from the copy served over HTTP (nginx, a CDN): the same tree and record.
MPORT=$(free_port)
python3 -m http.server "$MPORT" --bind 127.0.0.1 --directory "$WORK/mirror" >"$WORK/http-mirror.log" 2>&1 &
MIRROR_PID=$!
PIDS+=("$MIRROR_PID")
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$MPORT/checkpoint" >/dev/null && break; sleep 0.1; done
mkdir -p "$WORK/data-url" && chmod 700 "$WORK/data-url" && cp "$WORK/keys/signing.key" "$WORK/data-url/" && chmod 600 "$WORK/data-url/signing.key"
if "$GREFFE" restore --backup "$WORK/backup.sqlite" --data "$WORK/data-url" --tail-from "http://127.0.0.1:$MPORT" --reason "disk lost" --no-witnesses \
    >"$WORK/restore-url.out" 2>&1 && grep -q "recorded as entry $RECORD (ledger.restored)" "$WORK/restore-url.out" \
    && [[ $(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select hex(leaf_hash) from entries where idx=?", (int(sys.argv[2]) - 1,)).fetchone()[0])' "$WORK/data-url/greffe.sqlite" "$RECORD") \
        == $(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select hex(leaf_hash) from entries where idx=?", (int(sys.argv[2]) - 1,)).fetchone()[0])' "$DATA/greffe.sqlite" "$RECORD") ]]; then
    pass "restore --tail-from the copy over HTTP: the same tail, recorded as entry $RECORD"
else
    bad "restore --tail-from over HTTP: $(tail -n 3 "$WORK/restore-url.out")"
fi
kill "$MIRROR_PID" 2>/dev/null

start_log
append 6000 20 wait >"$WORK/after.json" || die "append after the restore"
curl -sf "$URL/checkpoint" -o "$WORK/after.txt" || die "GET /checkpoint after the restore"
AFTER=$(size_of "$WORK/after.txt")
if cosigned_by_witness "$WORK/after.txt" && (( AFTER > RECORD )); then
    pass "the witness, which cosigned $PUBLISHED, cosigns $AFTER after the restore: no fork"
else
    bad "after the restore the checkpoint ($AFTER) is not cosigned by the witness: $(cat "$WORK/after.txt"; tail -n 5 "$WORK/serve.log")"
fi
if "$GREFFE" audit --url "$URL" --vkey "$WORK/keys/verifier.vkey" --from-checkpoint "$WORK/published.txt" --quiet >"$WORK/audit.out" 2>&1 \
    && grep -q "audit: OK" "$WORK/audit.out"; then
    pass "greffe audit from the checkpoint published before the loss: $(cut -c1-200 "$WORK/audit.out")"
else
    bad "greffe audit --from-checkpoint published.txt: $(cat "$WORK/audit.out")"
fi
if "$GREFFE" audit --url "$URL" --vkey "$WORK/keys/verifier.vkey" --quiet >"$WORK/audit-full.out" 2>&1 \
    && grep -q "entry $RECORD records a restore (ledger.restored)" "$WORK/audit-full.out"; then
    pass "greffe audit reports the restore: $(grep -o 'entry [0-9]* records a restore.*' "$WORK/audit-full.out" | cut -c1-200)"
else
    bad "greffe audit does not report the restore: $(cat "$WORK/audit-full.out")"
fi
curl -s -H "Authorization: Bearer $INVESTIGATE" "$URL/v1/events/$RECORD" -o "$WORK/record.json"
if python3 - "$WORK/record.json" "$BACKUP_SIZE" "$PUBLISHED" <<'PY'; then
import json, sys
record, first, end = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
body = record["body"]
assert body["kind"] == "ledger.restored" and body["platform"] == "greffe", body
assert body["lost_bodies"] == {"first_index": first, "end_index": end}, body["lost_bodies"]
assert body["backup_tree_size"] == first
assert [o["kind"] for o in body["lost_orders"]] == ["erasure.executed"], body["lost_orders"]
assert body["recovered_from_checkpoint"].split("\n")[1] == str(end)
PY
    pass "the ledger.restored record reads back: lost entries $BACKUP_SIZE–$((PUBLISHED - 1)), the erasure order, the copy's checkpoint"
else
    bad "the record: $(cat "$WORK/record.json")"
fi
LOST=$((BACKUP_SIZE + 5))
STATUS=$(curl -s -o "$WORK/lost.json" -w '%{http_code}' -H "Authorization: Bearer $INVESTIGATE" "$URL/v1/events/$LOST")
if [[ $STATUS == 404 ]] && grep -q "ledger.restored" "$WORK/lost.json"; then
    pass "a lost entry's event answers 404 naming the restore: $(cut -c1-200 "$WORK/lost.json")"
else
    bad "GET /v1/events/$LOST (a lost entry): $STATUS $(cat "$WORK/lost.json")"
fi
# A bundle over entries some of which came back without their events: it carries the restore record, and both
# verifiers (greffe verify, verify.html's code under node) say which entries are lost.
curl -s -X POST -H "Authorization: Bearer $INVESTIGATE" "$URL/v1/bundles" -d "{\"index_range\":{\"from\":$((BACKUP_SIZE - 10)),\"to\":$((BACKUP_SIZE + 10))}}" \
    -o "$WORK/gap-bundle.json" || die "POST /v1/bundles over the gap"
grouped() { python3 -c 'import sys; print(f"{int(sys.argv[1]):,}")' "$1"; }  # 5051 → 5,051, as the verifiers write it
LOST_SENTENCE="entries $(grouped "$BACKUP_SIZE") to $(grouped $((PUBLISHED - 1))) were put back from a copy of the log without their events"
if "$GREFFE" verify "$WORK/gap-bundle.json" --vkey "$WORK/keys/verifier.vkey" >"$WORK/gap-verify.out" 2>&1 \
    && grep -q "$LOST_SENTENCE" "$WORK/gap-verify.out" && grep -q "RESULT: VERIFIED" "$WORK/gap-verify.out"; then
    pass "a bundle over the gap verifies and says so: $(grep -o 'entries [0-9,]* to [0-9,]* were put back[^)]*' "$WORK/gap-verify.out" | head -1 | cut -c1-160)"
else
    bad "greffe verify of a bundle over the gap: $(tail -n 6 "$WORK/gap-verify.out")"
fi
if command -v node >/dev/null; then
    if out=$(node -e '
        const fs = require("fs"); const V = require(process.argv[1]);
        V.check(new Uint8Array(fs.readFileSync(process.argv[2])), fs.readFileSync(process.argv[3], "utf8"), "gap-bundle.json")
          .then((r) => { console.log(r.status); console.log(r.text || r.message); process.exit(r.status === "verified" ? 0 : 1); });
        ' "$ROOT/web/verify-core.js" "$WORK/gap-bundle.json" "$WORK/keys/verifier.vkey" 2>&1) && grep -q "$LOST_SENTENCE" <<<"$out"; then
        pass "verify.html's verifier (node) verifies the bundle over the gap and names the lost entries"
    else
        bad "verify.html's verifier on the bundle over the gap: $(tail -n 5 <<<"$out")"
    fi
fi

# A platform cannot write a restore record of its own (it would make every bundle claim a gap).
FORGED=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); e["event_id"]="forged-gap"; e["platform"]="disaster.example"; print(json.dumps(e))' \
    "$ROOT/Schemas/events/examples/ledger.restored/valid-disk-lost.json")
STATUS=$(curl -s -o "$WORK/forged.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary "$FORGED" "$URL/v1/events")
if [[ $STATUS == 422 ]] && grep -q "written by Greffe itself" "$WORK/forged.json"; then
    pass "a platform's ledger.restored event is refused: $STATUS $(cut -c1-120 "$WORK/forged.json")"
else
    bad "a platform's ledger.restored event: $STATUS $(cat "$WORK/forged.json")"
fi

# The platform re-sends an event it had been acknowledged before the loss: its body comes back, at a new index.
append 350 1 >"$WORK/resend.json" || die "re-send"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; sys.exit(0 if r["index"] > int(sys.argv[2]) else 1)' "$WORK/resend.json" "$RECORD" \
    && pass "a lost event re-sent by its platform is appended again, after the record: $(cut -c1-160 "$WORK/resend.json")" \
    || bad "the re-send of a lost event: $(cat "$WORK/resend.json")"

# Go's tlog and note, independently: every event acknowledged before the loss (the lost tail's included, by their
# public entries) is at its acknowledged index with its leaf hash, and the checkpoints published before the loss
# are consistent with the one served after the restore.
if command -v go >/dev/null; then
    (cd "$ROOT" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$WORK/gocache" go build -o "$WORK/tlogcheck" ./Tests/Interop/tlogcheck) \
        || die "building Tests/Interop/tlogcheck"
    python3 - "$WORK/receipts.jsonl" "$WORK/acks.jsonl" <<'PY' || die "collecting the receipts"
import json, sys
acks = {}
for line in open(sys.argv[1]):
    if line.strip():
        for receipt in json.loads(line)["results"]:
            acks.setdefault(receipt["event_id"], receipt)  # the first acknowledgement of an ID (the re-send gets another index)
with open(sys.argv[2], "w") as out:
    out.writelines(json.dumps(receipt) + "\n" for receipt in acks.values())
PY
    cat "$WORK/published.txt" >"$WORK/old-checkpoints.txt" && echo "---" >>"$WORK/old-checkpoints.txt"
    if "$WORK/tlogcheck" -url "$URL" -vkey "$WORK/keys/verifier.vkey" -acks "$WORK/acks.jsonl" -old-checkpoints "$WORK/old-checkpoints.txt" \
        >"$WORK/tlogcheck.out" 2>&1; then
        pass "Go tlog/note: $(grep -m1 '^acks:' "$WORK/tlogcheck.out" | cut -c1-120); $(grep -m1 '^old checkpoints:' "$WORK/tlogcheck.out" | cut -c1-80)"
    else
        bad "Go tlogcheck against the restored ledger: $(tail -n 8 "$WORK/tlogcheck.out")"
    fi
else
    bad "go is not installed (ops/install-deps.sh installs golang-go): the independent check did not run"
fi

kill -TERM "$LOG_PID"
wait "$LOG_PID" 2>/dev/null
grep -q "PRIVATE" "$WORK/serve.log" "$WORK/w1.log" "$WORK/restore.out" && bad "a private key appears in a log"
pass "done in $((SECONDS - STARTED)) s"
finish
