//! Reports over crafted records whose figures are computed by hand here, the daily digest,
//! custom fields and their dry run.

use std::sync::Arc;
use std::time::Duration;

use diesel::RunQueryDsl;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{fresh_database, raw_conn, spawn_app, spawn_with, test_settings, TestApp};

const H: i64 = 3_600_000;
const D: i64 = 24 * H;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn exec(app: &TestApp, sql: &str) {
    let mut conn = raw_conn(app);
    diesel::sql_query(sql)
        .execute(&mut *conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn future() -> String {
    (chrono::Utc::now() + chrono::Duration::days(60)).to_rfc3339()
}

async fn lead(app: &TestApp, token: &str, name: &str, source: &str, extra: Value) -> String {
    let mut body = json!({"name": name, "company": format!("{name}机械"), "phone": format!("1390000{:04}", name.len() * 97 % 9973),
                          "province": "江苏", "source": source});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.create_lead(token, body).await.id()
}

/// Logs an activity through the API, then moves its times to the crafted ones.
async fn activity(
    app: &TestApp,
    token: &str,
    on: &str,
    action: &str,
    next: &str,
    (created_at, due_at): (i64, i64),
) -> String {
    let mut body = json!({"channel": "phone", "action": action, "reached": true, "summary": format!("{action} 记录"),
                          "next_action": next, "next_action_due_at": future()});
    if matches!(action, "demo" | "quote_submitted") {
        body["evidence"] = json!([{"kind": "link", "url": "https://files.example.cn/a.pdf"}]);
    }
    let r = app.post(&format!("{on}/activities"), token, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    exec(
        app,
        &format!("UPDATE activities SET created_at = {created_at}, next_action_due_at = {due_at} WHERE id = '{id}'"),
    );
    id
}

async fn report(app: &TestApp, name: &str, token: &str, query: &str) -> Value {
    let r = app.get(&format!("/reports/{name}?{query}"), token).await;
    assert_eq!(r.status, 200, "{name}: {}", r.text);
    r.body
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[actix_web::test]
async fn lead_reports_match_a_hand_count() {
    let app = spawn_app().await;
    let east = app.create_team("华东").await;
    let west = app.create_team("华南").await;
    let (a, rep_a) = app.user("rep.a", "sales", Some(&east)).await;
    let (_b, rep_b) = app.user("rep.b", "sales", Some(&west)).await;
    let (_m, manager) = app.user("mgr.east", "manager", Some(&east)).await;

    let l1 = lead(&app, &rep_a, "赵一", "trade_show", json!({})).await;
    let l2 = lead(&app, &rep_a, "钱二二", "trade_show", json!({})).await;
    let l3 = lead(&app, &rep_a, "孙三三三", "web_form", json!({})).await;
    let l4 = lead(&app, &rep_a, "李四四四四", "web_form", json!({})).await;
    let l5 = lead(&app, &rep_b, "周五五五五五", "web_form", json!({})).await;

    let t0 = now_ms() - 5 * D;
    let s = 1000;
    // L1: a full chain, each planned action carried out (30 min late, 10 min early, on time).
    let on1 = format!("/leads/{l1}");
    activity(
        &app,
        &rep_a,
        &on1,
        "first_contact",
        "needs_discovery",
        (t0 + 600 * s, t0 + H),
    )
    .await;
    activity(
        &app,
        &rep_a,
        &on1,
        "needs_discovery",
        "demo",
        (t0 + 5400 * s, t0 + 2 * D),
    )
    .await;
    activity(
        &app,
        &rep_a,
        &on1,
        "demo",
        "quote_submitted",
        (t0 + 2 * D - 600 * s, t0 + 3 * D),
    )
    .await;
    activity(
        &app,
        &rep_a,
        &on1,
        "quote_submitted",
        "follow_up",
        (t0 + 3 * D, t0 + 4 * D),
    )
    .await;
    // L2: needs confirmed 10 h after it was due (and after 24 h).
    let on2 = format!("/leads/{l2}");
    activity(
        &app,
        &rep_a,
        &on2,
        "first_contact",
        "needs_discovery",
        (t0 + 1800 * s, t0 + 20 * H),
    )
    .await;
    activity(
        &app,
        &rep_a,
        &on2,
        "needs_discovery",
        "demo",
        (t0 + 30 * H, t0 + 4 * D),
    )
    .await;
    // L3: accepted late; needs confirmed 30 min late.
    let on3 = format!("/leads/{l3}");
    activity(
        &app,
        &rep_a,
        &on3,
        "first_contact",
        "needs_discovery",
        (t0 + 2 * H, t0 + 5 * H / 2),
    )
    .await;
    activity(
        &app,
        &rep_a,
        &on3,
        "needs_discovery",
        "follow_up",
        (t0 + 3 * H, t0 + 4 * D),
    )
    .await;

    // Logging stamped each plan as carried out when its action came; the crafted times
    // moved, so stamp them again as the migration backfills them.
    let acts = app
        .get(&format!("/leads/{l1}/activities"), &rep_a)
        .await
        .body;
    let stamped = acts["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["fulfilled_at"].is_string())
        .count();
    assert_eq!(
        stamped, 3,
        "first_contact → needs_discovery → demo → quote_submitted"
    );
    exec(
        &app,
        "UPDATE activities SET fulfilled_at = (SELECT MIN(b.created_at) FROM activities b \
                WHERE b.action = activities.next_action AND b.created_at > activities.created_at \
                AND b.lead_id = activities.lead_id) WHERE next_action IS NOT NULL",
    );
    for (id, accepted, touched, status, grade) in [
        (&l1, Some(t0 + 60 * s), Some(t0 + 600 * s), "converted", "A"),
        (
            &l2,
            Some(t0 + 120 * s),
            Some(t0 + 1800 * s),
            "assigned",
            "A",
        ),
        (&l3, Some(t0 + 30 * H), Some(t0 + 2 * H), "converted", "B"),
        (&l4, None, None, "disqualified", "C"),
        (&l5, Some(t0 + 60 * s), Some(t0 + 100 * s), "working", "A"),
    ] {
        let v = |x: Option<i64>| x.map_or("NULL".to_string(), |x| x.to_string());
        exec(
            &app,
            &format!(
                "UPDATE leads SET assigned_at = {t0}, accepted_at = {}, first_touch_at = {}, status = '{status}', \
                 grade = '{grade}' WHERE id = '{id}'",
                v(accepted),
                v(touched)
            ),
        );
    }

    // The manager sees the four leads of their team.
    let r = report(&app, "lead-response", &manager, "").await;
    assert_eq!(r["leads_assigned"], 4, "{r}");
    assert_eq!(r["first_touch_count"], 3);
    // 600, 1800, 7200 s: median = 2nd, p90 = 3rd by nearest rank.
    assert_eq!(r["first_touch_median_secs"], 1800);
    assert_eq!(r["first_touch_p90_secs"], 7200);
    // Only L1 was accepted, touched and had its needs confirmed within 24 h.
    assert_eq!(r["action_completion_24h_leads"], 4);
    assert_eq!(r["action_completion_24h_completed"], 1);
    assert!(close(&r["action_completion_24h_rate"], 0.25), "{r}");
    // The director sees all five: 100, 600, 1800, 7200 s.
    let (_, director) = app.user("boss", "director", None).await;
    let all = report(&app, "lead-response", &director, "").await;
    assert_eq!(all["first_touch_median_secs"], 600, "{all}");
    assert_eq!(all["first_touch_p90_secs"], 7200);
    // Filters narrow further; a rep sees only their own.
    let west_only = report(&app, "lead-response", &director, &format!("team_id={west}")).await;
    assert_eq!(west_only["leads_assigned"], 1);
    assert_eq!(west_only["first_touch_median_secs"], 100);
    let own = report(&app, "lead-response", &rep_b, "").await;
    assert_eq!(own["leads_assigned"], 1);
    let none = report(&app, "lead-response", &rep_b, &format!("owner_id={a}")).await;
    assert_eq!(none["leads_assigned"], 0);
    assert_eq!(none["first_touch_median_secs"], Value::Null);
    // A period before any of it.
    let before = chrono::DateTime::from_timestamp_millis(t0 - D)
        .unwrap()
        .to_rfc3339();
    let early = report(
        &app,
        "lead-response",
        &manager,
        &format!("to={}", before.replace('+', "%2B")),
    )
    .await;
    assert_eq!(early["leads_assigned"], 0);

    let f = report(&app, "lead-funnel", &manager, "").await;
    assert_eq!(f["total"], 4, "{f}");
    assert_eq!(f["by_status"]["assigned"], 1);
    assert_eq!(f["by_status"]["converted"], 2);
    assert_eq!(f["by_status"]["disqualified"], 1);
    assert_eq!(f["by_status"]["working"], 0);
    assert_eq!(f["by_source"], json!({"trade_show": 2, "web_form": 2}));
    assert_eq!(f["assigned"], 4);
    assert!(close(&f["conversion_rate"], 0.5));
    let grades = f["by_grade"].as_array().unwrap();
    let grade = |g: &str| grades.iter().find(|x| x["grade"] == g).unwrap().clone();
    assert_eq!(
        (grade("A")["leads"].clone(), grade("A")["converted"].clone()),
        (json!(2), json!(1))
    );
    assert!(close(&grade("B")["conversion_rate"], 1.0));
    assert!(close(&grade("C")["conversion_rate"], 0.0));

    let x = report(&app, "actions", &manager, "").await;
    // Accepted within the claim window: L1, L2, L3 of 4.
    assert_eq!(
        (
            x["required_action_leads"].clone(),
            x["required_action_covered"].clone()
        ),
        (json!(4), json!(3)),
        "{x}"
    );
    assert!(close(&x["required_action_coverage"], 0.75));
    // Planned → done: +1800, −600, 0 (L1), +36000 (L2), +1800 (L3) → mean 7800 s.
    assert_eq!(x["key_actions_fulfilled"], 5);
    assert_eq!(x["key_action_timeliness_secs"], 7800);
    // Converted: L1 (full chain) and L3 (no demo, no quote).
    assert_eq!(x["converted_leads"], 2);
    assert!(close(&x["action_chain_completeness"], 0.5));
    // 8 activities on 3 leads over the default 30 days.
    assert_eq!(x["activities"], 8);
    assert_eq!(x["touched_leads"], 3);
    assert!(close(&x["trace_density"], 8.0 / 3.0), "{x}");
    assert_eq!(x["open_leads"], 1);
    assert!(close(&x["leads_per_rep"], 1.0));

    // Bad parameters are 422s naming them.
    app.get("/reports/actions?from=yesterday", &manager)
        .await
        .assert_problem(422, "validation_failed");
    app.get(
        "/reports/actions?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
        &manager,
    )
    .await
    .assert_problem(422, "validation_failed");
    let (_, engineer) = app.user("eng", "engineer", None).await;
    app.get("/reports/lead-funnel", &engineer)
        .await
        .assert_problem(403, "forbidden");
}

#[actix_web::test]
async fn lapsed_claims_make_breaches_and_late_responders() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (a, _) = app.user("late.a", "sales", Some(&team)).await;
    let (b, _) = app.user("late.b", "sales", Some(&team)).await;
    let r = app
        .post(
            "/assignment-rules",
            &app.admin,
            json!({"name": "快速", "priority": 1, "pool": {"user_ids": [a, b]}, "strategy": "round_robin",
                   "claim_timeout_secs": 1, "max_reassignments": 1}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut ids = Vec::new();
    for i in 0..4 {
        let body = json!({"name": format!("无人领{i}"), "company": format!("恒锐{i}号精工"), "phone": format!("1380013{i:04}"),
                          "email": format!("buyer{i}@hengrui{i}.cn"), "province": "江苏", "industry": "机械制造",
                          "title": "采购经理", "budget_cents": 50000000, "source": "trade_show"});
        ids.push(app.create_lead(&app.admin, body).await.id());
    }
    // Each lead lapses with both reps: re-assigned once, then escalated.
    for _ in 0..150 {
        let esc = app.get("/events?types=lead.escalated", &app.admin).await;
        if esc.body["items"].as_array().unwrap().len() == 4 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let r = report(&app, "lead-response", &app.admin, "").await;
    assert_eq!(r["claim_breaches"], 8, "{r}");
    assert_eq!(r["reassignments"], 4);
    assert_eq!(r["escalations"], 4);
    let h = report(&app, "lead-health-daily", &app.admin, "").await;
    let late = h["late_responders"].as_array().unwrap();
    assert_eq!(late.len(), 2, "{h}");
    for l in late {
        assert_eq!(l["late_responses"], 4);
        assert_eq!(l["claim_lapses"], 4);
        assert!(l["display_name"].is_string());
    }
    // Charged to the rep who let it lapse.
    let only_a = report(&app, "lead-response", &app.admin, &format!("owner_id={a}")).await;
    assert_eq!(only_a["claim_breaches"], 4);
    // Escalated leads sit in the queue: no stalled lead in a rep's hands.
    assert_eq!(h["stalled_top10"], json!([]));
}

#[actix_web::test]
async fn stalled_leads_are_the_longest_idle_in_reps_hands() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (_, rep) = app.user("idle.rep", "sales", Some(&team)).await;
    let now = now_ms();
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(
            lead(
                &app,
                &rep,
                &format!("闲置{}", "置".repeat(i)),
                "web_form",
                json!({}),
            )
            .await,
        );
    }
    // Lead i was last touched i days ago (or, without activities, assigned then).
    for (i, id) in ids.iter().enumerate() {
        exec(
            &app,
            &format!(
                "UPDATE leads SET assigned_at = {} WHERE id = '{id}'",
                now - i as i64 * D
            ),
        );
    }
    activity(
        &app,
        &rep,
        &format!("/leads/{}", ids[0]),
        "first_contact",
        "needs_discovery",
        (now - 20 * D, now),
    )
    .await;
    let h = report(&app, "lead-health-daily", &rep, "").await;
    let top: Vec<&str> = h["stalled_top10"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["lead_id"].as_str().unwrap())
        .collect();
    // Lead 0 (activity 20 days ago) first, then 11, 10, … 3.
    let mut want = vec![ids[0].as_str()];
    want.extend((3..12).rev().map(|i| ids[i].as_str()));
    assert_eq!(top, want, "{h}");
    assert_eq!(h["stalled_top10"][0]["activities"], 1);
    assert!(h["stalled_top10"][0]["idle_secs"].as_i64().unwrap() >= 20 * 86_400);
}

#[actix_web::test]
async fn pipeline_and_service_reports_match_a_hand_count() {
    let app = spawn_app().await;
    let east = app.create_team("华东").await;
    let (rep_id, rep) = app.user("deal.rep", "sales", Some(&east)).await;
    let acc = app
        .post(
            "/accounts",
            &app.admin,
            json!({"name": "恒锐精工", "owner_id": rep_id}),
        )
        .await;
    assert_eq!(acc.status, 201, "{}", acc.text);
    let account = acc.id();
    let mut opp = Vec::new();
    for (name, amount) in [
        ("一号线", 1_000_000),
        ("二号线", 2_000_000),
        ("三号线", 500_000),
        ("四号线", 300_000),
    ] {
        let r = app
            .post(
                "/opportunities",
                &rep,
                json!({"account_id": account, "name": name, "amount_cents": amount}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        opp.push(r.id());
    }
    let now = now_ms();
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d")
            .to_string()
    };
    exec(
        &app,
        &format!(
            "UPDATE opportunities SET stage = 'solution_demo', probability = 30 WHERE id = '{}'",
            opp[0]
        ),
    );
    exec(&app, &format!(
        "UPDATE opportunities SET stage = 'quote_approval', probability = 50, stalled = TRUE, stage_entered_at = {}, \
         created_at = {}, expected_close_date = '{}' WHERE id = '{}'", now - 10 * D, now - 40 * D, day(now - D), opp[1]));
    exec(&app, &format!(
        "UPDATE opportunities SET stage = 'payment_tracking', probability = 100, status = 'won', closed_at = {}, \
         created_at = {}, expected_close_date = '{}' WHERE id = '{}'", now - D, now - 40 * D, day(now - 2 * D), opp[2]));
    // The history: initial rows moved back 40 days for the two older deals, then moves.
    for o in [&opp[1], &opp[2]] {
        exec(
            &app,
            &format!(
                "UPDATE opportunity_stages SET at = {} WHERE opportunity_id = '{o}'",
                now - 40 * D
            ),
        );
    }
    let stage = |o: &str, from: &str, to: &str, dir: &str, at: i64, secs: i64| {
        format!(
            "INSERT INTO opportunity_stages (id, opportunity_id, from_stage, to_stage, direction, reason, from_entered_at, \
             secs_in_stage, actor_id, at) VALUES ('{}', '{o}', '{from}', '{to}', '{dir}', NULL, {}, {secs}, 'test', {at})",
            uuid::Uuid::now_v7(),
            at - secs * 1000
        )
    };
    exec(
        &app,
        &stage(
            &opp[2],
            "needs_confirmed",
            "quote_approval",
            "forward",
            now - 35 * D,
            5 * 86_400,
        ),
    );
    exec(
        &app,
        &stage(
            &opp[0],
            "needs_confirmed",
            "solution_demo",
            "forward",
            now - 3 * D,
            172_800,
        ),
    );
    exec(
        &app,
        &stage(
            &opp[1],
            "needs_confirmed",
            "solution_demo",
            "forward",
            now - 20 * D,
            86_400,
        ),
    );
    exec(
        &app,
        &stage(
            &opp[1],
            "solution_demo",
            "quote_approval",
            "forward",
            now - 10 * D,
            864_000,
        ),
    );
    exec(
        &app,
        &stage(
            &opp[2],
            "quote_approval",
            "solution_demo",
            "backward",
            now - 15 * D,
            3_600,
        ),
    );
    // Gated actions: one demo with evidence, one (legacy) without.
    let path = format!("/opportunities/{}", opp[0]);
    let with = activity(
        &app,
        &rep,
        &path,
        "demo",
        "quote_submitted",
        (now - D, now + D),
    )
    .await;
    let without = activity(
        &app,
        &rep,
        &path,
        "demo",
        "quote_submitted",
        (now - D, now + D),
    )
    .await;
    assert_ne!(with, without);
    exec(
        &app,
        &format!("UPDATE activities SET evidence = '[]' WHERE id = '{without}'"),
    );

    let p = report(&app, "pipeline", &rep, "").await;
    // Open: 1,000,000 × 30 % + 2,000,000 × 50 % + 300,000 × 10 %.
    assert_eq!(p["weighted_forecast_cents"], 1_330_000, "{p}");
    assert_eq!(p["open_deals"], 3);
    let st = |k: &str| {
        p["by_stage"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(st("quote_approval")["count"], 1);
    assert_eq!(st("quote_approval")["amount_cents"], 2_000_000);
    assert_eq!(st("needs_confirmed")["exits"], 2);
    assert!(close(&st("needs_confirmed")["mean_days_in_stage"], 1.5));
    assert!(close(&st("solution_demo")["mean_days_in_stage"], 10.0));
    assert_eq!(p["stage_changes"], 4);
    assert_eq!(p["regressions"], 1);
    assert!(close(&p["stage_regression_rate"], 0.25));
    assert_eq!(p["stalled"].as_array().unwrap().len(), 1);
    assert_eq!(p["stalled"][0]["id"], opp[1].as_str());
    assert!((p["stalled"][0]["days_in_stage"].as_f64().unwrap() - 10.0).abs() < 0.01);
    assert_eq!(
        (
            p["gated_actions"].clone(),
            p["gated_actions_with_evidence"].clone()
        ),
        (json!(2), json!(1))
    );
    assert!(close(&p["evidence_completeness"], 0.5));
    // At the start: 三号线 in quote_approval (50 %), 二号线 in needs_confirmed (10 %).
    assert_eq!(p["forecast_at_start_cents"], 450_000);
    assert_eq!(p["won_cents"], 500_000);
    assert!(close(&p["forecast_deviation"], 50_000.0 / 450_000.0), "{p}");

    // Service: five orders, crafted outcomes.
    let west = app.create_team("华南").await;
    let mut wo = Vec::new();
    for i in 0..5 {
        let r = app
            .post(
                "/work-orders",
                &app.admin,
                json!({"type": "repair", "account_id": account, "description": format!("故障{i}")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        wo.push(r.id());
    }
    let c = now - 2 * D;
    for (id, team, status, response_due, accepted, resolution_due, resolved, paused) in [
        (
            &wo[0],
            &east,
            "closed",
            Some(c + H),
            Some(c + H / 2),
            Some(c + 10 * H),
            Some(c + 5 * H),
            0,
        ),
        (
            &wo[1],
            &east,
            "closed",
            None,
            None,
            Some(c + 2 * H),
            Some(c + 4 * H),
            3600,
        ),
        (&wo[2], &west, "on_site", None, None, Some(now - H), None, 0),
        (&wo[3], &west, "new", None, None, Some(now + 5 * H), None, 0),
        (&wo[4], &west, "cancelled", None, None, Some(c + H), None, 0),
    ] {
        let v = |x: Option<i64>| x.map_or("NULL".to_string(), |x| x.to_string());
        exec(&app, &format!(
            "UPDATE work_orders SET team_id = '{team}', status = '{status}', created_at = {c}, response_due_at = {}, \
             accepted_at = {}, resolution_due_at = {}, resolved_at = {}, paused_secs = {paused} WHERE id = '{id}'",
            v(response_due), v(accepted), v(resolution_due), v(resolved)));
    }
    let s = report(&app, "service", &app.admin, "").await;
    assert_eq!(s["created"], 5, "{s}");
    assert_eq!(s["closed"], 2);
    assert!(close(&s["closure_rate"], 0.4));
    // Known outcome: #0 (met), #1 (late), #2 (overdue); #3 still running, #4 cancelled.
    assert_eq!(s["with_deadline"], 3);
    assert_eq!(s["sla_met"], 1);
    assert!(close(&s["sla_compliance_rate"], 1.0 / 3.0));
    // (5 h + (4 h − 1 h paused)) / 2.
    assert_eq!(s["mttr_secs"], 4 * 3600);
    let team = |t: &str| {
        s["by_team"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["team_id"] == t)
            .unwrap()
            .clone()
    };
    assert!(close(&team(&east)["closure_rate"], 1.0));
    assert_eq!(team(&west)["created"], 3);
    assert_eq!(team(&west)["mttr_secs"], Value::Null);
    let only_west = report(&app, "service", &app.admin, &format!("team_id={west}")).await;
    assert_eq!(only_west["created"], 3);
    app.get("/reports/service", &rep)
        .await
        .assert_problem(403, "forbidden");
}

#[actix_web::test]
async fn data_health_counts_duplicates_and_filled_fields() {
    let app = spawn_app().await;
    for (name, phone, email) in [
        ("甲", "13900001111", Some("a@hengrui.cn")),
        ("乙", "13900001111", None),
        ("丙", "13900002222", Some("c@other.cn")),
        ("丁", "13900003333", None),
    ] {
        let mut body = json!({"name": name, "phone": phone, "source": "web_form"});
        if let Some(e) = email {
            body["email"] = json!(e);
        }
        if name == "甲" {
            body["custom"] = json!({"region": "华东"});
        }
        app.create_lead(&app.admin, body).await;
    }
    for name in ["恒锐精工", "恒锐精工", "华东机床"] {
        let r = app
            .post("/accounts", &app.admin, json!({"name": name}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let f = app
        .post(
            "/custom-fields",
            &app.admin,
            json!({"entity": "lead", "key": "region", "label": "大区", "type": "text"}),
        )
        .await;
    assert_eq!(f.status, 201, "{}", f.text);
    let h = report(&app, "data-health", &app.admin, "").await;
    assert_eq!(h["duplicate_leads"], 1, "{h}");
    assert_eq!(h["duplicate_accounts"], 1);
    assert_eq!(h["records"]["lead"], 4);
    assert!(close(&h["field_completeness"]["lead"]["phone"], 1.0));
    assert!(close(&h["field_completeness"]["lead"]["email"], 0.5));
    assert!(close(
        &h["field_completeness"]["lead"]["custom.region"],
        0.25
    ));
    assert!(close(&h["field_completeness"]["account"]["uscc"], 0.0));
    assert_eq!(h["field_completeness"]["contact"]["phone"], Value::Null);
    assert!(h["period"].get("from").is_none());
}

/// Waits until the change feed holds `n` events of `types`.
async fn wait_events(app: &TestApp, token: &str, types: &str, n: usize) -> Vec<Value> {
    let mut items = Vec::new();
    for _ in 0..100 {
        let r = app
            .get(&format!("/events?types={types}&limit=500"), token)
            .await;
        items = r.body["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= n {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    items
}

#[actix_web::test]
async fn the_daily_digest_goes_out_once_per_team_and_day() {
    let tz = chrono_tz::Asia::Shanghai;
    let at = chrono::NaiveTime::from_hms_opt(8, 30, 0).unwrap();
    let tomorrow = chrono::Utc::now().with_timezone(&tz).date_naive() + chrono::Days::new(1);
    let before = tomorrow
        .and_hms_opt(8, 29, 50)
        .unwrap()
        .and_local_timezone(tz)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let clock = Arc::new(crmflow::clock::SystemClock::default());
    clock.advance((before - chrono::Utc::now()).num_seconds());
    let app = crate::helpers::spawn_with_clock(clock.clone(), |s| s.digest = Some((at, tz))).await;
    let east = app.create_team("华东").await;
    let _west = app.create_team("华南").await;
    let (_, rep) = app.user("digest.rep", "sales", Some(&east)).await;
    let id = lead(&app, &rep, "晨会", "web_form", json!({})).await;
    actix_web::rt::time::sleep(Duration::from_millis(800)).await;
    assert!(
        wait_events(&app, &app.admin, "report.lead_health_daily", 0)
            .await
            .is_empty(),
        "not before 08:30"
    );

    clock.advance(20);
    let sent = wait_events(&app, &app.admin, "report.lead_health_daily", 2).await;
    assert_eq!(sent.len(), 2);
    let day = tomorrow.format("%Y-%m-%d").to_string();
    let mine = sent
        .iter()
        .find(|e| e["data"]["team_id"] == east.as_str())
        .unwrap();
    assert_eq!(mine["data"]["day"], day.as_str());
    assert_eq!(mine["data"]["time_zone"], "Asia/Shanghai");
    assert_eq!(
        mine["data"]["report"]["stalled_top10"][0]["lead_id"],
        id.as_str()
    );
    actix_web::rt::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        wait_events(&app, &app.admin, "report.lead_health_daily", 3)
            .await
            .len(),
        2,
        "once per day"
    );

    // A restart the same morning sends nothing again.
    let mut app = app;
    let admin = app.admin.clone();
    app.stop.take().unwrap().stop().await;
    let again = crate::helpers::spawn_on_with_clock(app.database_url.clone(), clock.clone(), |s| {
        s.digest = Some((at, tz))
    })
    .await;
    actix_web::rt::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        wait_events(&again, &admin, "report.lead_health_daily", 3)
            .await
            .len(),
        2,
        "across restarts"
    );
    // The next morning, once more per team.
    clock.advance(24 * 3600);
    assert_eq!(
        wait_events(&again, &admin, "report.lead_health_daily", 4)
            .await
            .len(),
        4
    );
}

async fn with_agent(
    app: &TestApp,
    token: &str,
    agent: &str,
    path: &str,
    body: Value,
) -> crate::helpers::Resp {
    app.send(Method::POST, path, token, body, &[("user-agent", agent)])
        .await
}

#[actix_web::test]
async fn custom_fields_are_validated_and_dry_run_tells_what_a_change_breaks() {
    let app = spawn_app().await;
    let key = app
        .post("/api-keys", &app.admin, json!({"name": "erp-sync"}))
        .await;
    let erp = key.body["token"].as_str().unwrap().to_string();
    let (_, rep) = app.user("field.rep", "sales", None).await;
    let body = |name: &str, custom: Value| json!({"name": name, "phone": "13900007777", "source": "web_form", "custom": custom});
    // Before any definition `custom{}` is free-form.
    let old = with_agent(
        &app,
        &rep,
        "FieldApp/3.1 (iOS)",
        "/leads",
        body("老客户", json!({"region": "华北", "legacy": 1})),
    )
    .await;
    assert_eq!(old.status, 201, "{}", old.text);
    for i in 0..3 {
        let r = app
            .post("/leads", &erp, body(&format!("同步{i}"), json!({})))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let ok = with_agent(
        &app,
        &rep,
        "FieldApp/3.2 (Android)",
        "/leads",
        body("有大区", json!({"region": "华东"})),
    )
    .await;
    assert_eq!(ok.status, 201);
    let missing = with_agent(
        &app,
        &rep,
        "FieldApp/3.2 (Android)",
        "/leads",
        body("没大区", json!({})),
    )
    .await;
    assert_eq!(missing.status, 201);

    let def = json!({"entity": "lead", "key": "region", "label": "大区", "type": "enum", "options": ["华东", "华南"], "required": true});
    let dry = app
        .post("/custom-fields/dry-run", &app.admin, def.clone())
        .await;
    assert_eq!(dry.status, 200, "{}", dry.text);
    let d = &dry.body;
    assert_eq!(d["change"], "create");
    // 华北 is not an option; four leads have no region.
    assert_eq!(d["violating_records"], 5, "{d}");
    assert_eq!(d["sample_ids"].as_array().unwrap().len(), 5);
    assert_eq!(d["recent_writes_checked"], 6);
    assert_eq!(
        d["recent_writes_rejected"],
        json!([{"client": "api_key:erp-sync", "count": 3},
               {"client": "user_agent:FieldApp/3.1 (iOS)", "count": 1},
               {"client": "user_agent:FieldApp/3.2 (Android)", "count": 1}])
    );
    assert_eq!(d["applies_to_existing_records"], false);
    assert!(d["notice"].as_str().unwrap().contains("backfilled"));
    assert_eq!(
        app.get("/custom-fields", &rep).await.body,
        json!([]),
        "a dry run saves nothing"
    );

    app.post("/custom-fields", &rep, def.clone())
        .await
        .assert_problem(403, "forbidden");
    let created = app.post("/custom-fields", &app.admin, def.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(created.body["notice"].is_string());
    app.post("/custom-fields", &app.admin, def.clone())
        .await
        .assert_problem(409, "duplicate");
    let bad = app
        .post("/custom-fields", &app.admin, json!({"entity": "lead", "key": "Bad-Key", "label": "", "type": "text", "options": ["x"]}))
        .await;
    bad.assert_problem(422, "validation_failed");
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["key", "label", "options"]);
    app.post(
        "/custom-fields",
        &app.admin,
        json!({"entity": "invoice", "key": "x", "label": "x", "type": "text"}),
    )
    .await
    .assert_problem(422, "validation_failed");

    // Strict from now on.
    let err = |r: &crate::helpers::Resp| {
        (
            r.body["errors"][0]["field"].clone(),
            r.body["errors"][0]["code"].clone(),
        )
    };
    let r = app.post("/leads", &rep, body("缺大区", json!({}))).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(err(&r), (json!("custom.region"), json!("required")));
    let r = app
        .post("/leads", &rep, body("错大区", json!({"region": "西北"})))
        .await;
    assert_eq!(err(&r), (json!("custom.region"), json!("invalid_option")));
    let r = app
        .post(
            "/leads",
            &rep,
            body("多字段", json!({"region": "华东", "legacy": 2})),
        )
        .await;
    assert_eq!(err(&r), (json!("custom.legacy"), json!("unknown_field")));
    let r = app
        .post("/leads", &rep, body("对的", json!({"region": "华南"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // A record from before the field is editable; removing a required value is not.
    let path = format!("/leads/{}", old.id());
    let r = app.patch(&path, &rep, json!({"notes": "回访"}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch(
            &format!("/leads/{}", ok.id()),
            &rep,
            json!({"custom": {}}),
            None,
        )
        .await;
    assert_eq!(err(&r), (json!("custom.region"), json!("required")));

    // Narrowing the options: the dry run counts the stored 华东 leads.
    let narrow = json!({"entity": "lead", "key": "region", "label": "大区", "type": "enum", "options": ["华南"], "required": false});
    let d = app
        .post("/custom-fields/dry-run", &app.admin, narrow)
        .await
        .body;
    assert_eq!(d["change"], "update");
    // 华北 (old) and 华东 (ok) break it; missing values are fine when not required.
    assert_eq!(d["violating_records"], 2, "{d}");

    // Types on another entity, and routing on a custom value.
    let hours = app
        .post("/custom-fields", &app.admin, json!({"entity": "work_order", "key": "downtime_hours", "label": "停机小时", "type": "number"}))
        .await;
    assert_eq!(hours.status, 201, "{}", hours.text);
    let team = app.create_team("急修组").await;
    let rr = app
        .post(
            "/routing-rules",
            &app.admin,
            json!({"name": "停机久", "priority": 1, "team_id": team,
              "conditions": [{"field": "custom.downtime_hours", "op": "gte", "value": 2}]}),
        )
        .await;
    assert_eq!(rr.status, 201, "{}", rr.text);
    let account = app
        .post("/accounts", &app.admin, json!({"name": "停机客户"}))
        .await
        .id();
    let wo = |v: Value| json!({"type": "repair", "account_id": account, "custom": {"downtime_hours": v}});
    let r = app.post("/work-orders", &app.admin, wo(json!("3"))).await;
    assert_eq!(
        err(&r),
        (json!("custom.downtime_hours"), json!("invalid_type"))
    );
    let r = app.post("/work-orders", &app.admin, wo(json!(3))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["team_id"], team.as_str());
    assert_eq!(r.body["custom"]["downtime_hours"], 3);

    // Edits and removal, audited as configuration.
    let id = created.id();
    let r = app
        .patch(
            &format!("/custom-fields/{id}"),
            &app.admin,
            json!({"required": false}),
            Some(1),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 2);
    app.patch(
        &format!("/custom-fields/{id}"),
        &app.admin,
        json!({"type": "text"}),
        None,
    )
    .await
    .assert_problem(422, "validation_failed");
    let r = app
        .send(
            Method::DELETE,
            &format!("/custom-fields/{id}"),
            &app.admin,
            Value::Null,
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let audit = app
        .get(
            &format!("/audit?entity=custom_field&entity_id={id}"),
            &app.admin,
        )
        .await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        3,
        "{}",
        audit.text
    );
    // No lead definitions left: free-form again.
    let r = app
        .post("/leads", &rep, body("自由", json!({"anything": true})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[actix_web::test]
async fn imports_meet_the_custom_field_rules() {
    let app = spawn_with(|_| {}).await;
    let def = json!({"entity": "lead", "key": "region", "label": "大区", "type": "enum", "options": ["华东"], "required": true});
    assert_eq!(
        app.post("/custom-fields", &app.admin, def).await.status,
        201
    );
    let def = json!({"entity": "lead", "key": "headcount", "label": "人数", "type": "number"});
    assert_eq!(
        app.post("/custom-fields", &app.admin, def).await.status,
        201
    );
    let csv = "name,phone,custom.region,custom.headcount\n张三,13900001234,华东,120\n李四,13900005678,西北,5\n";
    let res = app
        .client
        .post(app.url("/imports?entity=leads"))
        .bearer_auth(&app.admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let job: Value = res.json().await.unwrap();
    let path = format!("/imports/{}", job["id"].as_str().unwrap());
    let mut done = Value::Null;
    for _ in 0..100 {
        done = app.get(&path, &app.admin).await.body;
        if done["status"] == "completed" {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(done["succeeded"], 1, "{done}");
    assert_eq!(done["errors"][0]["row"], 2);
    assert_eq!(done["errors"][0]["field"], "custom.region");
    assert_eq!(done["errors"][0]["code"], "invalid_option");
    // The dry run knows the rows came from the admin's import.
    let d = app
        .post("/custom-fields/dry-run", &app.admin, json!({"entity": "lead", "key": "note", "label": "备注", "type": "text", "required": true}))
        .await;
    assert_eq!(
        d.body["recent_writes_rejected"],
        json!([{"client": "import:admin", "count": 1}]),
        "{}",
        d.text
    );
    // A number cell became a number.
    let leads = app.get("/leads?limit=10", &app.admin).await;
    assert_eq!(
        leads.body["items"][0]["custom"],
        json!({"region": "华东", "headcount": 120.0}),
        "{}",
        leads.text
    );
}

#[actix_web::test]
async fn rule_and_config_changes_can_be_tried_first() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (a, _) = app.user("try.a", "sales", Some(&team)).await;
    let r1 = app
        .post("/assignment-rules", &app.admin, json!({"name": "江苏", "priority": 5, "pool": {"user_ids": [a]},
              "strategy": "round_robin", "conditions": [{"field": "province", "op": "eq", "value": "江苏"}]}))
        .await;
    assert_eq!(r1.status, 201, "{}", r1.text);
    let rule = r1.id();
    for (i, province) in ["江苏", "江苏", "浙江"].iter().enumerate() {
        let body = json!({"name": format!("试{i}"), "company": format!("试验{i}厂"), "phone": format!("1370000{i:04}"),
                          "email": format!("a{i}@shiyan{i}.cn"), "province": province, "industry": "机械制造",
                          "title": "经理", "budget_cents": 50000000, "source": "trade_show"});
        app.create_lead(&app.admin, body).await;
    }
    let events_before = app
        .get("/events?types=config.changed", &app.admin)
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .len();
    let audit_before = app
        .get("/audit?entity=assignment_rule", &app.admin)
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .len();

    let zj = json!({"name": "浙江", "priority": 1, "pool": {"user_ids": [a]}, "strategy": "round_robin",
                    "conditions": [{"field": "province", "op": "eq", "value": "浙江"}]});
    let d = app
        .post("/assignment-rules?dry_run=true", &app.admin, zj)
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["dry_run"], true);
    assert_eq!(d.body["would_save"]["name"], "浙江");
    assert_eq!(d.body["impact"]["checked"], 3);
    assert_eq!(d.body["impact"]["changed"], 1, "{}", d.text);
    assert_eq!(
        d.body["impact"]["samples"][0]["before"]["rule_id"],
        Value::Null
    );
    let sh = json!({"name": "江苏", "priority": 5, "pool": {"user_ids": [a]}, "strategy": "round_robin",
                    "conditions": [{"field": "province", "op": "eq", "value": "上海"}]});
    let d = app
        .put(
            &format!("/assignment-rules/{rule}?dry_run=true"),
            &app.admin,
            sh,
        )
        .await;
    assert_eq!(d.body["impact"]["changed"], 2, "{}", d.text);
    let d = app
        .send(
            Method::DELETE,
            &format!("/assignment-rules/{rule}?dry_run=true"),
            &app.admin,
            Value::Null,
            &[],
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["impact"]["changed"], 2);
    assert_eq!(d.body["would_save"], Value::Null);
    // Nothing was saved, audited or announced.
    let rules = app.get("/assignment-rules", &app.admin).await;
    assert_eq!(rules.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(rules.body["items"][0]["version"], 1);
    assert_eq!(
        app.get("/events?types=config.changed", &app.admin)
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        events_before
    );
    assert_eq!(
        app.get("/audit?entity=assignment_rule", &app.admin)
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        audit_before
    );
    // A dry run still validates.
    app.post(
        "/assignment-rules?dry_run=true",
        &app.admin,
        json!({"name": ""}),
    )
    .await
    .assert_problem(422, "validation_failed");

    // Work orders: routing and SLA.
    let account = app
        .post("/accounts", &app.admin, json!({"name": "试验客户"}))
        .await
        .id();
    for p in ["P1", "P3"] {
        let r = app
            .post(
                "/work-orders",
                &app.admin,
                json!({"type": "repair", "account_id": account, "priority": p}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let d = app
        .post(
            "/routing-rules?dry_run=true",
            &app.admin,
            json!({"name": "全部", "priority": 1, "team_id": team,
              "conditions": [{"field": "type", "op": "eq", "value": "repair"}]}),
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(
        (
            d.body["impact"]["checked"].clone(),
            d.body["impact"]["changed"].clone()
        ),
        (json!(2), json!(2))
    );
    assert_eq!(
        d.body["impact"]["samples"][0]["after"]["team_id"],
        team.as_str()
    );
    assert_eq!(
        app.get("/routing-rules", &app.admin).await.body["items"],
        json!([])
    );
    let d = app
        .post("/sla-policies?dry_run=true", &app.admin, json!({"name": "P1", "priority": 1,
              "conditions": [{"field": "priority", "op": "eq", "value": "P1"}], "response_secs": 3600, "resolution_secs": 7200, "warn_ratio": 0.8}))
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["impact"]["changed"], 1);

    // Pipeline: raising a stage's probability moves the open deals in it.
    let opp = app
        .post(
            "/opportunities",
            &app.admin,
            json!({"account_id": account, "name": "试验线", "amount_cents": 100}),
        )
        .await;
    assert_eq!(opp.status, 201, "{}", opp.text);
    let mut pipeline = app.get("/pipeline", &app.admin).await.body;
    for k in ["version", "updated_at"] {
        pipeline.as_object_mut().unwrap().remove(k);
    }
    pipeline["stages"][0]["probability"] = json!(20);
    let d = app
        .put("/pipeline?dry_run=true", &app.admin, pipeline)
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["impact"]["changed"], 1);
    assert_eq!(d.body["impact"]["samples"][0]["after"]["probability"], 20);
    assert_eq!(
        app.get(&format!("/opportunities/{}", opp.id()), &app.admin)
            .await
            .body["probability"],
        10
    );

    // Scoring: the same model changes no grade.
    let mut model = app.get("/config/scoring", &app.admin).await.body;
    for k in ["version", "updated_at", "rescore_pending"] {
        model.as_object_mut().unwrap().remove(k);
    }
    let d = app
        .put("/config/scoring?dry_run=true", &app.admin, model)
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(
        (
            d.body["impact"]["checked"].clone(),
            d.body["impact"]["changed"].clone()
        ),
        (json!(3), json!(0))
    );
}

#[actix_web::test]
async fn reports_run_in_bounded_slots_that_are_given_back() {
    let app = spawn_with(|s| {
        s.report_concurrency = 1;
        s.report_wait = Duration::ZERO;
    })
    .await;
    let names = [
        "lead-response",
        "lead-funnel",
        "actions",
        "pipeline",
        "service",
        "data-health",
        "lead-health-daily",
    ];
    // One at a time: each finds the single slot free, also after a refused request.
    for name in names {
        report(&app, name, &app.admin, "").await;
        let bad = app
            .get(
                &format!("/reports/{name}?from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z"),
                &app.admin,
            )
            .await;
        assert_eq!(bad.status, 422, "{name}: {}", bad.text);
        report(&app, name, &app.admin, "").await;
    }
    // A burst: whoever finds the slot taken is told to retry, nobody waits or fails otherwise.
    let paths: Vec<String> = (0..12)
        .map(|i| format!("/reports/{}", names[i % names.len()]))
        .collect();
    let answers =
        futures_util::future::join_all(paths.iter().map(|p| app.get(p, &app.admin))).await;
    for r in answers {
        match r.status.as_u16() {
            200 => {}
            503 => {
                assert!(r.headers.contains_key("retry-after"), "{}", r.text);
                assert_eq!(r.body["code"], "unavailable", "{}", r.text);
            }
            other => panic!("report answered {other}: {}", r.text),
        }
    }
    report(&app, "lead-response", &app.admin, "").await;
}

#[actix_web::test]
async fn a_report_is_served_as_computed_for_its_time_to_live_per_scope_and_filters() {
    let app = spawn_with(|s| s.report_cache_ttl = Duration::from_secs(2)).await;
    let east = app.create_team("华东").await;
    let (a, rep_a) = app.user("rep.a", "sales", Some(&east)).await;
    let (_b, rep_b) = app.user("rep.b", "sales", Some(&east)).await;
    lead(&app, &rep_a, "赵一", "trade_show", json!({})).await;
    let first = report(&app, "lead-funnel", &app.admin, "").await;
    assert_eq!(first["total"], 1, "{first}");
    lead(&app, &rep_b, "钱二二", "web_form", json!({})).await;

    // The same request within the time to live: the figures as computed, dated by period.to.
    let again = report(&app, "lead-funnel", &app.admin, "").await;
    assert_eq!(again, first);
    // Another row scope, other filters or another period are requests of their own.
    let own = report(&app, "lead-funnel", &rep_b, "").await;
    assert_eq!(
        own["total"], 1,
        "a rep never sees the figures cached for the admin: {own}"
    );
    let by_owner = report(&app, "lead-funnel", &app.admin, &format!("owner_id={a}")).await;
    assert_eq!(by_owner["total"], 1, "{by_owner}");
    let to = (chrono::Utc::now() + chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let bounded = report(&app, "lead-funnel", &app.admin, &format!("to={to}")).await;
    assert_eq!(bounded["total"], 2, "{bounded}");
    let response = report(&app, "lead-response", &app.admin, "").await;
    assert!(
        response.get("leads_assigned").is_some(),
        "each report has its own entry: {response}"
    );

    // Past the time to live the report is computed again.
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    let later = report(&app, "lead-funnel", &app.admin, "").await;
    assert_eq!(later["total"], 2, "{later}");
    assert_ne!(later["period"]["to"], first["period"]["to"]);
}

/// The use-case layer on a migrated database, without the HTTP app (to drive
/// `Services::report` directly).
async fn services_on(settings: &crmflow::config::Settings) -> crmflow::service::Services {
    let opened = settings.clone();
    let db = actix_web::rt::task::spawn_blocking(move || crmflow::startup::open_database(&opened))
        .await
        .unwrap()
        .unwrap();
    crmflow::startup::services(
        settings,
        db,
        Arc::new(crmflow::clock::SystemClock::default()),
    )
    .unwrap()
}

#[actix_web::test]
async fn a_report_its_caller_gave_up_on_keeps_its_slot_until_the_query_ends() {
    for cache_secs in [0, 30] {
        let (url, _dir) = fresh_database();
        let mut settings = test_settings(&url);
        settings.report_concurrency = 1;
        settings.report_wait = Duration::ZERO;
        settings.report_cache_ttl = Duration::from_secs(cache_secs);
        let svc = services_on(&settings).await;
        let (finish, finished) = std::sync::mpsc::channel::<()>();
        let slow = svc.report("slow".into(), move |_| {
            finished.recv().ok();
            Ok(1)
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(100), slow)
                .await
                .is_err(),
            "the caller gives up while the query runs"
        );
        let refused = svc.report("other".into(), |_| Ok(2)).await.unwrap_err();
        assert_eq!(
            refused.code, "unavailable",
            "cache {cache_secs} s: the query still holds the slot"
        );
        finish.send(()).unwrap();
        let mut answer = None;
        for _ in 0..100 {
            if let Ok(v) = svc.report("other".into(), |_| Ok(2)).await {
                answer = Some(*v);
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            answer,
            Some(2),
            "cache {cache_secs} s: the slot comes back when the query ends"
        );
    }
}

#[actix_web::test]
async fn a_report_asked_for_steadily_is_computed_anew_while_its_figures_still_serve() {
    let (url, _dir) = fresh_database();
    let mut settings = test_settings(&url);
    settings.report_cache_ttl = Duration::from_secs(2);
    let svc = services_on(&settings).await;
    assert_eq!(*svc.report("k".into(), |_| Ok(1)).await.unwrap(), 1);

    // Past half the time to live: answered at once with the figures in place while newer
    // ones are computed (this computation waits until the test lets it finish).
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    let (finish, finished) = std::sync::mpsc::channel::<()>();
    let answered = tokio::time::timeout(
        Duration::from_millis(500),
        svc.report("k".into(), move |_| {
            finished.recv().ok();
            Ok(2)
        }),
    )
    .await
    .expect("the request does not wait for the new figures");
    assert_eq!(*answered.unwrap(), 1);
    // One computation in the background: meanwhile the figures in place serve.
    assert_eq!(*svc.report("k".into(), |_| Ok(99)).await.unwrap(), 1);
    finish.send(()).unwrap();
    let mut newer = None;
    for _ in 0..100 {
        let v = *svc.report("k".into(), |_| Ok(99)).await.unwrap();
        if v != 1 {
            newer = Some(v);
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(newer, Some(2), "the new figures replace the old ones");
}
