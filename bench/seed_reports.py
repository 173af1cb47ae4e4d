#!/usr/bin/env python3
"""Bulk rows for the report benchmark: N leads with 5 activities each, deals with stage
history, work orders and missed-deadline records, spread over the last 90 days, owned by
the reps the API created. Written straight into the tables (the reports read these
tables only; audit entries and events are not needed for them): SQLite through sqlite3,
PostgreSQL through psql COPY."""
import argparse
import csv
import io
import random
import sqlite3
import subprocess
import time

DAY = 86_400_000
ACTIONS = ["first_contact", "needs_discovery", "demo", "quote_submitted", "follow_up"]
STATUSES = ["assigned", "working", "working", "qualified", "converted", "disqualified"]
SOURCES = ["trade_show", "web_form", "wechat", "referral", "phone_400"]
# Company blocking keys as the API stores them (two characters after a leading region):
# 1,260 of them, so at a million leads each block holds ~800 leads and the candidate
# query's row limit is what bounds a duplicate check.
BLOCKS = [a + b for a in "华东精工恒锐宁泰鼎盛创新远航中科天成博瑞金安合力众诚永兴汇通凯达海峰同创立信嘉禾明德"
          for b in "宏图启元新锐卓越瀚海青松云帆星火佳和长城东方南洋北辰西部中原"]
STAGES = [("needs_confirmed", 10), ("solution_demo", 30), ("quote_approval", 50), ("contract_signing", 80)]


def rows(args, reps):
    rng = random.Random(11)
    now = int(time.time() * 1000)
    out = {k: [] for k in ["accounts", "leads", "activities", "opportunities", "opportunity_stages", "work_orders", "lead_lapses"]}
    accounts = [f"acc-{i:06d}" for i in range(args.leads // 100)]
    for i, a in enumerate(accounts):
        out["accounts"].append({"id": a, "name": f"客户{i}机械", "name_key": f"客户{i}机械", "version": 1,
                                "created_at": now - 200 * DAY, "updated_at": now - 200 * DAY})
    for i in range(args.leads):
        owner, team = reps[i % len(reps)]
        created = now - rng.randrange(90 * DAY)
        assigned = created + rng.randrange(600_000)
        accepted = assigned + rng.randrange(4 * 3_600_000) if rng.random() < 0.9 else None
        touched = assigned + rng.randrange(30 * 3_600_000) if rng.random() < 0.8 else None
        lid = f"lead-{i:07d}"
        out["leads"].append({"id": lid, "name": f"客户{i}", "company": f"客户{i // 3}机械", "phone": f"13{i:09d}",
                             "email": f"u{i}@co{i // 3}.cn", "email_domain": f"co{i // 3}.cn",
                             "company_key": f"客户{i // 3}机械", "company_block": BLOCKS[(i // 3) % len(BLOCKS)],
                             "source": SOURCES[i % 5], "currency": "CNY", "status": STATUSES[i % 6],
                             "owner_id": owner, "team_id": team, "score": 40 + i % 60, "grade": "ABCD"[i % 4],
                             "created_by": owner, "version": 1, "created_at": created, "updated_at": created,
                             "assigned_at": assigned, "accepted_at": accepted, "first_touch_at": touched,
                             "possible_duplicate": i % 50 == 0})
        t = assigned
        for k in range(args.activities_per_lead):
            t += rng.randrange(1, 3 * DAY)
            out["activities"].append({"id": f"act-{i:07d}-{k}", "lead_id": lid, "channel": "phone",
                                      "action": ACTIONS[k % 5], "reached": k % 3 != 2, "summary": "跟进",
                                      "next_action": ACTIONS[(k + 1) % 5], "next_action_due_at": t + DAY,
                                      "evidence": "[]" if k % 5 not in (2, 3) else '[{"kind":"link","url":"https://x.cn/a"}]',
                                      "priority_flagged": False, "created_by": owner, "created_at": t})
        if i % 20 == 0:
            out["lead_lapses"].append({"id": f"lapse-{i:07d}", "lead_id": lid, "kind": "claim" if i % 40 else "first_touch",
                                       "outcome": "reassigned" if i % 40 else "overdue", "owner_id": owner,
                                       "team_id": team, "at": assigned + 3_600_000})
    for i in range(args.deals):
        owner, team = reps[i % len(reps)]
        stage, prob = STAGES[i % 4]
        created = now - rng.randrange(120 * DAY)
        oid = f"opp-{i:06d}"
        status = "open" if i % 5 else ("won" if i % 10 else "lost")
        out["opportunities"].append({"id": oid, "account_id": accounts[i % len(accounts)], "name": f"商机{i}",
                                     "amount_cents": 100_000 * (1 + i % 200), "currency": "CNY", "stage": stage,
                                     "probability": prob, "status": status, "stage_entered_at": created + DAY,
                                     "version": 1, "created_at": created, "updated_at": created, "owner_id": owner,
                                     "team_id": team, "stalled": i % 17 == 0,
                                     "expected_close_date": time.strftime("%Y-%m-%d", time.gmtime((now + rng.randrange(-60, 60) * DAY) / 1000)),
                                     "closed_at": now - rng.randrange(60 * DAY) if status != "open" else None})
        out["opportunity_stages"].append({"id": f"st-{i:06d}-0", "opportunity_id": oid, "from_stage": None,
                                          "to_stage": "needs_confirmed", "direction": "initial", "actor_id": owner, "at": created})
        out["opportunity_stages"].append({"id": f"st-{i:06d}-1", "opportunity_id": oid, "from_stage": "needs_confirmed",
                                          "to_stage": stage, "direction": "forward" if i % 9 else "backward",
                                          "secs_in_stage": 86_400, "actor_id": owner, "at": created + DAY})
    for i in range(args.work_orders):
        created = now - rng.randrange(90 * DAY)
        resolved = created + rng.randrange(3 * DAY) if i % 3 else None
        out["work_orders"].append({"id": f"wo-{i:06d}", "number": f"WO-B-{i:06d}", "type": "repair",
                                   "status": "closed" if resolved else "on_site", "account_id": accounts[i % len(accounts)],
                                   "priority": "P3", "channel": "api", "routing": "null", "paused_secs": 0,
                                   "step_data": "{}", "created_by": reps[0][0], "version": 1, "created_at": created,
                                   "updated_at": created, "team_id": reps[i % len(reps)][1],
                                   "response_due_at": created + 3_600_000, "accepted_at": created + rng.randrange(7_200_000),
                                   "resolution_due_at": created + 2 * DAY, "resolved_at": resolved})
    return out


def load_sqlite(path, data):
    c = sqlite3.connect(path, timeout=60)
    for table, items in data.items():
        if not items:
            continue
        cols = list(items[0].keys())
        c.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                      [tuple(r[k] for k in cols) for r in items])
    c.commit()
    c.execute("ANALYZE")
    c.close()


def load_postgres(url, data):
    for table, items in data.items():
        if not items:
            continue
        cols = list(items[0].keys())
        buf = io.StringIO()
        w = csv.writer(buf)
        for r in items:
            w.writerow(["" if r[k] is None else ("t" if r[k] is True else "f" if r[k] is False else r[k]) for k in cols])
        subprocess.run(["psql", url, "-q", "-c", f"\\copy {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)"],
                       input=buf.getvalue().encode(), check=True)
    # As after any bulk load: vacuumed now, so the insert-triggered autovacuum of these
    # rows does not run on the two cores while the report rows are measured.
    subprocess.run(["psql", url, "-q", "-c", "VACUUM (ANALYZE)"], check=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--database", required=True)
    p.add_argument("--reps", required=True, help="owner:team,owner:team,…")
    p.add_argument("--leads", type=int, default=100_000)
    p.add_argument("--activities-per-lead", type=int, default=5)
    p.add_argument("--deals", type=int, default=10_000)
    p.add_argument("--work-orders", type=int, default=20_000)
    args = p.parse_args()
    reps = [tuple(x.split(":")) for x in args.reps.split(",")]
    data = rows(args, reps)
    started = time.time()
    if args.database.startswith("postgres"):
        load_postgres(args.database, data)
    else:
        load_sqlite(args.database, data)
    print(f"# seeded {sum(len(v) for v in data.values())} rows in {time.time() - started:.0f} s")


main()
