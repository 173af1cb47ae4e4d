#!/usr/bin/env bash
# Customer-360 benchmark: 100,000 accounts and one account with a 10,000-item history,
# seeded through the API; then wrk (16 connections, loopback, BENCH_SECS each) on the
# account timeline (first page and a page deep in the history) and the hotline lookup
# (a contact's mobile in another format, an account landline, a serial number).
#
#   bash bench/customer360.sh                 # both backends
#   BENCH_ACCOUNTS=10000 bash bench/customer360.sh sqlite
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS=${BENCH_ACCOUNTS:-100000}
ITEMS=${BENCH_ITEMS:-10000}
SECS=${BENCH_SECS:-10}
BACKENDS=${*:-sqlite postgres}
# shellcheck source=bench/lib.sh
. bench/lib.sh

: > "$OUT/table.tsv"
for BACKEND in $BACKENDS; do
    start_server "$BACKEND"
    eval "$(python3 bench/seed_customer360.py --port "$PORT" --password "$PASS" --accounts "$ACCOUNTS" --items "$ITEMS")"
    export TOKEN
    H=http://127.0.0.1:$PORT
    DEEP=$(curl -fs -H "authorization: Bearer $TOKEN" "$H/api/v1/accounts/$HOT_ACCOUNT/timeline?limit=500" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])')
    wrk_row "GET /healthz" "$H/healthz"
    BENCH_PATH="/api/v1/accounts/$HOT_ACCOUNT/timeline?limit=50" wrk_row "GET timeline (10k items), first page" -s bench/get.lua "$H"
    BENCH_PATH="/api/v1/accounts/$HOT_ACCOUNT/timeline?limit=50&before=$DEEP" wrk_row "GET timeline, page after 500" -s bench/get.lua "$H"
    BENCH_PATH="/api/v1/lookup?phone=%2B86%20138-0013-8000" wrk_row "GET /lookup?phone (hot account)" -s bench/get.lua "$H"
    BENCH_PATH="/api/v1/lookup?phone=$COLD_PHONE" wrk_row "GET /lookup?phone (landline)" -s bench/get.lua "$H"
    BENCH_PATH="/api/v1/lookup?serial=qm-endo-1-000871" wrk_row "GET /lookup?serial" -s bench/get.lua "$H"
    stop_server
done
echo
echo "crmflow customer-360 benchmark, $(date -u +%F), $ACCOUNTS accounts, $ITEMS timeline items, wrk -t2 -c16 -d${SECS}s, $(nproc) cores"
print_table
