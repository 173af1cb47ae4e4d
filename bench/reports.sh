#!/usr/bin/env bash
# Report benchmark: 100,000 leads with 500,000 activities, 10,000 deals, 20,000 work orders
# (bulk rows, see bench/seed_reports.py) on each backend; then every report, as the admin
# (all records) and as a team manager (row scope), BENCH_RUNS sequential requests each.
# Prints the median and slowest answer in ms.
#
#   bash bench/reports.sh                  # both backends
#   BENCH_LEADS=10000 bash bench/reports.sh sqlite
set -euo pipefail
cd "$(dirname "$0")/.."
LEADS=${BENCH_LEADS:-100000}
RUNS=${BENCH_RUNS:-7}
BACKENDS=${*:-sqlite postgres}
SECS=0
# shellcheck source=bench/lib.sh
. bench/lib.sh

printf "report\tbackend\tas\tmedian ms\tmax ms\n" > "$OUT/reports.tsv"
for BACKEND in $BACKENDS; do
    start_server "$BACKEND"
    python3 - "$PORT" "$PASS" "$URL" "$LEADS" "$RUNS" "$BACKEND" >> "$OUT/reports.tsv" <<'PY'
import http.client, json, statistics, subprocess, sys, time
port, password, url, leads, runs, backend = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]

def call(method, path, token=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
    h = {"content-type": "application/json"}
    if token:
        h["authorization"] = "Bearer " + token
    c.request(method, "/api/v1" + path, json.dumps(body) if body is not None else None, h)
    r = c.getresponse()
    data = r.read()
    return r.status, json.loads(data) if data else None

_, login = call("POST", "/auth/login", body={"username": "admin", "password": password})
admin = login["access_token"]
reps = []
for t in range(2):
    _, team = call("POST", "/teams", admin, {"name": f"大区{t}"})
    for r in range(10):
        _, u = call("POST", "/users", admin, {"username": f"rep{t}_{r}", "password": "bench-user-pass", "role": "sales",
                                              "team_id": team["id"], "capacity": 10000})
        reps.append(f'{u["id"]}:{team["id"]}')
    if t == 0:
        call("POST", "/users", admin, {"username": "mgr0", "password": "bench-user-pass", "role": "manager", "team_id": team["id"]})
seed = subprocess.run([sys.executable, "bench/seed_reports.py", "--database", url, "--reps", ",".join(reps),
                       "--leads", str(leads), "--deals", str(leads // 10), "--work-orders", str(leads // 5)],
                      check=True, capture_output=True, text=True)
print(seed.stdout.strip(), file=sys.stderr)
_, login = call("POST", "/auth/login", body={"username": "mgr0", "password": "bench-user-pass"})
manager = login["access_token"]
for name in ["lead-response", "lead-funnel", "actions", "pipeline", "service", "data-health", "lead-health-daily"]:
    for who, token in [("admin", admin), ("manager", manager)]:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            status, body = call("GET", f"/reports/{name}", token)
            times.append((time.perf_counter() - start) * 1000)
            assert status == 200, (name, status, body)
        print(f"{name}\t{backend}\t{who}\t{statistics.median(times):.0f}\t{max(times):.0f}")
PY
    stop_server
done
echo
echo "crmflow report benchmark, $(date -u +%F), $LEADS leads, $((LEADS * 5)) activities, $((LEADS / 10)) deals, $((LEADS / 5)) work orders, $RUNS runs each, $(nproc) cores"
column -t -s$'\t' "$OUT/reports.tsv"
