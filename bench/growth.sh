#!/usr/bin/env bash
# How cost grows with the lead table (SQLite). For each size in BENCH_GROWTH (default
# 10000 100000 1000000) a fresh database gets a team of 8 reps, a round-robin rule and
# 1,000 leads through the API, then the rest as bulk rows carrying the phones, e-mail
# domains and company blocking keys the duplicate check looks up (bench/seed_reports.py).
# Then POST /leads (score + duplicate check + assignment + audit + event),
# GET /leads/{id} and GET /leads?owner_id&status run BENCH_SECS (default 5) s each under
# wrk -t2 -c16, and at the largest size the query plans of the duplicate-candidate and list
# queries are written to bench/explain/.
#
#   bash bench/growth.sh
#   BENCH_GROWTH="10000 100000" BENCH_SECS=3 bash bench/growth.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${BENCH_GROWTH:-10000 100000 1000000}
SECS=${BENCH_SECS:-5}
mkdir -p bench/explain
# shellcheck source=bench/lib.sh
. bench/lib.sh

: > "$OUT/table.tsv"
for SIZE in $SIZES; do
    start_server sqlite
    eval "$(python3 bench/seed.py --port "$PORT" --password "$PASS" --leads 1000 --ids-file "$OUT/lead_ids.txt")"
    export TOKEN LEAD_ID OWNER_ID LEAD_IDS_FILE=$OUT/lead_ids.txt
    python3 bench/seed_reports.py --database "$URL" --reps "$REPS" --leads $((SIZE - 1000)) \
        --activities-per-lead 0 --deals 0 --work-orders 0 >&2
    BACKEND="sqlite, $SIZE leads"
    H=http://127.0.0.1:$PORT
    wrk_row "POST /leads" -s bench/create_lead.lua "$H"
    BENCH_PATH=/api/v1/leads/$LEAD_ID wrk_row "GET /leads/{id}" -s bench/get.lua "$H"
    BENCH_PATH="/api/v1/leads?owner_id=$OWNER_ID&status=assigned&limit=50" wrk_row "GET /leads?owner_id&status" -s bench/get.lua "$H"
    BACKEND=sqlite
    stop_server
done
# The plans on the largest table, for the statements the server runs (as diesel writes them).
python3 bench/explain.py "$OUT/bench.db" "$OWNER_ID" > bench/explain/sqlite.txt
echo
echo "crmflow growth benchmark, $(date -u +%F), wrk -t2 -c16 -d${SECS}s, $(nproc) cores"
print_table
cat bench/explain/sqlite.txt
