#!/usr/bin/env bash
# Backup and restore: `greffe backup` copies the live store while `serve`
# runs and appends; `greffe restore` puts it in a new data directory; the
# restored ledger serves and continues the same log.
#
#  1. serve, append 1,000 events, save every checkpoint it serves;
#  2. start a client appending without pause, and while it runs take
#     `greffe backup --data DIR --out FILE`;
#  3. checks on the backup: it holds every event acknowledged before the
#     backup started; its tree ends on a batch boundary (no half batch);
#     `backup` refuses to overwrite FILE;
#  4. restore refusals: into the live DIR (it holds a database), from a
#     corrupted copy of FILE, with another ledger's key in the new DIR —
#     each non-zero, nothing left behind;
#  5. restore into a new DIR with the signing key copied (mode 0600): serve
#     it, check its size is the backup's, append 500 more events, and have the
#     Go checker (tlogcheck, golang.org/x/mod/sumdb/{tlog,note}) verify the
#     restored log: every event acknowledged before the backup and after the
#     restore, tiles, entries, the prev chain, and a consistency proof from
#     every checkpoint saved before the backup to the restored ledger's new one;
#  6. an offline backup (no serve running) of the original also checks out.
#
# Note (by design, documented in BackupCommand.swift): the backup holds the
# database only; the signing key is backed up separately. Events acknowledged
# by the original after the backup are not in it; checkpoints the original
# served beyond the backup's size are not consistent with what the restored
# ledger signs for those sizes (the script reports how many there were).
#
# Usage: ops/tests/backup.sh     Env: GREFFE (binary, default .build/debug/greffe), KEEP=1
# Loopback only; bounded (about 30 s).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=backup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-backup.XXXXXX")
# shellcheck source=lib.sh
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
for cmd in go python3 curl; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
PYTHON=$(python3 -c 'import sys; print(sys.executable)')

cat >"$WORK/client.py" <<'PY'
import json, os, sys, time, urllib.error, urllib.request

def event(prefix, n):
    return {"event_id": "%s-%d" % (prefix, n), "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z",
            "platform": "backup.example", "schema_version": 1, "authority": "Parquet de Paris",
            "reference": "ref-%d" % n, "direction": "received", "request_type": "preservation"}

def post(url, token, events, timeout=30):
    body = json.dumps({"events": events}).encode()
    req = urllib.request.Request(url + "/v1/events", data=body, method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def record(acks_path, events, answer, batch_no=None):
    results = answer["results"]
    assert len(results) == len(events) and all(r["event_id"] == e["event_id"] for r, e in zip(results, events)), answer
    with open(acks_path, "a") as f:
        for r in results:
            a = {"index": r["index"], "leaf_hash": r["leaf_hash"], "event_id": r["event_id"]}
            if batch_no is not None:
                a["batch"] = batch_no
            a["acked_at"] = time.time()
            f.write(json.dumps(a) + "\n")

def cmd_append(url, token, prefix, start, count, batch, acks):
    start, count, batch = int(start), int(count), int(batch)
    n = start
    while n < start + count:
        events = [event(prefix, i) for i in range(n, min(start + count, n + batch))]
        status, answer = post(url, token, events)
        if status not in (200, 201):
            sys.exit("append %s-%d..: HTTP %d %r" % (prefix, n, status, answer[:300]))
        record(acks, events, answer)
        n += len(events)
    print(count)

def cmd_loop(url, token, prefix, acks, stopfile, cps):
    """Appends batches of 1..30 events until stopfile exists; saves each new checkpoint."""
    import random
    rng = random.Random(7)
    n, batch_no, last = 0, 0, None
    while not os.path.exists(stopfile):
        size = rng.randint(1, 30)
        events = [event(prefix, i) for i in range(n, n + size)]
        n += size
        status, answer = post(url, token, events)
        if status not in (200, 201):
            sys.exit("loop: HTTP %d %r" % (status, answer[:300]))
        record(acks, events, answer, batch_no)
        batch_no += 1
        note = urllib.request.urlopen(url + "/checkpoint", timeout=10).read().decode()
        if note != last:
            with open(cps, "a") as f:
                f.write(json.dumps({"at": time.time(), "note": note}) + "\n")
            last = note
    print(n)

def cmd_checkpoint(url, out):
    note = urllib.request.urlopen(url + "/checkpoint", timeout=10).read().decode()
    with open(out, "a") as f:
        f.write(note + "---\n")
    print(note.split("\n")[1])

def cmd_wait_covered(url, size):
    deadline = time.time() + 30
    while time.time() < deadline:
        h = json.loads(urllib.request.urlopen(url + "/healthz", timeout=5).read())
        if h["checkpoint_size"] >= int(size):
            print(h["checkpoint_size"]); return
        time.sleep(0.05)
    sys.exit("no checkpoint covered size %s within 30 s" % size)

def cmd_split(during, started, size, in_backup, later):
    """Acks of the loop: batches wholly below the backup size go to in_backup, wholly above to later;
    a batch split by the backup's size is a half-batch backup (exit 1). Acks before `started` must be below size."""
    started, size = float(started), int(size)
    batches = {}
    for line in open(during):
        if line.strip():
            a = json.loads(line)
            batches.setdefault(a["batch"], []).append(a)
    inside = later_n = 0
    with open(in_backup, "w") as fin, open(later, "w") as flater:
        for b, acks in sorted(batches.items()):
            below = [a["index"] < size for a in acks]
            if any(below) and not all(below):
                sys.exit("batch %d (indices %d..%d) is split by the backup's tree size %d" % (b, acks[0]["index"], acks[-1]["index"], size))
            for a in acks:
                if a["acked_at"] < started and a["index"] >= size:
                    sys.exit("event %s acknowledged before the backup started but not in it (index %d >= %d)" % (a["event_id"], a["index"], size))
                out = {k: a[k] for k in ("index", "leaf_hash", "event_id")}
                (fin if below[0] else flater).write(json.dumps(out) + "\n")
                if below[0]: inside += 1
                else: later_n += 1
    print(inside, later_n, len(batches))

def cmd_cps_before(cps_jsonl, started, out):
    """Checkpoints the loop saw before the backup started, appended to out."""
    n = 0
    with open(out, "a") as f:
        for line in open(cps_jsonl):
            c = json.loads(line)
            if c["at"] < float(started):
                f.write(c["note"] + "---\n"); n += 1
    print(n)

def cmd_beyond(cps_jsonl, size):
    """How many checkpoints the original served beyond the backup's size."""
    print(sum(1 for l in open(cps_jsonl) if int(json.loads(l)["note"].split("\n")[1]) > int(size)))

def cmd_health(url, key):
    print(json.loads(urllib.request.urlopen(url + "/healthz", timeout=5).read())[key])

cmds = {"append": cmd_append, "loop": cmd_loop, "checkpoint": cmd_checkpoint, "wait_covered": cmd_wait_covered,
        "split": cmd_split, "cps_before": cmd_cps_before, "beyond": cmd_beyond, "health": cmd_health}
cmds[sys.argv[1]](*sys.argv[2:])
PY
client() { "$PYTHON" "$WORK/client.py" "$@"; }
now() { "$PYTHON" -c 'import time; print(repr(time.time()))'; }

(cd "$ROOT" && GO111MODULE=off GOPATH=${TLOGCHECK_GOPATH:-/usr/share/gocode} GOFLAGS= GOCACHE=$WORK/gocache \
    go build -o "$WORK/tlogcheck" ./Tests/Interop/tlogcheck) >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; die "building tlogcheck"; }
CHECK=$WORK/tlogcheck

serve_bg() { # serve_bg DATA LOG: sets SPID SURL
    local port; port=$(free_port)
    SURL=http://127.0.0.1:$port
    "$GREFFE" serve --data "$1" --listen "127.0.0.1:$port" --checkpoint-interval 0.1 --anonymous-rate 0 >"$2" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    for _ in $(seq 300); do
        kill -0 "$SPID" 2>/dev/null || return 1
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$SURL/healthz") == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}
stop_serve() {
    kill -TERM "$SPID" 2>/dev/null
    for _ in $(seq 200); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SPID" 2>/dev/null; then kill -KILL "$SPID"; wait "$SPID" 2>/dev/null; return 1; fi
    wait "$SPID"
}

ORIGIN=backup.greffe.test/log
DATA=$WORK/data
ACKS_BEFORE=$WORK/acks-before.jsonl
CPS_BEFORE=$WORK/checkpoints-before.txt
: >"$ACKS_BEFORE"; : >"$CPS_BEFORE"
"$GREFFE" init --data "$DATA" --origin "$ORIGIN" >/dev/null || die "greffe init"
TOKEN=$("$GREFFE" token create --data "$DATA" --role append --platform backup.example --name backup) || die "token create"

# 1. Serve and append.
serve_bg "$DATA" "$WORK/serve-original.log" || die "serve did not start: $(tail -n 5 "$WORK/serve-original.log")"
ORIG_URL=$SURL; ORIG_PID=$SPID
client checkpoint "$ORIG_URL" "$CPS_BEFORE" >/dev/null
for part in 0 1 2 3 4; do
    client append "$ORIG_URL" "$TOKEN" pre $((part * 200)) 200 50 "$ACKS_BEFORE" >/dev/null || die "appending events before the backup"
    client checkpoint "$ORIG_URL" "$CPS_BEFORE" >/dev/null
done
pass "1000 events appended to the original ($(grep -c '^---$' "$CPS_BEFORE") checkpoints saved)"

# 2. Backup while a client appends.
STOP=$WORK/stop
"$PYTHON" "$WORK/client.py" loop "$ORIG_URL" "$TOKEN" during "$WORK/acks-during.jsonl" "$STOP" "$WORK/cps-during.jsonl" >"$WORK/loop.out" 2>&1 &
LOOP=$!
sleep 1
BACKUP=$WORK/backups/greffe-backup.sqlite
mkdir -p "$WORK/backups"
BACKUP_STARTED=$(now)
if "$GREFFE" backup --data "$DATA" --out "$BACKUP" >"$WORK/backup.out" 2>"$WORK/backup.err"; then
    pass "greffe backup while appending: $(cat "$WORK/backup.out")"
else
    die "greffe backup failed: $(cat "$WORK/backup.out" "$WORK/backup.err")"
fi
BACKUP_DONE=$(now)
grep -q 'signing key.*not in the backup' "$WORK/backup.err" && pass "backup says the signing key is not in it: $(head -n 1 "$WORK/backup.err")" || bad "backup does not say the signing key is not in it"
sleep 1
touch "$STOP"; wait "$LOOP" || bad "the appending client failed during the backup: $(cat "$WORK/loop.out")"
ls "$WORK/backups" | grep -v '^greffe-backup.sqlite$' >/dev/null && bad "backup left other files: $(ls "$WORK/backups")"
[[ $(stat -c %a "$BACKUP") == 600 ]] && pass "backup file is mode 0600 (it holds event bodies and salts)" || bad "backup file mode $(stat -c %a "$BACKUP"), want 600"
log "     backup took $("$PYTHON" -c "print(round($BACKUP_DONE - $BACKUP_STARTED, 3))") s; $(wc -l <"$WORK/acks-during.jsonl") events acknowledged by the loop around it"

# backup refuses an existing --out
if "$GREFFE" backup --data "$DATA" --out "$BACKUP" >/dev/null 2>"$WORK/overwrite.err"; then
    bad "greffe backup overwrote an existing file"
else
    pass "greffe backup refuses an existing --out: $(tail -n 1 "$WORK/overwrite.err" | cut -c1-150)"
fi

# 3. What the backup holds.
BSIZE=$(sqlite3 "$BACKUP" "SELECT value FROM meta WHERE key = 'tree_size'" 2>/dev/null || echo '')
[[ -n $BSIZE ]] || BSIZE=$(grep -o 'tree size [0-9]*' "$WORK/backup.out" | head -n 1 | grep -o '[0-9]*')
if SPLIT=$(client split "$WORK/acks-during.jsonl" "$BACKUP_STARTED" "$BSIZE" "$WORK/acks-during-in.jsonl" "$WORK/acks-during-later.jsonl"); then
    read -r IN_N LATER_N BATCHES <<<"$SPLIT"
    pass "backup tree size $BSIZE: the 1000 first events and $IN_N of the concurrent client's are in it (every one acknowledged before the backup started among them), $LATER_N later ones are not, none of its $BATCHES batches is split"
else
    bad "backup content: $SPLIT"
fi
BEFORE_LOOP_CPS=$(client cps_before "$WORK/cps-during.jsonl" "$BACKUP_STARTED" "$CPS_BEFORE")
BEYOND=$(client beyond "$WORK/cps-during.jsonl" "$BSIZE")

# 4. Restore refusals.
if "$GREFFE" restore --backup "$BACKUP" --data "$DATA" >"$WORK/r1.out" 2>&1; then
    bad "greffe restore into the live data directory succeeded"
else
    pass "restore refuses a directory that holds a database: $(tail -n 1 "$WORK/r1.out" | cut -c1-160)"
fi
cp "$BACKUP" "$WORK/corrupt.sqlite"
PAGES=$(( $(stat -c %s "$WORK/corrupt.sqlite") / 4096 ))
head -c 4096 /dev/urandom | dd of="$WORK/corrupt.sqlite" bs=4096 seek=$((PAGES / 2)) conv=notrunc status=none
mkdir -p "$WORK/restore-corrupt"
if "$GREFFE" restore --backup "$WORK/corrupt.sqlite" --data "$WORK/restore-corrupt" >"$WORK/r2.out" 2>&1; then
    bad "greffe restore accepted a backup with page $((PAGES / 2 + 1)) of $PAGES overwritten"
else
    if ls "$WORK/restore-corrupt" | grep -q sqlite; then
        bad "refused corrupted restore left files: $(ls "$WORK/restore-corrupt")"
    else
        pass "restore refuses a corrupted backup, leaves nothing: $(tail -n 1 "$WORK/r2.out" | cut -c1-200)"
    fi
fi
sqlite3 "$WORK/corrupt.sqlite" 'PRAGMA user_version' >/dev/null 2>&1
cp "$BACKUP" "$WORK/newer.sqlite"; sqlite3 "$WORK/newer.sqlite" 'PRAGMA user_version = 99'
if "$GREFFE" restore --backup "$WORK/newer.sqlite" --data "$WORK/restore-newer" >"$WORK/r3.out" 2>&1; then
    bad "greffe restore accepted a backup of schema version 99"
else
    pass "restore refuses a newer schema version: $(tail -n 1 "$WORK/r3.out" | cut -c1-200)"
fi
# Tampering SQLite cannot see (valid pages, wrong hashes): the recomputation from the entries must.
tamper_case() { # tamper_case NAME SQL WHAT
    cp "$BACKUP" "$WORK/$1.sqlite"; sqlite3 "$WORK/$1.sqlite" "$2" || { bad "sqlite3 $2"; return; }
    if "$GREFFE" restore --backup "$WORK/$1.sqlite" --data "$WORK/restore-$1" >"$WORK/r-$1.out" 2>&1; then
        bad "greffe restore accepted a backup with $3"
    elif ls "$WORK/restore-$1" 2>/dev/null | grep -q sqlite; then
        bad "refused restore ($3) left files: $(ls "$WORK/restore-$1")"
    else
        pass "restore refuses a backup with $3: $(tail -n 1 "$WORK/r-$1.out" | sed 's/.*greffe.sqlite.restoring: //' | cut -c1-120)"
    fi
}
tamper_case node "UPDATE nodes SET hash = randomblob(32) WHERE level = 1 AND idx = 7" "an interior tree node replaced"
tamper_case leaf "UPDATE entries SET leaf_hash = randomblob(32) WHERE idx = 300" "a leaf hash replaced"
tamper_case strayleaf "INSERT INTO nodes (level, idx, hash) VALUES (0, 300, randomblob(32))" "a leaf node where schema 6 keeps none"
tamper_case entry "UPDATE entries SET entry = substr(entry, 1, 49) || randomblob(32) || substr(entry, 82) WHERE idx = 400" "an entry's commitment changed"
tamper_case gap "DELETE FROM entries WHERE idx = 500" "an entry deleted"
tamper_case root "UPDATE checkpoints SET root = randomblob(32) WHERE size = (SELECT MAX(size) FROM checkpoints)" "the latest checkpoint's root replaced"
tamper_case lookup "UPDATE leaf_hashes SET prefix = randomblob(8) WHERE idx = 250" "a leaf-hash lookup row pointing elsewhere"
tamper_case lookupgap "DELETE FROM leaf_hashes WHERE idx = 260" "a leaf-hash lookup row deleted"
"$GREFFE" init --data "$WORK/other" --origin "$ORIGIN" >/dev/null
mkdir -p "$WORK/restore-wrongkey"; chmod 700 "$WORK/restore-wrongkey"
cp -p "$WORK/other/signing.key" "$WORK/restore-wrongkey/signing.key"
if "$GREFFE" restore --backup "$BACKUP" --data "$WORK/restore-wrongkey" >"$WORK/r4.out" 2>&1; then
    bad "greffe restore accepted a directory holding another ledger's key"
else
    if [[ -e $WORK/restore-wrongkey/greffe.sqlite ]]; then bad "refused restore (wrong key) left greffe.sqlite behind"
    else pass "restore with another ledger's key is undone: $(tail -n 1 "$WORK/r4.out" | cut -c1-200)"; fi
fi

# 5. Restore with the key copied, serve, continue.
NEW=$WORK/restored
mkdir -p "$NEW"; chmod 700 "$NEW"
cp -p "$DATA/signing.key" "$NEW/signing.key"
if "$GREFFE" restore --backup "$BACKUP" --data "$NEW" >"$WORK/restore.out" 2>&1; then
    pass "greffe restore: $(head -n 1 "$WORK/restore.out")"
else
    die "greffe restore failed: $(cat "$WORK/restore.out")"
fi
cmp -s "$DATA/verifier.vkey" "$NEW/verifier.vkey" && pass "restore wrote the same verifier key" || bad "restored verifier.vkey differs from the original's"
cmp -s "$BACKUP" "$NEW/greffe.sqlite" && pass "restored database is byte-identical to the backup" || bad "restored database differs from the backup file"

stop_serve || bad "original serve did not stop cleanly"

serve_bg "$NEW" "$WORK/serve-restored.log" || die "serve on the restored directory did not start: $(tail -n 5 "$WORK/serve-restored.log")"
RSIZE=$(client health "$SURL" tree_size)
[[ $RSIZE == "$BSIZE" ]] && pass "restored ledger serves tree size $RSIZE (the backup's)" || bad "restored ledger has tree size $RSIZE, backup $BSIZE"
ACKS_AFTER=$WORK/acks-after.jsonl
: >"$ACKS_AFTER"
client append "$SURL" "$TOKEN" post 0 500 50 "$ACKS_AFTER" >/dev/null && pass "500 events appended to the restored ledger (the original's token works)" || bad "appending to the restored ledger"
FIRST_NEW=$(head -n 1 "$ACKS_AFTER" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["index"])')
[[ $FIRST_NEW == "$BSIZE" ]] && pass "the first new event landed at index $BSIZE" || bad "first new event at index $FIRST_NEW, want $BSIZE"
# The events acknowledged after the backup (lost with the original) can be sent again: they land once, anew.
NEEDED=$((BSIZE + 500))
client wait_covered "$SURL" "$NEEDED" >/dev/null || bad "restored: no checkpoint covers $NEEDED"
cat "$ACKS_BEFORE" "$WORK/acks-during-in.jsonl" "$ACKS_AFTER" >"$WORK/acks-all.jsonl"
NCPS=$(grep -c '^---$' "$CPS_BEFORE")
if "$CHECK" -url "$SURL" -vkey "$NEW/verifier.vkey" -origin "$ORIGIN" -acks "$WORK/acks-all.jsonl" -old-checkpoints "$CPS_BEFORE" >"$WORK/check.log" 2>&1; then
    pass "tlogcheck on the restored ledger: $(grep -c . "$WORK/acks-all.jsonl") acknowledged events present, its new checkpoint consistent with all $NCPS checkpoints saved before the backup"
else
    bad "tlogcheck on the restored ledger: $(grep -m3 FAIL "$WORK/check.log")"
fi
log "     note: the original served $BEYOND checkpoints beyond the backup's size $BSIZE while it kept running; they are not consistent with the restored log (expected: a restore rolls back to the backup, see BackupCommand.swift)"
stop_serve && pass "restored serve stopped cleanly" || bad "restored serve did not stop cleanly"

# 6. Offline backup of the (stopped) original, and of the restored ledger.
if "$GREFFE" backup --data "$DATA" --out "$WORK/backups/offline.sqlite" >"$WORK/offline.out" 2>"$WORK/offline.err"; then
    pass "offline backup: $(head -n 1 "$WORK/offline.out")"
    ls "$DATA" | grep -q 'greffe.sqlite-wal' && log "note: $(ls "$DATA")"
else
    bad "offline backup failed: $(cat "$WORK/offline.out" "$WORK/offline.err")"
fi
finish
