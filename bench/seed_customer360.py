#!/usr/bin/env python3
"""Seeds a running crmflow for the customer-360 benchmark, through the HTTP API: N accounts
(each with its own landline), one hot account with a contact, an installed unit and a
history of K timeline items (work orders and their steps). Prints the shell variables the
load scripts need."""
import argparse
import http.client
import json
import sys
import threading
import time


def call(conn, method, path, token=None, body=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    res = conn.getresponse()
    data = res.read()
    return res.status, (json.loads(data) if data else None)


def parallel(n, concurrency, port, job):
    """Runs job(conn, i) for i in 0..n on `concurrency` connections; returns (seconds, errors)."""
    counter = iter(range(n))
    lock = threading.Lock()
    errors = [0]

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            st, body = job(c, i)
            if st >= 300:
                with lock:
                    errors[0] += 1
                    if errors[0] <= 3:
                        print(f"item {i}: {st} {body}", file=sys.stderr)

    started = time.time()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.time() - started, errors[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16)
    a = ap.parse_args()
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
    _, login = call(conn, "POST", "/api/v1/auth/login", body={"username": "admin", "password": a.password})
    token = login["access_token"]

    def account(c, i):
        return call(c, "POST", "/api/v1/accounts", token,
                    {"name": f"压测客户{i:06d}有限公司", "phone": f"021-{60000000 + i}", "tier": "B"})

    took, errs = parallel(a.accounts, a.concurrency, a.port, account)
    print(f"seeded {a.accounts} accounts in {took:.1f} s ({a.accounts / took:.0f}/s), {errs} errors", file=sys.stderr)
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)  # the first one idled out

    _, hot = call(conn, "POST", "/api/v1/accounts", token, {"name": "浙江省人民医院", "tier": "A"})
    call(conn, "POST", "/api/v1/contacts", token,
         {"account_id": hot["id"], "name": "李娜", "phone": "13800138000", "decision_role": "decision_maker"})
    call(conn, "POST", "/api/v1/assets", token,
         {"serial_number": "QM-ENDO-1-000871", "product_model": "QM-ENDO-1", "account_id": hot["id"],
          "warranty_until": "2027-08-14"})

    # Each work order adds work_order.created; every other one is also accepted (a step).
    def item(c, i):
        st, wo = call(c, "POST", "/api/v1/work-orders", token,
                      {"type": "maintenance", "account_id": hot["id"], "device_sn": "QM-ENDO-1-000871",
                       "description": f"季度保养 {i}"})
        if st == 201 and i % 2 == 0:
            return call(c, "POST", f"/api/v1/work-orders/{wo['id']}/transition", token, {"to": "accepted"})
        return st, wo

    orders = (a.items * 2 + 2) // 3
    took, errs = parallel(orders, a.concurrency, a.port, item)
    print(f"seeded {orders} work orders on one account in {took:.1f} s, {errs} errors", file=sys.stderr)
    print(f"TOKEN={token}")
    print(f"HOT_ACCOUNT={hot['id']}")
    print(f"COLD_PHONE=021-{60000000 + a.accounts // 2}")


if __name__ == "__main__":
    main()
