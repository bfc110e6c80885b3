#!/usr/bin/env bash
# The production kit in ops/ checked with the tools that will read it.
#
#  1. Prometheus: `promtool check rules` and `check config`; `promtool test
#     rules` (greffe-rules.test.yml: alerts fire on the fault and stay
#     silent on the healthy case); the same tests against deliberately
#     broken thresholds must FAIL, so they can catch a regression.
#  2. Every metric the alert rules and the Grafana dashboard query is one a
#     running `greffe serve --tiles-dir` exports on /metrics (scraped here).
#     That includes the sequencer-lease metrics of the PostgreSQL failover.
#  3. The dashboard is valid JSON with a query in every panel.
#  4. systemd: `systemd-analyze verify` of the unit (ExecStart pointed at the
#     built binary) prints nothing; a misspelt directive is caught; the
#     offline security score stays at most 2.0. Skipped, saying so, where
#     systemd-analyze cannot run.
#  5. nginx: the site file (greffe-tiles.conf) passes `nginx -t`.
#  6. Dockerfile: multi-stage, non-root, a volume. It is not built: no
#     Docker engine runs on this machine.
#  7. PostgreSQL replication snippets (ops/postgres/): PostgreSQL 15 reads
#     primary.conf and standby.conf included in a fresh cluster's
#     postgresql.conf (`postgres -C`: an unknown setting or a bad value
#     fails) and sees synchronous_commit = on with a synchronous standby
#     named; a misspelt setting is caught.
#
# Usage: ops/tests/ops-config.sh   Env: GREFFE (binary), KEEP=1.
# Needs: promtool (Debian prometheus), python3, curl; nginx and
# systemd-analyze when present.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=ops-config
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-ops.XXXXXX")
# shellcheck source=ops/tests/lib.sh
source "$ROOT/ops/tests/lib.sh"
trap 'die "interrupted"' INT TERM
OPS=$ROOT/ops
# Metric names allowed to be absent from the scrape (none: every one is checked).
PENDING=""

command -v promtool >/dev/null || die "promtool not found (ops/install-deps.sh installs Debian's prometheus)"
for cmd in python3 curl; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (swift build, or set GREFFE)"
PYTHON=$(python3 -c 'import sys; print(sys.executable)')

# --- 1. Prometheus -------------------------------------------------------------
promtool check rules "$OPS/prometheus/greffe-rules.yml" >"$WORK/out.txt" 2>&1 &&
    pass "promtool check rules: $(grep -o '[0-9]* rules found' "$WORK/out.txt")" || bad "promtool check rules: $(cat "$WORK/out.txt")"
(cd "$OPS/prometheus" && promtool check config prometheus.yml) >"$WORK/out.txt" 2>&1 &&
    pass "promtool check config prometheus.yml (with its rule file)" || bad "promtool check config: $(cat "$WORK/out.txt")"
(cd "$OPS/prometheus" && promtool test rules greffe-rules.test.yml) >"$WORK/out.txt" 2>&1 &&
    pass "promtool test rules: $(grep -c 'alertname:' "$OPS/prometheus/greffe-rules.test.yml") alert expectations hold ($(grep -o 'alertname: [A-Za-z]*' "$OPS/prometheus/greffe-rules.test.yml" | sort -u | cut -d' ' -f2 | tr '\n' ' '))" ||
    bad "promtool test rules: $(cat "$WORK/out.txt")"

# The unit tests must be able to fail: each mutation breaks one rule.
mutate() { # mutate WHAT SED-EXPRESSION: the tests must now fail
    mkdir -p "$WORK/mut"
    cp "$OPS/prometheus/greffe-rules.test.yml" "$WORK/mut/"
    sed "$2" "$OPS/prometheus/greffe-rules.yml" >"$WORK/mut/greffe-rules.yml"
    if cmp -s "$OPS/prometheus/greffe-rules.yml" "$WORK/mut/greffe-rules.yml"; then
        bad "mutation \"$1\" changed nothing (the rule file moved on; update the test)"
    elif (cd "$WORK/mut" && promtool test rules greffe-rules.test.yml) >"$WORK/out.txt" 2>&1; then
        bad "promtool test rules still passes with $1"
    else
        pass "promtool test rules catches $1"
    fi
}
mutate "a checkpoint-age threshold of 6000 s" 's/signed_timestamp_seconds{job="greffe"}) > 60)/signed_timestamp_seconds{job="greffe"}) > 6000)/'
mutate "the idle-log guard removed from GreffeCheckpointStale" 's/- max(greffe_checkpoint_tree_size{job="greffe"}) > 0)/- max(greffe_checkpoint_tree_size{job="greffe"}) >= 0)/'
mutate "a disk-space threshold of 1 %" 's/greffe_disk_size_bytes{job="greffe"} < 0.10/greffe_disk_size_bytes{job="greffe"} < 0.01/'
mutate "append errors counted from conflicts" '/alert: GreffeAppendErrors/,/for:/ s/outcome="failed"/outcome="conflict"/'
mutate "renewal failures alerting despite successes" '/alert: GreffeTimestampRenewalFailing/,/for:/ s/outcome="success"}\[2h\])) == 0/outcome="success"}[2h])) >= 0/'

# --- 2. every queried metric is exported ------------------------------------------
"$GREFFE" init --data "$WORK/data" --origin "ops.greffe.test/$$" >/dev/null || die "greffe init"
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
# With a TSA, a witness and retention configured (TSA and witness unreachable: only their metrics matter here).
openssl req -x509 -newkey ed25519 -nodes -subj /CN=ops-config-tsa -days 2 -keyout "$WORK/tsa.key" -out "$WORK/tsa.pem" >/dev/null 2>&1 \
    || die "openssl cannot make a test certificate"
"$GREFFE" witness init --data "$WORK/witness" --name ops.greffe.test/w1 >/dev/null || die "greffe witness init"
"$GREFFE" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" --tiles-dir "$WORK/tiles" --log-level error \
    --tsa-url http://127.0.0.1:9/tsa --tsa-cert "$WORK/tsa.pem" --witness "$(cat "$WORK/witness/witness.vkey")=http://127.0.0.1:9" \
    --retention-days 3650 --retention-basis "ops-config test" \
    >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$PORT/metrics" -o "$WORK/metrics.txt" && grep -q greffe_disk_free_bytes "$WORK/metrics.txt" && break
    sleep 0.1
done
grep -q '^# TYPE greffe_' "$WORK/metrics.txt" || die "no greffe metrics scraped from greffe serve: $(tail -5 "$WORK/serve.log")"
# Families: the TYPE lines; histograms also answer to _bucket, _sum and _count.
awk '$1 == "#" && $2 == "TYPE" { print $3; if ($4 == "histogram") { print $3 "_bucket"; print $3 "_sum"; print $3 "_count" } }' \
    "$WORK/metrics.txt" | sort -u >"$WORK/exported.txt"
pass "greffe serve exports $(grep -c '^# TYPE greffe_' "$WORK/metrics.txt") greffe_ metric families"

# promtool's exposition lint: names, types and suffixes. swift-metrics cannot
# attach HELP text, so that one complaint is expected and ignored.
promtool check metrics <"$WORK/metrics.txt" >"$WORK/lint.txt" 2>&1
grep -v ' no help text$' "$WORK/lint.txt" >"$WORK/lint-other.txt"
[[ ! -s $WORK/lint-other.txt ]] && pass "promtool check metrics: the exposition is clean (apart from HELP text, which swift-metrics cannot set)" ||
    bad "promtool check metrics: $(head -5 "$WORK/lint-other.txt")"

check_names() { # check_names WHAT FILE-OF-NAMES
    local missing=() pending=() name
    while read -r name; do
        grep -qx "$name" "$WORK/exported.txt" && continue
        if [[ " $PENDING " == *" $name "* ]]; then pending+=("$name"); else missing+=("$name"); fi
    done <"$2"
    if ((${#missing[@]} == 0)); then
        pass "$1: all $(wc -l <"$2") metric names are exported$( ((${#pending[@]} == 0)) || echo "; pending the failover work: ${pending[*]}")"
    else
        bad "$1 query metrics greffe serve does not export: ${missing[*]}"
    fi
}
grep -o 'greffe_[a-z0-9_]*' "$OPS/prometheus/greffe-rules.yml" | sort -u >"$WORK/rule-names.txt"
check_names "alert rules" "$WORK/rule-names.txt"

# --- 2b. the relay's rules, and the metrics a running relay exports ------------------------
promtool check rules "$OPS/prometheus/greffe-relay-rules.yml" >"$WORK/out.txt" 2>&1 &&
    pass "promtool check rules (relay): $(grep -o '[0-9]* rules found' "$WORK/out.txt")" || bad "promtool check rules (relay): $(cat "$WORK/out.txt")"
(cd "$OPS/prometheus" && promtool test rules greffe-relay-rules.test.yml) >"$WORK/out.txt" 2>&1 &&
    pass "promtool test rules (relay): $(grep -c 'alertname:' "$OPS/prometheus/greffe-relay-rules.test.yml") alert expectations hold" ||
    bad "promtool test rules (relay): $(cat "$WORK/out.txt")"
mkdir -p "$WORK/relay-mut"
cp "$OPS/prometheus/greffe-relay-rules.test.yml" "$WORK/relay-mut/"
sed 's/greffe_relay_oldest_unacknowledged_seconds{job="greffe-relay"}) > 600/greffe_relay_oldest_unacknowledged_seconds{job="greffe-relay"}) > 60000/' \
    "$OPS/prometheus/greffe-relay-rules.yml" >"$WORK/relay-mut/greffe-relay-rules.yml"
if cmp -s "$OPS/prometheus/greffe-relay-rules.yml" "$WORK/relay-mut/greffe-relay-rules.yml"; then
    bad "relay mutation changed nothing (the rule file moved on; update the test)"
elif (cd "$WORK/relay-mut" && promtool test rules greffe-relay-rules.test.yml) >/dev/null 2>&1; then
    bad "promtool test rules (relay) still passes with a backlog threshold of 60000 s"
else
    pass "promtool test rules (relay) catches a backlog threshold of 60000 s"
fi
# A relay whose ledger is unreachable: its metrics exist from the start.
RELAY_PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
printf 'not-a-real-token\n' >"$WORK/relay-token"
"$GREFFE" relay --data "$WORK/relay" --ledger http://127.0.0.1:9 --token-file "$WORK/relay-token" --vkey "$WORK/data/verifier.vkey" \
    --platform ops.example --listen "127.0.0.1:$RELAY_PORT" --log-level error >"$WORK/relay.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$RELAY_PORT/metrics" -o "$WORK/relay-metrics.txt" && grep -q greffe_relay_quota_bytes "$WORK/relay-metrics.txt" && break
    sleep 0.1
done
awk '$1 == "#" && $2 == "TYPE" { print $3 }' "$WORK/relay-metrics.txt" 2>/dev/null | sort -u >"$WORK/relay-exported.txt"
missing=$(grep -o 'greffe_relay_[a-z0-9_]*' "$OPS/prometheus/greffe-relay-rules.yml" | sort -u | grep -vxF -f "$WORK/relay-exported.txt" | tr '\n' ' ')
[[ -s $WORK/relay-exported.txt && -z $missing ]] && pass "relay alert rules: every metric they query is exported by greffe relay ($(wc -l <"$WORK/relay-exported.txt") families)" ||
    bad "relay alert rules query metrics greffe relay does not export: ${missing:-none scraped: $(tail -3 "$WORK/relay.log")}"

# --- 3. the dashboard ---------------------------------------------------------------
if "$PYTHON" - "$OPS/grafana/greffe-dashboard.json" >"$WORK/dash-names.txt" 2>"$WORK/err.txt" <<'PY'; then
import json, re, sys
dash = json.load(open(sys.argv[1]))
assert dash.get("title") and dash.get("uid"), "title and uid"
panels = dash["panels"]
assert panels, "no panels"
ids = [p["id"] for p in panels]
assert len(ids) == len(set(ids)), "duplicate panel ids"
names = set()
for p in panels:
    exprs = [t["expr"] for t in p.get("targets", []) if t.get("expr")]
    assert exprs, "panel %r has no query" % p.get("title")
    for e in exprs:
        assert e.count("(") == e.count(")"), "unbalanced parentheses in %r" % e
        names.update(re.findall(r"greffe_[a-z0-9_]+", e))
print("\n".join(sorted(names)))
PY
    pass "grafana dashboard: valid JSON, $(grep -c '"expr"' "$OPS/grafana/greffe-dashboard.json") queries in $("$PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["panels"]))' "$OPS/grafana/greffe-dashboard.json") panels"
    check_names "grafana dashboard" "$WORK/dash-names.txt"
else
    bad "grafana dashboard: $(cat "$WORK/err.txt")"
fi
# Each dashboard query must also parse as PromQL: promtool checks it as a rule expression.
"$PYTHON" - "$OPS/grafana/greffe-dashboard.json" "$WORK/dash-rules.yml" <<'PY'
import json, sys
dash = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    n = 0
    for p in dash["panels"]:
        for t in p["targets"]:
            n += 1
            expr = t["expr"].replace("$job", "greffe")
            out.write("      - record: dashboard:q%d\n        expr: %s\n" % (n, json.dumps(expr)))
PY
promtool check rules "$WORK/dash-rules.yml" >"$WORK/out.txt" 2>&1 &&
    pass "every dashboard query parses as PromQL (promtool)" || bad "dashboard PromQL: $(cat "$WORK/out.txt")"

# --- 4. systemd ------------------------------------------------------------------------
UNIT=$OPS/systemd/greffe.service
if ! command -v systemd-analyze >/dev/null; then
    log "skip systemd-analyze verify: systemd-analyze is not installed here"
else
    mkdir -p "$WORK/systemd"
    # verify checks that ExecStart is executable: point it at the binary just built.
    sed "s#/usr/local/bin/greffe#$(cd "$(dirname "$GREFFE")" && pwd)/$(basename "$GREFFE")#" "$UNIT" >"$WORK/systemd/greffe.service"
    if systemd-analyze verify "$WORK/systemd/greffe.service" >"$WORK/out.txt" 2>&1; then
        if [[ -s $WORK/out.txt ]]; then
            bad "systemd-analyze verify warns: $(cat "$WORK/out.txt")"
        else
            pass "systemd-analyze verify greffe.service: no error, no warning"
        fi
        sed 's/^NoNewPrivileges=yes/NoNewPrivilege=yes/' "$WORK/systemd/greffe.service" >"$WORK/systemd/bad.service"
        systemd-analyze verify "$WORK/systemd/bad.service" >"$WORK/out.txt" 2>&1
        grep -q "Unknown key" "$WORK/out.txt" && pass "a misspelt directive is reported (the check can fail)" ||
            bad "systemd-analyze did not report a misspelt directive: $(cat "$WORK/out.txt")"
        if systemd-analyze security --offline=yes "$WORK/systemd/greffe.service" >"$WORK/sec.txt" 2>&1; then
            score=$(grep -o 'Overall exposure level for greffe.service: [0-9.]*' "$WORK/sec.txt" | awk '{print $NF}')
            awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' &&
                pass "systemd-analyze security --offline: exposure $score (≤ 2.0)" || bad "systemd-analyze security: exposure \"$score\" > 2.0"
        else
            log "skip systemd-analyze security: --offline not supported here ($(head -1 "$WORK/sec.txt"))"
        fi
    else
        if grep -qi 'failed to\|not booted\|cannot' "$WORK/out.txt" && ! grep -q 'greffe.service:' "$WORK/out.txt"; then
            log "skip systemd-analyze verify: it cannot run in this container ($(head -1 "$WORK/out.txt"))"
        else
            bad "systemd-analyze verify: $(cat "$WORK/out.txt")"
        fi
    fi
fi
for directive in "User=greffe" "NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" \
    "CapabilityBoundingSet=" "Restart=on-failure" "KillSignal=SIGTERM" "UMask=0077"; do
    grep -qx "$directive" "$UNIT" || bad "greffe.service lacks $directive"
done
grep -q '^ReadWritePaths=/var/lib/greffe/data' "$UNIT" && pass "greffe.service: own user, strict file system, no capabilities, only the data and tiles directories writable" ||
    bad "greffe.service: ReadWritePaths does not name the data directory"

# --- 5. nginx site file ------------------------------------------------------------
if command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]]; then
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    mkdir -p "$WORK/nginx" "$WORK/tiles"
    sed -e "s#/etc/nginx/snippets/#$OPS/nginx/#" -e "s#/var/lib/greffe/tiles#$WORK/tiles#" \
        -e "s#listen 80;#listen 127.0.0.1:$PORT;#" -e '/listen \[::\]:80;/d' "$OPS/nginx/greffe-tiles.conf" >"$WORK/nginx/site.conf"
    printf 'pid %s;\nevents {}\nhttp {\n  include %s;\n}\n' "$WORK/nginx/nginx.pid" "$WORK/nginx/site.conf" >"$WORK/nginx/nginx.conf"
    "$NGINX" -t -q -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/out.txt" 2>&1 &&
        pass "nginx -t accepts ops/nginx/greffe-tiles.conf with its locations snippet" || bad "nginx -t: $(cat "$WORK/out.txt")"
else
    log "skip nginx -t: nginx is not installed (ops/tests/static-tiles.sh needs it anyway)"
fi

# --- 6. Dockerfile -------------------------------------------------------------------
DF=$OPS/docker/Dockerfile
if (($(grep -c '^FROM ' "$DF") == 2)) && grep -q '^FROM swift:6' "$DF" && grep -q '^FROM debian:.*-slim' "$DF" &&
    grep -q '^USER greffe' "$DF" && grep -q '^VOLUME' "$DF" && grep -q 'COPY --from=build' "$DF"; then
    pass "Dockerfile: swift:6 build stage, debian slim runtime, non-root user, a volume"
else
    bad "Dockerfile structure"
fi
log "note: the Dockerfile is not built here: no Docker engine runs on this machine"

# --- 7. PostgreSQL replication snippets --------------------------------------------
PGBIN=/usr/lib/postgresql/15/bin
as_postgres() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [[ -x $PGBIN/postgres ]]; then
    mkdir -p "$WORK/pg" && chmod 755 "$WORK" "$WORK/pg"
    [[ $(id -u) == 0 ]] && chown postgres: "$WORK/pg"
    as_postgres "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust >"$WORK/out.txt" 2>&1 || bad "initdb: $(cat "$WORK/out.txt")"
    cp "$OPS/postgres/primary.conf" "$OPS/postgres/standby.conf" "$WORK/pg/" && chmod 644 "$WORK/pg/"*.conf
    printf "include = '%s'\ninclude = '%s'\n" "$WORK/pg/primary.conf" "$WORK/pg/standby.conf" >>"$WORK/pg/data/postgresql.conf"
    setting() { as_postgres "$PGBIN/postgres" -D "$WORK/pg/data" -C "$1" 2>"$WORK/out.txt"; }
    if [[ $(setting synchronous_commit) == on && $(setting synchronous_standby_names) == "ANY 1 (s1, s2)" && $(setting wal_level) == replica &&
        $(setting hot_standby) == on ]]; then
        pass "PostgreSQL 15 reads ops/postgres/primary.conf and standby.conf: synchronous_commit on, synchronous standby ANY 1 (s1, s2)"
    else
        bad "ops/postgres/*.conf: $(cat "$WORK/out.txt")"
    fi
    sed -i 's/^synchronous_commit = on/synchronous_comit = on/' "$WORK/pg/primary.conf"
    setting synchronous_commit >/dev/null && bad "postgres -C accepts a misspelt setting in primary.conf" ||
        pass "a misspelt setting in primary.conf is caught"
else
    log "skip ops/postgres/: PostgreSQL 15 is not installed (ops/install-deps.sh installs it)"
fi
finish
