#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster on a free loopback port, as the `postgres`
# user (PostgreSQL refuses to run as root). Installs PostgreSQL from Debian if missing.
#
#   eval "$(scripts/pg-throwaway.sh start)"   # exports PG_THROWAWAY_DIR and CRMFLOW_TEST_DATABASE_URL
#   scripts/pg-throwaway.sh stop "$PG_THROWAWAY_DIR"
#   scripts/pg-throwaway.sh createdb "$PG_THROWAWAY_DIR" NAME   # prints the new database's URL
#   scripts/pg-throwaway.sh down|up "$PG_THROWAWAY_DIR"         # stop / start the server only
set -euo pipefail

pg_bin() {
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    done
    return 1
}

ensure_postgres() {
    if ! pg_bin >/dev/null 2>&1; then
        echo "installing PostgreSQL from Debian packages" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql >&2
    fi
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "${1:-}" in
start)
    ensure_postgres
    bin=$(pg_bin)
    dir=$(mktemp -d /tmp/crmflow-pg.XXXXXX)
    chmod 755 "$dir"
    chown postgres: "$dir" 2>/dev/null || true
    port=$(free_port)
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1
    # A throwaway cluster: durability off, enough connections for parallel tests.
    echo "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >"$dir/options"
    echo "$port" >"$dir/port"
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o "$(cat "$dir/options")" >&2
    echo "export PG_THROWAWAY_DIR=$dir"
    echo "export PG_THROWAWAY_PORT=$port"
    echo "export CRMFLOW_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    dir=${2:?usage: pg-throwaway.sh stop DIR}
    bin=$(pg_bin)
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
    ;;
createdb)
    dir=${2:?usage: pg-throwaway.sh createdb DIR NAME}
    name=${3:?usage: pg-throwaway.sh createdb DIR NAME}
    port=$(cat "$dir/port")
    as_postgres "$(pg_bin)/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c "DROP DATABASE IF EXISTS \"$name\"" -c "CREATE DATABASE \"$name\"" >&2
    echo "postgres://postgres@127.0.0.1:$port/$name"
    ;;
down)
    dir=${2:?usage: pg-throwaway.sh down DIR}
    as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >&2
    ;;
up)
    dir=${2:?usage: pg-throwaway.sh up DIR}
    as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o "$(cat "$dir/options")" >&2
    ;;
*)
    echo "usage: $0 start | stop DIR | createdb DIR NAME | down DIR | up DIR" >&2
    exit 2
    ;;
esac
