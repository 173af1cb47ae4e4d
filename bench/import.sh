#!/usr/bin/env bash
# Import benchmark: one CSV of BENCH_ROWS leads (default 100,000; Chinese headers, ~3
# leads per company, company e-mail domains, unique mobiles) posted to POST /imports on a
# fresh database per backend; every row takes the full create path (score, dedup,
# assignment, audit, events). Prints rows/s from the 202 to `completed`, and peak RSS.
#
#   bash bench/import.sh                  # both backends
#   BENCH_ROWS=10000 bash bench/import.sh sqlite
#   BENCH_BIN=/tmp/other-build BENCH_ROWS=30000 bash bench/import.sh sqlite   # A/B
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${BENCH_ROWS:-100000}
BACKENDS=${*:-sqlite postgres}
# shellcheck source=bench/lib.sh
. bench/lib.sh

python3 - "$ROWS" > "$OUT/import.csv" <<'PY'
import random, sys
rows = int(sys.argv[1])
rng = random.Random(7)
cities = [("江苏", "苏州"), ("浙江", "宁波"), ("广东", "深圳"), ("上海", "上海"), ("山东", "青岛")]
sources = ["展会", "官网", "微信", "转介绍", "400电话"]
chars = "华东精工恒锐宁泰鼎盛创新远航中科天成博瑞金安合力众诚永兴汇通凯达海峰同创立信嘉禾明德宏图启元新锐卓越瀚海青松云帆星火佳和"
brands = ["".join(rng.sample(chars, 3)) for _ in range(rows // 3 + 1)]
print("姓名,公司,手机,邮箱,省份,城市,行业,来源,预算")
for i in range(rows):
    c = i // 3
    prov, city = cities[c % len(cities)]
    print(f"客户{i},{city}{brands[c]}机械有限公司,13{i:09d},u{i}@co{c}.cn,{prov},{city},机械制造,{sources[i % 5]},{(i % 50) + 1}万")
PY
echo "import.csv: $ROWS rows, $(du -h "$OUT/import.csv" | cut -f1)"

printf "backend\trows\tseconds\trows/s\tfailed\tpeak RSS MB\tserver CPU µs/row\n" > "$OUT/import.tsv"
for BACKEND in $BACKENDS; do
    start_server "$BACKEND"
    H=http://127.0.0.1:$PORT/api/v1
    TOKEN=$(curl -fs -X POST "$H/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$PASS\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    START=$(date +%s.%N)
    CPU0=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
    ID=$(curl -fs -X POST "$H/imports?entity=leads" -H "authorization: Bearer $TOKEN" \
        -H 'content-type: text/csv' --data-binary "@$OUT/import.csv" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    while :; do
        STATE=$(curl -fs "$H/imports/$ID" -H "authorization: Bearer $TOKEN" \
            | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], d["processed"], d["failed"])')
        case $STATE in completed*|failed*) break ;; esac
        sleep 0.5
    done
    END=$(date +%s.%N)
    CPU1=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
    RSS=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status")
    # Server CPU (user + system, all threads) over the import, per row.
    CPU_US=$(( (CPU1 - CPU0) * 1000000 / $(getconf CLK_TCK) / ROWS ))
    python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print('\t'.join([sys.argv[3], sys.argv[4], '%.1f' % s, '%.0f' % (int(sys.argv[4])/s), sys.argv[5], sys.argv[6], sys.argv[7]]))" \
        "$START" "$END" "$BACKEND" "$ROWS" "$(echo "$STATE" | cut -d' ' -f3)" "$RSS" "$CPU_US" >> "$OUT/import.tsv"
    stop_server
done
echo
column -t -s$'\t' "$OUT/import.tsv"
