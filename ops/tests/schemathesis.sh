#!/usr/bin/env bash
# Hostile HTTP input against a live `greffe serve`.
#
# 1. schemathesis (PyPI; installed with pip if missing) generates requests
#    from Schemas/openapi.yaml — all phases (examples, coverage, fuzzing,
#    stateful), positive and negative data — three times: with admin tokens
#    (reach every operation; four, rotated per request, so the admin rate limit
#    answers few 429s), with an append token (403 paths) and with no token
#    (401 paths). Answers are tallied by status per run. Checks: not_a_server_error (no 5xx), status_code_,
#    content_type_ and response_schema_conformance, and json_error_on_4xx
#    (a hook defined below: every 4xx is application/json {"error": "…"}).
#    The number of generated cases is printed.
# 2. A bounded probe (Python, loopback only): 500 idle connections and 50
#    clients sending their headers one byte every 0.5 s, held 35 s, while
#    /healthz is timed every 0.1 s from a fresh connection; meanwhile requests
#    with a 100 KB header, a 1 MB header, 10,000 headers, a 100 KB query, and a
#    9 MiB body. The server must keep answering /healthz (no failure, slowest
#    under 2 s), never crash, answer no 5xx, and answer every 4xx with a JSON
#    error; the script reports whether and when slow and idle connections are
#    closed (a request-time limit) and fails when they are never closed.
# 3. With the server's open-file limit lowered to 256 (prlimit), 300 idle
#    connections from one client: /healthz must still answer.
#
# Usage: ops/tests/schemathesis.sh   Env: GREFFE (default .build/debug/greffe), MAX_EXAMPLES (default 60), KEEP=1
# Loopback only; bounded (under 3 minutes).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
MAX_EXAMPLES=${MAX_EXAMPLES:-100}
NAME=schemathesis
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-schemathesis.XXXXXX")
PASSED=0
FAILED=0
SPID=

log() { printf '%s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); log "ok   $*"; }
bad() { FAILED=$((FAILED + 1)); log "FAIL $*"; }
finish() {
    log "$NAME: $PASSED passed, $FAILED failed$([[ $FAILED == 0 ]] || echo " (work directory kept: $WORK)")"
    [[ $FAILED == 0 ]]
    exit $?
}
die() { bad "$*"; finish; }
cleanup() {
    if [[ -n $SPID ]] && kill -0 "$SPID" 2>/dev/null; then kill -KILL "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi
    if [[ $FAILED == 0 && ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
for cmd in python3 curl; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
if ! "$PYTHON" -c 'import schemathesis' 2>/dev/null; then
    log "installing schemathesis from PyPI"
    "$PYTHON" -m pip install --quiet schemathesis >"$WORK/pip.log" 2>&1 || { tail -n 5 "$WORK/pip.log"; die "pip install schemathesis"; }
fi
ST_VERSION=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("schemathesis"))')
ST=("$PYTHON" -m schemathesis.cli)
"${ST[@]}" --version >/dev/null 2>&1 || ST=(schemathesis)

# The ledger: tokens of each role, 600 events so that tiles, proofs and reads have data.
DATA=$WORK/data
"$GREFFE" init --data "$DATA" --origin schemathesis.greffe.test/log >/dev/null || die "greffe init"
ADMIN=$("$GREFFE" token create --data "$DATA" --role admin --name st-admin) || die "token create admin"
# Admin tokens are rate limited (20/s, burst 40) and schemathesis sends ~60 requests/s: the
# admin run rotates over four tokens (hook below) so that most cases reach the handlers, not 429.
ADMINS=$ADMIN
for n in 2 3 4; do ADMINS+=" $("$GREFFE" token create --data "$DATA" --role admin --name st-admin-$n)" || die "token create admin $n"; done
APPEND=$("$GREFFE" token create --data "$DATA" --role append --platform st.example --name st-append) || die "token create append"
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
URL=http://127.0.0.1:$PORT
# No per-client limit: the fuzzer's thousands of requests must reach the handlers, not the 429 in front of them.
"$GREFFE" serve --data "$DATA" --listen "127.0.0.1:$PORT" --checkpoint-interval 0.2 --anonymous-rate 0 >"$WORK/serve.log" 2>&1 &
SPID=$!
for _ in $(seq 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$URL/healthz") == 200 ]] && break
    kill -0 "$SPID" 2>/dev/null || die "serve exited: $(tail -n 5 "$WORK/serve.log")"
    sleep 0.1
done
"$PYTHON" - "$URL" "$APPEND" <<'PY' || die "seeding events"
import json, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
for b in range(6):
    events = [{"event_id": "st-%d" % n, "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z", "platform": "st.example",
               "schema_version": 1, "authority": "Parquet de Paris", "reference": "ref-%d" % n, "direction": "received",
               "request_type": "preservation", "account": "hmac-sha256:%064x" % (n % 7)} for n in range(b * 100, b * 100 + 100)]
    req = urllib.request.Request(url + "/v1/events", data=json.dumps({"events": events}).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()
PY
pass "serve up on $URL with 600 events; schemathesis $ST_VERSION"

# ---------------------------------------------------------------------------
# 1. schemathesis
cat >"$WORK/greffe_hooks.py" <<'PY'
import itertools, json, os
import schemathesis

_rotation = os.environ.get("GREFFE_ROTATE_TOKENS", "").split()
_tokens = itertools.cycle(_rotation)

@schemathesis.hook
def before_call(ctx, case, kwargs):
    """With GREFFE_ROTATE_TOKENS set, each request carries the next of those bearer tokens."""
    if _rotation:
        case.headers = {**(case.headers or {}), "Authorization": "Bearer " + next(_tokens)}

@schemathesis.hook
def after_call(ctx, case, response):
    """Tallies answers by status (statuses.txt), to show what the run exercised."""
    with open(os.environ.get("GREFFE_STATUS_LOG", os.devnull), "a") as log:
        log.write("%d\n" % response.status_code)

@schemathesis.check
def json_error_on_4xx(ctx, response, case):
    """Every 4xx answer is application/json {"error": "<non-empty message>"} (CONTRACT.md)."""
    if 400 <= response.status_code < 500:
        ctype = response.headers.get("content-type", [""])
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        assert ctype.startswith("application/json"), "%d answered with Content-Type %r" % (response.status_code, ctype)
        try:
            body = json.loads(response.content)
        except ValueError:
            raise AssertionError("%d answered with a body that is not JSON: %r" % (response.status_code, response.content[:200]))
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], \
            "%d answered without an error message: %r" % (response.status_code, response.content[:200])
PY
TOTAL_CASES=0
run_st() { # run_st LABEL MAX_EXAMPLES CHECKS [header args…]
    local label=$1 n=$2 checks=$3; shift 3
    local out=$WORK/st-$label.out
    (cd "$WORK" && GREFFE_ROTATE_TOKENS=${GREFFE_ROTATE_TOKENS:-} GREFFE_STATUS_LOG=$WORK/statuses-$label.txt SCHEMATHESIS_HOOKS=greffe_hooks PYTHONPATH=$WORK timeout 150 "${ST[@]}" run "$ROOT/Schemas/openapi.yaml" \
        --url "$URL" "$@" --checks "$checks" --max-examples "$n" --seed 20261125 --request-timeout 15 \
        --no-color --report junit --report-dir "$WORK/reports-$label" >"$out" 2>&1)
    local rc=$?
    log "     answers by status ($label): $(sort "$WORK/statuses-$label.txt" 2>/dev/null | uniq -c | awk '{printf "%s×%s ", $2, $1}')"
    local cases; cases=$(grep -Eo '[0-9]+ generated' "$out" | tail -n 1 | grep -Eo '[0-9]+')
    local summary; summary=$(grep -E '^ *[0-9]+ generated' "$out" | tail -n 1 | sed 's/^ *//')
    TOTAL_CASES=$((TOTAL_CASES + ${cases:-0}))
    if [[ $rc == 0 ]]; then
        pass "schemathesis ($label, --max-examples $n, checks $checks): $summary"
    elif [[ $rc == 124 ]]; then
        bad "schemathesis ($label) did not finish within 150 s"
    else
        bad "schemathesis ($label): exit $rc — $summary; failures:"
        sed -n '/FAILURES/,/SUMMARY/p' "$out" | grep -Ev '^\s*$' | head -n 60 | sed 's/^/     /'
    fi
}
ALL_CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,json_error_on_4xx
GREFFE_ROTATE_TOKENS=$ADMINS run_st admin "$MAX_EXAMPLES" "$ALL_CHECKS"
run_st append 10 "$ALL_CHECKS" -H "Authorization: Bearer $APPEND"
run_st anonymous 10 "$ALL_CHECKS"
kill -0 "$SPID" 2>/dev/null && pass "server alive after $TOTAL_CASES schemathesis cases" || die "server died during schemathesis: $(tail -n 20 "$WORK/serve.log")"
if grep -q 'unexpected error' "$WORK/serve.log"; then
    bad "server log has 'unexpected error' lines (500s): $(grep -m3 'unexpected error' "$WORK/serve.log" | cut -c1-250)"
fi

# ---------------------------------------------------------------------------
# 2. Slow clients, many connections, huge headers.
cat >"$WORK/probe.py" <<'PY'
import json, socket, sys, threading, time

host, port, token, duration = "127.0.0.1", int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
stop = threading.Event()
result = {"healthz_ms": [], "healthz_failures": [], "probes": {}, "slow_closed_s": [], "idle_closed_s": []}

def monitor():
    while not stop.is_set():
        t = time.time()
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.settimeout(5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                c = s.recv(4096)
                if not c: break
                data += c
            s.close()
            if not data.startswith(b"HTTP/1.1 200"):
                result["healthz_failures"].append("answer %r" % data[:60])
            else:
                result["healthz_ms"].append((time.time() - t) * 1000)
        except OSError as e:
            result["healthz_failures"].append("%s after %.2f s" % (e, time.time() - t))
        time.sleep(0.1)

def slow_client(start):
    """Headers one byte every 0.5 s; records when the server closes the connection."""
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nX-Slow: ")
        s.settimeout(0.5)
        while not stop.is_set():
            try:
                if s.recv(1024) == b"":
                    result["slow_closed_s"].append(round(time.time() - start, 1)); return
            except socket.timeout:
                pass
            s.sendall(b"a")
    except OSError:
        result["slow_closed_s"].append(round(time.time() - start, 1))

def one_shot(name, raw, read_timeout=20):
    """Sends raw bytes, returns the status line and body start, or what happened."""
    try:
        s = socket.create_connection((host, port), timeout=10)
        s.settimeout(read_timeout)
        try:
            s.sendall(raw)
        except OSError as e:
            pass  # the server may answer and close before reading everything
        data = b""
        try:
            while True:
                c = s.recv(65536)
                if not c: break
                data += c
                head, sep, body = data.partition(b"\r\n\r\n")
                if sep:
                    length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                    if length and len(body) >= int(length[0].split(b":")[1]): break
        except OSError:
            pass
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else None
        ctype = [l.split(b":", 1)[1].strip().decode() for l in head.split(b"\r\n") if l.lower().startswith(b"content-type:")]
        result["probes"][name] = {"status": status, "content_type": ctype[0] if ctype else None, "body": body[:160].decode(errors="replace")}
    except OSError as e:
        result["probes"][name] = {"status": None, "error": str(e)}

threading.Thread(target=monitor, daemon=True).start()
time.sleep(1)
start = time.time()
idle = []
for _ in range(500):
    idle.append(socket.create_connection((host, port), timeout=5))
slow = [threading.Thread(target=slow_client, args=(start,), daemon=True) for _ in range(50)]
for t in slow: t.start()
result["opened"] = {"idle": len(idle), "slow": len(slow), "in_s": round(time.time() - start, 2)}

time.sleep(2)
get = b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n"
one_shot("100 KB header", get + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n")
one_shot("1 MB header", get + b"X-Big: " + b"a" * 1_000_000 + b"\r\n\r\n")
one_shot("10000 headers", get + b"".join(b"X-H%d: v\r\n" % i for i in range(10000)) + b"\r\n")
one_shot("100 KB query", b"GET /v1/proofs/consistency?first=1&second=2&x=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
body = b"[" + b" " * (9 * 1024 * 1024) + b"]"
one_shot("9 MiB body", b"POST /v1/events HTTP/1.1\r\nHost: probe\r\nConnection: close\r\nAuthorization: Bearer " + token.encode()
         + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

# Idle connections: which did the server close, and when?
deadline = start + duration
open_idle = list(idle)
while time.time() < deadline and open_idle:
    still = []
    for s in open_idle:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                result["idle_closed_s"].append(round(time.time() - start, 1)); s.close(); continue
        except BlockingIOError:
            pass
        except OSError:
            result["idle_closed_s"].append(round(time.time() - start, 1)); s.close(); continue
        still.append(s)
    open_idle = still
    time.sleep(0.5)
stop.set()
for t in slow: t.join(2)
for s in open_idle: s.close()
h = sorted(result["healthz_ms"])
result["healthz"] = {"count": len(h), "p50_ms": round(h[len(h) // 2], 1) if h else None,
                     "p99_ms": round(h[int(len(h) * 0.99)], 1) if h else None, "max_ms": round(h[-1], 1) if h else None}
del result["healthz_ms"]
json.dump(result, open(sys.argv[4], "w"), indent=1)
PY
"$PYTHON" "$WORK/probe.py" "$PORT" "$APPEND" 35 "$WORK/probe.json" || bad "probe crashed"
kill -0 "$SPID" 2>/dev/null && pass "server alive after 500 idle connections, 50 slow clients and the oversized requests" || die "server died during the probe: $(tail -n 20 "$WORK/serve.log")"
"$PYTHON" - "$WORK/probe.json" >"$WORK/probe.verdict" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
h = r["healthz"]
out = []
def verdict(ok, text): out.append(("ok  " if ok else "FAIL") + " " + text)
verdict(not r["healthz_failures"] and h["count"] > 0 and h["max_ms"] < 2000,
        "/healthz during the probe: %d answers, p50 %s ms, p99 %s ms, max %s ms, %d failures %s"
        % (h["count"], h["p50_ms"], h["p99_ms"], h["max_ms"], len(r["healthz_failures"]), r["healthz_failures"][:3]))
heads = ["100 KB header", "1 MB header", "10000 headers", "100 KB query"]
def is_json_error(p):
    return (p.get("content_type") or "").startswith("application/json") and '"error"' in p.get("body", "")
for name, p in r["probes"].items():
    s = p.get("status")
    if s is not None and s >= 500:
        verdict(False, "%s: answered %d %r" % (name, s, p.get("body")))
head_answers = [(n, r["probes"][n]) for n in heads]
refused = all(p.get("status") is None or 400 <= p["status"] < 500 for _, p in head_answers)
verdict(refused, "oversized request heads refused: " + ", ".join("%s -> %s" % (n, p.get("status") or "closed") for n, p in head_answers))
plain = [n for n, p in head_answers if p.get("status") and 400 <= p["status"] < 500 and not is_json_error(p)]
verdict(not plain, "oversized request heads answered with a JSON error" if not plain else
        "oversized request heads answered 4xx WITHOUT a JSON error (empty body, no Content-Type; from the HTTP parser before the router): " + ", ".join(plain))
body = r["probes"]["9 MiB body"]
verdict(body.get("status") == 413 and is_json_error(body), "9 MiB body: answered %s %s" % (body.get("status"), body.get("body", "")[:100]))
slow, idle = r["slow_closed_s"], r["idle_closed_s"]
verdict(len(slow) == r["opened"]["slow"],
        "slow clients (headers at 2 bytes/s): %d of %d disconnected by the server within 35 s%s"
        % (len(slow), r["opened"]["slow"], (", after %s-%s s" % (min(slow), max(slow))) if slow else " — no request-time limit: slow clients hold connections forever"))
verdict(len(idle) == r["opened"]["idle"],
        "idle connections: %d of %d closed by the server within 35 s%s"
        % (len(idle), r["opened"]["idle"], (", after %s-%s s" % (min(idle), max(idle))) if idle else " — no idle timeout: with the open-file limit of connections the server stops accepting"))
print("\n".join(out))
PY
while IFS= read -r line; do
    case $line in
        "ok   "*) pass "${line#ok   }" ;;
        "FAIL "*) bad "${line#FAIL }" ;;
        *) log "$line" ;;
    esac
done <"$WORK/probe.verdict"
grep -q 'unexpected error\|Fatal error' "$WORK/serve.log" && bad "server log after the probe: $(grep -m3 'unexpected error\|Fatal error' "$WORK/serve.log" | cut -c1-250)"
log "     open-file limit of the server: $(awk '/open files/ {print $4}' "/proc/$SPID/limits" 2>/dev/null)"

# What no idle timeout means: with the server's open-file limit lowered to 256
# (prlimit, on this process only), 300 idle connections from one client.
if command -v prlimit >/dev/null && prlimit --pid "$SPID" --nofile=256:256 2>/dev/null; then
    "$PYTHON" - "$PORT" >"$WORK/exhaust.out" 2>&1 <<'PY'
import socket, sys, time, urllib.request
port = int(sys.argv[1])
conns = []
for _ in range(300):
    try:
        conns.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    except OSError:
        break
time.sleep(1)
def health():
    t = time.time()
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=3).read()
        return "answered in %.2f s" % (time.time() - t)
    except Exception as e:
        return "FAILED (%s)" % e
during = health()
for c in conns: c.close()
time.sleep(1)
print("%d idle connections held: /healthz %s; after closing them: /healthz %s" % (len(conns), during, health()))
PY
    EX=$(cat "$WORK/exhaust.out")
    if [[ $EX == *"held: /healthz answered"* ]]; then
        pass "idle connections at the open-file limit (256): $EX"
    else
        bad "one client holding idle connections up to the open-file limit (256, lowered with prlimit) shuts everyone out: $EX — no idle timeout and no connection cap in serve"
    fi
    prlimit --pid "$SPID" --nofile=20000:20000 2>/dev/null
    kill -0 "$SPID" 2>/dev/null || die "server died when its descriptors ran out: $(tail -n 10 "$WORK/serve.log")"
else
    log "SKIP descriptor exhaustion probe: prlimit not available or not permitted"
fi

kill -TERM "$SPID"
for _ in $(seq 200); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SPID" 2>/dev/null; then bad "serve still running 20 s after SIGTERM"; else wait "$SPID" && pass "serve stopped cleanly on SIGTERM" || bad "serve exit status $? after SIGTERM"; fi
SPID=
log "schemathesis cases: $TOTAL_CASES"
finish
