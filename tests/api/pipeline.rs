use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_with, TestApp};

/// A sales team with a manager, two reps and an account owned by the first rep.
struct Team {
    manager: String,
    rep: String,
    rep_id: String,
    other_rep: String,
    other_rep_id: String,
    director: String,
    account: String,
}

async fn team(app: &TestApp) -> Team {
    let team = app.create_team("华东").await;
    let (_, manager) = app.user("east.boss", "manager", Some(&team)).await;
    let (rep_id, rep) = app.user("east.rep", "sales", Some(&team)).await;
    let (other_rep_id, other_rep) = app.user("east.other", "sales", Some(&team)).await;
    let (_, director) = app.user("boss", "director", None).await;
    let a = app
        .post("/accounts", &rep, json!({"name": "苏州恒锐精工有限公司"}))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    Team {
        manager,
        rep,
        rep_id,
        other_rep,
        other_rep_id,
        director,
        account: a.id(),
    }
}

async fn deal(app: &TestApp, t: &Team, body: Value) -> Value {
    let mut b = json!({"account_id": t.account, "name": "激光焊接产线"});
    for (k, v) in body.as_object().unwrap() {
        b[k] = v.clone();
    }
    let r = app.post("/opportunities", &t.rep, b).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn post_if(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
    version: i64,
) -> crate::helpers::Resp {
    let etag = format!("\"{version}\"");
    app.send(
        Method::POST,
        path,
        token,
        body,
        &[("if-match", etag.as_str())],
    )
    .await
}

/// Saves the pipeline in force after `edit` (as admin).
async fn edit_pipeline(app: &TestApp, edit: impl FnOnce(&mut Value)) {
    let mut p = pipeline_body(app).await;
    edit(&mut p);
    let r = app.put("/pipeline", &app.admin, p).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// The pipeline in force as a PUT body.
async fn pipeline_body(app: &TestApp) -> Value {
    let mut p = app.get("/pipeline", &app.admin).await.body;
    for k in ["version", "updated_at"] {
        p.as_object_mut().unwrap().remove(k);
    }
    p
}

fn due() -> String {
    (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339()
}

fn missing_of(r: &crate::helpers::Resp) -> Vec<String> {
    r.body["missing"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|m| m["requirement"].as_str().unwrap().to_string())
        .collect()
}

async fn events_of(app: &TestApp, types: &str) -> Vec<Value> {
    app.get(&format!("/events?types={types}&limit=500"), &app.admin)
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[actix_web::test]
async fn the_pipeline_is_data_validated_and_versioned() {
    let app = spawn_app().await;
    let t = team(&app).await;
    let p = app.get("/pipeline", &t.rep).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["version"], 0);
    let stages: Vec<(&str, i64)> = p.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap(),
                s["probability"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        vec![
            ("needs_confirmed", 10),
            ("solution_demo", 30),
            ("quote_approval", 50),
            ("contract_signing", 80),
            ("payment_tracking", 100)
        ]
    );
    let body = pipeline_body(&app).await;
    app.put("/pipeline", &t.director, body.clone())
        .await
        .assert_problem(403, "forbidden");

    let mut bad = body.clone();
    bad["stages"][1]["key"] = json!("needs_confirmed");
    bad["stages"][3]["probability"] = json!(40);
    let r = app.put("/pipeline", &app.admin, bad).await;
    r.assert_problem(422, "validation_failed");
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["stages[1].key", "stages[3].probability"]);
    let mut unknown = body.clone();
    unknown["stages"][0]["exit_requirements"] = json!([{"kind": "horoscope"}]);
    app.put("/pipeline", &app.admin, unknown)
        .await
        .assert_problem(422, "validation_failed");

    let mut cheaper = body.clone();
    cheaper["quote_discount_approval_pct"] = json!(15);
    let saved = app.put("/pipeline", &app.admin, cheaper.clone()).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(saved.body["version"], 1);
    assert_eq!(saved.header("etag").as_deref(), Some("\"1\""));
    let etag = "\"0\"";
    let stale = app
        .send(
            Method::PUT,
            "/pipeline",
            &app.admin,
            cheaper,
            &[("if-match", etag)],
        )
        .await;
    stale.assert_problem(412, "version_mismatch");
    let changed = events_of(&app, "config.changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["data"]["key"], "pipeline");

    // A stage that holds an open deal cannot be removed.
    deal(&app, &t, json!({})).await;
    let mut fewer = body.clone();
    fewer["stages"].as_array_mut().unwrap().remove(0);
    app.put("/pipeline", &app.admin, fewer)
        .await
        .assert_problem(409, "conflict");
}

#[actix_web::test]
async fn opportunities_are_scoped_validated_and_versioned() {
    let app = spawn_app().await;
    let t = team(&app).await;
    let o = deal(
        &app,
        &t,
        json!({"amount_cents": 120000000, "expected_close_date": "2027-03-31"}),
    )
    .await;
    let id = o["id"].as_str().unwrap();
    assert_eq!(o["stage"], "needs_confirmed");
    assert_eq!(o["probability"], 10);
    assert_eq!(o["status"], "open");
    assert_eq!(o["owner_id"], t.rep_id.as_str());
    let path = format!("/opportunities/{id}");
    app.get(&path, &t.other_rep)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.get(&path, &t.manager).await.status, 200);
    let bad = app
        .post(
            "/opportunities",
            &t.rep,
            json!({"account_id": t.account, "name": "", "amount_cents": -5, "expected_close_date": "31/03/2027",
                   "currency": "RMB!"}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(
        bad.body["errors"].as_array().unwrap().len(),
        4,
        "{}",
        bad.text
    );
    app.post(
        "/opportunities",
        &t.rep,
        json!({"account_id": t.account, "name": "x", "stage": "payment_tracking"}),
    )
    .await
    .assert_problem(422, "validation_failed");

    let r = app
        .patch(&path, &t.rep, json!({"amount_cents": 150000000}), Some(1))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 2);
    app.patch(&path, &t.rep, json!({"name": "y"}), Some(1))
        .await
        .assert_problem(412, "version_mismatch");
    app.patch(&path, &t.rep, json!({"owner_id": t.other_rep_id}), None)
        .await
        .assert_problem(403, "forbidden");
    let handed = app
        .patch(&path, &t.manager, json!({"owner_id": t.other_rep_id}), None)
        .await;
    assert_eq!(
        handed.body["owner_id"],
        t.other_rep_id.as_str(),
        "{}",
        handed.text
    );
    let back = app
        .patch(&path, &t.manager, json!({"owner_id": t.rep_id}), None)
        .await;
    assert_eq!(back.body["version"], 4, "{}", back.text);
    let listed = app
        .get(
            "/opportunities?status=open&stage=needs_confirmed",
            &t.manager,
        )
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    app.delete(&path, &t.rep)
        .await
        .assert_problem(403, "forbidden");
    let lost = post_if(
        &app,
        &format!("{path}/lose"),
        &t.rep,
        json!({"reason": "预算冻结", "competitor": "大族激光"}),
        4,
    )
    .await;
    assert_eq!(lost.status, 200, "{}", lost.text);
    assert_eq!(lost.body["status"], "lost");
    app.post(&format!("{path}/lose"), &t.rep, json!({"reason": "again"}))
        .await
        .assert_problem(409, "invalid_transition");
    assert_eq!(events_of(&app, "opportunity.lost").await.len(), 1);
}

#[actix_web::test]
async fn stage_gates_list_exactly_what_is_missing_until_it_is_met() {
    let app = spawn_app().await;
    let t = team(&app).await;
    let o = deal(&app, &t, json!({})).await;
    let id = o["id"].as_str().unwrap().to_string();
    let stage = format!("/opportunities/{id}/stage");
    let r = app
        .post(&stage, &t.rep, json!({"to": "solution_demo"}))
        .await;
    r.assert_problem(422, "stage_gate");
    assert_eq!(
        missing_of(&r),
        vec![
            "activity:needs_discovery",
            "contact_role:decision_maker",
            "field:amount_cents"
        ]
    );
    assert_eq!(r.body["missing"][0]["stage"], "needs_confirmed");

    // Skipping ahead also needs the skipped stages' gates.
    let r = app
        .post(&stage, &t.rep, json!({"to": "quote_approval"}))
        .await;
    assert_eq!(
        missing_of(&r),
        vec![
            "activity:needs_discovery",
            "contact_role:decision_maker",
            "field:amount_cents",
            "activity:demo"
        ]
    );

    let act = app
        .post(&format!("/opportunities/{id}/activities"), &t.rep,
              json!({"channel": "visit", "action": "needs_discovery", "reached": true, "summary": "现场调研产线",
                     "next_action": "demo", "next_action_due_at": due()}))
        .await;
    assert_eq!(act.status, 201, "{}", act.text);
    assert_eq!(act.body["opportunity_id"], id.as_str());
    let c = app
        .post(
            "/contacts",
            &t.rep,
            json!({"account_id": t.account, "name": "王总", "phone": "13900139000",
                                          "decision_role": "decision_maker"}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let r = app
        .post(&stage, &t.rep, json!({"to": "solution_demo"}))
        .await;
    assert_eq!(missing_of(&r), vec!["field:amount_cents"]);
    app.patch(
        &format!("/opportunities/{id}"),
        &t.rep,
        json!({"amount_cents": 90000000}),
        None,
    )
    .await;
    let moved = post_if(&app, &stage, &t.rep, json!({"to": "solution_demo"}), 1).await;
    moved.assert_problem(412, "version_mismatch");
    let moved = post_if(
        &app,
        &stage,
        &t.rep,
        json!({"to": "solution_demo", "reason": "需求确认"}),
        2,
    )
    .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(
        (
            moved.body["stage"].as_str(),
            moved.body["probability"].as_i64()
        ),
        (Some("solution_demo"), Some(30))
    );

    // A demo without evidence is refused at the activity; with evidence it meets the gate.
    let demo = |evidence: Value| {
        json!({"channel": "video_meeting", "action": "demo", "reached": true, "summary": "线上演示焊接样件",
               "next_action": "quote_submitted", "next_action_due_at": due(), "evidence": evidence})
    };
    app.post(
        &format!("/opportunities/{id}/activities"),
        &t.rep,
        demo(json!([])),
    )
    .await
    .assert_problem(422, "validation_failed");
    let r = app
        .post(&stage, &t.rep, json!({"to": "quote_approval"}))
        .await;
    assert_eq!(missing_of(&r), vec!["activity:demo"]);
    let ok = app
        .post(
            &format!("/opportunities/{id}/activities"),
            &t.rep,
            demo(json!([{"kind": "recording", "url": "https://files.example.cn/demo.mp4"}])),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let moved = app
        .post(&stage, &t.rep, json!({"to": "quote_approval"}))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let r = app
        .post(&stage, &t.rep, json!({"to": "contract_signing"}))
        .await;
    assert_eq!(missing_of(&r), vec!["quote_approved"]);

    let history = app
        .get(&format!("/opportunities/{id}/stage-history"), &t.rep)
        .await;
    let moves: Vec<(String, String)> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["direction"].as_str().unwrap().into(),
                h["to_stage"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        vec![
            ("initial".to_string(), "needs_confirmed".to_string()),
            ("forward".into(), "solution_demo".into()),
            ("forward".into(), "quote_approval".into())
        ]
    );
    assert_eq!(events_of(&app, "opportunity.stage_changed").await.len(), 2);
}

#[actix_web::test]
async fn regressions_need_leadership_and_a_reason_and_the_last_stage_wins() {
    let app = spawn_app().await;
    let t = team(&app).await;
    // A pipeline without gates, so the deal can be moved freely.
    edit_pipeline(&app, |p| {
        for s in p["stages"].as_array_mut().unwrap() {
            s["exit_requirements"] = json!([]);
        }
    })
    .await;
    let o = deal(&app, &t, json!({"amount_cents": 1000})).await;
    let id = o["id"].as_str().unwrap();
    let stage = format!("/opportunities/{id}/stage");
    let r = app
        .post(&stage, &t.rep, json!({"to": "contract_signing"}))
        .await;
    assert_eq!(r.status, 200, "skipping with all gates met: {}", r.text);
    app.post(
        &stage,
        &t.rep,
        json!({"to": "solution_demo", "reason": "客户重新评估"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &stage,
        &t.manager,
        json!({"to": "solution_demo", "reason": "客户重新评估"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(&stage, &t.director, json!({"to": "solution_demo"}))
        .await
        .assert_problem(422, "validation_failed");
    let back = app
        .post(
            &stage,
            &t.director,
            json!({"to": "solution_demo", "reason": "客户重新评估方案"}),
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(back.body["probability"], 30);
    assert_eq!(back.body["regression_count"], 1);
    let regressed = events_of(&app, "opportunity.stage_regressed").await;
    assert_eq!(regressed.len(), 1);
    assert_eq!(regressed[0]["data"]["reason"], "客户重新评估方案");
    app.post(&stage, &t.rep, json!({"to": "nowhere"}))
        .await
        .assert_problem(422, "validation_failed");
    let won = app
        .post(&stage, &t.rep, json!({"to": "payment_tracking"}))
        .await;
    assert_eq!(won.status, 200, "{}", won.text);
    assert_eq!(won.body["status"], "won");
    assert!(won.body["closed_at"].is_string());
    assert_eq!(events_of(&app, "opportunity.won").await.len(), 1);
    app.post(
        &stage,
        &t.director,
        json!({"to": "needs_confirmed", "reason": "x"}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let history = app
        .get(&format!("/opportunities/{id}/stage-history"), &t.rep)
        .await;
    let backward: Vec<&Value> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["direction"] == "backward")
        .collect();
    assert_eq!(backward.len(), 1);
    assert!(backward[0]["secs_in_stage"].is_i64());
}

#[actix_web::test]
async fn the_forecast_weights_open_deals_in_scope_in_integer_cents() {
    let app = spawn_app().await;
    let t = team(&app).await;
    deal(
        &app,
        &t,
        json!({"amount_cents": 100000005, "expected_close_date": "2027-01-15"}),
    )
    .await;
    deal(
        &app,
        &t,
        json!({"amount_cents": 5, "expected_close_date": "2027-01-20"}),
    )
    .await;
    deal(
        &app,
        &t,
        json!({"amount_cents": 300, "expected_close_date": "2027-02-01"}),
    )
    .await;
    let other = app
        .post(
            "/opportunities",
            &t.other_rep,
            json!({"account_id": t.account, "name": "别人的"}),
        )
        .await;
    other.assert_problem(422, "validation_failed");
    assert_eq!(
        other.body["errors"][0]["field"], "account_id",
        "the rep's account is out of the other rep's scope"
    );
    let f = app
        .get("/opportunities/forecast?group_by=month", &t.rep)
        .await;
    assert_eq!(f.status, 200, "{}", f.text);
    let groups: Vec<(String, i64, i64, i64)> = f.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().into(),
                g["deals"].as_i64().unwrap(),
                g["unweighted_cents"].as_i64().unwrap(),
                g["weighted_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    // 2027-01: (100000005 + 5) × 10% = 10000001.0; 2027-02: 300 × 10% = 30.
    assert_eq!(
        groups,
        vec![
            ("2027-01".to_string(), 2, 100000010, 10000001),
            ("2027-02".to_string(), 1, 300, 30)
        ]
    );
    assert_eq!(f.body["totals"][0]["weighted_cents"], 10000031);
    let ranged = app
        .get(
            "/opportunities/forecast?group_by=owner&from=2027-02-01&to=2027-12-31",
            &t.manager,
        )
        .await;
    assert_eq!(ranged.body["groups"][0]["key"], t.rep_id.as_str());
    assert_eq!(ranged.body["groups"][0]["unweighted_cents"], 300);
    let nothing = app.get("/opportunities/forecast", &t.other_rep).await;
    assert_eq!(nothing.body["groups"], json!([]));
    app.get("/opportunities/forecast?group_by=planet", &t.rep)
        .await
        .assert_problem(422, "validation_failed");
    app.get(
        "/opportunities/forecast?from=2027-02-01&to=2027-01-01",
        &t.rep,
    )
    .await
    .assert_problem(422, "validation_failed");
}

#[actix_web::test]
async fn a_deal_past_its_stage_mean_is_flagged_stalled_once() {
    let app = spawn_with(|s| s.sweep_interval = Duration::from_millis(100)).await;
    let t = team(&app).await;
    edit_pipeline(&app, |p| p["stages"][0]["default_mean_secs"] = json!(1)).await;
    let o = deal(&app, &t, json!({})).await;
    let id = o["id"].as_str().unwrap();
    let mut flagged = Value::Null;
    for _ in 0..60 {
        let r = app.get(&format!("/opportunities/{id}"), &t.rep).await;
        if r.body["stalled"] == true {
            flagged = r.body;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(flagged["stalled"], true, "never flagged");
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let stalled = events_of(&app, "opportunity.stalled").await;
    assert_eq!(stalled.len(), 1, "once per stage entry");
    assert_eq!(stalled[0]["data"]["stall_after_secs"], 2);
    let listed = app.get("/opportunities?stalled=true", &t.manager).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn quotes_compute_totals_and_need_approval_above_the_discount_limit() {
    let app = spawn_app().await;
    let t = team(&app).await;
    let o = deal(&app, &t, json!({"amount_cents": 90000000})).await;
    let id = o["id"].as_str().unwrap();
    let items = json!([{"sku": "LW-3000", "description": "激光焊接工作站", "quantity": 2, "unit_price_cents": 45000000},
                       {"sku": "SVC", "quantity": 1, "unit_price_cents": 3333}]);
    let bad = app
        .post(&format!("/opportunities/{id}/quotes"), &t.rep,
              json!({"items": [{"sku": "", "quantity": 0, "unit_price_cents": -1}], "discount_pct": 120}))
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(
        bad.body["errors"].as_array().unwrap().len(),
        4,
        "{}",
        bad.text
    );

    let small = app
        .post(
            &format!("/opportunities/{id}/quotes"),
            &t.rep,
            json!({"items": items, "discount_pct": 10}),
        )
        .await;
    assert_eq!(small.status, 201, "{}", small.text);
    assert_eq!(small.body["subtotal_cents"], 90003333);
    assert_eq!(small.body["discount_cents"], 9000333);
    assert_eq!(small.body["total_cents"], 81003000);
    assert_eq!(small.body["items"][0]["line_total_cents"], 90000000);
    assert_eq!(small.body["items"][1]["sku"], "SVC");
    assert!(small.body["number"].as_str().unwrap().starts_with("Q-"));
    let small_id = small.body["id"].as_str().unwrap().to_string();
    app.post(&format!("/quotes/{small_id}/send"), &t.rep, Value::Null)
        .await
        .assert_problem(409, "invalid_transition");
    let submitted = app
        .post(&format!("/quotes/{small_id}/submit"), &t.rep, Value::Null)
        .await;
    assert_eq!(submitted.body["status"], "approved", "{}", submitted.text);
    assert_eq!(submitted.body["decided_by"], "system");

    let big = app
        .post(
            &format!("/opportunities/{id}/quotes"),
            &t.manager,
            json!({"items": items, "discount_pct": 12.5}),
        )
        .await;
    assert_eq!(big.status, 201, "{}", big.text);
    let big_id = big.body["id"].as_str().unwrap().to_string();
    let pending = app
        .post(&format!("/quotes/{big_id}/submit"), &t.manager, Value::Null)
        .await;
    assert_eq!(
        pending.body["status"], "pending_approval",
        "{}",
        pending.text
    );
    app.post(&format!("/quotes/{big_id}/approve"), &t.rep, json!({}))
        .await
        .assert_problem(403, "forbidden");
    app.post(&format!("/quotes/{big_id}/approve"), &t.manager, json!({}))
        .await
        .assert_problem(403, "forbidden");
    app.post(&format!("/quotes/{big_id}/reject"), &t.director, json!({}))
        .await
        .assert_problem(422, "validation_failed");
    let rejected = app
        .post(
            &format!("/quotes/{big_id}/reject"),
            &t.director,
            json!({"comment": "折扣过高"}),
        )
        .await;
    assert_eq!(rejected.body["status"], "rejected", "{}", rejected.text);
    let edited = app
        .patch(
            &format!("/quotes/{big_id}"),
            &t.rep,
            json!({"items": items, "discount_pct": 11}),
            Some(3),
        )
        .await;
    assert_eq!(edited.body["status"], "draft", "{}", edited.text);
    app.post(&format!("/quotes/{big_id}/submit"), &t.rep, Value::Null)
        .await;
    let approved = app
        .post(
            &format!("/quotes/{big_id}/approve"),
            &t.manager,
            json!({"comment": "同意"}),
        )
        .await;
    assert_eq!(approved.body["status"], "approved", "{}", approved.text);

    app.post(
        &format!("/quotes/{big_id}/views"),
        &app.admin,
        json!({"event": "opened", "at": chrono::Utc::now().to_rfc3339()}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let sent = app
        .post(&format!("/quotes/{big_id}/send"), &t.rep, Value::Null)
        .await;
    assert_eq!(sent.body["status"], "sent", "{}", sent.text);
    let (_, integration) = app.user("erp.sync", "integration", None).await;
    let v = app
        .post(
            &format!("/quotes/{big_id}/views"),
            &integration,
            json!({"event": "downloaded", "at": chrono::Utc::now().to_rfc3339(), "page": 2}),
        )
        .await;
    assert_eq!(v.status, 201, "{}", v.text);
    app.post(
        &format!("/quotes/{big_id}/views"),
        &integration,
        json!({"event": "printed", "at": chrono::Utc::now().to_rfc3339()}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let read = app.get(&format!("/quotes/{big_id}"), &t.rep).await;
    assert_eq!(
        read.body["items"].as_array().unwrap().len(),
        2,
        "{}",
        read.text
    );
    assert_eq!(read.body["views"][0]["event"], "downloaded");
    app.get(&format!("/quotes/{big_id}"), &t.other_rep)
        .await
        .assert_problem(404, "not_found");
    let kinds: Vec<String> = events_of(&app, "quote.*")
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "quote.created",
            "quote.submitted",
            "quote.approved",
            "quote.created",
            "quote.submitted",
            "quote.rejected",
            "quote.submitted",
            "quote.approved",
            "quote.sent",
            "quote.viewed"
        ]
    );
    let listed = app
        .get(&format!("/opportunities/{id}/quotes"), &t.rep)
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn an_approved_quote_meets_the_quote_gate() {
    let app = spawn_app().await;
    let t = team(&app).await;
    edit_pipeline(&app, |p| {
        p["stages"][0]["exit_requirements"] = json!([]);
        p["stages"][1]["exit_requirements"] = json!([]);
    })
    .await;
    let o = deal(&app, &t, json!({})).await;
    let id = o["id"].as_str().unwrap();
    let stage = format!("/opportunities/{id}/stage");
    assert_eq!(
        app.post(&stage, &t.rep, json!({"to": "quote_approval"}))
            .await
            .status,
        200
    );
    let r = app
        .post(&stage, &t.rep, json!({"to": "contract_signing"}))
        .await;
    assert_eq!(missing_of(&r), vec!["quote_approved"]);
    let q = app
        .post(
            &format!("/opportunities/{id}/quotes"),
            &t.rep,
            json!({"items": [{"sku": "A", "quantity": 1, "unit_price_cents": 100}]}),
        )
        .await;
    app.post(&format!("/quotes/{}/submit", q.id()), &t.rep, Value::Null)
        .await;
    let moved = app
        .post(&stage, &t.rep, json!({"to": "contract_signing"}))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let r = app
        .post(&stage, &t.rep, json!({"to": "payment_tracking"}))
        .await;
    assert_eq!(
        missing_of(&r),
        vec!["contract_signed"],
        "no contract can be signed before the contracts issue lands"
    );
}

#[actix_web::test]
async fn activity_rules_are_config_and_apply_to_deals() {
    let app = spawn_app().await;
    let t = team(&app).await;
    let rules = app.get("/config/activities", &t.rep).await;
    assert_eq!(
        rules.body["evidence_required"],
        json!(["demo", "quote_submitted", "trial"])
    );
    app.put(
        "/config/activities",
        &t.rep,
        json!({"evidence_required": [], "priority_keywords": ["拍板"]}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.put(
        "/config/activities",
        &app.admin,
        json!({"evidence_required": ["teleport"], "priority_keywords": []}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let saved = app
        .put(
            "/config/activities",
            &app.admin,
            json!({"evidence_required": ["site_visit"], "priority_keywords": ["拍板"]}),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    let o = deal(&app, &t, json!({})).await;
    let id = o["id"].as_str().unwrap();
    let path = format!("/opportunities/{id}/activities");
    let visit = json!({"channel": "visit", "action": "site_visit", "reached": true, "summary": "老板当场拍板",
                       "next_action": "demo", "next_action_due_at": due()});
    app.post(&path, &t.rep, visit.clone())
        .await
        .assert_problem(422, "validation_failed");
    let mut with = visit.clone();
    with["evidence"] = json!([{"kind": "photo", "url": "https://files.example.cn/site.jpg"}]);
    let logged = app.post(&path, &t.rep, with).await;
    assert_eq!(logged.status, 201, "{}", logged.text);
    assert_eq!(logged.body["priority_flagged"], true);
    let demo_without_evidence = json!({"channel": "phone", "action": "demo", "reached": true, "summary": "电话演示",
                                       "next_action": "follow_up", "next_action_due_at": due()});
    assert_eq!(
        app.post(&path, &t.rep, demo_without_evidence).await.status,
        201
    );
    let mut closing = visit.clone();
    closing["disqualify_reason"] = json!("no_need");
    app.post(&path, &t.rep, closing)
        .await
        .assert_problem(422, "validation_failed");
    app.post(&path, &t.other_rep, visit)
        .await
        .assert_problem(404, "not_found");
    let deal_now = app.get(&format!("/opportunities/{id}"), &t.rep).await;
    assert_eq!(deal_now.body["priority"], "high");
    let listed = app.get(&path, &t.manager).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(events_of(&app, "activity.priority_flagged").await.len(), 1);
}
