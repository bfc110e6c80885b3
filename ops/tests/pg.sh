#!/usr/bin/env bash
# A throwaway PostgreSQL 15 (Debian's postgresql-15) for tests, in a temporary
# folder, on a free loopback port, trusting local connections.
#   eval "$(ops/tests/pg.sh start)"   exports GREFFE_TEST_POSTGRES (a URL) and GREFFE_TEST_PGDATA
#   ops/tests/pg.sh stop "$GREFFE_TEST_PGDATA"   stops it and deletes its folder
set -euo pipefail

bindir=/usr/lib/postgresql/15/bin
as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    [ -x "$bindir/pg_ctl" ] || { echo "pg.sh: $bindir/pg_ctl missing; run ops/install-deps.sh" >&2; exit 1; }
    dir=$(mktemp -d /tmp/greffe-pg.XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_postgres "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    as_postgres "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on -c max_connections=200" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "export GREFFE_TEST_POSTGRES=postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
    echo "export GREFFE_TEST_PGDATA=$dir"
    ;;
stop)
    dir=${2:?usage: pg.sh stop DIR}
    as_postgres "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg.sh start | stop DIR" >&2
    exit 2
    ;;
esac
