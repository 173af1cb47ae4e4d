# Shared by the benchmark scripts: a server per backend, one wrk run per table row.
# Expects OUT, SECS, BIN and PASS to be set by the caller.

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

start_server() { # backend: starts crmflow on SQLite or a throwaway PostgreSQL; sets PORT, SERVER_PID
    BACKEND=$1
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
}

stop_server() {
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    if [ "$BACKEND" = postgres ]; then scripts/pg-throwaway.sh stop "$PG_THROWAWAY_DIR"; unset PG_THROWAWAY_DIR; fi
    trap - EXIT
}

print_table() {
    column -t -s$'\t' <(printf "operation\tbackend\treq/s\tp50 ms\tp99 ms\terrors\tpeak RSS MB\n"; cat "$OUT/table.tsv")
}
