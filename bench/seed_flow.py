#!/usr/bin/env python3
"""Seeds the records the flow operations of the benchmark act on, all through the API:
deals for stage moves (the pipeline's exit requirements cleared, so a move is only the
move), signed contracts with monthly installments for payments, and work orders for
transitions. Writes one id per line to <out>/opp_ids.txt, contract_ids.txt, wo_ids.txt."""
import argparse
import http.client
import json
import sys
import threading
import time
from datetime import datetime, timedelta, timezone


def call(conn, method, path, token=None, body=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    conn.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None, headers=headers)
    res = conn.getresponse()
    data = res.read()
    if res.status >= 300:
        raise RuntimeError(f"{method} {path}: {res.status} {data[:300]!r}")
    return json.loads(data) if data else None


def parallel(port, count, make, threads=8):
    """Runs make(conn, i) for i in range(count) on `threads` connections; returns the results in order."""
    out, lock, counter = [None] * count, threading.Lock(), iter(range(count))

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            out[i] = make(conn, i)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--deals", type=int, default=10_000)
    ap.add_argument("--contracts", type=int, default=5_000)
    ap.add_argument("--installments", type=int, default=12)
    ap.add_argument("--work-orders", type=int, default=5_000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    started = time.time()
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
    admin = call(conn, "POST", "/auth/login", body={"username": "admin", "password": a.password})["access_token"]
    pipeline = call(conn, "GET", "/pipeline", admin)
    for k in ["version", "updated_at"]:
        pipeline.pop(k, None)
    for s in pipeline["stages"]:
        s["exit_requirements"] = []
    call(conn, "PUT", "/pipeline", admin, pipeline)
    call(conn, "POST", "/users", admin, {"username": "bench.legal", "password": "bench-pass-1", "role": "legal"})
    legal = call(conn, "POST", "/auth/login", body={"username": "bench.legal", "password": "bench-pass-1"})["access_token"]
    accounts = parallel(a.port, 100, lambda c, i: call(c, "POST", "/accounts", admin, {"name": f"流程客户{i}号机械有限公司"})["id"])

    def deal(c, i):
        return call(c, "POST", "/opportunities", admin,
                    {"account_id": accounts[i % 100], "name": f"产线{i}", "amount_cents": 120_000_000})["id"]

    deals = parallel(a.port, a.deals, deal)
    signed_at = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    per = 1_000_000

    def contract(c, i):
        opp = deal(c, a.deals + i)
        cid = call(c, "POST", "/contracts", admin, {"opportunity_id": opp, "number": f"BENCH-{i:06d}",
                                                     "title": "产线采购合同", "amount_cents": per * a.installments})["id"]
        call(c, "POST", f"/contracts/{cid}/submit", admin)
        call(c, "POST", f"/contracts/{cid}/approve", legal, {})
        call(c, "PUT", f"/contracts/{cid}/installments", admin,
             {"installments": [{"seq": k + 1, "due_date": f"2027-{k % 12 + 1:02d}-15", "amount_cents": per}
                               for k in range(a.installments)]})
        call(c, "POST", f"/contracts/{cid}/sign", admin, {"signed_at": signed_at, "signatory": "王总", "signature_ref": f"ES-{i}"})
        return cid

    contracts = parallel(a.port, a.contracts, contract)

    def order(c, i):
        return call(c, "POST", "/work-orders", admin,
                    {"type": "repair", "account_id": accounts[i % 100], "contact_name": "李工", "contact_phone": "13900139000",
                     "description": "温度报警", "priority": "P3", "channel": "api"})["id"]

    orders = parallel(a.port, a.work_orders, order)
    for name, ids in [("opp_ids.txt", deals), ("contract_ids.txt", contracts), ("wo_ids.txt", orders)]:
        with open(f"{a.out}/{name}", "w") as f:
            f.write("\n".join(ids) + "\n")
    print(f"seeded {a.deals} deals, {a.contracts} signed contracts with {a.installments} installments, "
          f"{a.work_orders} work orders in {time.time() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
