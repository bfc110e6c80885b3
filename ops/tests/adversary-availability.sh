#!/usr/bin/env bash
# Anonymous clients must not starve the ledger (issue 16, point 4). Probed over
# raw sockets against a live `greffe serve --max-connections 16
# --header-timeout 5 --body-timeout 30`, with the default per-client limits:
#   connections: 2 × 16 unauthenticated POSTs whose body never comes (each
#     answered 401 and closed at once), the same with a made-up token, and
#     2 × 16 heads never finished, held open: GET /checkpoint still answers
#     200 within a second;
#   early answers: a 401 before the body closes the connection at once, not
#     at the 30 s body deadline;
#   leaf-hash lookups: a flood of random ones is cut to ~20 (429 with
#     Retry-After and a JSON error after);
#   investigator queries: a time_range with 100,000 extra keys is 422 within
#     2 s and writes no access record; an unknown search parameter is 400;
#   floods: 1,500 anonymous reads in a row meet 429 past the burst; /healthz
#     and a valid token's append still go through.
# Usage: ops/tests/adversary-availability.sh   Env: GREFFE (default .build/debug/greffe), KEEP=1
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=adversary-availability
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-availability.XXXXXX")
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
"$GREFFE" init --data "$WORK/data" --origin availability.greffe.test/log >/dev/null || die "greffe init"
APPEND=$("$GREFFE" token create --data "$WORK/data" --role append --platform availability.example --name availability-append) || die "token create"
INVESTIGATE=$("$GREFFE" token create --data "$WORK/data" --role investigate --name availability-investigate) || die "token create"
PORT=$(free_port)
"$GREFFE" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" --max-connections 16 --header-timeout 5 --body-timeout 30 \
    >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
wait_http "${PIDS[0]}" "http://127.0.0.1:$PORT" serve

cat >"$WORK/probe.py" <<'PY'
import base64, json, os, socket, sys, time

port, append, investigate = int(sys.argv[1]), sys.argv[2], sys.argv[3]
CAP = 16

sys.path.insert(0, os.environ["PROBE_LIB"])
import rawhttp
from rawhttp import say, read_answer, json_error

def connect():
    return rawhttp.connect(port)

def request(method, path, body=b"", token=None, close=True):
    return rawhttp.request(method, path, body, token, close=close, host=b"availability")

def exchange(raw, timeout=10):
    return rawhttp.exchange(port, raw, timeout=timeout)

def timed_checkpoint():
    start = time.time()
    st, headers, body, _ = exchange(request("GET", "/checkpoint"), timeout=5)
    return st, time.time() - start, body

def tree_size():
    return json.loads(exchange(request("GET", "/healthz"))[2])["tree_size"]

# 1. Twice the cap of unauthenticated POSTs whose body never comes, all held open by the client.
posts = []
for _ in range(2 * CAP):
    s = connect()
    s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: availability\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
    posts.append(s)
time.sleep(0.5)
st, elapsed, body = timed_checkpoint()
say(st == 200 and elapsed < 1, "2 x %d half-sent unauthenticated POSTs held open: GET /checkpoint %s in %.3f s" % (CAP, st, elapsed))
start = time.time()
answers = [read_answer(s, timeout=5) for s in posts]
elapsed = time.time() - start
statuses = [a[0] for a in answers]
# Those closed to make room for newer ones lost their answer (a reset); the others read 401.
say(all(a[3] for a in answers) and set(statuses) <= {401, None} and statuses.count(401) >= CAP and elapsed < 2,
    "the half-sent POSTs are answered 401 (%d of %d; the rest closed to make room) and closed, not held to the 30 s body deadline (%.2f s)"
    % (statuses.count(401), 2 * CAP, elapsed))
for s in posts: s.close()

# 1b. The same with a made-up token: answered 401 as soon as the token is looked up, then closed.
posts = []
for _ in range(2 * CAP):
    s = connect()
    s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: availability\r\nAuthorization: Bearer grf_madeup\r\n"
              + b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
    posts.append(s)
time.sleep(0.5)
st, elapsed, body = timed_checkpoint()
say(st == 200 and elapsed < 1, "2 x %d half-sent POSTs with a made-up token held open: GET /checkpoint %s in %.3f s" % (CAP, st, elapsed))
for s in posts: s.close()

# 2. An early 401 closes the connection at once.
s = connect()
start = time.time()
s.sendall(b"POST /v1/bundles HTTP/1.1\r\nHost: availability\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{")
st, headers, body, closed = read_answer(s, timeout=10)
elapsed = time.time() - start
s.close()
say(st == 401 and closed and headers.get("connection") == "close" and json_error(headers, body) and elapsed < 1,
    "401 before the body: Connection: close, closed after %.3f s (body deadline 30 s)" % elapsed)

# 3. Twice the cap of request heads never finished (slowloris), held open.
heads = []
for _ in range(2 * CAP):
    s = connect()
    s.sendall(b"GET /checkpoint HTTP/1.1\r\nHost: availability\r\nX-Slow: ")
    heads.append(s)
    time.sleep(0.01)
time.sleep(0.5)
st, elapsed, body = timed_checkpoint()
say(st == 200 and elapsed < 1, "2 x %d unfinished request heads held open: GET /checkpoint %s in %.3f s" % (CAP, st, elapsed))
for s in heads: s.close()
time.sleep(0.3)

# 4. 100,000 extra keys in a time_range: 422, quickly, nothing logged.
before = tree_size()
B62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
extra = ",".join('"%s%s%s":0' % (B62[i // 3844], B62[i // 62 % 62], B62[i % 62]) for i in range(100_000))  # under the 1 MiB body limit
query = ('{"time_range":{"from":"2026-01-01T00:00:00Z","to":"2026-12-01T00:00:00Z",%s}}' % extra).encode()
start = time.time()
st, headers, body, _ = exchange(request("POST", "/v1/bundles", query, investigate))
elapsed = time.time() - start
err = json_error(headers, body)
say(st == 422 and err and "time_range" in err and elapsed < 2, "time_range with 100,000 extra keys (%d KiB): %s in %.2f s: %s" % (len(query) >> 10, st, elapsed, err))
st, headers, body, _ = exchange(request("POST", "/v1/bundles", b'{"index_range":{"from":0,"to":1,"x":1}}', investigate))
say(st == 422 and json_error(headers, body), "index_range with an extra key: %s" % st)
st, headers, body, _ = exchange(request("GET", "/v1/events?kind=legal.request&acount=x", token=investigate))
say(st == 400 and "acount" in (json_error(headers, body) or ""), "search with an unknown parameter: %s" % st)
time.sleep(1)
say(tree_size() == before, "no access record written for the refused queries (tree size %d)" % before)

# 5. A flood of random leaf-hash lookups on one keep-alive connection.
s = connect()
counts, first429 = {}, None
start = time.time()
for i in range(200):
    h = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    s.sendall(request("GET", "/v1/proofs/inclusion?tree_size=1&leaf_hash=" + h, close=(i == 199)))
    st, head, rest = rawhttp.read_one(s)
    counts[st] = counts.get(st, 0) + 1
    if st == 429 and first429 is None:
        first429 = (head, rest)
elapsed = time.time() - start
s.close()
ok = counts.get(429, 0) >= 170 and counts.get(404, 0) + counts.get(429, 0) == 200 and first429 is not None
ok = ok and "retry-after: " in first429[0] and b'"error"' in first429[1]
say(ok, "200 random leaf_hash lookups in %.2f s: %s (429 with Retry-After and a JSON error past ~20)" % (elapsed, counts))

# 6. A flood of anonymous reads; /healthz and a valid token's append still go through.
s = connect()
counts = {}
start = time.time()
for i in range(1500):
    s.sendall(request("GET", "/checkpoint", close=False))
    st, _, _ = rawhttp.read_one(s)
    counts[st] = counts.get(st, 0) + 1
elapsed = time.time() - start
s.close()
say(counts.get(429, 0) > 0 and set(counts) <= {200, 429}, "1,500 anonymous GET /checkpoint in %.2f s: %s" % (elapsed, counts))
st = exchange(request("GET", "/healthz"))[0]
say(st == 200, "/healthz during the flood: %s" % st)
event = json.dumps({"event_id": "availability-1", "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z", "platform": "availability.example",
                    "schema_version": 1, "authority": "Parquet de Paris", "reference": "r", "direction": "received",
                    "request_type": "preservation"}).encode()
st = exchange(request("POST", "/v1/events", event, append))[0]
say(st == 201, "an append with a valid token from the same address: %s" % st)
PY
PROBE_LIB="$ROOT/ops/tests" python3 "$WORK/probe.py" "$PORT" "$APPEND" "$INVESTIGATE" >"$WORK/probe.out" 2>&1 || bad "probe crashed: $(tail -n 3 "$WORK/probe.out")"
while IFS= read -r line; do
    case $line in
        "ok   "*) pass "${line#ok   }" ;;
        "FAIL "*) bad "${line#FAIL }" ;;
        *) log "     $line" ;;
    esac
done <"$WORK/probe.out"
kill -0 "${PIDS[0]}" 2>/dev/null || bad "the server died: $(tail -n 5 "$WORK/serve.log")"
if grep -h 'unexpected error\|Fatal error' "$WORK"/serve.log; then bad "server log has unexpected errors"; else pass "no crash and no unexpected error in the server log"; fi
finish
