#!/usr/bin/env python3
"""Seeds a running crmflow with a sales team, a round-robin rule and N leads, all through
the HTTP API (full path: score, dedup, assignment, audit, events). Prints the admin token
and the ids the load scripts need as shell variables."""
import argparse
import http.client
import json
import random
import sys
import threading
import time

PROVINCES = ["江苏", "浙江", "上海", "广东", "北京", "山东", "四川", "湖北"]
INDUSTRIES = ["新能源汽车", "医疗器械", "装备制造", "消费电子", "光伏"]
SOURCES = ["web_form", "wechat", "phone_400", "trade_show", "sem", "whitepaper_download"]


def call(conn, method, path, token=None, body=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    res = conn.getresponse()
    data = res.read()
    return res.status, (json.loads(data) if data else None)


def lead(i):
    rnd = random.Random(i)
    return {
        "name": f"客户{i}",
        "company": f"{rnd.choice(PROVINCES)}{rnd.getrandbits(40):010x}有限公司",
        "phone": f"1{3 + i % 7}{i:09d}"[:11],
        "email": f"buyer{i}@factory{i % 5000}.cn",
        "province": rnd.choice(PROVINCES),
        "industry": rnd.choice(INDUSTRIES),
        "source": rnd.choice(SOURCES),
        "budget_cents": rnd.choice([20_000_000, 60_000_000, 150_000_000]),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--ids-file", required=True, help="where to write up to 1,000 seeded lead ids")
    a = ap.parse_args()
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
    _, login = call(conn, "POST", "/api/v1/auth/login", body={"username": "admin", "password": a.password})
    token = login["access_token"]
    _, team = call(conn, "POST", "/api/v1/teams", token, {"name": "压测"})
    reps = []
    for r in range(8):
        st, u = call(conn, "POST", "/api/v1/users", token,
                     {"username": f"bench.rep{r}", "password": "bench-pass-1", "role": "sales",
                      "team_id": team["id"], "capacity": 10_000})
        reps.append(u["id"])
    call(conn, "POST", "/api/v1/assignment-rules", token,
         {"name": "压测轮询", "priority": 1, "pool": {"team_id": team["id"]}, "strategy": "round_robin",
          "claim_timeout_secs": 30 * 86400, "first_touch_timeout_secs": 30 * 86400})
    counter = iter(range(a.leads))
    lock = threading.Lock()
    ids, errors = [], [0]

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            st, body = call(c, "POST", "/api/v1/leads", token, lead(i))
            with lock:
                if st == 201:
                    if len(ids) < 1000:
                        ids.append(body["id"])
                else:
                    errors[0] += 1
                    if errors[0] <= 3:
                        print(f"lead {i}: {st} {body}", file=sys.stderr)

    started = time.time()
    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - started
    print(f"SEED_RATE={a.leads / took:.0f}", file=sys.stderr)
    print(f"seeded {a.leads} leads in {took:.1f} s ({a.leads / took:.0f}/s), {errors[0]} errors", file=sys.stderr)
    with open(a.ids_file, "w") as f:
        f.write("\n".join(ids) + "\n")
    print(f"TOKEN={token}")
    print(f"LEAD_ID={ids[len(ids) // 2]}")
    print(f"OWNER_ID={reps[3]}")
    print("REPS=" + ",".join(f"{r}:{team['id']}" for r in reps))
    print(f"SEED_RATE={a.leads / took:.0f}")


if __name__ == "__main__":
    main()
