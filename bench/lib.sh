# Shared by the benchmark scripts: a server per backend, one wrk run per table row.
# Sourcing it installs wrk if missing and builds the release binary; the caller sets SECS.
OUT=bench/out
BIN=${BENCH_BIN:-target/release/crmflow}  # another build for A/B runs
PASS=bench-admin-pass
mkdir -p "$OUT"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --locked --bin crmflow

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wrk_row() { # name, wrk args…
    local name=$1; shift
    local log="$OUT/$BACKEND-$(echo "$name" | tr -c 'A-Za-z0-9' '_').txt"
    curl -fs "http://127.0.0.1:$PORT/metrics" > "$log.before" || true
    wrk -t2 -c16 -d"${SECS}s" --timeout 10s --latency "$@" > "$log" 2>&1 || true
    curl -fs "http://127.0.0.1:$PORT/metrics" > "$log.after" || true
    python3 - "$log" "$BACKEND" "$name" "$SERVER_PID" >> "$OUT/table.tsv" <<'PY'
import re, sys
log, backend, name, pid = sys.argv[1:5]
t = open(log).read()
def buckets(path):
    # The server's request-latency histogram, summed over routes: {upper bound s: count}.
    out = {}
    try:
        for m in re.finditer(r'^crmflow_http_request_duration_seconds_bucket\{.*le="([^"]+)"\} (\d+)$', open(path).read(), re.M):
            le = float(m.group(1))
            out[le] = out.get(le, 0) + int(m.group(2))
    except OSError: pass
    return out
def server_p99():
    # The bucket holding the run's 99th percentile as the server timed it (from its
    # middleware receiving the parsed request to the response handed back; the socket
    # queues on either side are not in it): a cross-check on wrk, whose own latencies on
    # PostgreSQL runs do not add up (see README, Performance).
    before, after = buckets(log + ".before"), buckets(log + ".after")
    d = {le: after[le] - before.get(le, 0) for le in after}
    total = d.get(float("inf"), 0)
    if not total: return "?"
    for le in sorted(d):
        if d[le] >= 0.99 * total:
            return "≤ %g" % (le * 1000) if le != float("inf") else "> %g" % (max(k for k in d if k != le) * 1000)
    return "?"
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
print("\t".join([name, backend, rps.group(1) if rps else "?", lat(50), lat(99), server_p99(), str(e), rss]))
PY
}

start_server() { # backend: starts crmflow on SQLite or a throwaway PostgreSQL; sets PORT, URL, SERVER_PID
    BACKEND=$1
    PORT=$(free_port)
    if [ "$BACKEND" = postgres ]; then
        eval "$(scripts/pg-throwaway.sh start)"
        URL=$CRMFLOW_TEST_DATABASE_URL
    else
        rm -rf "$OUT/bench.db"*
        URL=$OUT/bench.db
    fi
    trap 'kill_server; [ -n "${PG_THROWAWAY_DIR:-}" ] && scripts/pg-throwaway.sh stop "$PG_THROWAWAY_DIR"' EXIT
    launch_server
}

launch_server() { # starts $BIN on $URL (report cache: $REPORT_CACHE_SECS, default 30) and waits for /readyz 200; sets SERVER_PID and STARTUP_MS
    local started
    started=$(CRMFLOW_DATABASE_URL=$URL CRMFLOW_BIND=127.0.0.1:$PORT CRMFLOW_JWT_SECRET=bench-secret-0123456789 \
        CRMFLOW_BOOTSTRAP_ADMIN=admin:$PASS CRMFLOW_SWEEP_INTERVAL_MS=60000 RUST_LOG=warn \
        CRMFLOW_REPORT_CACHE_SECS=${REPORT_CACHE_SECS:-30} \
        python3 - "$BIN" "$PORT" "$OUT/$BACKEND-server.log" <<'PY'
import subprocess, sys, time, urllib.request
binary, port, log = sys.argv[1:4]
t0 = time.monotonic()
p = subprocess.Popen([binary, "serve"], stdout=open(log, "a"), stderr=subprocess.STDOUT, start_new_session=True)
while time.monotonic() - t0 < 60 and p.poll() is None:
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).status == 200:
            break
    except Exception:
        pass
    time.sleep(0.002)
print(p.pid, round((time.monotonic() - t0) * 1000))
PY
)
    SERVER_PID=${started% *}
    STARTUP_MS=${started#* }
}

kill_server() { # stops the server and waits until it has exited
    [ -n "${SERVER_PID:-}" ] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    SERVER_PID=
}

startup_row() { # restarts the server on its (migrated, seeded) database and records the start-up time
    kill_server
    launch_server
    printf "start-up: process start → /readyz 200 (ms)\t%s\t-\t%s\t-\t-\t-\t-\n" "$BACKEND" "$STARTUP_MS" >> "$OUT/table.tsv"
}

pgbench_row() { # PostgreSQL's own ceiling: one lead row (a copy of a seeded one) inserted per transaction
    local lead=$1 cols vals PG_BIN
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1) # installed by scripts/pg-throwaway.sh
    "$PG_BIN/psql" -q "$URL" -c "DROP TABLE IF EXISTS pgbench_leads; CREATE TABLE pgbench_leads (LIKE leads INCLUDING ALL)"
    cols=$("$PG_BIN/psql" -At "$URL" -c "SELECT string_agg(key, ',') FROM leads l, json_each_text(row_to_json(l)) WHERE l.id = '$lead'")
    vals=$("$PG_BIN/psql" -At "$URL" -c "SELECT string_agg(CASE WHEN key = 'id' THEN 'md5(random()::text || clock_timestamp()::text)' ELSE coalesce(quote_literal(value), 'NULL') END, ',') FROM leads l, json_each_text(row_to_json(l)) WHERE l.id = '$lead'")
    echo "INSERT INTO pgbench_leads ($cols) VALUES ($vals);" > "$OUT/pgbench_lead.sql"
    rm -f "$OUT"/pgbench_log*
    "$PG_BIN/pgbench" -n -c16 -j2 -T"$SECS" -f "$OUT/pgbench_lead.sql" -l --log-prefix="$OUT/pgbench_log" "$URL" > "$OUT/pgbench.txt" 2>&1
    python3 - "$OUT" >> "$OUT/table.tsv" <<'PY'
import glob, re, sys
out = sys.argv[1]
lat = sorted(int(line.split()[2]) / 1000 for f in glob.glob(out + "/pgbench_log*") for line in open(f))
tps = re.search(r"tps = ([\d.]+)", open(out + "/pgbench.txt").read()).group(1)
failed = re.search(r"number of failed transactions: (\d+)", open(out + "/pgbench.txt").read())
q = lambda p: "%.2f" % lat[min(len(lat) - 1, int(len(lat) * p))]
print("\t".join(["pgbench: INSERT one lead row per transaction", "postgres", "%.2f" % float(tps), q(0.5), q(0.99), "-",
                 failed.group(1) if failed else "0", "-"]))
PY
    "$PG_BIN/psql" -q "$URL" -c "DROP TABLE pgbench_leads"
}

stop_server() {
    kill_server
    if [ "$BACKEND" = postgres ]; then scripts/pg-throwaway.sh stop "$PG_THROWAWAY_DIR"; unset PG_THROWAWAY_DIR; fi
    trap - EXIT
}

print_table() {
    column -t -s$'\t' <(printf "operation\tbackend\treq/s\tp50 ms\tp99 ms\tserver p99 ms\terrors\tpeak RSS MB\n"; cat "$OUT/table.tsv")
}
