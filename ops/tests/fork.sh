#!/usr/bin/env bash
# Fork safety: one sequencer per data directory, and a killed one is
# replaced without any fork.
#
#  1. `greffe serve` A runs on DIR; events are appended, checkpoints saved.
#  2. A second `greffe serve` on DIR (same path, through a symlink, and as
#     DIR/.) must exit non-zero at once with a clear "another greffe serve"
#     message, never answer HTTP, and leave A's checkpoint unchanged.
#  3. A is killed with -9 while clients append. Two new serves are then
#     started at the same moment: exactly one may run, the other must refuse.
#  4. The survivor continues the same tree: the Go checker (tlogcheck, built
#     on golang.org/x/mod/sumdb/{tlog,note}) verifies every acknowledged
#     event, every tile and entry, and a consistency proof from every
#     checkpoint A ever served; no two checkpoints share a size with
#     different roots.
#  5. Probe: serve.lock deleted while the survivor runs — a new serve must
#     still refuse (a lock on a file that can be deleted does not exclude).
#
# Usage: ops/tests/fork.sh      Env: GREFFE (binary, default .build/debug/greffe), KEEP=1
# Loopback only; bounded (about 30 s).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=fork
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-fork.XXXXXX")
# shellcheck source=lib.sh
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
for cmd in go python3 curl; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
PYTHON=$(python3 -c 'import sys; print(sys.executable)')

# ---------------------------------------------------------------------------
# Client: appends events, records acks (JSON lines), saves checkpoints.
cat >"$WORK/client.py" <<'PY'
import json, os, sys, time, urllib.error, urllib.request

def event(prefix, n):
    return {"event_id": "%s-%d" % (prefix, n), "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z",
            "platform": "fork.example", "schema_version": 1, "authority": "Parquet de Paris",
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

def record(acks_path, events, answer):
    results = answer["results"]
    assert len(results) == len(events) and all(r["event_id"] == e["event_id"] for r, e in zip(results, events)), answer
    with open(acks_path, "a") as f:
        for r in results:
            f.write(json.dumps({"index": r["index"], "leaf_hash": r["leaf_hash"], "event_id": r["event_id"]}) + "\n")

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

def cmd_loop(url, token, prefix, acks, stopfile):
    """Appends batches of 20 until stopfile exists; a batch without an answer is dropped (never acked)."""
    n, acked, errors = 0, 0, 0
    while not os.path.exists(stopfile):
        events = [event(prefix, i) for i in range(n, n + 20)]
        n += 20
        try:
            status, answer = post(url, token, events, timeout=5)
        except OSError:
            errors += 1
            time.sleep(0.05)
            continue
        if status in (200, 201):
            record(acks, events, answer)
            acked += len(events)
        else:
            errors += 1
            time.sleep(0.05)
    print("%d %d" % (acked, errors))

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

def cmd_needed(acks):
    print(max(json.loads(l)["index"] for l in open(acks) if l.strip()) + 1)

def cmd_roots(cps):
    """No two checkpoints in the file share a size with different roots."""
    seen = {}
    for note in open(cps).read().split("---\n"):
        lines = note.split("\n")
        if len(lines) < 3: continue
        size, root = int(lines[1]), lines[2]
        if seen.setdefault(size, root) != root:
            sys.exit("two roots for size %d: %s and %s" % (size, seen[size], root))
    print(len(seen))

cmds = {"append": cmd_append, "loop": cmd_loop, "checkpoint": cmd_checkpoint, "wait_covered": cmd_wait_covered,
        "needed": cmd_needed, "roots": cmd_roots}
cmds[sys.argv[1]](*sys.argv[2:])
PY
client() { "$PYTHON" "$WORK/client.py" "$@"; }

(cd "$ROOT" && GO111MODULE=off GOPATH=${TLOGCHECK_GOPATH:-/usr/share/gocode} GOFLAGS= GOCACHE=$WORK/gocache \
    go build -o "$WORK/tlogcheck" ./Tests/Interop/tlogcheck) >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; die "building tlogcheck"; }
CHECK=$WORK/tlogcheck

# start_serve NAME DATA: starts greffe serve in the background; sets PID_<NAME>, URL_<NAME>.
start_serve() {
    local name=$1 data=$2 port
    port=$(free_port)
    "$GREFFE" serve --data "$data" --listen "127.0.0.1:$port" --checkpoint-interval 0.1 --anonymous-rate 0 >"$WORK/serve-$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    printf -v "PID_$name" '%s' "$pid"
    printf -v "URL_$name" '%s' "http://127.0.0.1:$port"
}
# wait_up NAME: healthz 200 within 30 s, or the process exited (return 1).
wait_up() {
    local pid_var="PID_$1" url_var="URL_$1"
    for _ in $(seq 300); do
        kill -0 "${!pid_var}" 2>/dev/null || return 1
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "${!url_var}/healthz") == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}
# wait_exit NAME SECONDS: the process exits within SECONDS; sets EXIT_CODE.
wait_exit() {
    local pid_var="PID_$1"
    for _ in $(seq $(($2 * 10))); do
        if ! kill -0 "${!pid_var}" 2>/dev/null; then
            wait "${!pid_var}"; EXIT_CODE=$?; return 0
        fi
        sleep 0.1
    done
    EXIT_CODE=; return 1
}
# expect_refusal NAME WHAT: started serve NAME must exit non-zero with the lock message, never answering.
expect_refusal() {
    local name=$1 what=$2 url_var="URL_$1"
    if ! wait_exit "$name" 15; then
        local up=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "${!url_var}/healthz")
        bad "$what: a second greffe serve is still running after 15 s (healthz: $up)"
        local pid_var="PID_$name"; kill -KILL "${!pid_var}" 2>/dev/null; wait "${!pid_var}" 2>/dev/null
        return 1
    fi
    if [[ $EXIT_CODE == 0 ]]; then bad "$what: second serve exited 0, want non-zero"; return 1; fi
    if ! grep -q 'another greffe serve is running' "$WORK/serve-$name.log"; then
        bad "$what: exit $EXIT_CODE without the lock message: $(head -c 300 "$WORK/serve-$name.log")"
        return 1
    fi
    pass "$what: refused, exit $EXIT_CODE: $(grep -o 'another greffe serve[^"]*' "$WORK/serve-$name.log" | head -n 1 | cut -c1-110)"
}

DATA=$WORK/data
ACKS=$WORK/acks.jsonl
CPS=$WORK/checkpoints.txt
: >"$ACKS"; : >"$CPS"
"$GREFFE" init --data "$DATA" --origin fork.greffe.test/log >/dev/null || die "greffe init"
TOKEN=$("$GREFFE" token create --data "$DATA" --role append --platform fork.example --name fork) || die "token create"

start_serve A "$DATA"
wait_up A || die "serve A did not come up: $(tail -n 5 "$WORK/serve-A.log")"
client append "$URL_A" "$TOKEN" a 0 300 50 "$ACKS" >/dev/null || die "appending 300 events to A"
client wait_covered "$URL_A" 300 >/dev/null || die "A: no checkpoint covering 300"
client checkpoint "$URL_A" "$CPS" >/dev/null
CP_BEFORE=$(curl -s "$URL_A/checkpoint")
pass "serve A up on $URL_A with 300 events acknowledged"

# 2. Second serves on the same directory while A runs.
start_serve B "$DATA"
expect_refusal B "second serve on the same --data path"
ln -s "$DATA" "$WORK/data-link"
start_serve B2 "$WORK/data-link"
expect_refusal B2 "second serve through a symlink to the data directory"
start_serve B3 "$DATA/./"
expect_refusal B3 "second serve on DIR/./"
[[ $(curl -s "$URL_A/checkpoint") == "$CP_BEFORE" ]] && pass "A's checkpoint unchanged by the refused serves" || bad "A's checkpoint changed while others tried to start"
client append "$URL_A" "$TOKEN" a 300 100 50 "$ACKS" >/dev/null && pass "A still appends after the refused starts" || bad "A failed to append after the refused starts"
client checkpoint "$URL_A" "$CPS" >/dev/null

# 3. kill -9 A under load, then two serves race for the directory.
STOP=$WORK/stop-loop
"$PYTHON" "$WORK/client.py" loop "$URL_A" "$TOKEN" loop "$ACKS" "$STOP" >"$WORK/loop.out" 2>&1 &
LOOP=$!
for _ in $(seq 8); do client checkpoint "$URL_A" "$CPS" >/dev/null 2>&1; sleep 0.15; done
kill -KILL "$PID_A"; wait "$PID_A" 2>/dev/null
touch "$STOP"; wait "$LOOP"
read -r LOOP_ACKED LOOP_ERRORS <"$WORK/loop.out"
pass "A killed with -9 mid-load ($LOOP_ACKED loop events acknowledged, $LOOP_ERRORS requests cut or refused)"
[[ -f $DATA/serve.lock ]] && log "note: $DATA/serve.lock is left behind by the killed process (flock is released by the kernel)"

start_serve C "$DATA"
start_serve D "$DATA"
sleep 0.5
UP_C=0; UP_D=0
wait_up C && UP_C=1
wait_up D && UP_D=1
if ((UP_C + UP_D == 1)); then
    if ((UP_C)); then S=C; L=D; else S=D; L=C; fi
    pass "two serves started together after the kill: exactly one ($S) runs"
    expect_refusal "$L" "the serve that lost the race"
else
    die "two serves started together after the kill: $((UP_C + UP_D)) run (want exactly 1); logs: $(tail -n 3 "$WORK/serve-C.log") / $(tail -n 3 "$WORK/serve-D.log")"
fi
SURL_VAR="URL_$S"; SURL=${!SURL_VAR}
SPID_VAR="PID_$S"; SPID=${!SPID_VAR}

# 4. The survivor continues the same tree.
client append "$SURL" "$TOKEN" s 0 200 50 "$ACKS" >/dev/null || bad "appending 200 events to the survivor"
NEEDED=$(client needed "$ACKS")
client wait_covered "$SURL" "$NEEDED" >/dev/null || bad "survivor: no checkpoint covering $NEEDED"
client checkpoint "$SURL" "$CPS" >/dev/null
SIZES=$(client roots "$CPS") && pass "no two saved checkpoints share a size with different roots ($SIZES sizes)" || bad "a fork among the saved checkpoints: $(client roots "$CPS" 2>&1)"
NACKS=$(grep -c . "$ACKS")
NCPS=$(grep -c '^---$' "$CPS")
if "$CHECK" -url "$SURL" -vkey "$DATA/verifier.vkey" -origin fork.greffe.test/log -acks "$ACKS" -old-checkpoints "$CPS" >"$WORK/check.log" 2>&1; then
    pass "tlogcheck: the survivor's tree holds all $NACKS acknowledged events and is consistent with all $NCPS checkpoints A served"
else
    bad "tlogcheck after the kill -9: $(grep -m3 FAIL "$WORK/check.log")"
fi

# 5. Probe: the lock file deleted under a running serve.
rm -f "$DATA/serve.lock"
start_serve E "$DATA"
if wait_up E; then
    bad "serve.lock deleted while $S runs: a second greffe serve (E) STARTED on the same directory — the lock is a deletable file (DataDirectory.lockForServing flocks DIR/serve.lock; locking the database file itself would survive this)"
    # Does the store still refuse a fork? Append through both, then restart the survivor and check.
    client append "$URL_E" "$TOKEN" e 0 20 20 "$WORK/acks-e.jsonl" >"$WORK/e.out" 2>&1
    client append "$SURL" "$TOKEN" s2 0 20 20 "$ACKS" >"$WORK/s2.out" 2>&1
    client append "$URL_E" "$TOKEN" e 100 20 20 "$WORK/acks-e.jsonl" >>"$WORK/e.out" 2>&1
    log "     appends through E: $(tr '\n' ' ' <"$WORK/e.out" | cut -c1-200)"
    log "     append through $S after E appended: $(tail -n 1 "$WORK/s2.out" | cut -c1-250)"
    log "     $S's /healthz now: $(curl -s "$SURL/healthz")"
    [[ -s $WORK/acks-e.jsonl ]] && cat "$WORK/acks-e.jsonl" >>"$ACKS"
    client checkpoint "$URL_E" "$CPS" >/dev/null
    kill -KILL "$PID_E"; wait "$PID_E" 2>/dev/null
    kill -TERM "$SPID"; wait_exit "$S" 20
    start_serve R "$DATA"
    if wait_up R; then
        S=R; SPID=$PID_R; SURL=$URL_R
        NEEDED=$(client needed "$ACKS")
        client wait_covered "$SURL" "$NEEDED" >/dev/null 2>&1
        client checkpoint "$SURL" "$CPS" >/dev/null
        client roots "$CPS" >/dev/null || bad "two sequencers signed two roots for one size: $(client roots "$CPS" 2>&1)"
        if "$CHECK" -url "$SURL" -vkey "$DATA/verifier.vkey" -acks "$ACKS" -old-checkpoints "$CPS" >"$WORK/check-e.log" 2>&1; then
            log "     after restarting: tlogcheck passes — no fork; the store's tree-size check refused the stale sequencer's batches (it answered 503 until restarted)"
        else
            bad "two sequencers produced an inconsistent log: $(grep -m3 FAIL "$WORK/check-e.log")"
        fi
    else
        bad "serve did not restart after the two-sequencer episode: $(tail -n 3 "$WORK/serve-R.log")"
    fi
else
    expect_refusal E "serve after serve.lock was deleted"
fi

kill -TERM "$SPID"
if wait_exit "$S" 20 && [[ $EXIT_CODE == 0 ]]; then pass "survivor stopped cleanly on SIGTERM"; else bad "survivor: exit ${EXIT_CODE:-none} after SIGTERM"; fi
finish
