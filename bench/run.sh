#!/usr/bin/env bash
# The crmflow benchmark: builds the release binary, seeds 100,000 leads through the API on
# SQLite and on a throwaway PostgreSQL, drives each operation for a fixed time with wrk
# (16 connections, 2 threads, loopback), adds the report data set in bulk and drives each
# report, runs pgbench on the same PostgreSQL cluster, times a restart (process start →
# /readyz 200) and prints one table. Bounded: every wrk run lasts BENCH_SECS (default 10) s.
#
#   bash bench/run.sh                     # both backends, 100,000 leads
#   BENCH_LEADS=10000 BENCH_SECS=5 bash bench/run.sh sqlite
set -euo pipefail
cd "$(dirname "$0")/.."
LEADS=${BENCH_LEADS:-100000}
SECS=${BENCH_SECS:-10}
BACKENDS=${*:-sqlite postgres}

# shellcheck source=bench/lib.sh
. bench/lib.sh

: > "$OUT/table.tsv"
for BACKEND in $BACKENDS; do
    start_server "$BACKEND"
    eval "$(python3 bench/seed.py --port "$PORT" --password "$PASS" --leads "$LEADS" --ids-file "$OUT/lead_ids.txt")"
    export TOKEN LEAD_ID OWNER_ID REPS LEAD_IDS_FILE=$OUT/lead_ids.txt
    printf "seed\t%s\t%s\t-\t-\t-\t-\t-\n" "$BACKEND" "$SEED_RATE" >> "$OUT/table.tsv"
    H=http://127.0.0.1:$PORT
    wrk_row "GET /healthz" "$H/healthz"
    wrk_row "POST /leads" -s bench/create_lead.lua "$H"
    BENCH_PATH=/api/v1/leads/$LEAD_ID wrk_row "GET /leads/{id}" -s bench/get.lua "$H"
    BENCH_PATH="/api/v1/leads?owner_id=$OWNER_ID&status=assigned&limit=50" wrk_row "GET /leads?owner_id&status" -s bench/get.lua "$H"
    wrk_row "PATCH /leads/{id} If-Match" -s bench/patch_lead.lua "$H"
    wrk_row "POST /leads/{id}/activities" -s bench/activity.lua "$H"
    python3 bench/seed_flow.py --port "$PORT" --password "$PASS" --deals $((LEADS / 10)) \
        --contracts $((LEADS / 20)) --work-orders $((LEADS / 20)) --out "$OUT"
    export OPP_IDS_FILE=$OUT/opp_ids.txt CONTRACT_IDS_FILE=$OUT/contract_ids.txt WO_IDS_FILE=$OUT/wo_ids.txt
    wrk_row "POST /opportunities/{id}/stage" -s bench/stage.lua "$H"
    wrk_row "POST /contracts/{id}/payments" -s bench/payment.lua "$H"
    wrk_row "POST /work-orders/{id}/transition" -s bench/transition.lua "$H"
    # The report data: 100,000 more leads with 500,000 activities, 10,000 deals with stage
    # history and 20,000 work orders as bulk rows owned by the same reps.
    python3 bench/seed_reports.py --database "$URL" --reps "$REPS" --leads "$LEADS" \
        --deals $((LEADS / 10)) --work-orders $((LEADS / 5)) >&2
    # Each report as dashboards ask for it (asked once, then served as computed for 30 s),
    # then computed on every request (the server restarted with the report cache off).
    for report in lead-response lead-funnel actions pipeline service data-health lead-health-daily; do
        curl -sf -o /dev/null -H "authorization: Bearer $TOKEN" "$H/api/v1/reports/$report"
        BENCH_PATH=/api/v1/reports/$report wrk_row "GET /reports/$report, cached" -s bench/get.lua "$H"
    done
    kill_server
    REPORT_CACHE_SECS=0 launch_server
    for report in lead-response lead-funnel actions pipeline service data-health lead-health-daily; do
        BENCH_PATH=/api/v1/reports/$report wrk_row "GET /reports/$report, computed each time" -s bench/get.lua "$H"
    done
    if [ "$BACKEND" = postgres ]; then pgbench_row "$LEAD_ID"; fi
    startup_row
    stop_server
done
echo
echo "crmflow benchmark, $(date -u +%F), $LEADS leads, wrk -t2 -c16 -d${SECS}s, $(nproc) cores"
print_table
