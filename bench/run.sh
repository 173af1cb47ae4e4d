#!/usr/bin/env bash
# The crmflow benchmark: builds the release binary, seeds 100,000 leads through the API on
# SQLite and on a throwaway PostgreSQL, drives each operation for a fixed time with wrk
# (16 connections, 2 threads, loopback) and prints one table. Bounded: every wrk run lasts
# BENCH_SECS (default 10) seconds.
#
#   bash bench/run.sh                     # both backends, 100,000 leads
#   BENCH_LEADS=10000 BENCH_SECS=5 bash bench/run.sh sqlite
set -euo pipefail
cd "$(dirname "$0")/.."
LEADS=${BENCH_LEADS:-100000}
SECS=${BENCH_SECS:-10}
BACKENDS=${*:-sqlite postgres}
OUT=bench/out
mkdir -p "$OUT"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --locked --bin crmflow
BIN=target/release/crmflow
PASS=bench-admin-pass

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wrk_row() { # name, wrk args…
    local name=$1; shift
    local log="$OUT/$BACKEND-$(echo "$name" | tr -c 'A-Za-z0-9' '_').txt"
    wrk -t2 -c16 -d"${SECS}s" --latency "$@" > "$log" 2>&1 || true
    python3 - "$log" "$BACKEND" "$name" "$SERVER_PID" >> "$OUT/table.tsv" <<'PY'
import re, sys
log, backend, name, pid = sys.argv[1:5]
t = open(log).read()
def lat(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)" % p, t, re.M)
    if not m: return "?"
    v, u = float(m.group(1)), m.group(2)
    return "%.2f" % (v / 1000 if u == "us" else v * 1000 if u == "s" else v)
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
e = int(non2xx.group(1)) if non2xx else 0
if errs: e += sum(int(x) for x in errs.groups())
rss = "?"
try:
    rss = "%.0f" % (int(re.search(r"VmHWM:\s+(\d+)", open("/proc/%s/status" % pid).read()).group(1)) / 1024)
except Exception: pass
print("\t".join([name, backend, rps.group(1) if rps else "?", lat(50), lat(99), str(e), rss]))
PY
}

: > "$OUT/table.tsv"
for BACKEND in $BACKENDS; do
    PORT=$(free_port)
    if [ "$BACKEND" = postgres ]; then
        eval "$(scripts/pg-throwaway.sh start)"
        URL=$CRMFLOW_TEST_DATABASE_URL
    else
        rm -rf "$OUT/bench.db"*
        URL=$OUT/bench.db
    fi
    CRMFLOW_DATABASE_URL=$URL CRMFLOW_BIND=127.0.0.1:$PORT CRMFLOW_JWT_SECRET=bench-secret-0123456789 \
        CRMFLOW_BOOTSTRAP_ADMIN=admin:$PASS CRMFLOW_SWEEP_INTERVAL_MS=60000 RUST_LOG=warn \
        "$BIN" serve > "$OUT/$BACKEND-server.log" 2>&1 &
    SERVER_PID=$!
    trap 'kill $SERVER_PID 2>/dev/null || true; [ -n "${PG_THROWAWAY_DIR:-}" ] && scripts/pg-throwaway.sh stop "$PG_THROWAWAY_DIR"' EXIT
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
    eval "$(python3 bench/seed.py --port "$PORT" --password "$PASS" --leads "$LEADS" --ids-file "$OUT/lead_ids.txt")"
    export TOKEN LEAD_ID OWNER_ID LEAD_IDS_FILE=$OUT/lead_ids.txt
    printf "seed\t%s\t%s\t-\t-\t-\t-\n" "$BACKEND" "$SEED_RATE" >> "$OUT/table.tsv"
    H=http://127.0.0.1:$PORT
    wrk_row "GET /healthz" "$H/healthz"
    wrk_row "POST /leads" -s bench/create_lead.lua "$H"
    BENCH_PATH=/api/v1/leads/$LEAD_ID wrk_row "GET /leads/{id}" -s bench/get.lua "$H"
    BENCH_PATH="/api/v1/leads?owner_id=$OWNER_ID&status=assigned&limit=50" wrk_row "GET /leads?owner_id&status" -s bench/get.lua "$H"
    wrk_row "PATCH /leads/{id} If-Match" -s bench/patch_lead.lua "$H"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    if [ "$BACKEND" = postgres ]; then scripts/pg-throwaway.sh stop "$PG_THROWAWAY_DIR"; unset PG_THROWAWAY_DIR; fi
    trap - EXIT
done
echo
echo "crmflow benchmark, $(date -u +%F), $LEADS leads, wrk -t2 -c16 -d${SECS}s, $(nproc) cores"
column -t -s$'\t' <(printf "operation\tbackend\treq/s\tp50 ms\tp99 ms\terrors\tpeak RSS MB\n"; cat "$OUT/table.tsv")
