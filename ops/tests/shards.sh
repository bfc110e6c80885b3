#!/usr/bin/env bash
# Temporal shards end to end (Schemas/shards.md), then a sealed shard archived
# and served by nginx.
#
#  1. `greffe serve --shard-max-entries 300 --tiles-dir` takes ~1,200 events from four
#     concurrent clients (random UUID event IDs, ~800-byte bodies): at least
#     three rollovers. Every acknowledged event is found again at the shard
#     and index its receipt named: re-sent, each answers 200 with its
#     original place, and the shards' sizes add up to the events plus one
#     shard.opened record per shard after the first.
#     `greffe audit --all-shards` with the base key alone audits every shard
#     and every link from public data.
#  2. Refusals: appends under /v1/shards/<k>/ (409), an unknown shard (404),
#     --shard-* with options that do not follow shards yet (exit 64).
#  3. `greffe shard list` re-checks every link from the files; `greffe shard
#     archive` of a sealed shard while serve runs; the active shard, a shard
#     that does not exist and another shard over the same directory are
#     refused.
#  4. nginx serves the archive: `greffe audit --url` (nginx) and `--tiles`
#     pass with the shard's key from shard.json; Go's tlogcheck -tiles-only
#     (x/mod tlog) checks it with the acks of that shard; the archive's
#     checkpoint is the seal shard+1's shard.opened record holds. A bundle of
#     the shard's events verifies with the same key.
#  5. A flipped byte in an archived tile makes `greffe audit --tiles` fail.
#     The static export holds every sealed shard's final checkpoint (shard 0
#     in the directory, shard k under v1/shards/k/), each audited with its key.
#  6. Witnessed shards: `greffe witness --log-with-shards` follows a second
#     ledger that rolls over every 100 entries under `serve --witness`;
#     `greffe audit --all-shards --witness` finds every shard's checkpoint
#     cosigned and every link sound.
#  7. Disaster without a copy: a witnessed, unsharded ledger backed up, 100
#     more events witnessed, its database deleted after kill -9. `greffe
#     restore --seal-lost-tail` refuses a checkpoint older than the
#     witness's, then seals at the last witnessed one: the ledger goes on in
#     shard 1, the witness cosigns it and refuses nothing (no fork), and
#     `greffe audit --all-shards` reports the lost entries.
#
# Usage: ops/tests/shards.sh     Env: GREFFE (binary, default .build/debug/greffe), KEEP=1.
# Needs: nginx (Debian), go + golang-golang-x-mod-dev, python3, curl. Loopback only; about a minute.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=shards
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-shards.XXXXXX")
# shellcheck source=ops/tests/lib.sh
source "$ROOT/ops/tests/lib.sh"
trap 'die "interrupted"' INT TERM

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (swift build, or set GREFFE)"
for cmd in python3 curl go; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || die "nginx not found (ops/install-deps.sh installs Debian's nginx)"
# nginx workers may run as another user: the tree they read must be traversable.
chmod 755 "$WORK"

DATA=$WORK/data
"$GREFFE" init --data "$DATA" --origin "shards.greffe.test/$$" >/dev/null || die "greffe init"
TOKEN=$("$GREFFE" token create --data "$DATA" --role append --platform shards.example --name shards) || die "greffe token create"
INVESTIGATOR=$("$GREFFE" token create --data "$DATA" --role investigate --name investigator) || die "greffe token create (investigate)"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
"$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.1 --anonymous-rate 0 --no-public-lookup \
    --shard-max-entries 300 --tiles-dir "$WORK/tiles" --log-level notice >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_http "$SERVER_PID" "$URL" serve
pass "greffe serve --shard-max-entries 300 up on $URL"

# --- 1. load across rollovers ---------------------------------------------------
cat >"$WORK/load.py" <<'PY'
import json, sys, threading, time, urllib.error, urllib.request, uuid, random

url, token, acks_path = sys.argv[1], sys.argv[2], sys.argv[3]
CLIENTS, REQUESTS, BATCH = 4, 15, 20

def event():
    # A generation request of about 800 bytes, as Schemas/events/examples/generation.requested/ has them.
    return {"event_id": str(uuid.uuid4()), "kind": "generation.requested", "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "platform": "shards.example", "schema_version": 1, "account": "hmac-sha256:%064x" % random.getrandbits(256),
            "subscription_tier": "free", "model": {"name": "pf-diffusion-xl", "version": "2026.02.1"},
            "prompt": {"sha256": "%064x" % random.getrandbits(256)},
            "flags": {"real_person_detected": False, "minor_suspected": False, "nudity_requested": False},
            "decision": {"outcome": "allowed", "classifiers": [{"label": "nudity_request", "score": 0.01}, {"label": "real_person", "score": 0.02}]}}

def post(events):
    request = urllib.request.Request(url + "/v1/events", data=json.dumps({"events": events}).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())["results"]

batches, failures, lock = [], [], threading.Lock()

def client():
    try:
        send_all()
    except Exception as error:  # a thread's exception would otherwise be lost
        failures.append("client: %r" % error)

def send_all():
    for _ in range(REQUESTS):
        events = [event() for _ in range(BATCH)]
        status, results = post(events)
        if status != 201 or [r["event_id"] for r in results] != [e["event_id"] for e in events]:
            failures.append("a batch was answered %d with %r" % (status, results[:1]))
        with lock:
            batches.append((events, results))

threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
for t in threads: t.start()
for t in threads: t.join()
shards_seen = {r.get("shard", 0) for _, results in batches for r in results}
print(("ok   " if not failures else "FAIL ") + "%d events acknowledged by %d clients in %d shards %s" % (
    sum(len(r) for _, r in batches), CLIENTS, len(shards_seen), failures[:2] if failures else sorted(shards_seen)))
# Every batch sent again: the original place (origin, shard, index, leaf hash) and 200.
moved = 0
for events, results in batches:
    status, again = post(events)
    if status != 200:
        moved += 1
    for first, second in zip(results, again):
        if [first.get(k) for k in ("origin", "shard", "index", "leaf_hash")] != [second.get(k) for k in ("origin", "shard", "index", "leaf_hash")]:
            moved += 1
print(("ok   " if moved == 0 else "FAIL ") + "every batch sent again is answered 200 with each event's original shard and index (%d differ)" % moved)
with open(acks_path, "w") as f:
    for _, results in batches:
        for r in results:
            f.write(json.dumps(r) + "\n")
sys.exit(1 if failures or moved else 0)
PY
python3 "$WORK/load.py" "$URL" "$TOKEN" "$WORK/acks.jsonl" >"$WORK/driver-load.out" 2>&1
report_driver load $?
curl -sf "$URL/v1/shards" -o "$WORK/shards.json" || die "GET /v1/shards"
read -r SHARDS TOTAL < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(len(d["shards"]), sum(s["tree_size"] for s in d["shards"]))' "$WORK/shards.json")
ACKED=$(grep -c . "$WORK/acks.jsonl")
((SHARDS >= 4)) && pass "GET /v1/shards lists $SHARDS shards: at least three rollovers" || bad "only $SHARDS shards after $ACKED events"
((TOTAL == ACKED + SHARDS - 1)) && pass "the shards hold $TOTAL entries: the $ACKED events and $((SHARDS - 1)) shard.opened records, nothing doubled" ||
    bad "the shards hold $TOTAL entries, expected $((ACKED + SHARDS - 1))"
grep -q "shard sealed; the next one is active" "$WORK/serve.log" && pass "the server logs each rollover" || bad "no rollover in the log"

if "$GREFFE" audit --url "$URL" --all-shards --vkey "$DATA/verifier.vkey" --quiet >"$WORK/out.txt" 2>&1 &&
    grep -q "audit: OK — $SHARDS shards and $((SHARDS - 1)) links" "$WORK/out.txt" && (($(grep -c "^link .*: OK" "$WORK/out.txt") == SHARDS - 1)); then
    pass "greffe audit --all-shards, base key only: $(tail -1 "$WORK/out.txt")"
else
    bad "greffe audit --all-shards: $(cat "$WORK/out.txt")"
fi
"$GREFFE" audit --url "$URL" --all-shards --vkey "$("$GREFFE" init --data "$WORK/other" --origin "shards.greffe.test/$$")" --quiet >"$WORK/out.txt" 2>&1 &&
    bad "greffe audit --all-shards passed under another log's key" || pass "greffe audit --all-shards fails under another log's key: $(head -1 "$WORK/out.txt" | cut -c1-150)"

# --- 2. refusals -----------------------------------------------------------------
code=$(curl -s -o "$WORK/out.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{}' "$URL/v1/shards/0/v1/events")
[[ $code == 409 ]] && grep -q "is sealed" "$WORK/out.json" && pass "an append to sealed shard 0 is 409: $(cat "$WORK/out.json")" || bad "append to a sealed shard: $code $(cat "$WORK/out.json")"
FORGED=$(python3 -c 'import json; print(json.dumps(json.load(open("'"$ROOT"'/Schemas/events/examples/shard.opened/valid-sealed-by-size.json")) | {"platform": "shards.example"}))')
code=$(curl -s -o "$WORK/out.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$FORGED" "$URL/v1/events")
[[ $code == 422 ]] && pass "a platform cannot append a shard.opened record of its own: 422 $(cut -c1-120 "$WORK/out.json")" || bad "forged shard.opened: $code $(cat "$WORK/out.json")"
code=$(curl -s -o "$WORK/out.json" -w '%{http_code}' "$URL/v1/shards/99/checkpoint")
[[ $code == 404 ]] && pass "an unknown shard is 404" || bad "unknown shard: $code"
code=$(curl -s -o "$WORK/out.json" -w '%{http_code}' "$URL/v1/shards/01/checkpoint")
[[ $code == 400 ]] && pass "a shard number with a leading zero is 400" || bad "shard 01: $code"

# --- 3. shard list, archive ---------------------------------------------------------
if "$GREFFE" shard list --data "$DATA" >"$WORK/list.txt" 2>&1 && (($(grep -c '^shard ' "$WORK/list.txt") == SHARDS)); then
    pass "greffe shard list re-checks $SHARDS shards and their links from the files"
else
    bad "greffe shard list: $(cat "$WORK/list.txt")"
fi
ARCHIVE=$WORK/archive-1
"$GREFFE" shard archive --data "$DATA" --shard 1 --out "$ARCHIVE" >"$WORK/out.txt" 2>&1 && pass "greffe shard archive --shard 1 while serve runs: $(head -1 "$WORK/out.txt")" ||
    die "greffe shard archive: $(cat "$WORK/out.txt")"
KEY1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verifier_key"])' "$ARCHIVE/shard.json")
"$GREFFE" shard archive --data "$DATA" --shard $((SHARDS - 1)) --out "$WORK/active" >"$WORK/out.txt" 2>&1 &&
    bad "archiving the active shard was accepted" || pass "archiving the active shard is refused: $(tail -1 "$WORK/out.txt")"
"$GREFFE" shard archive --data "$DATA" --shard 2 --out "$ARCHIVE" >"$WORK/out.txt" 2>&1 &&
    bad "shard 2 was archived over shard 1's archive" || pass "shard 2 over shard 1's archive is refused: $(tail -1 "$WORK/out.txt")"
"$GREFFE" shard archive --data "$DATA" --shard 1 --out "$ARCHIVE" >"$WORK/out.txt" 2>&1 && pass "archiving shard 1 again finds the archive complete" ||
    bad "archiving shard 1 again: $(cat "$WORK/out.txt")"
python3 - "$ARCHIVE/checkpoint" "$WORK/shards.json" <<'PY' >"$WORK/driver-seal.out" 2>&1
import json, sys
archived = open(sys.argv[1]).read()
listing = json.load(open(sys.argv[2]))["shards"]
print(("ok   " if archived == listing[1]["checkpoint"] and listing[1]["state"] == "sealed" else "FAIL ")
      + "the archive's checkpoint is shard 1's final one, as GET /v1/shards serves it")
PY
report_driver seal $?

# --- 4. nginx over the archive --------------------------------------------------------
NPORT=$(free_port)
NURL=http://127.0.0.1:$NPORT
# A second site: the live --tiles-dir export, every shard under its server path.
SPORT=$(free_port)
SURL=http://127.0.0.1:$SPORT
write_nginx_conf "$WORK/nginx" "$NPORT" "$ARCHIVE" "$SPORT" "$WORK/tiles"
RUN_AS=()
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
    chown -R nobody:nogroup "$WORK/nginx"
    chmod -R a+rX "$ARCHIVE" "$WORK/tiles"
    RUN_AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
# Its own stderr goes beside, not into error.log: this shell would create that file as root.
"${RUN_AS[@]}" "$NGINX" -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>>"$WORK/nginx.stderr" &
PIDS+=($!)
for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$NURL/checkpoint") == 200 ]] && break
    sleep 0.1
done
[[ $(curl -s "$NURL/checkpoint") == "$(cat "$ARCHIVE/checkpoint")" ]] && pass "nginx serves the archive on $NURL" ||
    die "nginx does not serve the archive: $(cat "$WORK/nginx.stderr" "$WORK/nginx/error.log" 2>/dev/null | tail -3)"
SIZE1=$(sed -n 2p "$ARCHIVE/checkpoint")
if "$GREFFE" audit --url "$NURL" --vkey "$KEY1" --quiet >"$WORK/out.txt" 2>&1 && grep -q "audit: OK — $SIZE1 entries" "$WORK/out.txt"; then
    pass "greffe audit --url (nginx over the archive): $(tail -1 "$WORK/out.txt")"
else
    bad "greffe audit --url (nginx): $(cat "$WORK/out.txt") $(tail -3 "$WORK/nginx/error.log")"
fi
if "$GREFFE" audit --url "$SURL/v1/shards/1" --vkey "$KEY1" --quiet >"$WORK/out.txt" 2>&1 && grep -q "audit: OK — $SIZE1 entries" "$WORK/out.txt" &&
    "$GREFFE" audit --url "$SURL" --vkey "$DATA/verifier.vkey" --quiet >>"$WORK/out.txt" 2>&1; then
    pass "nginx (ops/nginx/greffe-tiles-locations.conf) serves the --tiles-dir export: shard 0 at the root, shard 1 under /v1/shards/1/, both audited"
else
    bad "nginx over the --tiles-dir export: $(cat "$WORK/out.txt")"
fi
if "$GREFFE" audit --tiles "$ARCHIVE" --vkey "$KEY1" --quiet >"$WORK/out.txt" 2>&1 && grep -q "audit: OK — $SIZE1 entries" "$WORK/out.txt"; then
    pass "greffe audit --tiles ARCHIVE: $(tail -1 "$WORK/out.txt")"
else
    bad "greffe audit --tiles ARCHIVE: $(cat "$WORK/out.txt")"
fi
(
    cd "$ROOT"
    [[ -n $(go env GOCACHE 2>/dev/null) ]] || export GOCACHE=$WORK/gocache
    GO111MODULE=off GOPATH=${TLOGCHECK_GOPATH:-/usr/share/gocode} GOFLAGS= go build -o "$WORK/tlogcheck" ./Tests/Interop/tlogcheck
) >"$WORK/build.log" 2>&1 || die "building tlogcheck: $(cat "$WORK/build.log")"
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["shard"] == 1: print(line, end="")' "$WORK/acks.jsonl" >"$WORK/acks-1.jsonl"
echo "$KEY1" >"$WORK/shard-1.vkey"
if "$WORK/tlogcheck" -tiles-only -url "$NURL" -vkey "$WORK/shard-1.vkey" -acks "$WORK/acks-1.jsonl" >"$WORK/check.log" 2>&1 &&
    grep -q "interop: OK" "$WORK/check.log"; then
    pass "tlogcheck -tiles-only (x/mod tlog) via nginx: the archive and its $(grep -c . "$WORK/acks-1.jsonl") acks"
else
    bad "tlogcheck -tiles-only over the archive: $(tail -20 "$WORK/check.log")"
fi
code=$(curl -s -o "$WORK/bundle.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $INVESTIGATOR" -H 'Content-Type: application/json' \
    -d "{\"index_range\": {\"from\": 1, \"to\": 6}}" "$URL/v1/shards/1/v1/bundles")
if [[ $code == 200 ]] && "$GREFFE" verify --vkey "$KEY1" "$WORK/bundle.json" >"$WORK/out.txt" 2>&1 && grep -q "RESULT: VERIFIED" "$WORK/out.txt"; then
    pass "a bundle of five of shard 1's events verifies with the archive's key"
else
    bad "bundle of shard 1: $code $(tail -3 "$WORK/out.txt")"
fi
"$GREFFE" verify --vkey "$(cat "$DATA/verifier.vkey")" "$WORK/bundle.json" >"$WORK/out.txt" 2>&1 &&
    bad "shard 1's bundle verified under the base key" || pass "shard 1's bundle does not verify under shard 0's key (each shard signs under its own name)"
# greffe mirror --all-shards: each shard mirrored and verified under its own name, in the server's layout.
if "$GREFFE" mirror --url "$URL" --out "$WORK/mirror" --all-shards --vkey "$DATA/verifier.vkey" --quiet >"$WORK/out.txt" 2>&1 &&
    [[ $(grep -c "mirror: OK" "$WORK/out.txt") == "$SHARDS" ]] &&
    "$GREFFE" audit --tiles "$WORK/mirror/v1/shards/1" --vkey "$KEY1" --quiet >>"$WORK/out.txt" 2>&1 &&
    "$GREFFE" audit --tiles "$WORK/mirror" --vkey "$DATA/verifier.vkey" --quiet >>"$WORK/out.txt" 2>&1; then
    pass "greffe mirror --all-shards: $SHARDS shards mirrored, shard 0 and shard 1 audited from the mirror"
else
    bad "greffe mirror --all-shards: $(tail -4 "$WORK/out.txt")"
fi
if "$GREFFE" mirror --url "$URL" --out "$WORK/mirror-bad" --all-shards --vkey "$WORK/other/verifier.vkey" --quiet >"$WORK/out.txt" 2>&1; then
    bad "greffe mirror --all-shards accepted another ledger's key"
else
    pass "greffe mirror --all-shards refuses another ledger's key: $(grep -m1 FAILED "$WORK/out.txt" | cut -c1-120)"
fi

# A bundle across shards (greffe-shard-bundle/v1): one event of shard 0 and one of the last shard, in three verifiers.
SPAN_QUERY=$(python3 -c '
import json, sys
acks = [json.loads(line) for line in open(sys.argv[1])]
first = next(a for a in acks if a.get("shard", 0) == 0)
last = max(acks, key=lambda a: (a.get("shard", 0), a["index"]))
print(json.dumps({"event_ids": [first["event_id"], last["event_id"]]}))' "$WORK/acks.jsonl")
code=$(curl -s -o "$WORK/span.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $INVESTIGATOR" -H 'Content-Type: application/json' \
    -d "$SPAN_QUERY" "$URL/v1/bundles")
if [[ $code == 200 ]] && "$GREFFE" verify --quiet --vkey "$DATA/verifier.vkey" "$WORK/span.json" >"$WORK/out.txt" 2>&1 &&
    grep -q "RESULT: VERIFIED — every shard's bundle holds, and each shard is linked" "$WORK/out.txt" &&
    [[ $(grep -c "^Shard [0-9]* opens by sealing shard" "$WORK/out.txt") == $((SHARDS - 1)) ]]; then
    pass "a bundle across all $SHARDS shards (an event of shard 0 and one of the last) verifies with greffe verify and the base key, every link checked"
else
    bad "bundle across shards: $code $(grep -E "RESULT|  - " "$WORK/out.txt" | head -5)"
fi
cat >"$WORK/jscheck.js" <<'JS'
const V = require(process.argv[2]);
const fs = require('fs');
V.check(new Uint8Array(fs.readFileSync(process.argv[3])), fs.readFileSync(process.argv[4], 'utf8'), 'span.json')
  .then((r) => { console.log(r.text || r.message); process.exit(r.status === 'verified' ? 0 : 1); });
JS
# bundlev3.py canonicalizes only bodies without floats (its JCS subset): it checks the links alone (kind shard.opened).
code2=$(curl -s -o "$WORK/links.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $INVESTIGATOR" -H 'Content-Type: application/json' \
    -d '{"kind": "shard.opened"}' "$URL/v1/bundles")
if command -v node >/dev/null && node "$WORK/jscheck.js" "$ROOT/web/verify-core.js" "$WORK/span.json" "$DATA/verifier.vkey" >"$WORK/js.txt" 2>&1 &&
    [[ $code2 == 200 ]] && python3 "$ROOT/ops/tests/bundlev3.py" verify-set "$WORK/links.json" --vkey "$DATA/verifier.vkey" >"$WORK/py.txt" 2>&1; then
    pass "the same file verifies in verify.html's core (node), and the bundle of the links in bundlev3.py verify-set (written from the Schemas)"
else
    bad "bundle across shards in the other verifiers: $(grep -m2 -E "RESULT|  - " "$WORK/js.txt") | $code2 $(tail -2 "$WORK/py.txt")"
fi
python3 - "$WORK/span.json" "$WORK/span-cut.json" <<'PY'
import json, sys
bundle = json.load(open(sys.argv[1]))
del bundle["shards"][1]  # a middle shard left out: the next one's link names it
json.dump(bundle, open(sys.argv[2], "w"))
PY
if "$GREFFE" verify --quiet --vkey "$DATA/verifier.vkey" "$WORK/span-cut.json" >"$WORK/out.txt" 2>&1 ||
    ! grep -q "shard 1's bundle does not verify" "$WORK/out.txt"; then
    bad "the bundle across shards with shard 1 left out: $(grep -m3 -E "RESULT|NOT|  - " "$WORK/out.txt")"
else
    pass "with shard 1 left out, the bundle across shards fails: $(grep -m1 -E "^  - " "$WORK/out.txt" | cut -c1-120)"
fi

# --- 5. tampering ------------------------------------------------------------------------
TILE=$(cd "$ARCHIVE" && find tile/0 -type f | head -1)
python3 - "$ARCHIVE/$TILE" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[7] ^= 0x01
open(path, "wb").write(bytes(data))
PY
if "$GREFFE" audit --tiles "$ARCHIVE" --vkey "$KEY1" --quiet >"$WORK/out.txt" 2>&1; then
    bad "a flipped byte in $TILE passed the audit"
else
    pass "a flipped byte in the archive's $TILE fails the audit: $(grep -m1 -i "fail" "$WORK/out.txt" | cut -c1-160)"
fi

kill -TERM "$SERVER_PID" 2>/dev/null
wait "$SERVER_PID" 2>/dev/null && pass "greffe serve stops cleanly on SIGTERM" || bad "greffe serve did not stop cleanly"

# --tiles-dir with shards: shard 0 in the directory itself, shard k under v1/shards/k/ (the server's paths).
python3 - "$WORK/shards.json" "$WORK/tiles" <<'PY' >"$WORK/driver-static.out" 2>&1
import json, os, sys
listing, tiles = json.load(open(sys.argv[1]))["shards"], sys.argv[2]
for shard in listing:
    if shard["state"] != "sealed":
        continue
    path = os.path.join(tiles, "checkpoint") if shard["shard"] == 0 else os.path.join(tiles, "v1", "shards", str(shard["shard"]), "checkpoint")
    ok = os.path.exists(path) and open(path).read() == shard["checkpoint"]
    print(("ok   " if ok else "FAIL ") + "--tiles-dir holds sealed shard %d's final checkpoint at %s" % (shard["shard"], os.path.relpath(path, tiles)))
PY
report_driver static $?
for k in $(seq 1 $((SHARDS - 1))); do
    KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["shards"][int(sys.argv[2])]["verifier_key"])' "$WORK/shards.json" "$k")
    if "$GREFFE" audit --tiles "$WORK/tiles/v1/shards/$k" --vkey "$KEY" --quiet >"$WORK/out.txt" 2>&1 && grep -q "audit: OK" "$WORK/out.txt"; then
        pass "greffe audit --tiles of the static export of shard $k: $(tail -1 "$WORK/out.txt" | cut -c1-90)"
    else
        bad "static export of shard $k: $(cat "$WORK/out.txt")"
    fi
done

# --- 6. witnessed shards ------------------------------------------------------------------
# A witness follows a second ledger with its shards (--log-with-shards): each shard is a log of its own
# to it; every shard's checkpoints, the seals included, carry its cosignature.
WDATA=$WORK/witnessed
"$GREFFE" init --data "$WDATA" --origin "witnessed-shards.greffe.test/$$" >/dev/null || die "greffe init (witnessed)"
WTOKEN=$("$GREFFE" token create --data "$WDATA" --role append --platform shards.example --name shards) || die "greffe token create"
"$GREFFE" witness init --data "$WORK/w1" --name "shards.greffe.test/w1" >/dev/null || die "greffe witness init"
WITNESS_PORT=$(free_port)
"$GREFFE" witness --data "$WORK/w1" --listen "127.0.0.1:$WITNESS_PORT" \
    --log-with-shards "witnessed-shards.greffe.test/$$=$(cat "$WDATA/verifier.vkey")" >"$WORK/witness.log" 2>&1 &
WITNESS_PID=$!
PIDS+=("$WITNESS_PID")
wait_http "$WITNESS_PID" "http://127.0.0.1:$WITNESS_PORT" witness
WPORT=$(free_port)
WURL=http://127.0.0.1:$WPORT
"$GREFFE" serve --data "$WDATA" --listen "127.0.0.1:$WPORT" --checkpoint-interval 0.1 --anonymous-rate 0 --no-public-lookup \
    --shard-max-entries 100 --witness "$(cat "$WORK/w1/witness.vkey")=http://127.0.0.1:$WITNESS_PORT" --log-level notice >"$WORK/serve-witnessed.log" 2>&1 &
WSERVER_PID=$!
PIDS+=("$WSERVER_PID")
wait_http "$WSERVER_PID" "$WURL" serve-witnessed
sed -i 's/CLIENTS, REQUESTS, BATCH = 4, 15, 20/CLIENTS, REQUESTS, BATCH = 2, 9, 20/' "$WORK/load.py"
python3 "$WORK/load.py" "$WURL" "$WTOKEN" "$WORK/acks-witnessed.jsonl" >"$WORK/driver-witnessed.out" 2>&1
report_driver witnessed $?
WSHARDS=$(curl -sf "$WURL/v1/shards" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["shards"]))')
if ((WSHARDS >= 4)) && "$GREFFE" audit --url "$WURL" --all-shards --vkey "$WDATA/verifier.vkey" --witness "$(cat "$WORK/w1/witness.vkey")" \
    --quiet >"$WORK/out.txt" 2>&1 && grep -q "audit: OK — $WSHARDS shards" "$WORK/out.txt" && (($(grep -c "cosigned by" "$WORK/out.txt") == WSHARDS)); then
    pass "$WSHARDS witnessed shards: greffe audit --all-shards --witness finds every shard's checkpoint cosigned and every link sound"
else
    bad "witnessed shards ($WSHARDS): $(cat "$WORK/out.txt") $(tail -5 "$WORK/serve-witnessed.log")"
fi
grep -q "origin=witnessed-shards.greffe.test/$$/3" "$WORK/witness.log" && pass "the witness cosigned shard 3 as a log of its own" ||
    bad "the witness log names no cosignature of shard 3: $(tail -3 "$WORK/witness.log")"
kill -TERM "$WSERVER_PID" 2>/dev/null
wait "$WSERVER_PID" 2>/dev/null && pass "the witnessed greffe serve stops cleanly" || bad "the witnessed greffe serve did not stop cleanly"

# --- 7. disaster without a copy: no fork, the gap recorded ----------------------------------
# An unsharded, witnessed ledger; a backup; more events, witnessed; the disk lost. Restored from the
# backup and sealed at the last witnessed checkpoint, the ledger goes on in shard 1: the witness cosigns
# what follows (no fork), and greffe audit --all-shards reports the lost entries.
DDATA=$WORK/disaster
DORIGIN="disaster-shards.greffe.test/$$"
"$GREFFE" init --data "$DDATA" --origin "$DORIGIN" >/dev/null || die "greffe init (disaster)"
DTOKEN=$("$GREFFE" token create --data "$DDATA" --role append --platform shards.example --name shards) || die "greffe token create"
"$GREFFE" witness init --data "$WORK/w2" --name "shards.greffe.test/w2" >/dev/null || die "greffe witness init w2"
W2_PORT=$(free_port)
W2_URL=http://127.0.0.1:$W2_PORT
W2_KEY=$(cat "$WORK/w2/witness.vkey")
"$GREFFE" witness --data "$WORK/w2" --listen "127.0.0.1:$W2_PORT" --log-with-shards "$DORIGIN=$(cat "$DDATA/verifier.vkey")" >"$WORK/witness2.log" 2>&1 &
PIDS+=($!)
wait_http "$!" "$W2_URL" witness2
DPORT=$(free_port)
DURL=http://127.0.0.1:$DPORT
start_disaster_server() {
    "$GREFFE" serve --data "$DDATA" --listen "127.0.0.1:$DPORT" --checkpoint-interval 0.1 --anonymous-rate 0 --no-public-lookup \
        --witness "$W2_KEY=$W2_URL" --log-level notice >>"$WORK/serve-disaster.log" 2>&1 &
    DSERVER_PID=$!
    PIDS+=("$DSERVER_PID")
    wait_http "$DSERVER_PID" "$DURL" serve-disaster
}
# checkpoint_covering N FILE: waits until the served (cosigned) checkpoint covers N entries, saves it.
checkpoint_covering() {
    for _ in $(seq 200); do
        curl -sf "$DURL/checkpoint" -o "$2" && (($(sed -n 2p "$2") >= $1)) && return 0
        sleep 0.05
    done
    die "no cosigned checkpoint of size ≥ $1"
}
start_disaster_server
sed -i 's/CLIENTS, REQUESTS, BATCH = 2, 9, 20/CLIENTS, REQUESTS, BATCH = 1, 5, 20/' "$WORK/load.py"
python3 "$WORK/load.py" "$DURL" "$DTOKEN" "$WORK/acks-d1.jsonl" >/dev/null 2>&1 || die "loading the disaster ledger"
checkpoint_covering 100 "$WORK/early.checkpoint"
"$GREFFE" backup --data "$DDATA" --out "$WORK/disaster-backup.sqlite" >/dev/null 2>&1 || die "greffe backup"
python3 "$WORK/load.py" "$DURL" "$DTOKEN" "$WORK/acks-d2.jsonl" >/dev/null 2>&1 || die "loading after the backup"
checkpoint_covering 200 "$WORK/last.checkpoint"
LOST_TO=$(sed -n 2p "$WORK/last.checkpoint")
kill -KILL "$DSERVER_PID"
wait "$DSERVER_PID" 2>/dev/null
rm -f "$DDATA"/greffe.sqlite*
pass "ledger witnessed at size $LOST_TO, backed up before the last 100 events, then its database lost (kill -9, files deleted)"

status=0
"$GREFFE" restore --backup "$WORK/disaster-backup.sqlite" --data "$DDATA" --seal-lost-tail "$WORK/early.checkpoint" --reason "disk lost (test)" \
    --witness "$W2_KEY=$W2_URL" >"$WORK/out.txt" 2>&1 || status=$?
if [[ $status != 0 ]] && grep -q "beyond the checkpoint given" "$WORK/out.txt" && [[ ! -e $DDATA/greffe.sqlite && ! -e $DDATA/shards/1 ]]; then
    pass "sealing at a checkpoint older than the witness's is refused, nothing written: $(tail -1 "$WORK/out.txt" | cut -c1-160)"
else
    bad "sealing at an old checkpoint: exit $status $(cat "$WORK/out.txt")"
fi
"$GREFFE" restore --backup "$WORK/disaster-backup.sqlite" --data "$DDATA" --seal-lost-tail "$WORK/last.checkpoint" --reason "disk lost (test)" \
    >"$WORK/out.txt" 2>&1 && bad "--seal-lost-tail without --witness or --no-witnesses was accepted" || pass "--seal-lost-tail needs --witness or --no-witnesses"
if "$GREFFE" restore --backup "$WORK/disaster-backup.sqlite" --data "$DDATA" --seal-lost-tail "$WORK/last.checkpoint" --reason "disk lost (test)" \
    --witness "$W2_KEY=$W2_URL" >"$WORK/out.txt" 2>&1 && grep -q "sealed shard 0 at the checkpoint of size $LOST_TO" "$WORK/out.txt"; then
    pass "greffe restore --seal-lost-tail: $(grep -o 'entries [0-9]* to [0-9]* are lost' "$WORK/out.txt")"
else
    die "greffe restore --seal-lost-tail: $(cat "$WORK/out.txt")"
fi
start_disaster_server
python3 "$WORK/load.py" "$DURL" "$DTOKEN" "$WORK/acks-d3.jsonl" >"$WORK/driver-after.out" 2>&1
report_driver after $?
python3 -c '
import json, sys
acks = [json.loads(l) for l in open(sys.argv[1])]
bad = [a for a in acks if a["shard"] != 1]
print(("ok   " if acks and not bad else "FAIL ") + "after the restore every event lands in shard 1 (%d events, %d elsewhere)" % (len(acks), len(bad)))' \
    "$WORK/acks-d3.jsonl" >"$WORK/driver-shard1.out"
report_driver shard1 $?
if "$GREFFE" audit --url "$DURL" --all-shards --vkey "$DDATA/verifier.vkey" --witness "$W2_KEY" --quiet >"$WORK/out.txt" 2>&1 &&
    grep -q "WITH A GAP" "$WORK/out.txt" && grep -q "to $((LOST_TO - 1)) are lost" "$WORK/out.txt" && grep -q "1 link with a gap" "$WORK/out.txt"; then
    pass "greffe audit --all-shards --witness: shard 1 cosigned by the witness (no fork), the gap reported: $(grep -o 'entries [0-9]* to [0-9]* are lost' "$WORK/out.txt")"
else
    bad "audit after the restore: $(cat "$WORK/out.txt")"
fi
if grep -q "refused" "$WORK/witness2.log"; then
    bad "the witness refused a checkpoint (a fork?): $(grep -m2 refused "$WORK/witness2.log")"
else
    pass "the witness refused nothing: the restored ledger never showed it another root for a size it holds"
fi
kill -TERM "$DSERVER_PID" 2>/dev/null
wait "$DSERVER_PID" 2>/dev/null
finish
