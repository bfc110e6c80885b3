#!/usr/bin/env bash
# Every request limit of `greffe serve`, probed over raw sockets against a live
# server started with small limits (--header-timeout 1 --body-timeout 2
# --max-connections 20). Each must end in a 4xx (or 503) with a JSON
# {"error": …} body, or a clean close — never a 5xx, a hang or a crash:
#   request head: a 100 KB header line, a 1 MB header, 10,000 header fields, a
#     100 KB URL (431); a malformed request line, a malformed chunked body
#     (400); an oversized head pipelined after a good request (200, then 431)
#   request time: headers one byte every 0.2 s (408 at the head deadline);
#     a body one byte every 0.2 s (408 at the body deadline, nothing appended);
#     the same slow head over TLS (408: the guard sits behind TLS)
#   connections: 20 idle + 1 (served; the oldest idle one is closed);
#     20 unfinished heads + 1 (served; the oldest head is closed);
#     20 authenticated bodies under way + 1 (503 with Retry-After; served
#     again once they time out)
#   body size (9 MiB append, 2 MiB bundle query: 413), batch size (1,001
#     events: 422), JSON depth (40 levels: 400), query ranges (proofs beyond
#     the tree, search limit=1001: 400)
# Usage: ops/tests/limits.sh   Env: GREFFE (default .build/debug/greffe), KEEP=1
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=limits
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-limits.XXXXXX")
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # start DATA PORT LOG [serve args…]: serve in the background, wait for /healthz
    local data=$1 p=$2 out=$3; shift 3
    "$GREFFE" serve --data "$data" --listen "127.0.0.1:$p" --header-timeout 1 --body-timeout 2 --max-connections 20 "$@" >"$out" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 200); do
        curl -sk -o /dev/null --max-time 1 "http://127.0.0.1:$p/healthz" && return 0
        curl -sk -o /dev/null --max-time 1 "https://127.0.0.1:$p/healthz" && return 0
        sleep 0.1
    done
    die "serve did not start: $(tail -n 5 "$out")"
}

"$GREFFE" init --data "$WORK/data" --origin limits.greffe.test/log >/dev/null || die "greffe init"
APPEND=$("$GREFFE" token create --data "$WORK/data" --role append --platform limits.example --name limits-append) || die "token create"
INVESTIGATE=$("$GREFFE" token create --data "$WORK/data" --role investigate --name limits-investigate) || die "token create"
PORT=$(port)
start "$WORK/data" "$PORT" "$WORK/serve.log"
TLS_PORT=
if openssl req -x509 -newkey ed25519 -nodes -days 1 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null; then
    TLS_PORT=$(port)
    "$GREFFE" init --data "$WORK/data-tls" --origin limits-tls.greffe.test/log >/dev/null || die "greffe init (TLS)"
    start "$WORK/data-tls" "$TLS_PORT" "$WORK/serve-tls.log" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
fi

cat >"$WORK/probe.py" <<'PY'
import json, os, select, socket, ssl, sys, time

port, tls_port, append, investigate = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
sys.path.insert(0, os.environ["PROBE_LIB"])
import rawhttp
from rawhttp import say, read_answer, json_error

def connect(p=None, tls=False):
    return rawhttp.connect(p or port, tls)

def exchange(raw, p=None, tls=False):
    return rawhttp.exchange(p or port, raw, tls)

def expect(name, answer, status, words="", closed=True):
    st, headers, body, was_closed = answer
    err = json_error(headers, body)
    ok = st == status and err is not None and words in err and (was_closed or not closed)
    say(ok, "%s: %s %s%s" % (name, st, err if err else repr(body[:80]), "" if was_closed or not closed else " (connection left open)"))

def request(method, path, body=b"", token=None, extra=b""):
    return rawhttp.request(method, path, body, token, extra, host=b"limits")

def tree_size():
    st, headers, body, _ = exchange(request("GET", "/healthz"))
    return json.loads(body)["tree_size"]

# Request heads.
get = b"GET /healthz HTTP/1.1\r\nHost: limits\r\nConnection: close\r\n"
expect("100 KB header line", exchange(get + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n"), 431, "too large")
expect("1 MB header line", exchange(get + b"X-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"), 431, "too large")
expect("10,000 header fields", exchange(get + b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)) + b"\r\n"), 431, "too large")
expect("100 KB URL", exchange(b"GET /v1/proofs/consistency?first=1&second=2&x=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: limits\r\n\r\n"), 431, "too large")
expect("malformed request line", exchange(b"HELLO THERE\r\n\r\n"), 400, "malformed")
expect("malformed chunked body", exchange(b"POST /v1/events HTTP/1.1\r\nHost: limits\r\nAuthorization: Bearer " + append.encode()
                                          + b"\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n"), 400, "malformed request body")
# A pipelined request first gets its own answer, then the oversized one its 431.
st, headers, body, closed = exchange(b"GET /healthz HTTP/1.1\r\nHost: limits\r\n\r\nGET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
second = body.partition(b"\r\n\r\n")
say(st == 200 and second[0].startswith(b'{"checkpoint_size"') and b"431 Request Header Fields Too Large" in second[0] and b'"error"' in second[2] and closed,
    "pipelined request then an oversized one: 200, then 431 with a JSON error, then closed")

# Slow clients.
def slow(name, p, tls, prefix, drip, deadline, words):
    s = connect(p, tls)
    s.sendall(prefix)
    start = time.time()
    while time.time() - start < deadline + 5:
        if select.select([s], [], [], 0.2)[0]:
            break  # an answer, or the end of the connection
        try:
            s.sendall(drip)
        except OSError:
            break
    elapsed = time.time() - start
    answer = read_answer(s)
    s.close()
    expect("%s (cut off after %.1f s)" % (name, elapsed), answer, 408, words)
    say(deadline - 0.2 <= elapsed <= deadline + 1.5, "%s: cut off %.1f s after it started, deadline %s s" % (name, elapsed, deadline))

slow("headers one byte every 0.2 s", None, False, b"GET /healthz HTTP/1.1\r\nHost: limits\r\nX-Slow: ", b"a", 1, "head not received")
before = tree_size()
event = json.dumps({"event_id": "limits-slow-1", "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z", "platform": "limits.example",
                    "schema_version": 1, "authority": "Parquet de Paris", "reference": "r", "direction": "received",
                    "request_type": "preservation"}).encode()
slow("body one byte every 0.2 s", None, False,
     request("POST", "/v1/events", token=append).replace(b"Content-Length: 0", b"Content-Length: %d" % len(event)), b" ", 2, "body not received")
time.sleep(0.5)
say(tree_size() == before, "nothing appended from the cut-off body (tree size %d)" % before)
if tls_port:
    slow("over TLS, headers one byte every 0.2 s", int(tls_port), True, b"GET /healthz HTTP/1.1\r\nHost: limits\r\nX-Slow: ", b"a", 1, "head not received")

# Connections: 20 allowed.
idle = []
for _ in range(20):
    idle.append(connect()); time.sleep(0.05)  # admitted in connect order
time.sleep(0.3)
st, headers, body, _ = exchange(request("GET", "/healthz"))
select.select([idle[0]], [], [], 2)  # the displaced connection sees its end within moments
def is_closed(s):
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
closed = [i for i, s in enumerate(idle) if is_closed(s)]
say(st == 200 and closed == [0], "20 idle connections + 1: the new one is served (%s), the oldest idle one closed (closed: %s)" % (st, closed))
for s in idle: s.close()
time.sleep(0.3)
# Changed with the availability work: a request head proves nothing, so unfinished heads make room, oldest first.
heads = []
for _ in range(20):
    s = connect(); s.sendall(b"GET /healthz HTTP/1.1\r\nHost: limits\r\n"); heads.append(s); time.sleep(0.02)
time.sleep(0.2)
st = exchange(request("GET", "/healthz"))[0]
select.select([heads[0]], [], [], 2)
closed = [i for i, s in enumerate(heads) if is_closed(s)]
say(st == 200 and closed == [0], "20 unfinished heads + 1: the new one is served (%s), the oldest head closed (closed: %s)" % (st, closed))
for s in heads: s.close()
time.sleep(0.3)
# Slots busy with authenticated requests whose body is still coming are never cut: past them, 503.
busy = []
for _ in range(20):
    s = connect()
    s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: limits\r\nAuthorization: Bearer " + append.encode()
              + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    busy.append(s)
time.sleep(0.3)
st, headers, body, was_closed = exchange(request("GET", "/healthz"))
expect("20 busy connections + 1", (st, headers, body, was_closed), 503, "connections")
say(headers.get("retry-after") == "1", "503 has Retry-After: %s" % headers.get("retry-after"))
answers = [read_answer(s)[0] for s in busy]
for s in busy: s.close()
time.sleep(0.3)
st = exchange(request("GET", "/healthz"))[0]
say(answers == [408] * 20 and st == 200, "the busy ones end at the body deadline (%s) and a new client is served (%s)" % (sorted(set(map(str, answers))), st))

# Router limits.
events = [json.loads(event) | {"event_id": "limits-%d" % i} for i in range(1001)]
expect("9 MiB append body", exchange(request("POST", "/v1/events", b"[" + b" " * (9 << 20) + b"]", append)), 413, "large")
expect("2 MiB bundle query", exchange(request("POST", "/v1/bundles", b'{"event_ids":["' + b"x" * (2 << 20) + b'"]}', investigate)), 413, "large")
expect("batch of 1,001 events", exchange(request("POST", "/v1/events", json.dumps({"events": events}).encode(), append)), 422, "at most 1000")
expect("JSON 40 levels deep", exchange(request("POST", "/v1/events", b'{"events":' + b"[" * 40 + b"]" * 40 + b"}", append)), 400, "deeper")
size = tree_size()
expect("inclusion proof beyond the tree", exchange(request("GET", "/v1/proofs/inclusion?index=0&tree_size=%d" % (size + 1))), 400)
expect("consistency proof beyond the tree", exchange(request("GET", "/v1/proofs/consistency?first=1&second=%d" % (size + 1))), 400)
expect("search page of 1,001", exchange(request("GET", "/v1/events?kind=legal.request&limit=1001", token=investigate)), 400, "limit")
PY
PROBE_LIB="$ROOT/ops/tests" python3 "$WORK/probe.py" "$PORT" "$TLS_PORT" "$APPEND" "$INVESTIGATE" >"$WORK/probe.out" 2>&1 || bad "probe crashed: $(tail -n 3 "$WORK/probe.out")"
while IFS= read -r line; do
    case $line in
        "ok   "*) pass "${line#ok   }" ;;
        "FAIL "*) bad "${line#FAIL }" ;;
        *) log "     $line" ;;
    esac
done <"$WORK/probe.out"
for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || bad "a server died: $(tail -n 5 "$WORK"/serve*.log)"; done
if grep -h 'unexpected error\|Fatal error' "$WORK"/serve*.log; then bad "server logs have unexpected errors"; else pass "no crash and no unexpected error in the server logs"; fi
finish
