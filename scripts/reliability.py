#!/usr/bin/env python3
"""Reliability drills against real crmflow processes on loopback (stdlib only).

  crash     clients create leads and payments while the server is SIGKILLed and restarted;
            every acknowledged (201) record must be there, whole, the audit chain intact,
            and each lead's claim timer must fire exactly once per step across the restart.
  outage    PostgreSQL is stopped under traffic: requests answer 503 `unavailable` within
            5 s, /readyz turns 503; after PostgreSQL is back the same process serves again.
  twin      two crmflow processes on one PostgreSQL, clients spread over both: each lead
            with a short claim timeout is re-assigned exactly once and escalated once, each
            event reaches a webhook receiver once per delivery id, the daily digest once per team,
            each live contract's NPS survey once.

usage: reliability.py crash|outage|twin --bin target/debug/crmflow --db URL
       (outage also needs --pg-dir DIR from scripts/pg-throwaway.sh)
Every drill is bounded in time and stops its processes itself; exit status 0 = held.
"""

import argparse
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

ADMIN_PASSWORD = "drill-admin-2026"
PASSWORD = "drill-user-2026"


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One crmflow process."""

    def __init__(self, binary, db, extra_env=None, name="crmflow"):
        self.binary, self.db, self.name = binary, db, name
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.update(
            {
                "CRMFLOW_DATABASE_URL": db,
                "CRMFLOW_BIND": f"127.0.0.1:{self.port}",
                "CRMFLOW_JWT_SECRET": "reliability-drill-secret-0123456789",
                "CRMFLOW_BOOTSTRAP_ADMIN": f"admin:{ADMIN_PASSWORD}",
                "CRMFLOW_SWEEP_INTERVAL_MS": "200",
                "CRMFLOW_WEBHOOK_POLL_MS": "100",
                "CRMFLOW_DB_TIMEOUT_MS": "2000",
                "CRMFLOW_LOGIN_MAX_FAILURES_PER_IP": "1000",
                "RUST_LOG": "warn",
            }
        )
        self.env.update(extra_env or {})
        self.proc = None
        self.log = open(f"/tmp/{name}-{self.port}.log", "ab")

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        self.proc = subprocess.Popen(
            [self.binary, "serve"], env=self.env, stdout=self.log, stderr=self.log
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if call(self.base, "GET", "/readyz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise SystemExit(f"{self.name} did not become ready")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=35)
            except subprocess.TimeoutExpired:
                self.kill()


def call(base, method, path, token=None, body=None, timeout=10, headers=None):
    """(status, parsed body); raises OSError when the connection fails."""
    url = base + (path if path.startswith("/readyz") or path.startswith("/healthz") else "/api/v1" + path)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            raw = res.read()
            return res.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, None


def ok(result, what):
    status, body = result
    if not 200 <= status < 300:
        raise SystemExit(f"{what}: {status} {body}")
    return body


def login(base, username, password):
    return ok(call(base, "POST", "/auth/login", body={"username": username, "password": password}), "login")[
        "access_token"
    ]


def iso(dt):
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def all_events(base, token, types):
    out, after = [], 0
    while True:
        page = ok(call(base, "GET", f"/events?types={types}&after={after}&limit=500", token), "events")
        items = page["items"]
        if not items:
            return out
        out.extend(items)
        after = items[-1]["id"]


def lead_sla_setup(base, admin, claim_secs):
    """Two reps and a round-robin rule: a lead lapses to the other rep once, then escalates."""
    team = ok(call(base, "POST", "/teams", admin, {"name": f"drill {time.time_ns()}"}), "team")["id"]
    reps = []
    for i in range(2):
        u = ok(
            call(
                base,
                "POST",
                "/users",
                admin,
                {"username": f"rep{i}.{time.time_ns()}", "password": PASSWORD, "role": "sales", "team_id": team,
                 "capacity": 10000},
            ),
            "user",
        )
        reps.append(u["id"])
    ok(
        call(
            base,
            "POST",
            "/assignment-rules",
            admin,
            {"name": "drill", "priority": 1, "pool": {"user_ids": reps}, "strategy": "round_robin",
             "claim_timeout_secs": claim_secs, "max_reassignments": 1},
        ),
        "rule",
    )


def lead_body(n):
    return {"name": f"演练{n}", "company": f"演练{n}号精工有限公司", "phone": f"139{n:08d}",
            "province": "江苏", "industry": "机械制造", "source": "trade_show"}


def signed_contracts(base, admin, count, installments):
    """Signed contracts with `installments` equal installments each; returns their ids."""
    legal_user = f"legal.{time.time_ns()}"
    ok(call(base, "POST", "/users", admin, {"username": legal_user, "password": PASSWORD, "role": "legal"}), "legal")
    legal = login(base, legal_user, PASSWORD)
    ids = []
    per = 100_000
    for c in range(count):
        acct = ok(call(base, "POST", "/accounts", admin, {"name": f"演练客户{c}-{time.time_ns()}"}), "account")["id"]
        opp = ok(call(base, "POST", "/opportunities", admin,
                      {"account_id": acct, "name": "产线", "amount_cents": per * installments}), "deal")["id"]
        cid = ok(call(base, "POST", "/contracts", admin,
                      {"opportunity_id": opp, "number": f"DRILL-{c}-{time.time_ns()}", "title": "演练合同",
                       "amount_cents": per * installments}), "contract")["id"]
        ok(call(base, "POST", f"/contracts/{cid}/submit", admin), "submit")
        ok(call(base, "POST", f"/contracts/{cid}/approve", legal, {}), "approve")
        plan = [{"seq": i + 1, "due_date": "2027-01-01", "amount_cents": per} for i in range(installments)]
        ok(call(base, "PUT", f"/contracts/{cid}/installments", admin, {"installments": plan}), "plan")
        ok(call(base, "POST", f"/contracts/{cid}/sign", admin,
                {"signed_at": iso(datetime.now(timezone.utc) - timedelta(hours=1)), "signatory": "王总",
                 "signature_ref": "ES-1"}), "sign")
        ids.append(cid)
    return ids, per


class Load:
    """Client threads that create leads and post payments and record every 201."""

    def __init__(self, server, token, contracts, per, installments):
        self.server, self.token = server, token
        self.installments = installments
        self.leads, self.payments = [], []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.counter = iter(range(10**9))
        self.slots = [(c, seq) for c in contracts for seq in range(1, 1000)]
        self.per = per
        self.errors = {}

    def note(self, key):
        with self.lock:
            self.errors[key] = self.errors.get(key, 0) + 1

    def leads_worker(self):
        while not self.stop.is_set():
            with self.lock:
                n = next(self.counter)
            try:
                status, body = call(self.server.base, "POST", "/leads", self.token, lead_body(n), timeout=5)
            except OSError:
                self.note("connection")
                time.sleep(0.05)
                continue
            if status == 201:
                with self.lock:
                    self.leads.append(body["id"])
            else:
                self.note(status)

    def payments_worker(self):
        while not self.stop.is_set():
            with self.lock:
                if not self.slots:
                    return
                contract, seq = self.slots[0]
            body = {"bank_txn_id": f"TXN-{contract}-{seq}", "amount_cents": self.per,
                    "paid_at": iso(datetime.now(timezone.utc)), "installment_seq": seq}
            try:
                status, res = call(self.server.base, "POST", f"/contracts/{contract}/payments", self.token, body,
                                   timeout=5)
            except OSError:
                self.note("connection")
                time.sleep(0.05)
                continue
            with self.lock:
                if status == 201:
                    self.payments.append((contract, body["bank_txn_id"]))
                if status == 201 or (status == 422 and res and res.get("code") == "payment_rejected"):
                    # paid (now or by the request the crash cut off): next installment
                    if self.slots and self.slots[0] == (contract, seq):
                        self.slots.pop(0)
                        if seq >= self.installments:
                            self.slots = [s for s in self.slots if s[0] != contract]
                else:
                    self.note(status)

    def run(self, threads_leads=3, threads_payments=1):
        ts = [threading.Thread(target=self.leads_worker) for _ in range(threads_leads)]
        ts += [threading.Thread(target=self.payments_worker) for _ in range(threads_payments)]
        for t in ts:
            t.start()
        return ts


def crash(args):
    server = Server(args.bin, args.db, name="crash")
    server.start()
    try:
        admin = login(server.base, "admin", ADMIN_PASSWORD)
        claim = 3
        lead_sla_setup(server.base, admin, claim)
        # 1,000 installments: more than one payment thread settles in the 6 s of load.
        contracts, per = signed_contracts(server.base, admin, 10, 100)
        load = Load(server, admin, contracts, per, 100)
        threads = load.run()
        time.sleep(3)
        before = (len(load.leads), len(load.payments))
        server.kill()
        killed_at = time.time()
        time.sleep(0.5)
        server.start()
        restarted = time.time() - killed_at
        time.sleep(3)
        load.stop.set()
        for t in threads:
            t.join()
        print(f"acknowledged before the kill: {before[0]} leads, {before[1]} payments; "
              f"after the restart ({restarted:.2f} s down): {len(load.leads)} leads, {len(load.payments)} payments; "
              f"refused/failed while down: {load.errors}")
        admin = login(server.base, "admin", ADMIN_PASSWORD)
        failures = []
        if before[0] == 0 or before[1] == 0:
            failures.append(f"the load acknowledged too little before the kill: {before}")
        if len(load.leads) == before[0] or len(load.payments) == before[1]:
            failures.append("nothing was acknowledged after the restart")
        # Every acknowledged lead is there with its audit entry and its event.
        created = {e["entity_id"] for e in all_events(server.base, admin, "lead.created")}
        for lead in load.leads:
            status, body = call(server.base, "GET", f"/leads/{lead}", admin)
            if status != 200:
                failures.append(f"acknowledged lead {lead} is missing ({status})")
                continue
            hist = ok(call(server.base, "GET", f"/leads/{lead}/history", admin), "history")["items"]
            if not any(h["action"] == "create" for h in hist):
                failures.append(f"lead {lead} has no create audit entry")
            if lead not in created:
                failures.append(f"lead {lead} has no lead.created event")
        # Every lead at all (acknowledged or cut off) is whole.
        cursor, stored = None, 0
        while True:
            page = ok(call(server.base, "GET", "/leads?limit=500" + (f"&cursor={cursor}" if cursor else ""), admin),
                      "list")
            for item in page["items"]:
                stored += 1
                if item["id"] not in created:
                    failures.append(f"stored lead {item['id']} has no lead.created event")
            cursor = page.get("next_cursor")
            if not cursor:
                break
        # Every acknowledged payment is stored and counted in its installment.
        acked = {}
        for contract, txn in load.payments:
            acked.setdefault(contract, set()).add(txn)
        for contract in contracts:
            pays = ok(call(server.base, "GET", f"/contracts/{contract}/payments?limit=500", admin), "payments")["items"]
            txns = {p["bank_txn_id"] for p in pays}
            missing = acked.get(contract, set()) - txns
            if missing:
                failures.append(f"contract {contract}: acknowledged payments missing: {sorted(missing)}")
            c = ok(call(server.base, "GET", f"/contracts/{contract}", admin), "contract")
            paid_installments = sum(i["paid_cents"] for i in c["installments"])
            paid = sum(p["amount_cents"] for p in pays)
            if paid_installments != paid or c["paid_cents"] != paid:
                failures.append(f"contract {contract}: payments {paid} ≠ installments {paid_installments} / "
                                f"contract {c['paid_cents']}")
        # Claim timers: wait until every lead had time to lapse twice, then each lapsed once
        # per step (re-assigned once, escalated once), none lost, none twice.
        time.sleep(2 * claim + 3)
        reassigned, escalated = {}, {}
        for e in all_events(server.base, admin, "lead.reassigned"):
            reassigned[e["entity_id"]] = reassigned.get(e["entity_id"], 0) + 1
        for e in all_events(server.base, admin, "lead.escalated"):
            escalated[e["entity_id"]] = escalated.get(e["entity_id"], 0) + 1
        for lead in created:
            if reassigned.get(lead, 0) != 1 or escalated.get(lead, 0) != 1:
                failures.append(f"lead {lead}: re-assigned {reassigned.get(lead, 0)}×, "
                                f"escalated {escalated.get(lead, 0)}×")
        verify = ok(call(server.base, "GET", "/audit/verify", admin), "verify")
        if not verify.get("ok"):
            failures.append(f"audit chain broken: {verify}")
        print(f"checked {len(load.leads)} acknowledged leads ({stored} stored), {len(load.payments)} payments, "
              f"{len(created)} claim timers, audit chain of {verify.get('checked')} entries ok={verify.get('ok')}")
        return failures
    finally:
        server.stop()


def outage(args):
    server = Server(args.bin, args.db, name="outage")
    server.start()
    pg = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pg-throwaway.sh")
    try:
        admin = login(server.base, "admin", ADMIN_PASSWORD)
        failures = []
        results = []
        stop = threading.Event()

        def client():
            n = 0
            while not stop.is_set():
                n += 1
                started = time.time()
                try:
                    status, body = call(server.base, "GET", "/leads?limit=5", admin, timeout=10)
                    code = body.get("code") if isinstance(body, dict) else None
                except OSError as e:
                    status, code = f"error {e}", None
                results.append((time.time(), status, code, time.time() - started))
                time.sleep(0.05)

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1)
        subprocess.run([pg, "down", args.pg_dir], check=True, stdout=subprocess.DEVNULL)
        down_at = time.time()
        time.sleep(8)
        ready_down = call(server.base, "GET", "/readyz", timeout=10)[0]
        # PostgreSQL accepts connections a moment before `pg_ctl start -w` returns: answers
        # from then on are not answers "while down".
        up_started = time.time()
        subprocess.run([pg, "up", args.pg_dir], check=True, stdout=subprocess.DEVNULL)
        up_at = time.time()
        recovered = None
        while time.time() - up_at < 30:
            if results and results[-1][1] == 200 and results[-1][0] > up_at:
                recovered = results[-1][0] - up_at
                break
            time.sleep(0.1)
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join()
        ready_up = call(server.base, "GET", "/readyz", timeout=10)[0]
        during = [r for r in results if down_at + 0.5 < r[0] < up_started]
        statuses = {}
        for _, status, code, _ in during:
            statuses[(status, code)] = statuses.get((status, code), 0) + 1
        slowest = max((r[3] for r in during), default=0)
        print(f"while PostgreSQL was down: {len(during)} requests {statuses}, slowest answer {slowest:.2f} s; "
              f"/readyz {ready_down}; after restart: first 200 after {recovered} s, /readyz {ready_up}")
        if not during:
            failures.append("no request completed while PostgreSQL was down")
        for (status, code), n in statuses.items():
            if status != 503 or code != "unavailable":
                failures.append(f"{n} request(s) answered {status} {code} while PostgreSQL was down")
        if slowest > 5:
            failures.append(f"an answer took {slowest:.2f} s while PostgreSQL was down")
        if ready_down != 503:
            failures.append(f"/readyz answered {ready_down} while PostgreSQL was down")
        if recovered is None or ready_up != 200:
            failures.append("crmflow did not recover after PostgreSQL came back")
        return failures
    finally:
        server.stop()


class Receiver(http.server.ThreadingHTTPServer):
    """Counts webhook attempts by `webhook-id`."""

    def __init__(self):
        self.seen = {}
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(h):
                body = h.rfile.read(int(h.headers.get("content-length", 0)))
                wid = h.headers.get("webhook-id")
                with self.lock:
                    self.seen.setdefault(wid, []).append(json.loads(body))
                h.send_response(200)
                h.end_headers()

            def log_message(h, *a):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def twin(args):
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    # The digest is already due today (UTC): both instances race for it at every sweep.
    digest_at = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%H:%M")
    env = {"CRMFLOW_DIGEST_TIME": digest_at, "CRMFLOW_DIGEST_TIME_ZONE": "UTC"}
    a = Server(args.bin, args.db, env, name="twin-a")
    a.start()
    b = Server(args.bin, args.db, env, name="twin-b")
    b.start()
    try:
        admin_a = login(a.base, "admin", ADMIN_PASSWORD)
        admin_b = login(b.base, "admin", ADMIN_PASSWORD)
        before = {e["id"] for e in all_events(a.base, admin_a, "*")}
        ok(call(a.base, "POST", "/webhooks", admin_a,
                {"url": f"http://127.0.0.1:{receiver.server_address[1]}/hook", "event_types": ["*"]}), "webhook")
        claim = 2
        lead_sla_setup(a.base, admin_a, claim)
        leads, lock = [], threading.Lock()

        def create(server, token, start):
            for n in range(start, start + 100):
                lead = ok(call(server.base, "POST", "/leads", token, lead_body(n)), "lead")
                with lock:
                    leads.append(lead["id"])

        # NPS surveys fall due 2 s after go-live: both instances' sweepers race for them.
        ok(call(a.base, "PUT", "/config/contracts", admin_a,
                {"finance_approval_threshold_cents": 100_000_000, "nps_delay_secs": 2, "delivery_team_id": None}),
           "contract settings")
        contracts, _ = signed_contracts(a.base, admin_a, 10, 1)
        csm = ok(call(a.base, "POST", "/users", admin_a,
                      {"username": f"csm.{time.time_ns()}", "password": PASSWORD, "role": "implementation"}), "csm")
        plan = {"milestones": [{"day": d, "title": f"第{d}天", "owner_id": csm["id"], "due_date": "2027-03-15"}
                               for d in (30, 60, 90)]}
        for n, cid in enumerate(contracts):
            server, token = (a, admin_a) if n % 2 == 0 else (b, admin_b)
            ok(call(server.base, "PUT", f"/contracts/{cid}/success-plan", token, plan), "success plan")
            ok(call(server.base, "POST", f"/contracts/{cid}/go-live", token,
                    {"live_at": iso(datetime.now(timezone.utc))}), "go-live")
        ts = [threading.Thread(target=create, args=(a, admin_a, 0)),
              threading.Thread(target=create, args=(b, admin_b, 100))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        failures = []
        # Lapses: both instances sweep; each lead must lapse once per step. Wait until all
        # escalated, then two claim windows more for any second firing to show.
        deadline = time.time() + 60
        while time.time() < deadline and len(all_events(a.base, admin_a, "lead.escalated")) < len(leads):
            time.sleep(0.5)
        time.sleep(2 * claim)
        reassigned, escalated = {}, {}
        for e in all_events(a.base, admin_a, "lead.reassigned"):
            reassigned[e["entity_id"]] = reassigned.get(e["entity_id"], 0) + 1
        for e in all_events(b.base, admin_b, "lead.escalated"):
            escalated[e["entity_id"]] = escalated.get(e["entity_id"], 0) + 1
        bad = [lead for lead in leads if reassigned.get(lead, 0) != 1 or escalated.get(lead, 0) != 1]
        if bad:
            failures.append(f"{len(bad)} of {len(leads)} leads were not re-assigned and escalated exactly once, "
                            f"e.g. {bad[0]}: {reassigned.get(bad[0], 0)}×/{escalated.get(bad[0], 0)}×")
        # The digest: once per team and day although both instances run the sweeper.
        teams = ok(call(a.base, "GET", "/teams?limit=500", admin_a), "teams")["items"]
        digests = all_events(a.base, admin_a, "report.lead_health_daily")
        per_team = {}
        for d in digests:
            per_team[d["data"]["team_id"]] = per_team.get(d["data"]["team_id"], 0) + 1
        if sorted(per_team.values()) != [1] * len(teams):
            failures.append(f"digest per team: {per_team} for {len(teams)} teams")
        # NPS: each live contract's survey announced once.
        deadline = time.time() + 30
        while time.time() < deadline and len(all_events(b.base, admin_b, "nps.survey_due")) < len(contracts):
            time.sleep(0.5)
        time.sleep(1)
        nps = {}
        for e in all_events(b.base, admin_b, "nps.survey_due"):
            nps[e["entity_id"]] = nps.get(e["entity_id"], 0) + 1
        if [nps.get(c, 0) for c in contracts] != [1] * len(contracts):
            failures.append(f"NPS surveys per contract: {[nps.get(c, 0) for c in contracts]}")
        # Webhooks: every event delivered, each delivery id received once.
        events = {e["id"] for e in all_events(a.base, admin_a, "*") if e["id"] not in before}
        deadline = time.time() + 60
        while time.time() < deadline:
            with receiver.lock:
                if len(receiver.seen) >= len(events):
                    break
            time.sleep(0.5)
        with receiver.lock:
            twice = {k: len(v) for k, v in receiver.seen.items() if len(v) > 1}
            received = len(receiver.seen)
            delivered = {bodies[0]["id"] for bodies in receiver.seen.values()}
        if twice:
            failures.append(f"{len(twice)} delivery ids arrived more than once: {list(twice.items())[:3]}")
        if events - delivered:
            failures.append(f"{len(events - delivered)} of {len(events)} events were not delivered")
        print(f"two instances: {len(leads)} leads, {sum(reassigned.values())} re-assignments, "
              f"{sum(escalated.values())} escalations, {len(digests)} digests for {len(teams)} teams, "
              f"{sum(nps.values())} NPS surveys for {len(contracts)} live contracts, "
              f"{len(events)} events, {received} distinct deliveries, {len(twice)} duplicates")
        return failures
    finally:
        a.stop()
        b.stop()
        receiver.shutdown()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("drill", choices=["crash", "outage", "twin"])
    p.add_argument("--bin", default="target/debug/crmflow")
    p.add_argument("--db", required=True)
    p.add_argument("--pg-dir")
    args = p.parse_args()
    started = time.time()
    failures = {"crash": crash, "outage": outage, "twin": twin}[args.drill](args)
    for f in failures[:30]:
        print("FAIL:", f)
    print(f"{args.drill}: {'held' if not failures else f'{len(failures)} failure(s)'} ({time.time() - started:.1f} s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
