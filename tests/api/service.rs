use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_on, spawn_with, Resp, TestApp};

/// Two service teams with an engineer each, a dispatcher and an account.
struct Desk {
    hangzhou: String,
    suzhou: String,
    engineer_id: String,
    engineer: String,
    other_engineer: String,
    service: String,
    account: String,
}

async fn desk(app: &TestApp) -> Desk {
    let hangzhou = app.create_team("杭州技术中心").await;
    let suzhou = app.create_team("苏州服务站").await;
    let (engineer_id, engineer) = app.user("eng.hz", "engineer", Some(&hangzhou)).await;
    let (_, other_engineer) = app.user("eng.sz", "engineer", Some(&suzhou)).await;
    let (_, service) = app.user("desk", "service", None).await;
    let a = app
        .post(
            "/accounts",
            &service,
            json!({"name": "宁波精密机械有限公司", "tier": "A"}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    Desk {
        hangzhou,
        suzhou,
        engineer_id,
        engineer,
        other_engineer,
        service,
        account: a.id(),
    }
}

async fn order(app: &TestApp, d: &Desk, extra: Value) -> Value {
    let mut body = json!({"type": "repair", "account_id": d.account, "contact_name": "李工", "contact_phone": "13900139000",
                          "description": "温度报警", "priority": "P2", "channel": "wecom"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/work-orders", &d.service, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn step(app: &TestApp, token: &str, id: &str, body: Value) -> Resp {
    app.post(&format!("/work-orders/{id}/transition"), token, body)
        .await
}

async fn events_of(app: &TestApp, types: &str) -> Vec<Value> {
    app.get(&format!("/events?types={types}&limit=500"), &app.admin)
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn fast() -> TestApp {
    spawn_with(|s| s.sweep_interval = Duration::from_millis(100)).await
}

/// Polls the events until `n` of `types` for `id` exist.
async fn wait_events(app: &TestApp, types: &str, id: &str, n: usize) -> Vec<Value> {
    for _ in 0..80 {
        let got: Vec<Value> = events_of(app, types)
            .await
            .into_iter()
            .filter(|e| e["entity_id"] == id)
            .collect();
        if got.len() >= n {
            return got;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} {types} events for {id}");
}

#[actix_web::test]
async fn orders_are_routed_by_serial_prefix_then_default_team_then_unrouted() {
    let app = fast().await;
    let d = desk(&app).await;
    let rule = |name: &str, prefix: &str, team: &str, priority: i32| {
        json!({"name": name, "priority": priority, "conditions": [{"field": "device_sn", "op": "prefix", "value": prefix}],
               "team_id": team})
    };
    let r = app
        .post(
            "/routing-rules",
            &d.service,
            rule("x", "QM", &d.hangzhou, 1),
        )
        .await;
    r.assert_problem(403, "forbidden");
    let bad = app
        .post("/routing-rules", &app.admin,
              json!({"name": "", "priority": 1, "conditions": [{"field": "shoe_size", "op": "eq", "value": 1}], "team_id": "nope"}))
        .await;
    bad.assert_problem(422, "validation_failed");
    let hz = app
        .post(
            "/routing-rules",
            &app.admin,
            rule("QM-2025 → 杭州", "QM-2025", &d.hangzhou, 10),
        )
        .await;
    assert_eq!(hz.status, 201, "{}", hz.text);
    assert_eq!(
        app.post(
            "/routing-rules",
            &app.admin,
            rule("QM-2024 → 苏州", "QM-2024", &d.suzhou, 20)
        )
        .await
        .status,
        201
    );
    let a = order(&app, &d, json!({"device_sn": "QM-2025-00871"})).await;
    assert_eq!(a["team_id"], d.hangzhou.as_str());
    assert_eq!(a["routing"]["rule_id"], hz.body["id"]);
    assert_eq!(a["routing"]["matched_conditions"][0]["value"], "QM-2025");
    assert!(a["number"].as_str().unwrap().starts_with("WO-"));
    let b = order(&app, &d, json!({"device_sn": "QM-2024-11"})).await;
    assert_eq!(b["team_id"], d.suzhou.as_str());
    let none = order(&app, &d, json!({"device_sn": "ZX-1"})).await;
    assert!(none["team_id"].is_null());
    assert_eq!(
        none["routing"]["reason"],
        "no routing rule matched: unrouted queue"
    );
    let s = app
        .put(
            "/config/service",
            &app.admin,
            json!({"default_team_id": d.suzhou}),
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.text);
    let defaulted = order(&app, &d, json!({"device_sn": "ZX-2"})).await;
    assert_eq!(defaulted["team_id"], d.suzhou.as_str());
    assert_eq!(
        defaulted["routing"]["reason"],
        "no routing rule matched: default team"
    );
    let listed = app
        .get(&format!("/work-orders?team_id={}", d.hangzhou), &d.service)
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    for bad in [
        json!({"type": "teleport", "account_id": d.account}),
        json!({"type": "repair", "account_id": d.account, "priority": "P9"}),
        json!({"type": "repair", "account_id": d.account, "channel": "fax"}),
    ] {
        app.post("/work-orders", &d.service, bad)
            .await
            .assert_problem(422, "validation_failed");
    }
    app.post(
        "/work-orders",
        &d.service,
        json!({"type": "repair", "account_id": "nope"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let (_, sales) = app.user("a.rep", "sales", None).await;
    app.post(
        "/work-orders",
        &sales,
        json!({"type": "repair", "account_id": d.account}),
    )
    .await
    .assert_problem(403, "forbidden");
    let body = json!({"type": "repair", "account_id": d.account, "device_sn": "QM-2025-9", "channel": "wecom"});
    let first = app
        .put(
            "/work-orders/by-external/wecom/ticket-1",
            &d.service,
            body.clone(),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let mut changed = body.clone();
    changed["description"] = json!("补充：伴随异响");
    let second = app
        .put(
            "/work-orders/by-external/wecom/ticket-1",
            &d.service,
            changed,
        )
        .await;
    assert_eq!((second.status.as_u16(), second.id()), (200, first.id()));
    assert_eq!(second.body["external_refs"][0]["external_id"], "ticket-1");
}

#[actix_web::test]
async fn the_flow_runs_with_and_without_parts_and_refuses_every_jump() {
    let app = fast().await;
    let d = desk(&app).await;
    let a = order(&app, &d, json!({})).await;
    let id = a["id"].as_str().unwrap();
    // Every jump from `new` but the next step is refused.
    for to in [
        "dispatched",
        "on_site",
        "parts_replaced",
        "customer_signed",
        "closed",
        "waiting_customer",
    ] {
        let r = step(&app, &d.service, id, json!({"to": to, "engineer_id": d.engineer_id, "diagnosis": "x",
                                                   "parts": [{"part_no": "P-1", "qty": 1}], "signer": "x"})).await;
        r.assert_problem(409, "invalid_transition");
        assert_eq!(r.body["allowed"], json!(["accepted", "cancelled"]), "{to}");
    }
    let etag = "\"7\"";
    app.send(
        Method::POST,
        &format!("/work-orders/{id}/transition"),
        &d.service,
        json!({"to": "accepted"}),
        &[("if-match", etag)],
    )
    .await
    .assert_problem(412, "version_mismatch");
    assert_eq!(
        step(&app, &d.service, id, json!({"to": "accepted"}))
            .await
            .status,
        200
    );
    step(&app, &d.service, id, json!({"to": "dispatched"}))
        .await
        .assert_problem(422, "validation_failed");
    let desk_id = app.get("/me", &d.service).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    step(
        &app,
        &d.service,
        id,
        json!({"to": "dispatched", "engineer_id": desk_id}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let dispatched = step(
        &app,
        &d.service,
        id,
        json!({"to": "dispatched", "engineer_id": d.engineer_id}),
    )
    .await;
    assert_eq!(
        dispatched.body["engineer_id"],
        d.engineer_id.as_str(),
        "{}",
        dispatched.text
    );
    step(&app, &d.engineer, id, json!({"to": "on_site"}))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(
        step(
            &app,
            &d.engineer,
            id,
            json!({"to": "on_site", "diagnosis": "温控模块损坏"})
        )
        .await
        .status,
        200
    );
    step(
        &app,
        &d.engineer,
        id,
        json!({"to": "parts_replaced", "parts": []}),
    )
    .await
    .assert_problem(422, "validation_failed");
    assert_eq!(
        step(
            &app,
            &d.engineer,
            id,
            json!({"to": "parts_replaced", "parts": [{"part_no": "TC-200", "qty": 1}]})
        )
        .await
        .status,
        200
    );
    step(
        &app,
        &d.engineer,
        id,
        json!({"to": "on_site", "diagnosis": "again"}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    step(
        &app,
        &d.engineer,
        id,
        json!({"to": "customer_signed", "signer": " "}),
    )
    .await
    .assert_problem(422, "validation_failed");
    assert_eq!(
        step(
            &app,
            &d.engineer,
            id,
            json!({"to": "customer_signed", "signer": "李工", "signature_ref": "SIG-1"})
        )
        .await
        .status,
        200
    );
    step(
        &app,
        &d.engineer,
        id,
        json!({"to": "cancelled", "reason": "x"}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let closed = step(&app, &d.service, id, json!({"to": "closed"})).await;
    assert_eq!(closed.body["status"], "closed", "{}", closed.text);
    assert_eq!(closed.body["step_data"]["parts"][0]["part_no"], "TC-200");
    assert!(closed.body["step_data"]["customer_signed_at"].is_string());
    let changes = wait_events(&app, "work_order.status_changed", id, 6).await;
    let messages: Vec<&str> = changes
        .iter()
        .map(|e| e["data"]["customer_visible_message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        vec![
            "您的服务请求已受理",
            "工程师已出发",
            "工程师已到达现场检测",
            "已完成配件更换",
            "服务已完成，感谢您签字验收",
            "工单已关闭"
        ]
    );

    // Without parts, straight from on-site to the signature.
    let b = order(&app, &d, json!({})).await;
    let id = b["id"].as_str().unwrap();
    for body in [
        json!({"to": "accepted"}),
        json!({"to": "dispatched", "engineer_id": d.engineer_id}),
        json!({"to": "on_site", "diagnosis": "接线松动"}),
        json!({"to": "customer_signed", "signer": "李工"}),
        json!({"to": "closed"}),
    ] {
        let r = step(&app, &d.service, id, body).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let c = order(&app, &d, json!({})).await;
    let id = c["id"].as_str().unwrap();
    step(&app, &d.service, id, json!({"to": "cancelled"}))
        .await
        .assert_problem(422, "validation_failed");
    let cancelled = step(
        &app,
        &d.service,
        id,
        json!({"to": "cancelled", "reason": "客户自行修复"}),
    )
    .await;
    assert_eq!(cancelled.body["cancel_reason"], "客户自行修复");
}

#[actix_web::test]
async fn sla_warning_and_breach_fire_once_each_and_waiting_time_is_excluded() {
    let app = fast().await;
    let d = desk(&app).await;
    let p = app
        .post("/sla-policies", &app.admin,
              json!({"name": "P2 快速", "priority": 1, "conditions": [{"field": "priority", "op": "eq", "value": "P2"}],
                     "response_secs": 1, "resolution_secs": 2, "warn_ratio": 0.5}))
        .await;
    assert_eq!(p.status, 201, "{}", p.text);
    app.post("/sla-policies", &app.admin,
             json!({"name": "bad", "priority": 1, "response_secs": 0, "resolution_secs": 2, "warn_ratio": 1.5}))
        .await
        .assert_problem(422, "validation_failed");
    let late = order(&app, &d, json!({})).await;
    let id = late["id"].as_str().unwrap();
    assert!(late["response_due_at"].is_string() && late["resolution_due_at"].is_string());
    assert_eq!(late["sla_state"], "ok");
    let breaches = wait_events(&app, "work_order.sla_breached", id, 2).await;
    let deadlines: Vec<&str> = breaches
        .iter()
        .map(|e| e["data"]["deadline"].as_str().unwrap())
        .collect();
    assert_eq!(deadlines, vec!["response", "resolution"]);
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    let warnings: Vec<Value> = events_of(&app, "work_order.sla_warning")
        .await
        .into_iter()
        .filter(|e| e["entity_id"] == id)
        .collect();
    assert_eq!(warnings.len(), 2, "one warning per deadline");
    let again: Vec<Value> = events_of(&app, "work_order.sla_breached")
        .await
        .into_iter()
        .filter(|e| e["entity_id"] == id)
        .collect();
    assert_eq!(again.len(), 2, "each breach once");
    assert_eq!(
        app.get(&format!("/work-orders/{id}"), &d.service)
            .await
            .body["sla_state"],
        "breached"
    );

    // Accepted in time and paused while waiting on the customer: the resolution deadline
    // moves by the time waited.
    let p3 = app
        .post("/sla-policies", &app.admin,
              json!({"name": "P3", "priority": 2, "conditions": [{"field": "priority", "op": "eq", "value": "P3"}],
                     "response_secs": 60, "resolution_secs": 60, "warn_ratio": 0.9}))
        .await;
    assert_eq!(p3.status, 201);
    let o = order(&app, &d, json!({"priority": "P3"})).await;
    let id = o["id"].as_str().unwrap();
    let due_before =
        chrono::DateTime::parse_from_rfc3339(o["resolution_due_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        step(&app, &d.service, id, json!({"to": "accepted"}))
            .await
            .status,
        200
    );
    let paused = step(
        &app,
        &d.service,
        id,
        json!({"to": "waiting_customer", "reason": "等客户确认停机时间"}),
    )
    .await;
    assert_eq!(paused.body["status"], "waiting_customer", "{}", paused.text);
    step(
        &app,
        &d.service,
        id,
        json!({"to": "dispatched", "engineer_id": d.engineer_id}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    actix_web::rt::time::sleep(Duration::from_millis(1300)).await;
    let resumed = step(&app, &d.service, id, json!({"to": "accepted"})).await;
    assert_eq!(resumed.body["status"], "accepted", "{}", resumed.text);
    assert!(
        resumed.body["paused_secs"].as_i64().unwrap() >= 1,
        "{}",
        resumed.text
    );
    let due_after =
        chrono::DateTime::parse_from_rfc3339(resumed.body["resolution_due_at"].as_str().unwrap())
            .unwrap();
    assert!(
        (due_after - due_before).num_milliseconds() >= 1300,
        "{due_before} → {due_after}"
    );
    for body in [
        json!({"to": "dispatched", "engineer_id": d.engineer_id}),
        json!({"to": "on_site", "diagnosis": "ok"}),
        json!({"to": "customer_signed", "signer": "李工"}),
    ] {
        assert_eq!(step(&app, &d.service, id, body).await.status, 200);
    }
    assert_eq!(
        app.get(&format!("/work-orders/{id}"), &d.service)
            .await
            .body["sla_state"],
        "met"
    );
}

#[actix_web::test]
async fn an_sla_breach_survives_a_restart_and_fires_once() {
    let mut app = fast().await;
    let d = desk(&app).await;
    let p = app
        .post("/sla-policies", &app.admin,
              json!({"name": "all", "priority": 1, "response_secs": 2, "resolution_secs": 3600, "warn_ratio": 0.99}))
        .await;
    assert_eq!(p.status, 201, "{}", p.text);
    let id = order(&app, &d, json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = app.admin.clone();
    app.stop.take().unwrap().stop().await;
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    let mut restarted = spawn_on(app.database_url.clone()).await;
    restarted.admin = admin;
    wait_events(&restarted, "work_order.sla_breached", &id, 1).await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let breaches: Vec<Value> = events_of(&restarted, "work_order.sla_breached")
        .await
        .into_iter()
        .filter(|e| e["entity_id"] == id.as_str())
        .collect();
    assert_eq!(breaches.len(), 1);
}

#[actix_web::test]
async fn engineers_see_only_their_teams_orders_and_mes_confirms_delivery() {
    let app = fast().await;
    let d = desk(&app).await;
    let rule = app
        .post("/routing-rules", &app.admin,
              json!({"name": "HZ", "priority": 1, "conditions": [{"field": "device_sn", "op": "prefix", "value": "QM"}], "team_id": d.hangzhou}))
        .await;
    assert_eq!(rule.status, 201, "{}", rule.text);
    let o = order(&app, &d, json!({"device_sn": "QM-2025-1"})).await;
    let id = o["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/work-orders/{id}"), &d.engineer)
            .await
            .status,
        200
    );
    app.get(&format!("/work-orders/{id}"), &d.other_engineer)
        .await
        .assert_problem(404, "not_found");
    let theirs = app.get("/work-orders", &d.other_engineer).await;
    assert_eq!(theirs.body["items"], json!([]));
    step(&app, &d.engineer, id, json!({"to": "accepted"}))
        .await
        .assert_problem(403, "forbidden");

    let delivery = order(&app, &d, json!({"type": "delivery"})).await;
    let did = delivery["id"].as_str().unwrap();
    let (_, mes) = app.user("mes", "integration", None).await;
    app.post(
        &format!("/work-orders/{id}/mes-events"),
        &mes,
        json!({"type": "first_article_passed"}),
    )
    .await
    .assert_problem(409, "conflict");
    app.post(
        &format!("/work-orders/{did}/mes-events"),
        &d.service,
        json!({"type": "shipped"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &format!("/work-orders/{did}/mes-events"),
        &mes,
        json!({"type": "first_article_passed", "report_url": "ftp://x"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let r = app
        .post(
            &format!("/work-orders/{did}/mes-events"),
            &mes,
            json!({"type": "first_article_passed", "report_url": "https://mes.example.cn/FAI-7"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["step_data"]["mes"][0]["type"],
        "first_article_passed"
    );
    let confirmed = events_of(&app, "delivery.confirmed").await;
    assert_eq!(confirmed.len(), 1);
    assert_eq!(
        confirmed[0]["data"]["report_url"],
        "https://mes.example.cn/FAI-7"
    );
}

#[actix_web::test]
async fn an_sla_policy_on_a_business_calendar_counts_working_time_only() {
    use chrono::TimeZone;
    let app = fast().await;
    let d = desk(&app).await;
    let shanghai = chrono_tz::Asia::Shanghai;
    let today = chrono::Utc::now().with_timezone(&shanghai).date_naive();
    let day = |n: i64| (today + chrono::Duration::days(n)).to_string();
    let cal = app
        .post("/calendars", &app.admin,
              json!({"name": "服务日历", "time_zone": "Asia/Shanghai",
                     "hours": [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "24:00"}],
                     "holidays": [{"date": day(0), "name": "假日"}, {"date": day(1), "name": "假日"}]}))
        .await;
    assert_eq!(cal.status, 201, "{}", cal.text);
    app.post("/sla-policies", &app.admin,
             json!({"name": "x", "priority": 1, "response_secs": 3600, "resolution_secs": 7200, "warn_ratio": 0.5,
                    "calendar_id": "nope"}))
        .await
        .assert_problem(422, "validation_failed");
    let p = app
        .post("/sla-policies", &app.admin,
              json!({"name": "工作时间", "priority": 1, "response_secs": 3600, "resolution_secs": 7200, "warn_ratio": 0.5,
                     "calendar_id": cal.id()}))
        .await;
    assert_eq!(p.status, 201, "{}", p.text);
    let o = order(&app, &d, json!({})).await;
    let at = |h: u32| {
        shanghai
            .from_local_datetime(
                &(today + chrono::Duration::days(2))
                    .and_hms_opt(h, 0, 0)
                    .unwrap(),
            )
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let parse = |k: &str| {
        o[k].as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert_eq!(
        parse("response_due_at"),
        at(1),
        "the clock starts after the two holidays"
    );
    assert_eq!(parse("resolution_due_at"), at(2));
}
