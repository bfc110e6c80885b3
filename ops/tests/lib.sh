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
