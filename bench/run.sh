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

# shellcheck source=bench/lib.sh
. bench/lib.sh

: > "$OUT/table.tsv"
for BACKEND in $BACKENDS; do
    start_server "$BACKEND"
    eval "$(python3 bench/seed.py --port "$PORT" --password "$PASS" --leads "$LEADS" --ids-file "$OUT/lead_ids.txt")"
    export TOKEN LEAD_ID OWNER_ID LEAD_IDS_FILE=$OUT/lead_ids.txt
    printf "seed\t%s\t%s\t-\t-\t-\t-\n" "$BACKEND" "$SEED_RATE" >> "$OUT/table.tsv"
    H=http://127.0.0.1:$PORT
    wrk_row "GET /healthz" "$H/healthz"
    wrk_row "POST /leads" -s bench/create_lead.lua "$H"
    BENCH_PATH=/api/v1/leads/$LEAD_ID wrk_row "GET /leads/{id}" -s bench/get.lua "$H"
    BENCH_PATH="/api/v1/leads?owner_id=$OWNER_ID&status=assigned&limit=50" wrk_row "GET /leads?owner_id&status" -s bench/get.lua "$H"
    wrk_row "PATCH /leads/{id} If-Match" -s bench/patch_lead.lua "$H"
    stop_server
done
echo
echo "crmflow benchmark, $(date -u +%F), $LEADS leads, wrk -t2 -c16 -d${SECS}s, $(nproc) cores"
print_table
