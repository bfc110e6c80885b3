# Shared by the reliability scripts: counters, the closing line, and cleanup of
# the processes (PIDS) and mounts (MOUNTS) a script started. The script sets
# NAME and WORK first, then sources this file.
PASSED=0
FAILED=0
PIDS=()
MOUNTS=()

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
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
    done
    for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
    if [[ $FAILED == 0 && ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# A TCP port free on loopback right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http PID URL WHAT: until URL/healthz answers 200; dies if PID exits
# (showing the end of $WORK/WHAT.log) or after 30 s.
wait_http() {
    for _ in $(seq 300); do
        kill -0 "$1" 2>/dev/null || die "$3 exited during start-up: $(tail -n 5 "$WORK/$3.log" 2>/dev/null)"
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$2/healthz" || true) == 200 ]] && return 0
        sleep 0.1
    done
    die "$3 did not answer on $2 within 30 s"
}

# report_driver PHASE STATUS: a Python driver's "ok …"/"FAIL …" lines (in
# $WORK/driver-PHASE.out) counted as pass/bad; a non-zero exit is a failure too.
report_driver() {
    local line
    while IFS= read -r line; do
        case $line in
            "ok   "*) pass "${line#ok   }" ;;
            "FAIL "*) bad "${line#FAIL }" ;;
        esac
    done <"$WORK/driver-$1.out"
    [[ $2 == 0 ]] || bad "driver $1 exited $2: $(tail -n 3 "$WORK/driver-$1.out")"
}

# write_nginx_conf DIR PORT ROOT [PORT ROOT ...]: DIR/nginx.conf for one nginx process in the
# foreground (no master/worker pair: it dies with the test and needs no privileges), its
# temporary files in DIR, serving each ROOT on its loopback PORT through
# ops/nginx/greffe-tiles-locations.conf, the file operators include.
write_nginx_conf() {
    local dir=$1
    shift
    mkdir -p "$dir"
    {
        cat <<NGINX
master_process off;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 256; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
NGINX
        while (($# >= 2)); do
            cat <<NGINX
    server {
        listen 127.0.0.1:$1;
        root $2;
        autoindex off;
        include $ROOT/ops/nginx/greffe-tiles-locations.conf;
    }
NGINX
            shift 2
        done
        echo "}"
    } >"$dir/nginx.conf"
}
