use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_on, TestApp, PASSWORD};

/// A lead the default scoring model admits (85 points, grade A).
fn rich(name: &str, province: &str) -> Value {
    json!({"name": name, "company": format!("{name}公司"), "phone": "13800138000", "industry": "新能源汽车",
           "province": province, "budget_cents": 80000000, "source": "web_form"})
}

async fn rep(
    app: &TestApp,
    username: &str,
    team: &str,
    capacity: i32,
    extra: Value,
) -> (String, String) {
    let mut body = json!({"username": username, "password": PASSWORD, "role": "sales", "team_id": team, "capacity": capacity});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/users", &app.admin, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = if r.body["active"] == true {
        app.login(username, PASSWORD).await
    } else {
        String::new()
    };
    (r.id(), token)
}

async fn rule(app: &TestApp, body: Value) -> String {
    let r = app.post("/assignment-rules", &app.admin, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

/// Polls a lead until `pred` holds (the sweeper runs every 200 ms in tests).
async fn wait_for(app: &TestApp, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let l = app.get(&format!("/leads/{id}"), &app.admin).await.body;
        if pred(&l) {
            return l;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("lead {id} never reached the expected state");
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
async fn the_scoring_model_is_validated_versioned_and_simulated() {
    let app = spawn_app().await;
    let default = app.get("/config/scoring", &app.admin).await;
    assert_eq!(default.status, 200);
    assert_eq!(default.body["version"], 0);
    assert_eq!(default.body["admission_threshold"], 40);

    let mut model = default.body.clone();
    for k in ["version", "updated_at", "rescore_pending"] {
        model.as_object_mut().unwrap().remove(k);
    }
    let mut bad = model.clone();
    bad["source_weights"]["wechat"] = json!(-1);
    bad["components"][0]["bands"] = json!([{"points": 1}, {"gte": 5, "points": 2}]);
    let r = app.put("/config/scoring", &app.admin, bad).await;
    r.assert_problem(422, "validation_failed");
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"source_weights.wechat") && fields.contains(&"components[0].bands[0]"),
        "{fields:?}"
    );
    let mut unknown_op = model.clone();
    unknown_op["components"][0]["bands"][0]["gt"] = json!(1);
    app.put("/config/scoring", &app.admin, unknown_op)
        .await
        .assert_problem(422, "validation_failed");

    let (_, sales) = app.user("seller", "sales", None).await;
    app.put("/config/scoring", &sales, model.clone())
        .await
        .assert_problem(403, "forbidden");

    model["admission_threshold"] = json!(20);
    let dry = app
        .send(
            reqwest::Method::PUT,
            "/config/scoring?dry_run=true",
            &app.admin,
            model.clone(),
            &[],
        )
        .await;
    assert_eq!(
        (dry.status.as_u16(), dry.body["version"].as_i64()),
        (200, Some(0))
    );
    let saved = app.put("/config/scoring", &app.admin, model.clone()).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(saved.body["version"], 1);
    assert_eq!(saved.header("etag").as_deref(), Some("\"1\""));
    let stale = app
        .send(
            reqwest::Method::PUT,
            "/config/scoring",
            &app.admin,
            model.clone(),
            &[("if-match", "\"0\"")],
        )
        .await;
    stale.assert_problem(412, "version_mismatch");
    let changed = events_of(&app, "config.changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["data"]["version"], 1);
    let audit = app
        .get("/audit?entity=config&entity_id=scoring", &app.admin)
        .await;
    assert_eq!(
        audit.body["items"][0]["changes"][0]["field"],
        "admission_threshold"
    );

    let sim = app
        .post(
            "/config/scoring/simulate",
            &app.admin,
            json!({"lead": {"source": "phone_400", "budget_cents": 60000000,
        "industry": "医疗器械", "phone": "1", "company": "x", "province": "浙江"}}),
        )
        .await;
    assert_eq!(sim.status, 200, "{}", sim.text);
    assert_eq!(
        (sim.body["score"].as_i64(), sim.body["grade"].as_str()),
        (Some(96), Some("A"))
    );
    assert_eq!(sim.body["breakdown"].as_array().unwrap().len(), 3);
    assert_eq!(
        events_of(&app, "lead.*").await.len(),
        0,
        "simulate stores nothing"
    );
}

#[actix_web::test]
async fn a_thin_lead_waits_in_needs_info_until_completed_then_is_routed() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (a, _) = rep(&app, "rep.a", &team, 10, json!({})).await;
    rule(&app, json!({"name": "all", "priority": 100, "pool": {"team_id": team}, "strategy": "round_robin"})).await;
    let thin = app
        .create_lead(
            &app.admin,
            json!({"name": "王五", "phone": "13900000000", "source": "wechat"}),
        )
        .await;
    assert_eq!(thin.body["status"], "needs_info");
    assert_eq!(thin.body["score"], 25);
    assert_eq!(
        thin.body["missing_fields"],
        json!(["budget_cents", "company", "industry", "province"])
    );
    assert_eq!(thin.body["owner_id"], Value::Null);
    let needs = events_of(&app, "lead.needs_info").await;
    assert_eq!(needs.len(), 1);
    assert_eq!(
        needs[0]["data"]["missing"],
        json!(["budget_cents", "company", "industry", "province"])
    );

    let id = thin.id();
    let partly = app
        .patch(
            &format!("/leads/{id}"),
            &app.admin,
            json!({"company": "无锡某厂"}),
            None,
        )
        .await;
    assert_eq!(partly.body["status"], "needs_info", "{}", partly.text);
    assert_eq!(
        events_of(&app, "lead.needs_info").await.len(),
        1,
        "no second event while it stays in the gate"
    );
    let done = app
        .patch(
            &format!("/leads/{id}"),
            &app.admin,
            json!({"industry": "新能源汽车", "province": "江苏", "budget_cents": 90000000}),
            None,
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["status"], "assigned");
    assert_eq!(done.body["owner_id"], a.as_str());
    assert!(done.body["claim_due_at"].is_string());
}

#[actix_web::test]
async fn round_robin_rotates_through_the_pool_and_records_why() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let mut reps = Vec::new();
    for u in ["rr.a", "rr.b", "rr.c"] {
        reps.push(rep(&app, u, &team, 10, json!({})).await.0);
    }
    let rule_id = rule(
        &app,
        json!({"name": "华东网站线索", "priority": 10, "pool": {"team_id": team}, "strategy": "round_robin",
               "conditions": [{"field": "province", "op": "in", "value": ["上海", "江苏", "浙江"]}]}),
    )
    .await;
    let mut owners = Vec::new();
    for i in 0..4 {
        let l = app
            .create_lead(&app.admin, rich(&format!("客户{i}"), "江苏"))
            .await;
        owners.push(l.body["owner_id"].as_str().unwrap().to_string());
        let a = &l.body["assignment"];
        assert_eq!(a["rule_id"], rule_id.as_str());
        assert_eq!(a["rule_name"], "华东网站线索");
        assert_eq!(a["matched_conditions"][0]["field"], "province");
        assert_eq!(a["candidates"].as_array().unwrap().len(), 3);
        assert!(a["reason"].as_str().unwrap().starts_with("round robin"));
    }
    assert_eq!(
        owners,
        vec![
            reps[0].clone(),
            reps[1].clone(),
            reps[2].clone(),
            reps[0].clone()
        ]
    );
    let assigned = events_of(&app, "lead.assigned").await;
    assert_eq!(assigned.len(), 4);
    // A lead from elsewhere matches no rule and waits unassigned.
    let other = app.create_lead(&app.admin, rich("广州客户", "广东")).await;
    assert_eq!(other.body["status"], "unassigned");
    assert_eq!(
        other.body["assignment"]["reason"],
        "no assignment rule matched: unassigned queue"
    );
}

#[actix_web::test]
async fn least_loaded_never_picks_a_rep_at_capacity_or_inactive() {
    let app = spawn_app().await;
    let team = app.create_team("华南").await;
    let (full, _) = rep(&app, "full", &team, 1, json!({})).await;
    let (busy, _) = rep(&app, "busy", &team, 10, json!({})).await;
    let (idle, _) = rep(&app, "idle", &team, 10, json!({"active": false})).await;
    let (fresh, _) = rep(&app, "fresh", &team, 10, json!({})).await;
    // Pre-load by hand: full gets 1 (its capacity), busy 2.
    for (owner, n) in [(&full, 1), (&busy, 2)] {
        for i in 0..n {
            let l = app
                .create_lead(&app.admin, rich(&format!("预置{owner}{i}"), "广东"))
                .await;
            let r = app
                .post(
                    &format!("/leads/{}/assign", l.id()),
                    &app.admin,
                    json!({"owner_id": owner, "reason": "预置负载"}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
    }
    rule(&app, json!({"name": "负载均衡", "priority": 1, "pool": {"team_id": team}, "strategy": "least_loaded"})).await;
    let l = app.create_lead(&app.admin, rich("新客户", "广东")).await;
    assert_eq!(l.body["owner_id"], fresh.as_str(), "{}", l.text);
    let cands = l.body["assignment"]["candidates"]
        .as_array()
        .unwrap()
        .clone();
    let reason_of = |id: &str| {
        cands.iter().find(|c| c["user_id"] == id).unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(reason_of(&full), "at capacity");
    assert_eq!(reason_of(&idle), "inactive");
    assert_eq!(reason_of(&busy), "eligible");
    let next = app.create_lead(&app.admin, rich("又一个", "广东")).await;
    assert_eq!(next.body["owner_id"], fresh.as_str(), "1/10 beats 2/10");
    let third = app.create_lead(&app.admin, rich("第三个", "广东")).await;
    assert_eq!(
        third.body["owner_id"],
        busy.as_str(),
        "2/10 each: ties go to the earlier id"
    );
}

#[actix_web::test]
async fn skill_match_and_top_performers_pick_as_documented() {
    let app = spawn_app().await;
    let team = app.create_team("医疗").await;
    let (generalist, _) = rep(&app, "gen", &team, 10, json!({})).await;
    let (specialist, _) = rep(
        &app,
        "spec",
        &team,
        10,
        json!({"industries": ["医疗器械"], "skills": ["内窥镜"]}),
    )
    .await;
    rule(&app, json!({"name": "医疗器械技能匹配", "priority": 1, "pool": {"team_id": team}, "strategy": "skill_match",
                      "conditions": [{"field": "industry", "op": "eq", "value": "医疗器械"}]})).await;
    rule(&app, json!({"name": "大客户", "priority": 2, "pool": {"user_ids": [generalist, specialist]}, "strategy": "top_performers", "top_n": 1})).await;
    let mut lead = rich("杭州某医院", "浙江");
    lead["industry"] = json!("医疗器械");
    lead["product_interest"] = json!("内窥镜清洗工作站");
    let l = app.create_lead(&app.admin, lead).await;
    assert_eq!(l.body["owner_id"], specialist.as_str(), "{}", l.text);
    let reason = l.body["assignment"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("industry 医疗器械") && reason.contains("skill 内窥镜"),
        "{reason}"
    );
    let big = app
        .create_lead(&app.admin, rich("新能源大客户", "江苏"))
        .await;
    assert_eq!(big.body["assignment"]["rule_name"], "大客户");
    assert!(big.body["assignment"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("top 1 performer"));
}

#[actix_web::test]
async fn simulate_explains_the_decision_without_storing() {
    let app = spawn_app().await;
    let team = app.create_team("华北").await;
    let (a, _) = rep(&app, "north.a", &team, 10, json!({})).await;
    rule(
        &app,
        json!({"name": "华北", "priority": 5, "pool": {"team_id": team}, "strategy": "least_loaded",
                      "conditions": [{"field": "budget_cents", "op": "gte", "value": 50000000}]}),
    )
    .await;
    let r = app
        .post(
            "/assignment-rules/simulate",
            &app.admin,
            json!({"lead": rich("模拟", "北京")}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["chosen"], a.as_str());
    assert_eq!(r.body["rule_name"], "华北");
    assert_eq!(r.body["matched_conditions"][0]["op"], "gte");
    assert!(app.get("/leads", &app.admin).await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(events_of(&app, "lead.*").await.is_empty());
}

#[actix_web::test]
async fn rules_are_validated_and_managers_edit_only_their_own_team() {
    let app = spawn_app().await;
    let east = app.create_team("华东").await;
    let south = app.create_team("华南").await;
    let (_, manager) = app.user("east.boss", "manager", Some(&east)).await;
    let (_, sales) = app.user("east.sales", "sales", Some(&east)).await;
    let good =
        json!({"name": "x", "priority": 1, "pool": {"team_id": east}, "strategy": "round_robin"});
    app.post("/assignment-rules", &sales, good.clone())
        .await
        .assert_problem(403, "forbidden");
    let own = app.post("/assignment-rules", &manager, good.clone()).await;
    assert_eq!(own.status, 201, "{}", own.text);
    let mut theirs = good.clone();
    theirs["pool"]["team_id"] = json!(south);
    app.post("/assignment-rules", &manager, theirs)
        .await
        .assert_problem(403, "forbidden");
    let bad = json!({"name": "", "priority": -1, "pool": {}, "strategy": "round_robin", "max_load_ratio": 1.5,
                     "claim_timeout_secs": 0, "conditions": [{"field": "shoe_size", "op": "eq", "value": 42},
                                                              {"field": "budget_cents", "op": "gte", "value": "lots"}]});
    let r = app.post("/assignment-rules", &app.admin, bad).await;
    r.assert_problem(422, "validation_failed");
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "name",
        "priority",
        "conditions[0]",
        "conditions[1]",
        "pool",
        "max_load_ratio",
        "claim_timeout_secs",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    app.post(
        "/assignment-rules",
        &app.admin,
        json!({"name": "x", "priority": 1, "pool": {"team_id": east}, "strategy": "lottery"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let path = format!("/assignment-rules/{}", own.id());
    let mut renamed = good.clone();
    renamed["name"] = json!("华东新规则");
    let r = app
        .send(
            reqwest::Method::PUT,
            &path,
            &manager,
            renamed,
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["version"].as_i64()),
        (200, Some(2)),
        "{}",
        r.text
    );
    assert_eq!(
        app.get("/assignment-rules", &app.admin).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(app.delete(&path, &manager).await.status, 204);
    app.get(&path, &app.admin)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn the_lifecycle_enforces_owners_gates_and_allowed_moves() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (_, owner) = rep(&app, "owner", &team, 10, json!({})).await;
    let (_, other) = rep(&app, "other", &team, 10, json!({})).await;
    rule(&app, json!({"name": "r", "priority": 1, "pool": {"user_ids": [app.get("/me", &owner).await.body["id"]]},
                      "strategy": "round_robin", "first_touch_timeout_secs": 3600})).await;
    let id = app
        .create_lead(&app.admin, rich("生命周期", "江苏"))
        .await
        .id();
    let path = format!("/leads/{id}");
    app.post(&format!("{path}/accept"), &other, Value::Null)
        .await
        .assert_problem(404, "not_found");
    app.post(&format!("{path}/qualify"), &owner, Value::Null)
        .await
        .assert_problem(409, "invalid_transition");
    let accepted = app
        .post(&format!("{path}/accept"), &owner, Value::Null)
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.body["status"], "working");
    assert!(
        accepted.body["accepted_at"].is_string() && accepted.body["first_touch_due_at"].is_string()
    );
    assert_eq!(accepted.body["claim_due_at"], Value::Null);
    let again = app
        .post(&format!("{path}/accept"), &owner, Value::Null)
        .await;
    again.assert_problem(409, "invalid_transition");
    assert_eq!(
        again.body["allowed"],
        json!(["qualified", "assigned", "disqualified"])
    );

    let not_ready = app
        .post(&format!("{path}/qualify"), &owner, Value::Null)
        .await;
    not_ready.assert_problem(422, "validation_failed");
    assert_eq!(
        not_ready.body["missing"][0]["requirement"],
        "activity:needs_discovery"
    );
    let due = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let act = app
        .post(&format!("{path}/activities"), &owner,
              json!({"channel": "phone", "action": "needs_discovery", "reached": true, "summary": "确认需求",
                     "next_action": "demo", "next_action_due_at": due}))
        .await;
    assert_eq!(act.status, 201, "{}", act.text);
    let q = app
        .post(&format!("{path}/qualify"), &owner, Value::Null)
        .await;
    assert_eq!(
        (q.status.as_u16(), q.body["status"].as_str()),
        (200, Some("qualified")),
        "{}",
        q.text
    );
    app.post(
        &format!("{path}/disqualify"),
        &owner,
        json!({"reason": "other"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        &format!("{path}/disqualify"),
        &owner,
        json!({"reason": "bored"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let d = app
        .post(
            &format!("{path}/disqualify"),
            &owner,
            json!({"reason": "competitor", "note": "选了友商"}),
        )
        .await;
    assert_eq!(
        (
            d.body["status"].as_str(),
            d.body["disqualify_reason"].as_str()
        ),
        (Some("disqualified"), Some("competitor"))
    );
    app.post(
        &format!("{path}/disqualify"),
        &owner,
        json!({"reason": "no_need"}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let types: Vec<String> = events_of(&app, "lead.*")
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        vec![
            "lead.created",
            "lead.assigned",
            "lead.accepted",
            "lead.qualified",
            "lead.disqualified"
        ]
    );
}

#[actix_web::test]
async fn activities_are_structured_validated_and_flag_priority() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (_, owner) = rep(&app, "owner2", &team, 10, json!({})).await;
    let (_, stranger) = app.user("stranger", "sales", Some(&team)).await;
    let id = app.create_lead(&owner, rich("活动", "江苏")).await.id();
    let path = format!("/leads/{id}/activities");
    let due = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let past = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let r = app
        .post(
            &path,
            &owner,
            json!({"channel": "fax", "action": "demo", "reached": true, "summary": "x"}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    let r = app.post(&path, &owner, json!({"channel": "visit", "action": "demo", "reached": true, "summary": " ",
                                          "next_action_due_at": past, "evidence": [{"kind": "link", "url": "ftp://x"}]})).await;
    r.assert_problem(422, "validation_failed");
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "summary",
            "next_action",
            "next_action_due_at",
            "evidence[0].url"
        ]
    );
    let no_evidence = app.post(&path, &owner, json!({"channel": "visit", "action": "demo", "reached": true, "summary": "现场演示",
                                                    "next_action": "quote_submitted", "next_action_due_at": due})).await;
    no_evidence.assert_problem(422, "validation_failed");
    assert_eq!(no_evidence.body["errors"][0]["field"], "evidence");
    app.post(
        &path,
        &stranger,
        json!({"channel": "phone", "action": "follow_up", "reached": false, "summary": "x",
                                      "next_action": "follow_up", "next_action_due_at": due}),
    )
    .await
    .assert_problem(404, "not_found");

    let unreached = app.post(&path, &owner, json!({"channel": "phone", "action": "first_contact", "reached": false,
                                                  "summary": "未接通", "next_action": "first_contact", "next_action_due_at": due})).await;
    assert_eq!(unreached.status, 201);
    assert_eq!(
        app.get(&format!("/leads/{id}"), &owner).await.body["first_touch_at"],
        Value::Null
    );
    let hot = app
        .post(&path, &owner, json!({"channel": "wechat", "action": "first_contact", "reached": true,
                                    "summary": "客户说预算批了，加急", "next_action": "needs_discovery", "next_action_due_at": due}))
        .await;
    assert_eq!(hot.status, 201, "{}", hot.text);
    assert_eq!(hot.body["priority_flagged"], true);
    let lead = app.get(&format!("/leads/{id}"), &owner).await.body;
    assert_eq!(lead["priority"], "high");
    assert!(lead["first_touch_at"].is_string());
    assert_eq!(events_of(&app, "activity.priority_flagged").await.len(), 1);
    let list = app.get(&path, &owner).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        list.body["items"][0]["summary"], "客户说预算批了，加急",
        "newest first"
    );
    // Closing the lead in the same request needs no next action.
    let closing = app.post(&path, &owner, json!({"channel": "phone", "action": "follow_up", "reached": true,
                                                "summary": "客户取消项目", "disqualify_reason": "no_need"})).await;
    assert_eq!(closing.status, 201, "{}", closing.text);
    assert_eq!(
        app.get(&format!("/leads/{id}"), &owner).await.body["status"],
        "disqualified"
    );
}

#[actix_web::test]
async fn an_unclaimed_lead_is_reassigned_then_escalated_to_the_manager_queue() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (manager, _) = app.user("sla.boss", "manager", Some(&team)).await;
    app.patch(
        &format!("/teams/{team}"),
        &app.admin,
        json!({"manager_id": manager}),
        None,
    )
    .await;
    let (a, _) = rep(&app, "sla.a", &team, 10, json!({"manager_id": manager})).await;
    let (b, _) = rep(&app, "sla.b", &team, 10, json!({"manager_id": manager})).await;
    rule(
        &app,
        json!({"name": "快速", "priority": 1, "pool": {"team_id": team}, "strategy": "round_robin",
                      "claim_timeout_secs": 1, "max_reassignments": 1}),
    )
    .await;
    let l = app.create_lead(&app.admin, rich("没人领", "江苏")).await;
    assert_eq!(l.body["owner_id"], a.as_str());
    let id = l.id();
    let moved = wait_for(&app, &id, |l| l["reassign_count"] == 1).await;
    assert_eq!(
        moved["owner_id"],
        b.as_str(),
        "never back to the one who let it lapse"
    );
    assert_eq!(moved["status"], "assigned");
    let escalated = wait_for(&app, &id, |l| l["status"] == "unassigned").await;
    assert_eq!(escalated["owner_id"], Value::Null);
    assert_eq!(escalated["team_id"], team.as_str());
    assert!(escalated["escalated_at"].is_string());
    let reassigned = events_of(&app, "lead.reassigned").await;
    assert_eq!(reassigned.len(), 1);
    assert_eq!(reassigned[0]["data"]["from"], a.as_str());
    assert_eq!(reassigned[0]["data"]["to"], b.as_str());
    assert_eq!(reassigned[0]["data"]["supervisor_id"], manager.as_str());
    let esc = events_of(&app, "lead.escalated").await;
    assert_eq!(esc.len(), 1);
    assert_eq!(esc[0]["data"]["manager_id"], manager.as_str());
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        events_of(&app, "lead.reassigned").await.len(),
        1,
        "fired once"
    );
    assert_eq!(
        events_of(&app, "lead.escalated").await.len(),
        1,
        "fired once"
    );
}

#[actix_web::test]
async fn a_missed_first_touch_is_reported_once() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (a, token) = rep(&app, "slow", &team, 10, json!({})).await;
    rule(
        &app,
        json!({"name": "r", "priority": 1, "pool": {"user_ids": [a]}, "strategy": "round_robin",
                      "first_touch_timeout_secs": 1}),
    )
    .await;
    let id = app
        .create_lead(&app.admin, rich("等回电", "江苏"))
        .await
        .id();
    assert_eq!(
        app.post(&format!("/leads/{id}/accept"), &token, Value::Null)
            .await
            .status,
        200
    );
    let l = wait_for(&app, &id, |l| l["first_touch_overdue_at"].is_string()).await;
    assert_eq!(l["status"], "working");
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    let overdue = events_of(&app, "lead.first_touch_overdue").await;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0]["data"]["owner_id"], a.as_str());
}

#[actix_web::test]
async fn two_instances_on_one_database_fire_each_timer_once() {
    let app = spawn_app().await;
    let second = spawn_on(app.database_url.clone()).await;
    let team = app.create_team("华东").await;
    let (a, _) = rep(&app, "twin.a", &team, 50, json!({})).await;
    let (b, _) = rep(&app, "twin.b", &team, 50, json!({})).await;
    rule(
        &app,
        json!({"name": "r", "priority": 1, "pool": {"user_ids": [a, b]}, "strategy": "round_robin",
                      "claim_timeout_secs": 1, "max_reassignments": 1}),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let target = if i % 2 == 0 { &app } else { &second };
        let r = target
            .post("/leads", &app.admin, rich(&format!("双实例{i}"), "江苏"))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.id());
    }
    for id in &ids {
        wait_for(&app, id, |l| l["reassign_count"] == 1).await;
    }
    actix_web::rt::time::sleep(Duration::from_millis(800)).await;
    let reassigned = events_of(&app, "lead.reassigned").await;
    assert_eq!(
        reassigned.len(),
        10,
        "one re-assignment per lead across both instances"
    );
    let mut per_lead: Vec<&str> = reassigned
        .iter()
        .map(|e| e["entity_id"].as_str().unwrap())
        .collect();
    per_lead.sort();
    per_lead.dedup();
    assert_eq!(per_lead.len(), 10);
    let ok = app.get("/audit/verify", &app.admin).await;
    assert_eq!(ok.body["ok"], true, "{}", ok.text);
}

#[actix_web::test]
async fn a_model_change_rescores_open_leads_in_the_background() {
    let app = spawn_app().await;
    let id = app
        .create_lead(
            &app.admin,
            json!({"name": "重算", "phone": "13800138000", "source": "wechat"}),
        )
        .await
        .id();
    assert_eq!(
        app.get(&format!("/leads/{id}"), &app.admin).await.body["score"],
        25
    );
    let mut model = app.get("/config/scoring", &app.admin).await.body;
    for k in ["version", "updated_at", "rescore_pending"] {
        model.as_object_mut().unwrap().remove(k);
    }
    model["source_weights"]["wechat"] = json!(2.0);
    let saved = app.put("/config/scoring", &app.admin, model).await;
    assert_eq!(saved.body["rescore_pending"], 1, "{}", saved.text);
    let l = wait_for(&app, &id, |l| l["score"] == 62).await;
    assert_eq!(l["grade"], "B");
    let history = app.get(&format!("/leads/{id}/history"), &app.admin).await;
    assert!(history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "rescore"));
}

#[actix_web::test]
async fn a_rule_on_a_business_calendar_skips_holidays_for_the_claim_timer() {
    use chrono::TimeZone;
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (a, _) = rep(&app, "cal.a", &team, 10, json!({})).await;
    let shanghai = chrono_tz::Asia::Shanghai;
    let today = chrono::Utc::now().with_timezone(&shanghai).date_naive();
    let day = |n: i64| (today + chrono::Duration::days(n)).to_string();
    let body = json!({"name": "节假日", "time_zone": "Asia/Shanghai",
                      "hours": [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "24:00"}],
                      "holidays": [{"date": day(0), "name": "假日"}, {"date": day(1), "name": "假日"}]});
    let bad = app
        .post(
            "/calendars",
            &app.admin,
            json!({"name": "x", "time_zone": "Mars/Base", "hours": []}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    let (_, sales) = app.user("cal.sales", "sales", None).await;
    app.post("/calendars", &sales, body.clone())
        .await
        .assert_problem(403, "forbidden");
    let cal = app.post("/calendars", &app.admin, body).await;
    assert_eq!(cal.status, 201, "{}", cal.text);
    assert_eq!(
        app.get(&format!("/calendars/{}", cal.id()), &app.admin)
            .await
            .body["holidays"][0]["date"],
        day(0).as_str()
    );
    app.post(
        "/assignment-rules",
        &app.admin,
        json!({"name": "r", "priority": 1, "pool": {"user_ids": [a]}, "strategy": "round_robin",
        "calendar_id": "nope"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    rule(
        &app,
        json!({"name": "r", "priority": 1, "pool": {"user_ids": [a]}, "strategy": "round_robin",
                      "claim_timeout_secs": 3600, "calendar_id": cal.id()}),
    )
    .await;
    let lead = app.create_lead(&app.admin, rich("节后处理", "江苏")).await;
    let expected = shanghai
        .from_local_datetime(
            &(today + chrono::Duration::days(2))
                .and_hms_opt(1, 0, 0)
                .unwrap(),
        )
        .unwrap()
        .with_timezone(&chrono::Utc);
    let due: chrono::DateTime<chrono::Utc> =
        lead.body["claim_due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        due, expected,
        "the claim clock starts after the two holidays"
    );
}

async fn qualified_lead(app: &TestApp, owner: &str, body: Value) -> String {
    let id = app.create_lead(owner, body).await.id();
    assert_eq!(
        app.post(&format!("/leads/{id}/accept"), owner, Value::Null)
            .await
            .status,
        200
    );
    let due = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let a = app
        .post(&format!("/leads/{id}/activities"), owner,
              json!({"channel": "visit", "action": "needs_discovery", "reached": true, "summary": "需求确认",
                     "next_action": "demo", "next_action_due_at": due}))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(
        app.post(&format!("/leads/{id}/qualify"), owner, Value::Null)
            .await
            .status,
        200
    );
    id
}

#[actix_web::test]
async fn conversion_creates_or_links_the_account_and_opens_an_opportunity() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (rep_id, rep_token) = rep(&app, "conv", &team, 10, json!({})).await;
    let mut body = rich("陈明", "江苏");
    body["company"] = json!("苏州恒锐精工有限公司");
    body["product_interest"] = json!("激光焊接产线");
    body["email"] = json!("chen@hengrui.cn");
    let id = qualified_lead(&app, &rep_token, body).await;
    let early = app
        .create_lead(&rep_token, rich("未合格", "江苏"))
        .await
        .id();
    let r = app
        .post(&format!("/leads/{early}/convert"), &rep_token, json!({}))
        .await;
    r.assert_problem(409, "invalid_transition");
    assert_eq!(
        r.body["allowed"],
        json!(["working", "assigned", "unassigned", "disqualified"])
    );

    let c = app
        .post(&format!("/leads/{id}/convert"), &rep_token, json!({}))
        .await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["lead"]["status"], "converted");
    assert_eq!(c.body["account_created"], true);
    assert_eq!(c.body["contact_created"], true);
    let account = app
        .get(
            &format!("/accounts/{}", c.body["account_id"].as_str().unwrap()),
            &rep_token,
        )
        .await;
    assert_eq!(account.body["name"], "苏州恒锐精工有限公司");
    assert_eq!(account.body["owner_id"], rep_id.as_str());
    let contact = app
        .get(
            &format!("/contacts/{}", c.body["contact_id"].as_str().unwrap()),
            &rep_token,
        )
        .await;
    assert_eq!(
        (
            contact.body["name"].as_str(),
            contact.body["email"].as_str()
        ),
        (Some("陈明"), Some("chen@hengrui.cn"))
    );
    let opened = events_of(&app, "opportunity.created").await;
    assert_eq!(opened[0]["entity_id"], c.body["opportunity_id"]);
    assert_eq!(
        opened[0]["data"]["name"],
        "苏州恒锐精工有限公司 - 激光焊接产线"
    );
    assert_eq!(opened[0]["data"]["amount_cents"], 80000000);
    assert_eq!(opened[0]["data"]["stage"], "needs_confirmed");
    let converted = events_of(&app, "lead.converted").await;
    assert_eq!(
        converted[0]["data"]["opportunity_id"],
        c.body["opportunity_id"]
    );

    // A second lead of the same company links the account found by its name key.
    let mut again = rich("李娜", "江苏");
    again["company"] = json!("苏州恒锐精工");
    again["phone"] = json!("13900001111");
    let second = qualified_lead(&app, &rep_token, again).await;
    let c2 = app
        .post(
            &format!("/leads/{second}/convert"),
            &rep_token,
            json!({"opportunity_name": "二期"}),
        )
        .await;
    assert_eq!(c2.status, 200, "{}", c2.text);
    assert_eq!(c2.body["account_created"], false);
    assert_eq!(c2.body["account_id"], c.body["account_id"]);
    assert_eq!(c2.body["contact_created"], true);
    app.post(&format!("/leads/{second}/convert"), &rep_token, json!({}))
        .await
        .assert_problem(409, "invalid_transition");
}

#[actix_web::test]
async fn a_claim_timer_survives_a_restart_and_fires_once() {
    let mut app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (a, _) = rep(&app, "restart.a", &team, 10, json!({})).await;
    let (b, _) = rep(&app, "restart.b", &team, 10, json!({})).await;
    rule(
        &app,
        json!({"name": "r", "priority": 1, "pool": {"user_ids": [a, b]}, "strategy": "round_robin",
                      "claim_timeout_secs": 2, "max_reassignments": 2}),
    )
    .await;
    let id = app.create_lead(&app.admin, rich("重启", "江苏")).await.id();
    let admin = app.admin.clone();
    // The instance dies before the deadline; the deadline passes while nothing runs.
    app.stop.take().unwrap().stop().await;
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    let mut restarted = spawn_on(app.database_url.clone()).await;
    restarted.admin = admin;
    let l = wait_for(&restarted, &id, |l| l["reassign_count"] == 1).await;
    assert_eq!(l["owner_id"], b.as_str());
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(events_of(&restarted, "lead.reassigned").await.len(), 1);
}

#[actix_web::test]
async fn a_reps_load_follows_every_change_to_their_open_leads() {
    let app = spawn_app().await;
    let team = app.create_team("负载").await;
    let (a, a_token) = rep(&app, "load.a", &team, 100, json!({})).await;
    let (b, _) = rep(&app, "load.b", &team, 100, json!({})).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = app
            .create_lead(&app.admin, rich(&format!("负载{i}"), "广东"))
            .await
            .id();
        let r = app
            .post(
                &format!("/leads/{id}/assign"),
                &app.admin,
                json!({"owner_id": a, "reason": "分配"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        ids.push(id);
    }
    let step = |path: String, token: String, body: Value| {
        let app = &app;
        async move {
            let r = app.post(&path, &token, body).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
        }
    };
    step(
        format!("/leads/{}/accept", ids[0]),
        a_token.clone(),
        Value::Null,
    )
    .await;
    step(
        format!("/leads/{}/disqualify", ids[1]),
        a_token.clone(),
        json!({"reason": "no_need"}),
    )
    .await;
    step(
        format!("/leads/{}/assign", ids[2]),
        app.admin.clone(),
        json!({"owner_id": b, "reason": "转交"}),
    )
    .await;
    assert_eq!(
        app.delete(&format!("/leads/{}", ids[3]), &app.admin)
            .await
            .status,
        204
    );
    step(
        format!("/leads/{}/merge", ids[0]),
        a_token.clone(),
        json!({"duplicate_id": ids[4]}),
    )
    .await;

    rule(&app, json!({"name": "负载均衡", "priority": 1, "pool": {"team_id": team}, "strategy": "least_loaded"})).await;
    let sim = app
        .post(
            "/assignment-rules/simulate",
            &app.admin,
            json!({"lead": rich("模拟", "广东")}),
        )
        .await;
    assert_eq!(sim.status, 200, "{}", sim.text);
    let open_of = |id: &str| {
        sim.body["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["user_id"] == id)
            .unwrap()["open"]
            .as_i64()
            .unwrap()
    };
    let listed = |owner: &str| {
        let app = &app;
        let owner = owner.to_string();
        async move {
            let mut n = 0;
            for status in ["assigned", "working"] {
                n += app
                    .get(
                        &format!("/leads?owner_id={owner}&status={status}"),
                        &app.admin,
                    )
                    .await
                    .body["items"]
                    .as_array()
                    .unwrap()
                    .len() as i64;
            }
            n
        }
    };
    assert_eq!((open_of(&a), open_of(&b)), (1, 1), "{}", sim.text);
    assert_eq!((listed(&a).await, listed(&b).await), (1, 1));
}
