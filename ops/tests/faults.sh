#!/usr/bin/env bash
# Operational faults: the server refuses to start (or answers 503) with a
# clear message, never signs anything wrong, and loses nothing acknowledged.
#
# Start-up faults, each on a copy of one ledger (2,000 events, stopped
# cleanly): `greffe serve` must exit non-zero within 20 s with a clear
# message, never answer HTTP, and leave the database file byte for byte
# unchanged (so no checkpoint was signed):
#   missing signing key · key mode 0644 · key not a key · another ledger's key
#   · database page in the middle overwritten · database header overwritten
#   · database from a newer schema version · read-only database file
#   · read-only data directory · read-only file system (tmpfs remounted ro)
# Read-only file/dir run `serve` as user nobody (root ignores file modes).
#
# Disk full: a 2 MiB tmpfs as the data directory, with a 512 KiB filler
# file; appends until the disk fills. Every answer must be 201 or a 503
# with {"error": …} (never another 5xx, never a crash); afterwards every
# acknowledged event is present (tlogcheck: tiles, entries, proofs) and the
# tree holds nothing unacknowledged (no partial write). Then the filler is
# deleted, then the tmpfs remounted bigger: appends succeed again, and every
# checkpoint served before, during and after stays consistent (tlogcheck).
# Skipped with a note when mount is not permitted.
#
# Usage: ops/tests/faults.sh     Env: GREFFE (binary, default .build/debug/greffe), KEEP=1
# Loopback only; bounded (about 1 minute).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=faults
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-faults.XXXXXX")
# shellcheck source=lib.sh
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
for cmd in go python3 curl sqlite3 sha256sum; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
GREFFE=$(readlink -f "$GREFFE")

cat >"$WORK/client.py" <<'PY'
import json, os, sys, time, urllib.error, urllib.request

def event(prefix, n, pad=0):
    ref = ("ref-%d-" % n + "x" * 200)[:max(10, min(200, pad))] if pad else "ref-%d" % n
    return {"event_id": "%s-%d" % (prefix, n), "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z",
            "platform": "faults.example", "schema_version": 1, "authority": "Parquet de Paris",
            "reference": ref, "direction": "received", "request_type": "preservation"}

def post(url, token, events, timeout=30):
    body = json.dumps({"events": events}).encode()
    req = urllib.request.Request(url + "/v1/events", data=body, method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def record(acks_path, events, raw):
    answer = json.loads(raw)
    results = answer["results"]
    assert len(results) == len(events) and all(r["event_id"] == e["event_id"] for r, e in zip(results, events)), answer
    with open(acks_path, "a") as f:
        for r in results:
            f.write(json.dumps({"index": r["index"], "leaf_hash": r["leaf_hash"], "event_id": r["event_id"]}) + "\n")

def save_checkpoint(url, out):
    note = urllib.request.urlopen(url + "/checkpoint", timeout=10).read().decode()
    with open(out, "a") as f:
        f.write(note + "---\n")
    return note

def cmd_append(url, token, prefix, start, count, batch, acks):
    start, count, batch = int(start), int(count), int(batch)
    n = start
    while n < start + count:
        events = [event(prefix, i) for i in range(n, min(start + count, n + batch))]
        status, raw = post(url, token, events)
        if status not in (200, 201):
            sys.exit("append %s-%d..: HTTP %d %r" % (prefix, n, status, raw[:300]))
        record(acks, events, raw)
        n += len(events)
    print(count)

def cmd_fill(url, token, prefix, acks, cps, summary):
    """Appends padded batches until 15 answers in a row are 503 (or 60 s / 40,000 events)."""
    out = {"acked": 0, "statuses": {}, "bad": [], "first_503": None, "batches": 0, "healthz_ms": []}
    n, streak, started = 0, 0, time.time()
    while streak < 15 and time.time() - started < 60 and n < 40000:
        events = [event(prefix, i, pad=200) for i in range(n, n + 25)]
        n += 25
        try:
            status, raw = post(url, token, events)
        except OSError as e:
            out["bad"].append("no answer: %s" % e)
            break
        out["statuses"][str(status)] = out["statuses"].get(str(status), 0) + 1
        out["batches"] += 1
        if status == 201:
            record(acks, events, raw)
            out["acked"] += len(events)
            streak = 0
        elif status == 503:
            streak += 1
            try:
                body = json.loads(raw)
                assert isinstance(body.get("error"), str) and body["error"]
            except Exception:
                out["bad"].append("503 without a JSON error: %r" % raw[:200])
            if out["first_503"] is None:
                out["first_503"] = raw.decode(errors="replace")[:400]
            time.sleep(0.02)
        else:
            out["bad"].append("HTTP %d: %r" % (status, raw[:300]))
        if out["batches"] % 10 == 0:
            try:
                save_checkpoint(url, cps)
                t = time.time()
                urllib.request.urlopen(url + "/healthz", timeout=5).read()
                out["healthz_ms"].append(round((time.time() - t) * 1000, 1))
            except Exception as e:
                out["bad"].append("GET /checkpoint or /healthz during the fill: %s" % e)
    json.dump(out, open(summary, "w"))
    print("%d acked, statuses %s" % (out["acked"], out["statuses"]))

def cmd_checkpoint(url, out):
    print(save_checkpoint(url, out).split("\n")[1])

def cmd_wait_covered(url, size):
    deadline = time.time() + 30
    while time.time() < deadline:
        h = json.loads(urllib.request.urlopen(url + "/healthz", timeout=5).read())
        if h["checkpoint_size"] >= int(size):
            print(h["checkpoint_size"]); return
        time.sleep(0.05)
    sys.exit("no checkpoint covered size %s within 30 s" % size)

def cmd_needed(acks):
    print(max(json.loads(l)["index"] for l in open(acks) if l.strip()) + 1)

def cmd_get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            print(r.status)
    except urllib.error.HTTPError as e:
        print(e.code, e.read()[:200].decode(errors="replace"))
    except OSError as e:
        print("no answer:", e)

cmds = {"append": cmd_append, "fill": cmd_fill, "checkpoint": cmd_checkpoint, "wait_covered": cmd_wait_covered,
        "needed": cmd_needed, "get": cmd_get}
cmds[sys.argv[1]](*sys.argv[2:])
PY
client() { "$PYTHON" "$WORK/client.py" "$@"; }

(cd "$ROOT" && GO111MODULE=off GOPATH=${TLOGCHECK_GOPATH:-/usr/share/gocode} GOFLAGS= GOCACHE=$WORK/gocache \
    go build -o "$WORK/tlogcheck" ./Tests/Interop/tlogcheck) >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; die "building tlogcheck"; }
CHECK=$WORK/tlogcheck

# serve_bg DATA LOG [as-user]: starts serve; sets SPID, SURL.
serve_bg() {
    local data=$1 logf=$2 user=${3:-} port
    port=$(free_port)
    SURL=http://127.0.0.1:$port
    if [[ -n $user ]]; then
        setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
            "$GREFFE" serve --data "$data" --listen "127.0.0.1:$port" --checkpoint-interval 0.1 --anonymous-rate 0 >"$logf" 2>&1 &
    else
        "$GREFFE" serve --data "$data" --listen "127.0.0.1:$port" --checkpoint-interval 0.1 --anonymous-rate 0 >"$logf" 2>&1 &
    fi
    SPID=$!
    PIDS+=("$SPID")
}
wait_up() {
    for _ in $(seq 300); do
        kill -0 "$SPID" 2>/dev/null || return 1
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$SURL/healthz") == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}
stop_serve() { # SIGTERM, exit 0 within 20 s
    kill -TERM "$SPID" 2>/dev/null
    for _ in $(seq 200); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SPID" 2>/dev/null; then kill -KILL "$SPID"; wait "$SPID" 2>/dev/null; return 1; fi
    wait "$SPID"
}

# ---------------------------------------------------------------------------
# The base ledger: 2,000 events, every one covered by a checkpoint, stopped cleanly.
BASE=$WORK/base
"$GREFFE" init --data "$BASE" --origin faults.greffe.test/log >/dev/null || die "greffe init"
TOKEN=$("$GREFFE" token create --data "$BASE" --role append --platform faults.example --name faults) || die "token create"
INV=$("$GREFFE" token create --data "$BASE" --role investigate --name faults-inv) || die "token create (investigate)"
serve_bg "$BASE" "$WORK/serve-base.log"
wait_up || die "base serve did not start: $(tail -n 5 "$WORK/serve-base.log")"
client append "$SURL" "$TOKEN" base 0 2000 200 "$WORK/base-acks.jsonl" >/dev/null || die "appending the base events"
client wait_covered "$SURL" 2000 >/dev/null || die "no checkpoint covers the base events"
stop_serve || die "base serve did not stop cleanly"
[[ ! -e $BASE/greffe.sqlite-wal ]] || log "note: a -wal file remains after a clean stop"
BASE_CPS=$(sqlite3 "$BASE/greffe.sqlite" 'SELECT count(*) || "/" || max(size) FROM checkpoints')
pass "base ledger: 2000 events, checkpoints (count/max size) $BASE_CPS, $(stat -c %s "$BASE/greffe.sqlite") bytes"

# other ledger's key of the same origin, for the wrong-key case
"$GREFFE" init --data "$WORK/other" --origin faults.greffe.test/log >/dev/null || die "greffe init (other)"

# expect_refusal CASE PATTERN [user]: serve on $WORK/CASE must exit non-zero within 20 s
# with a message matching PATTERN, never answer, and leave the database bytes unchanged.
expect_refusal() {
    local case=$1 pattern=$2 user=${3:-} dir=$WORK/$1 before after code
    before=$(sha256sum "$dir/greffe.sqlite" 2>/dev/null | cut -c1-64)
    serve_bg "$dir" "$WORK/serve-$case.log" "$user"
    local up=0
    for _ in $(seq 200); do
        kill -0 "$SPID" 2>/dev/null || break
        if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$SURL/healthz") == 200 ]]; then up=1; break; fi
        sleep 0.1
    done
    if kill -0 "$SPID" 2>/dev/null; then
        CASE_UP=1
        bad "$case: greffe serve STARTED (healthz $([[ $up == 1 ]] && echo 200 || echo '-')) instead of refusing; log: $(tr '\n' ' ' <"$WORK/serve-$case.log" | cut -c1-300)"
        return 1
    fi
    CASE_UP=0
    wait "$SPID"; code=$?
    after=$(sha256sum "$dir/greffe.sqlite" 2>/dev/null | cut -c1-64)
    local msg; msg=$(grep -v '^$' "$WORK/serve-$case.log" | tail -n 2 | tr '\n' ' ' | cut -c1-240)
    if [[ $code == 0 ]]; then bad "$case: serve exited 0, want non-zero ($msg)"; return 1; fi
    if ! grep -Eiq "$pattern" "$WORK/serve-$case.log"; then bad "$case: exit $code, message not clear (want /$pattern/): $msg"; return 1; fi
    if [[ $before != "$after" ]]; then bad "$case: the database file changed although serve refused to start"; return 1; fi
    pass "$case: refused, exit $code: $msg"
}
fresh() { rm -rf "${WORK:?}/$1"; cp -a "$BASE" "$WORK/$1"; }

# Key faults.
fresh key-missing; rm "$WORK/key-missing/signing.key"
expect_refusal key-missing 'signing key.*missing'
fresh key-0644; chmod 0644 "$WORK/key-0644/signing.key"
expect_refusal key-0644 'readable by group or others'
fresh key-garbage; printf 'not a key\n' >"$WORK/key-garbage/signing.key"; chmod 0600 "$WORK/key-garbage/signing.key"
expect_refusal key-garbage 'signing key'
fresh key-other; cp -p "$WORK/other/signing.key" "$WORK/key-other/signing.key"
expect_refusal key-other 'does not verify'

# Database faults.
fresh schema-newer; sqlite3 "$WORK/schema-newer/greffe.sqlite" 'PRAGMA user_version = 99'
expect_refusal schema-newer 'schema version 99'

fresh corrupt-header
printf 'this is not an SQLite file at all, sorry.' | dd of="$WORK/corrupt-header/greffe.sqlite" bs=1 seek=0 conv=notrunc status=none
expect_refusal corrupt-header 'corrupt|not a database|malformed'

fresh corrupt-middle
DB=$WORK/corrupt-middle/greffe.sqlite
PAGES=$(( $(stat -c %s "$DB") / 4096 ))
MID=$((PAGES / 2))
OWNER=$(sqlite3 "$DB" "SELECT name FROM dbstat WHERE pageno = $((MID + 1))" 2>/dev/null || echo '?')
head -c 4096 /dev/urandom | dd of="$DB" bs=4096 seek="$MID" conv=notrunc status=none
if ! expect_refusal corrupt-middle 'corrupt|malformed|integrity'; then
    log "     (page $((MID + 1)) of $PAGES overwritten, it belonged to: ${OWNER:-a free page})"
    if [[ ${CASE_UP:-0} == 1 ]]; then
        log "     what the server does on it: append -> $(client append "$SURL" "$TOKEN" c 0 10 10 "$WORK/c.jsonl" 2>&1 | tail -n 1 | cut -c1-160)"
        for p in /checkpoint /tile/0/000 /tile/entries/000 /tile/entries/007 /tile/1/000 '/v1/proofs/inclusion?index=1000&tree_size=2000'; do
            log "     GET $p -> $(client get "$SURL$p" | cut -c1-160)"
        done
        if "$CHECK" -url "$SURL" -vkey "$WORK/corrupt-middle/verifier.vkey" >"$WORK/check-corrupt.log" 2>&1; then
            log "     tlogcheck over the served log passes (the corruption missed the tree's data)"
        else
            log "     tlogcheck over the served log: $(grep -m2 -i 'fail' "$WORK/check-corrupt.log" | cut -c1-200)"
        fi
        kill -KILL "$SPID"; wait "$SPID" 2>/dev/null
    fi
fi

# A page of the entries table (the leaves' bytes) overwritten: found with dbstat.
fresh corrupt-entries
DB=$WORK/corrupt-entries/greffe.sqlite
EPAGE=$(sqlite3 "$DB" "SELECT pageno FROM dbstat WHERE name = 'entries' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 10")
head -c 4096 /dev/urandom | dd of="$DB" bs=4096 seek=$((EPAGE - 1)) conv=notrunc status=none
if ! expect_refusal corrupt-entries 'corrupt|malformed|integrity'; then
    log "     (page $EPAGE, a leaf page of the entries table, overwritten)"
    if [[ ${CASE_UP:-0} == 1 ]]; then
        # Whatever it serves, no 5xx other than 503, and never a 200 that is cut short.
        for t in 000 001 002 003 004 005 006 007; do
            got=$(curl -s -o "$WORK/tile.out" -w '%{http_code}' "$SURL/tile/entries/$t")
            if [[ $got == 5* && $got != 503 ]]; then
                bad "corrupt-entries: GET /tile/entries/$t answered $got $(head -c 100 "$WORK/tile.out") (want 503: the store error is not mapped in LedgerAPI.tile)"
            fi
        done
        code=$(curl -s -o "$WORK/bundle.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $INV" \
            -d '{"index_range":{"from":0,"to":2000}}' "$SURL/v1/bundles"); rc=$?
        if [[ $code == 200 ]] && ! "$PYTHON" -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/bundle.out" 2>/dev/null; then
            bad "corrupt-entries: POST /v1/bundles answered 200 with a body cut short ($(stat -c %s "$WORK/bundle.out") bytes, curl exit $rc, not JSON): a store error while streaming"
        else
            log "     POST /v1/bundles -> $code"
        fi
        kill -KILL "$SPID"; wait "$SPID" 2>/dev/null
    fi
fi

# Read-only database file / directory: as user nobody (root ignores modes).
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
    chmod 0711 "$WORK"
    fresh ro-file; chown -R nobody "$WORK/ro-file"; chmod 0444 "$WORK/ro-file/greffe.sqlite"
    expect_refusal ro-file 'read-only|readonly|permission|cannot open|unable to open' nobody
    [[ ${CASE_UP:-0} == 1 ]] && { log "     append on it -> $(client append "$SURL" "$TOKEN" r 0 10 10 "$WORK/r.jsonl" 2>&1 | tail -n 1 | cut -c1-200)"; kill -KILL "$SPID"; wait "$SPID" 2>/dev/null; }
    fresh ro-dir; chown -R nobody "$WORK/ro-dir"; chmod 0555 "$WORK/ro-dir"
    expect_refusal ro-dir 'read-only|readonly|permission|cannot open|unable to open' nobody
    [[ ${CASE_UP:-0} == 1 ]] && { log "     append on it -> $(client append "$SURL" "$TOKEN" r 0 10 10 "$WORK/r2.jsonl" 2>&1 | tail -n 1 | cut -c1-200)"; kill -KILL "$SPID"; wait "$SPID" 2>/dev/null; }
    chmod 0755 "$WORK/ro-dir"
else
    log "SKIP read-only file/dir: no user nobody or no setpriv"
fi

# Read-only file system and disk full need mount.
MOUNT_OK=0
mkdir -p "$WORK/probe-mnt"
if mount -t tmpfs -o size=1m tmpfs "$WORK/probe-mnt" 2>/dev/null; then
    umount "$WORK/probe-mnt"; MOUNT_OK=1
else
    log "SKIP read-only file system and disk full: mount -t tmpfs is not permitted here"
fi

if ((MOUNT_OK)); then
    mkdir -p "$WORK/ro-fs"
    mount -t tmpfs -o size=16m tmpfs "$WORK/ro-fs" && MOUNTS+=("$WORK/ro-fs")
    cp -a "$BASE/." "$WORK/ro-fs/"
    mount -o remount,ro "$WORK/ro-fs"
    expect_refusal ro-fs 'read-only|readonly|cannot open|unable to open'
    [[ ${CASE_UP:-0} == 1 ]] && { log "     append on it -> $(client append "$SURL" "$TOKEN" r 0 10 10 "$WORK/r3.jsonl" 2>&1 | tail -n 1 | cut -c1-200)"; kill -KILL "$SPID"; wait "$SPID" 2>/dev/null; }
    umount "$WORK/ro-fs"

    # -----------------------------------------------------------------------
    # Disk full.
    FULL=$WORK/full
    mkdir -p "$FULL"
    mount -t tmpfs -o size=2m tmpfs "$FULL" && MOUNTS+=("$FULL")
    DATA=$FULL/data
    ACKS=$WORK/full-acks.jsonl
    CPS=$WORK/full-checkpoints.txt
    : >"$ACKS"; : >"$CPS"
    "$GREFFE" init --data "$DATA" --origin full.greffe.test/log >/dev/null || die "greffe init on the tmpfs"
    FTOKEN=$("$GREFFE" token create --data "$DATA" --role append --platform faults.example --name full) || die "token create on the tmpfs"
    dd if=/dev/zero of="$FULL/filler" bs=1024 count=512 status=none
    serve_bg "$DATA" "$WORK/serve-full.log"
    wait_up || die "serve on the 2 MiB tmpfs did not start: $(tail -n 5 "$WORK/serve-full.log")"
    client checkpoint "$SURL" "$CPS" >/dev/null

    client fill "$SURL" "$FTOKEN" f1 "$ACKS" "$CPS" "$WORK/fill1.json" >"$WORK/fill1.out" 2>&1
    log "     fill 1: $(cat "$WORK/fill1.out") — df: $(df -k --output=avail "$FULL" | tail -n 1 | tr -d ' ') KiB free"
    read -r F1_503 F1_BAD F1_ACKED F1_FIRST F1_H < <("$PYTHON" -c '
import json, sys; s = json.load(open(sys.argv[1]))
h = s["healthz_ms"] or [0]
print(s["statuses"].get("503", 0), len(s["bad"]), s["acked"], json.dumps(s["first_503"] or "")[:1], max(h))' "$WORK/fill1.json")
    if [[ $F1_BAD != 0 ]]; then bad "disk full: answers other than 201/503-with-JSON: $("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["bad"][:3])' "$WORK/fill1.json")"; fi
    if ((F1_503 > 0)); then
        pass "disk full: $F1_ACKED events acknowledged, then $F1_503 answers 503 with a JSON error, no other 5xx: $("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["first_503"][:200])' "$WORK/fill1.json")"
    else
        bad "disk full: no 503 after $F1_ACKED events (statuses $(cat "$WORK/fill1.out"))"
    fi
    kill -0 "$SPID" 2>/dev/null && pass "server alive while the disk is full (healthz max ${F1_H} ms during the fill)" || bad "server died when the disk filled: $(tail -n 5 "$WORK/serve-full.log")"
    TREE=$(curl -s "$SURL/healthz" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["tree_size"])')
    NACK=$(grep -c . "$ACKS")
    [[ $TREE == "$NACK" ]] && pass "disk full: the tree holds exactly the $NACK acknowledged events (no partial or unacknowledged write)" ||
        bad "disk full: tree size $TREE but $NACK events acknowledged (a batch answered 503 was written?)"
    grep -qi 'internal error\|unexpected error\|Fatal error' "$WORK/serve-full.log" && bad "server log has unexpected errors: $(grep -m2 -i 'internal error\|unexpected error\|Fatal error' "$WORK/serve-full.log" | cut -c1-200)"

    log "     at full: $(ls -l "$DATA" | awk '/greffe.sqlite/ {printf "%s %s B; ", $9, $5}')"

    # Free space by deleting the filler: appends succeed again, until the disk fills again.
    rm -f "$FULL/filler"
    client fill "$SURL" "$FTOKEN" f2 "$ACKS" "$CPS" "$WORK/fill2.json" >"$WORK/fill2.out" 2>&1
    read -r F2_BAD F2_ACKED F2_503 < <("$PYTHON" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(len(s["bad"]), s["acked"], s["statuses"].get("503", 0))' "$WORK/fill2.json")
    if ((F2_ACKED > 0 && F2_BAD == 0)); then
        pass "after deleting the 512 KiB filler: $F2_ACKED more events appended, then the disk filled again ($F2_503 answers 503)"
    else
        bad "after deleting the filler: $(cat "$WORK/fill2.out"), bad answers $F2_BAD"
    fi
    log "     at full again: $(ls -l "$DATA" | awk '/greffe.sqlite/ {printf "%s %s B; ", $9, $5}')"
    NEEDED=$(client needed "$ACKS")
    TREE=$(curl -s "$SURL/healthz" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["tree_size"])')
    [[ $TREE == "$NEEDED" ]] && pass "full again: tree size $TREE = acknowledged events" || bad "full again: tree size $TREE, acknowledged $NEEDED"

    mount -o remount,size=16m "$FULL" || bad "remount bigger"
    if client append "$SURL" "$FTOKEN" f4 0 300 25 "$ACKS" >"$WORK/after2.out" 2>&1; then
        pass "after remounting the tmpfs at 16 MiB: 300 more events appended at once"
    else
        bad "after remounting bigger, appends still fail: $(tail -n 1 "$WORK/after2.out" | cut -c1-200)"
    fi
    NEEDED=$(client needed "$ACKS")
    client wait_covered "$SURL" "$NEEDED" >/dev/null || bad "after remount: no checkpoint covers $NEEDED"
    client checkpoint "$SURL" "$CPS" >/dev/null
    if "$CHECK" -url "$SURL" -vkey "$DATA/verifier.vkey" -acks "$ACKS" -old-checkpoints "$CPS" >"$WORK/check-full1.log" 2>&1; then
        pass "tlogcheck after the disk-full episodes: $(grep -c . "$ACKS") acks present, $(grep -c '^---$' "$CPS") checkpoints consistent"
    else
        bad "tlogcheck after the disk-full episodes: $(grep -m3 FAIL "$WORK/check-full1.log")"
    fi
    stop_serve && pass "serve stopped cleanly (SIGTERM) after the disk-full episodes" || bad "serve did not stop cleanly after the disk-full episodes"
    serve_bg "$DATA" "$WORK/serve-full2.log"
    if wait_up; then
        TREE=$(curl -s "$SURL/healthz" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["tree_size"])')
        NACK=$(grep -c . "$ACKS")
        [[ $TREE == "$NACK" ]] && pass "restarted: tree size $TREE = events acknowledged" || bad "restarted: tree size $TREE, acknowledged $NACK"
        if "$CHECK" -url "$SURL" -vkey "$DATA/verifier.vkey" -acks "$ACKS" -old-checkpoints "$CPS" >"$WORK/check-full2.log" 2>&1; then
            pass "tlogcheck after restart: all $NACK acknowledged events present, all $(grep -c '^---$' "$CPS") checkpoints served before, during and after the disk-full episodes consistent"
        else
            bad "tlogcheck after restart: $(grep -m3 FAIL "$WORK/check-full2.log")"
        fi
        stop_serve || bad "serve did not stop cleanly at the end"
    else
        bad "serve did not restart on the once-full tmpfs: $(tail -n 5 "$WORK/serve-full2.log")"
    fi
    umount "$FULL"
fi
finish
