#!/usr/bin/env bash
# Static tiles: `greffe serve --tiles-dir DIR` served by nginx with
# ops/nginx/greffe-tiles-locations.conf, checked like the live server.
#
#  1. `greffe serve --tiles-dir` on a fresh ledger: the empty log's
#     checkpoint is exported at start; EVENTS events are appended over HTTP
#     (batches and singles), the exported checkpoints are saved as they move.
#  2. Debian's nginx, unprivileged (as nobody when run by root), on a free
#     loopback port, serves DIR with the shipped location rules. `greffe
#     audit --url` (nginx), `--tiles DIR` and `--from-checkpoint` (an older
#     root from today's tiles) pass; the Go checker (tlogcheck -tiles-only, built on
#     x/mod sumdb/tlog) verifies signature, tiles, entries, every ack and a
#     consistency proof from every saved checkpoint, all from the tiles.
#  3. Every file of DIR is served by nginx with the bytes the live server
#     serves at the same path; Content-Type and Cache-Control equal the live
#     server's (full: immutable, partial: 60 s, checkpoint: 1 s); unknown
#     paths, directories and .staging/ are 404.
#  4. Full tiles are never rewritten (same inode after more appends);
#     partial tiles go once their full tile is published.
#  5. A fresh --tiles-dir on restart is caught up with the whole log, byte
#     for byte; a tampered full tile makes the export fail loudly (log line,
#     greffe_tile_export_failures_total) while appends go on and the
#     directory's checkpoint stays where it was.
#  6. kill -9 under load, three times: the directory left behind always
#     audits OK; on restart it catches up and .staging/ is cleared.
#
# Usage: ops/tests/static-tiles.sh   Env: GREFFE (binary), EVENTS (default
#        1500), KEEP=1. Needs: nginx (Debian), go + golang-golang-x-mod-dev,
#        python3, curl. Loopback only; about a minute on a debug build.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
EVENTS=${EVENTS:-1500}
NAME=static-tiles
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-static.XXXXXX")
# shellcheck source=ops/tests/lib.sh
source "$ROOT/ops/tests/lib.sh"
trap 'die "interrupted"' INT TERM

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (swift build, or set GREFFE)"
for cmd in python3 curl go; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || die "nginx not found (ops/install-deps.sh installs Debian's nginx)"
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
# nginx workers may run as another user: the tree they read must be traversable.
chmod 755 "$WORK"

size_of() { sed -n 2p "$1" 2>/dev/null; }
metric() { # metric NAME: its value in the live server's /metrics (0 when absent)
    curl -s "$URL/metrics" | awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }'
}

# --- the client: appends, records every ack as a JSON line ---------------------
cat >"$WORK/client.py" <<'PY'
import json, sys, urllib.request

url, token, prefix, first, count, batch, acks = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]

def event(n):
    return {"event_id": "%s-%06d" % (prefix, n), "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z",
            "platform": "static.example", "schema_version": 1, "authority": "Parquet de Paris",
            "reference": "ref-%d" % n, "direction": "received", "request_type": "preservation"}

n = first
with open(acks, "a") as out:
    while n < first + count:
        events = [event(i) for i in range(n, min(n + batch, first + count))]
        body = {"events": events} if batch > 1 else events[0]
        req = urllib.request.Request(url + "/v1/events", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            if resp.status != 201:
                sys.exit("events from %d: HTTP %d" % (n, resp.status))
            answer = json.loads(resp.read())
        for r in (answer["results"] if batch > 1 else [answer]):
            out.write(json.dumps({"index": r["index"], "leaf_hash": r["leaf_hash"], "event_id": r["event_id"]}) + "\n")
        n += len(events)
PY
ACKS=$WORK/acks.jsonl
: >"$ACKS"
append() { # append FIRST COUNT BATCH
    "$PYTHON" "$WORK/client.py" "$URL" "$TOKEN" "static-$$" "$1" "$2" "$3" "$ACKS" || die "appending events $1…$(($1 + $2 - 1))"
}

SERVER_PID=
start_server() { # start_server TILES_DIR
    PORT=$(free_port)
    URL=http://127.0.0.1:$PORT
    # umask 077 as in ops/systemd/greffe.service: the tiles must still come out world-readable.
    (umask 077 && exec "$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.2 --anonymous-rate 0 --tiles-dir "$1") \
        >>"$WORK/serve.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 300); do
        kill -0 "$SERVER_PID" 2>/dev/null || die "greffe serve exited during start-up: $(tail -5 "$WORK/serve.log")"
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/healthz" || true) == 200 ]] && return 0
        sleep 0.1
    done
    die "greffe serve: /healthz not 200 within 30 s"
}
stop_server() {
    kill -TERM "$SERVER_PID"
    for _ in $(seq 200); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    wait "$SERVER_PID" 2>/dev/null || die "greffe serve did not stop cleanly on SIGTERM"
}

# wait_exported DIR N: until DIR/checkpoint covers N entries
wait_exported() {
    for _ in $(seq 300); do
        local s
        s=$(size_of "$1/checkpoint")
        [[ -n $s ]] && (($s >= $2)) && return 0
        sleep 0.1
    done
    die "$1/checkpoint did not reach size $2 within 30 s (it has $(size_of "$1/checkpoint"))"
}

# --- 1. serve with --tiles-dir, append ------------------------------------------
DATA=$WORK/data
TILES=$WORK/tiles
VKEY=$("$GREFFE" init --data "$DATA" --origin "static.greffe.test/$$") || die "greffe init"
TOKEN=$("$GREFFE" token create --data "$DATA" --role append --platform static.example --name static) || die "greffe token create"
start_server "$TILES"
wait_exported "$TILES" 0
[[ $(curl -s "$URL/checkpoint") == "$(cat "$TILES/checkpoint")" ]] &&
    pass "start-up exports the empty log's checkpoint, equal to the served one" ||
    bad "exported checkpoint differs from the served one at start"

CPS=$WORK/checkpoints.txt
: >"$CPS"
save_exported() { cat "$TILES/checkpoint" >>"$CPS"; printf -- '---\n' >>"$CPS"; }
save_exported
HALF=$((EVENTS / 2))
append 0 "$HALF" 100
wait_exported "$TILES" "$HALF"
save_exported
cp "$TILES/checkpoint" "$WORK/early.checkpoint"
append "$HALF" 7 1
append $((HALF + 7)) $((EVENTS - HALF - 7)) 250
wait_exported "$TILES" "$EVENTS"
save_exported
SIZE=$(size_of "$TILES/checkpoint")
FILES=$(cd "$TILES" && find . -path ./.staging -prune -o -type f -print | wc -l)
pass "appended $EVENTS events; the directory's checkpoint is at $SIZE ($FILES files)"
[[ -z $(ls -A "$TILES/.staging" 2>/dev/null) ]] && pass "no temporary file left in .staging/" || bad ".staging/ not empty: $(ls "$TILES/.staging")"
perms=$(cd "$TILES" && find . -path ./.staging -prune -o \( -type f ! -perm 0644 -o -type d ! -perm 0755 \) -print | head -5)
[[ -z $perms ]] && pass "files are 0644, directories 0755 under umask 077 (readable by the web server's user)" || bad "wrong modes: $perms"

stale=$(cd "$TILES" && find tile -path '*.p/*' -type f | while read -r p; do [[ -f ${p%.p/*} ]] && echo "$p"; done)
[[ -z $stale ]] && pass "partial tiles are deleted once their full tile is published (C2SP allows it)" || bad "partial tiles beside their full tile: $(echo $stale | cut -c1-200)"

# --- 2. nginx over the directory ----------------------------------------------------
NPORT=$(free_port)
NURL=http://127.0.0.1:$NPORT
write_nginx_conf "$WORK/nginx" "$NPORT" "$TILES"
# Run by root (as in this CI container), nginx runs as nobody instead: that also
# proves the exported files are readable by a web server that does not own them.
RUN_AS=()
AS=$(id -un)
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
    chown -R nobody:nogroup "$WORK/nginx"
    RUN_AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
    AS=nobody
fi
"${RUN_AS[@]}" "$NGINX" -t -q -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>"$WORK/nginx/t.log" ||
    die "nginx -t: $(cat "$WORK/nginx/t.log")"
"${RUN_AS[@]}" "$NGINX" -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>>"$WORK/nginx/error.log" &
PIDS+=($!)
for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$NURL/checkpoint") == 200 ]] && break
    sleep 0.1
done
[[ $(curl -s "$NURL/checkpoint") == "$(cat "$TILES/checkpoint")" ]] && pass "nginx $("$NGINX" -v 2>&1 | cut -d/ -f2), as $AS, serves the directory on $NURL" ||
    die "nginx does not serve the checkpoint: $(cat "$WORK/nginx/error.log")"

if "$GREFFE" audit --url "$NURL" --vkey "$DATA/verifier.vkey" --quiet >"$WORK/out.txt" 2>&1 && grep -q "audit: OK — $SIZE entries" "$WORK/out.txt"; then
    pass "greffe audit --url (nginx): $(tail -1 "$WORK/out.txt")"
else
    bad "greffe audit --url (nginx): $(cat "$WORK/out.txt")"
fi
if "$GREFFE" audit --tiles "$TILES" --vkey "$DATA/verifier.vkey" --quiet >"$WORK/out.txt" 2>&1 && grep -q "audit: OK — $SIZE entries" "$WORK/out.txt"; then
    pass "greffe audit --tiles DIR: $(tail -1 "$WORK/out.txt")"
else
    bad "greffe audit --tiles DIR: $(cat "$WORK/out.txt")"
fi

if "$GREFFE" mirror --url "$NURL" --out "$WORK/mirror" --vkey "$DATA/verifier.vkey" >"$WORK/out.txt" 2>&1 &&
    grep -q ": OK —" "$WORK/out.txt" && cmp -s "$WORK/mirror/checkpoint" "$TILES/checkpoint"; then
    pass "greffe mirror --url (nginx): $(tail -1 "$WORK/out.txt" | cut -c1-100)"
else
    bad "greffe mirror --url (nginx): $(cat "$WORK/out.txt")"
fi
# An older checkpoint's root rebuilt from today's tiles (its own partial tiles may be gone).
if "$GREFFE" audit --tiles "$TILES" --vkey "$DATA/verifier.vkey" --quiet --from-checkpoint "$WORK/early.checkpoint" >"$WORK/out.txt" 2>&1 &&
    grep -q "audit: OK" "$WORK/out.txt"; then
    pass "greffe audit --tiles --from-checkpoint (size $(size_of "$WORK/early.checkpoint")): $(tail -1 "$WORK/out.txt" | cut -c1-100)"
else
    bad "greffe audit --tiles --from-checkpoint: $(cat "$WORK/out.txt")"
fi

(
    cd "$ROOT"
    [[ -n $(go env GOCACHE 2>/dev/null) ]] || export GOCACHE=$WORK/gocache
    GO111MODULE=off GOPATH=${TLOGCHECK_GOPATH:-/usr/share/gocode} GOFLAGS= go build -o "$WORK/tlogcheck" ./Tests/Interop/tlogcheck
) >"$WORK/build.log" 2>&1 || die "building tlogcheck: $(cat "$WORK/build.log")"
if "$WORK/tlogcheck" -tiles-only -url "$NURL" -vkey "$DATA/verifier.vkey" -acks "$ACKS" -old-checkpoints "$CPS" >"$WORK/check.log" 2>&1 &&
    grep -q "interop: OK" "$WORK/check.log"; then
    pass "tlogcheck -tiles-only (x/mod tlog) via nginx: $(grep -c . "$ACKS") acks, $(grep -c '^---$' "$CPS") saved checkpoints; $(grep '^tiles:' "$WORK/check.log" | cut -c1-80)"
    grep -i 'warn' "$WORK/check.log" && bad "tlogcheck warnings (content types?)"
else
    bad "tlogcheck -tiles-only: $(tail -20 "$WORK/check.log")"
fi
# The checker must be able to fail here too: the same run under another key.
WRONG=$("$WORK/tlogcheck" -genkey "static.greffe.test/$$")
if "$WORK/tlogcheck" -tiles-only -url "$NURL" -vkey "$WRONG" >"$WORK/wrong.log" 2>&1; then
    bad "tlogcheck -tiles-only accepted the checkpoint under another key"
else
    pass "tlogcheck -tiles-only rejects the checkpoint under another key"
fi

# --- 3. bytes and headers equal the live server's ---------------------------------
same=0
diff=0
while read -r path; do
    path=${path#./}
    a=$(curl -s "$NURL/$path" | sha256sum)
    b=$(curl -s "$URL/$path" | sha256sum)
    f=$(sha256sum <"$TILES/$path")
    if [[ $a == "$b" && $a == "$f" ]]; then same=$((same + 1)); else diff=$((diff + 1)); log "  differs: $path"; fi
done < <(cd "$TILES" && find ./tile -type f | sort)
((diff == 0 && same > 0)) && pass "all $same tile and bundle files: nginx bytes = live server bytes = file bytes" ||
    bad "$diff of $((same + diff)) tiles differ between nginx, the live server and the files"

headers() { # headers URL: "content-type|cache-control", lower-cased
    curl -s -o /dev/null -D - "$1" | tr -d '\r' | awk -F': ' 'tolower($1) == "content-type" { ct = $2 } tolower($1) == "cache-control" { cc = $2 } END { print ct "|" cc }'
}
FULL=tile/0/000
PARTIAL=$(cd "$TILES" && find tile/0 -path '*.p/*' -type f | sort -t/ -k5 -n | tail -1)
EFULL=tile/entries/000
EPARTIAL=$(cd "$TILES" && find tile/entries -path '*.p/*' -type f | head -1)
want_for() {
    case $1 in
    checkpoint) echo "text/plain; charset=utf-8|public, max-age=1" ;;
    *.p/*) echo "application/octet-stream|public, max-age=60" ;;
    *) echo "application/octet-stream|public, max-age=31536000, immutable" ;;
    esac
}
for p in checkpoint "$FULL" "$PARTIAL" "$EFULL" "$EPARTIAL"; do
    [[ -n $p ]] || { bad "no partial tile to check"; continue; }
    got=$(headers "$NURL/$p")
    live=$(headers "$URL/$p")
    want=$(want_for "$p")
    if [[ $got == "$want" && $live == "$want" ]]; then
        pass "/$p: Content-Type and Cache-Control as the live server ($want)"
    else
        bad "/$p: nginx \"$got\", live \"$live\", want \"$want\""
    fi
done
gz=$(curl -s -o /dev/null -D - -H 'Accept-Encoding: gzip' "$NURL/$EFULL" | tr -d '\r' | grep -i '^content-encoding:' | cut -d' ' -f2)
[[ $gz == gzip ]] && pass "entry bundles are gzip-compressed on request (C2SP SHOULD)" || bad "entry bundle not compressed: \"$gz\""
next=$(((SIZE + 255) / 256))
for p in "tile/0/$(printf '%03d' $((next + 1)))" "tile/entries/$(printf '%03d' $((next + 1)))" tile/0/000.p/256 tile/0/1 tile/0/x000/000 \
    tile/64/000 tile/0/ tile/entries/000.p/ .staging/ no/such/path; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$NURL/$p")
    [[ $code == 404 ]] || { wrong=1; bad "/$p answered $code, want 404"; }
done
[[ -z ${wrong:-} ]] && pass "tiles beyond the tree, malformed paths, directories and .staging/ answer 404"

# --- 4. full tiles are never rewritten ----------------------------------------------
before=$(stat -c '%i %Y' "$TILES/tile/0/000" "$TILES/tile/entries/000")
append "$EVENTS" 300 100
wait_exported "$TILES" $((EVENTS + 300))
after=$(stat -c '%i %Y' "$TILES/tile/0/000" "$TILES/tile/entries/000")
[[ $before == "$after" ]] && pass "full tiles untouched by later checkpoints (same inode and mtime)" || bad "full tiles rewritten: $before → $after"
SIZE=$(size_of "$TILES/checkpoint")

# --- 5. catch-up on start, and a loud failure that does not stop appends ---------
stop_server
FRESH=$WORK/fresh
start_server "$FRESH"
wait_exported "$FRESH" "$SIZE"
if diff -r -x .staging "$TILES" "$FRESH" >"$WORK/diff.txt"; then
    pass "a fresh --tiles-dir is caught up at start: byte-identical to the incrementally written one (size $SIZE)"
else
    # The incremental directory also keeps older partial tiles; the fresh one has only the last.
    extra=$(grep -c '^Only in '"$TILES" "$WORK/diff.txt")
    other=$(grep -vc '^Only in '"$TILES" "$WORK/diff.txt")
    if [[ $other == 0 ]] && ! grep '^Only in '"$TILES" "$WORK/diff.txt" | grep -qv '\.p'; then
        pass "a fresh --tiles-dir is caught up at start: identical files (the incremental one also keeps $extra older partial tiles)"
    else
        bad "caught-up directory differs: $(head -5 "$WORK/diff.txt")"
    fi
fi
stop_server

# Tamper with a full tile: the next export must refuse, loudly, and appends continue.
"$PYTHON" - "$TILES/tile/0/001" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(100); b = f.read(1); f.seek(100); f.write(bytes([b[0] ^ 0xFF]))
PY
cp "$TILES/tile/0/001" "$WORK/tampered"
: >"$WORK/serve.log"
rm "$TILES/checkpoint" # forces a re-check of every tile against the store
start_server "$TILES"
FAILS=$(metric greffe_tile_export_failures_total)
append $((EVENTS + 300)) 10 10
for _ in $(seq 50); do
    (($(metric greffe_tree_size | cut -d. -f1) >= EVENTS + 310)) && break
    sleep 0.1
done
sleep 1
FAILS2=$(metric greffe_tile_export_failures_total)
if grep -q 'static tile export failed' "$WORK/serve.log" && grep -q 'tile/0/001' "$WORK/serve.log" &&
    awk -v a="$FAILS2" 'BEGIN { exit !(a >= 1) }'; then
    pass "a tampered full tile is refused loudly: logged naming tile/0/001, greffe_tile_export_failures_total $FAILS → $FAILS2"
else
    bad "tampered tile not reported: failures $FAILS → $FAILS2; log: $(grep -i tile "$WORK/serve.log" | tail -3)"
fi
served=$(curl -s "$URL/checkpoint" | sed -n 2p)
((served >= EVENTS + 310)) && pass "appends and checkpoints go on (served checkpoint $served) while the export fails" ||
    bad "served checkpoint $served, want ≥ $((EVENTS + 310))"
[[ ! -e $TILES/checkpoint ]] && cmp -s "$WORK/tampered" "$TILES/tile/0/001" &&
    pass "the directory's checkpoint is not written and the tampered tile not overwritten" ||
    bad "the export wrote over a directory that disagrees with the store"
stop_server

# --- 6. kill -9 while exporting: the directory is always a valid log ------------
# Whatever moment the server dies at, the directory's checkpoint must have all
# its tiles (tiles are renamed into place and fsynced before the checkpoint).
CRASH=$WORK/crash-tiles
for cycle in 1 2 3; do
    start_server "$CRASH"
    "$PYTHON" "$WORK/client.py" "$URL" "$TOKEN" "crash-$$-$cycle" 0 20000 50 "$WORK/crash-acks.jsonl" >/dev/null 2>&1 &
    CLIENT=$!
    PIDS+=("$CLIENT")
    sleep "$("$PYTHON" -c 'import random; print(round(random.uniform(0.8, 2.5), 2))')"
    kill -KILL "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
    kill "$CLIENT" 2>/dev/null
    wait "$CLIENT" 2>/dev/null
    if "$GREFFE" audit --tiles "$CRASH" --vkey "$DATA/verifier.vkey" --quiet >"$WORK/out.txt" 2>&1 && grep -q "audit: OK" "$WORK/out.txt"; then
        pass "kill -9 #$cycle mid-export: the directory audits OK at $(size_of "$CRASH/checkpoint") entries ($(ls "$CRASH/.staging" | wc -l) temporary files left)"
    else
        bad "kill -9 #$cycle: the directory does not audit: $(cat "$WORK/out.txt")"
    fi
done
start_server "$CRASH"
SERVED=$(curl -s "$URL/checkpoint" | sed -n 2p)
wait_exported "$CRASH" "$SERVED"
[[ -z $(ls -A "$CRASH/.staging") ]] && cmp -s <(curl -s "$URL/checkpoint") "$CRASH/checkpoint" &&
    pass "restarted: the directory catches up to the served checkpoint ($SERVED) and .staging/ is cleared" ||
    bad "after the crashes the directory did not catch up cleanly"
stop_server
finish
