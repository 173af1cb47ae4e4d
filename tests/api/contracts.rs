use std::time::Duration;

use diesel::connection::SimpleConnection;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{raw_conn, spawn_with, Resp, TestApp};

/// The people of a deal and its back office.
pub struct Org {
    pub rep: String,
    pub manager: String,
    pub legal: String,
    pub finance: String,
    pub implementation: String,
    pub implementation_id: String,
    pub service: String,
}

pub async fn org(app: &TestApp) -> Org {
    let team = app.create_team("华东").await;
    let (_, manager) = app.user("east.boss", "manager", Some(&team)).await;
    let (_, rep) = app.user("east.rep", "sales", Some(&team)).await;
    let (_, legal) = app.user("legal", "legal", None).await;
    let (_, finance) = app.user("finance", "finance", None).await;
    let (implementation_id, implementation) = app.user("impl", "implementation", None).await;
    let (_, service) = app.user("service", "service", None).await;
    Org {
        rep,
        manager,
        legal,
        finance,
        implementation,
        implementation_id,
        service,
    }
}

/// A deal owned by the rep on a new account, opened directly.
pub async fn deal(app: &TestApp, o: &Org, account: &str) -> String {
    let a = app
        .post("/accounts", &o.rep, json!({"name": account}))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let d = app
        .post(
            "/opportunities",
            &o.rep,
            json!({"account_id": a.id(), "name": "激光焊接产线", "amount_cents": 100000000}),
        )
        .await;
    assert_eq!(d.status, 201, "{}", d.text);
    d.id()
}

async fn contract(app: &TestApp, o: &Org, opp: &str, number: &str, amount: i64) -> String {
    contract_with(app, o, opp, number, amount, json!({})).await
}

async fn contract_with(
    app: &TestApp,
    o: &Org,
    opp: &str,
    number: &str,
    amount: i64,
    extra: Value,
) -> String {
    let mut body = json!({"opportunity_id": opp, "number": number, "title": "采购合同", "amount_cents": amount});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let c = app.post("/contracts", &o.rep, body).await;
    assert_eq!(c.status, 201, "{}", c.text);
    c.id()
}

pub fn ok(r: &Resp) -> &Value {
    assert!(r.status.is_success(), "{} {}", r.status, r.text);
    &r.body
}

/// A contract taken through review and signing; returns its id.
async fn signed(app: &TestApp, o: &Org, number: &str, amount: i64) -> String {
    let opp = deal(app, o, &format!("{number} 客户")).await;
    signed_on(app, o, &opp, number, amount, json!({})).await
}

/// A contract of `opp` (with `extra` create fields) taken through review and signing.
pub async fn signed_on(
    app: &TestApp,
    o: &Org,
    opp: &str,
    number: &str,
    amount: i64,
    extra: Value,
) -> String {
    let id = contract_with(app, o, opp, number, amount, extra).await;
    ok(&app
        .post(&format!("/contracts/{id}/submit"), &o.rep, Value::Null)
        .await);
    ok(&app
        .post(&format!("/contracts/{id}/approve"), &o.legal, json!({}))
        .await);
    let plan = json!({"installments": [{"seq": 1, "due_date": "2026-12-01", "amount_cents": amount / 2},
                                       {"seq": 2, "due_date": "2027-03-01", "amount_cents": amount - amount / 2}]});
    ok(&app
        .put(&format!("/contracts/{id}/installments"), &o.rep, plan)
        .await);
    ok(&app
        .post(
            &format!("/contracts/{id}/sign"),
            &o.rep,
            json!({"signed_at": ago(3600), "signatory": "王总", "signature_ref": "ES-1"}),
        )
        .await);
    id
}

fn ago(secs: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(secs)).to_rfc3339()
}

async fn events_of(app: &TestApp, types: &str) -> Vec<Value> {
    app.get(&format!("/events?types={types}&limit=500"), &app.admin)
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn codes(r: &Resp) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect()
}

async fn fast_app() -> TestApp {
    spawn_with(|s| s.sweep_interval = Duration::from_millis(100)).await
}

#[actix_web::test]
async fn a_lead_goes_all_the_way_to_a_live_contract_and_its_nps() {
    let app = fast_app().await;
    let o = org(&app).await;
    ok(&app
        .put("/config/contracts", &app.admin, json!({"finance_approval_threshold_cents": 50000000, "nps_delay_secs": 1, "delivery_team_id": null}))
        .await);

    // Lead → qualified → converted.
    let lead = app
        .create_lead(&o.rep, json!({"name": "陈明", "company": "苏州恒锐精工有限公司", "phone": "13800138000",
                                     "industry": "新能源汽车", "budget_cents": 100000000, "source": "web_form"}))
        .await
        .id();
    let due = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    ok(&app
        .post(&format!("/leads/{lead}/activities"), &o.rep,
              json!({"channel": "visit", "action": "needs_discovery", "reached": true, "summary": "确认需求",
                     "next_action": "demo", "next_action_due_at": due}))
        .await);
    ok(&app
        .post(&format!("/leads/{lead}/accept"), &o.rep, Value::Null)
        .await);
    ok(&app
        .post(&format!("/leads/{lead}/qualify"), &o.rep, Value::Null)
        .await);
    let conv = app
        .post(&format!("/leads/{lead}/convert"), &o.rep, json!({}))
        .await;
    let opp = ok(&conv)["opportunity_id"].as_str().unwrap().to_string();
    let deal = app.get(&format!("/opportunities/{opp}"), &o.rep).await;
    assert_eq!(deal.body["stage"], "needs_confirmed");

    // Quote within the discount limit: approved at once.
    let q = app
        .post(&format!("/opportunities/{opp}/quotes"), &o.rep,
              json!({"items": [{"sku": "LW-3000", "quantity": 1, "unit_price_cents": 100000000}], "discount_pct": 5}))
        .await;
    let q = ok(&q)["id"].as_str().unwrap().to_string();
    let sub = app
        .post(&format!("/quotes/{q}/submit"), &o.rep, Value::Null)
        .await;
    assert_eq!(ok(&sub)["status"], "approved");

    // Contract: review by legal and (above the threshold) finance.
    let id = contract(&app, &o, &opp, "HT-2026-0001", 95000000).await;
    let path = format!("/contracts/{id}");
    app.post(
        &format!("{path}/sign"),
        &o.rep,
        json!({"signed_at": ago(60), "signatory": "王总", "signature_ref": "ES-1"}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let submitted = app
        .post(&format!("{path}/submit"), &o.rep, Value::Null)
        .await;
    assert_eq!(
        ok(&submitted)["required_approvals"],
        json!(["legal", "finance"])
    );
    app.post(&format!("{path}/approve"), &o.rep, json!({}))
        .await
        .assert_problem(403, "forbidden");
    let legal = app
        .post(
            &format!("{path}/approve"),
            &o.legal,
            json!({"comment": "付款条件修订", "clause_revisions": ["payment_terms", "liability"]}),
        )
        .await;
    assert_eq!(
        ok(&legal)["status"],
        "in_review",
        "finance still has to approve"
    );
    let fin = app
        .post(
            &format!("{path}/approve"),
            &o.finance,
            json!({"comment": "同意"}),
        )
        .await;
    assert_eq!(ok(&fin)["status"], "approved");
    assert_eq!(
        fin.body["approvals"][0]["clause_revisions"],
        json!(["payment_terms", "liability"])
    );
    assert_eq!(fin.body["approvals"][1]["role"], "finance");

    // Installments must sum to the amount.
    let bad = app
        .put(&format!("{path}/installments"), &o.rep,
             json!({"installments": [{"seq": 1, "due_date": "2026-12-01", "amount_cents": 30000000},
                                     {"seq": 2, "due_date": "2027-03-01", "amount_cents": 60000000}]}))
        .await;
    bad.assert_problem(422, "validation_failed");
    assert!(bad.text.contains("difference 5000000"), "{}", bad.text);
    ok(&app
        .put(&format!("{path}/installments"), &o.rep,
             json!({"installments": [{"seq": 1, "due_date": "2026-12-01", "amount_cents": 30000000},
                                     {"seq": 2, "due_date": "2027-03-01", "amount_cents": 65000000}]}))
        .await);

    // Signing: delivery order, invoice request, won deal, in one go.
    let signed = app
        .post(
            &format!("{path}/sign"),
            &o.rep,
            json!({"signed_at": ago(3600), "signatory": "王建国", "signature_ref": "ES-42"}),
        )
        .await;
    assert_eq!(ok(&signed)["status"], "signed");
    let wo = signed.body["work_order_ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let won = app.get(&format!("/opportunities/{opp}"), &o.rep).await;
    assert_eq!(
        (won.body["status"].as_str(), won.body["stage"].as_str()),
        (Some("won"), Some("payment_tracking"))
    );
    let invoice = events_of(&app, "invoice.requested").await;
    assert_eq!(invoice.len(), 1);
    assert_eq!(invoice[0]["data"]["amount_cents"], 95000000);
    assert_eq!(
        invoice[0]["data"]["first_installment"]["amount_cents"],
        30000000
    );
    assert_eq!(events_of(&app, "delivery.created").await.len(), 1);
    app.patch(&path, &o.rep, json!({"amount_cents": 1}), None)
        .await
        .assert_problem(409, "conflict");

    // Payments against the installments.
    let pay = |txn: &str, amount: i64, seq: Option<i32>| json!({"bank_txn_id": txn, "amount_cents": amount, "paid_at": ago(60), "installment_seq": seq});
    app.post(
        &format!("{path}/payments"),
        &o.legal,
        pay("ICBC-1", 30000000, Some(1)),
    )
    .await
    .assert_problem(403, "forbidden");
    let p1 = app
        .post(
            &format!("{path}/payments"),
            &o.finance,
            pay("ICBC-1", 30000000, Some(1)),
        )
        .await;
    assert_eq!(p1.status, 201, "{}", p1.text);
    app.put(
        &format!("{path}/installments"),
        &o.rep,
        json!({"installments": [{"seq": 1, "due_date": "2026-12-01", "amount_cents": 95000000}]}),
    )
    .await
    .assert_problem(409, "conflict");
    let p2 = app
        .post(
            &format!("{path}/payments"),
            &o.finance,
            pay("ICBC-2", 64900000, Some(2)),
        )
        .await;
    assert_eq!(p2.status, 201, "within 0.5%: {}", p2.text);
    let c = app.get(&path, &o.finance).await;
    assert_eq!(c.body["paid_cents"], 94900000);
    assert_eq!(c.body["outstanding_cents"], 100000);
    assert_eq!(c.body["installments"][1]["status"], "paid");
    assert_eq!(events_of(&app, "payment.recorded").await.len(), 2);

    // Delivery cannot start before the success plan; go-live neither.
    let wo_path = format!("/work-orders/{wo}");
    let refused = app
        .post(
            &format!("{wo_path}/transition"),
            &o.service,
            json!({"to": "accepted"}),
        )
        .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.body["missing"][0]["requirement"], "success_plan");
    app.post(
        &format!("{path}/go-live"),
        &o.implementation,
        json!({"live_at": ago(1)}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let plan = json!({"milestones": [
        {"day": 30, "title": "安装调试", "owner_id": o.implementation_id, "due_date": "2027-01-15"},
        {"day": 60, "title": "培训试产", "owner_id": o.implementation_id, "due_date": "2027-02-15"},
        {"day": 90, "title": "量产验收", "owner_id": o.implementation_id, "due_date": "2027-03-15"}]});
    let mut short = plan.clone();
    short["milestones"].as_array_mut().unwrap().pop();
    app.put(&format!("{path}/success-plan"), &o.implementation, short)
        .await
        .assert_problem(422, "validation_failed");
    ok(&app
        .put(&format!("{path}/success-plan"), &o.implementation, plan)
        .await);
    let accepted = app
        .post(
            &format!("{wo_path}/transition"),
            &o.service,
            json!({"to": "accepted"}),
        )
        .await;
    assert_eq!(ok(&accepted)["status"], "accepted");
    app.post(
        &format!("{wo_path}/transition"),
        &o.service,
        json!({"to": "on_site", "diagnosis": "x"}),
    )
    .await
    .assert_problem(409, "invalid_transition");

    // Go-live schedules the NPS survey (1 s here); the sweeper announces it once.
    let live = app
        .post(
            &format!("{path}/go-live"),
            &o.implementation,
            json!({"live_at": ago(1)}),
        )
        .await;
    assert_eq!(ok(&live)["status"], "active");
    let mut due_events = Vec::new();
    for _ in 0..50 {
        due_events = events_of(&app, "nps.survey_due").await;
        if !due_events.is_empty() {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(due_events.len(), 1, "nps.survey_due never came");
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        events_of(&app, "nps.survey_due").await.len(),
        1,
        "announced once"
    );
    app.post(
        &format!("{path}/nps"),
        &o.implementation,
        json!({"score": 11}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let nps = app
        .post(
            &format!("{path}/nps"),
            &o.implementation,
            json!({"score": 9, "comment": "交付及时"}),
        )
        .await;
    assert_eq!(ok(&nps)["nps_score"], 9);
    assert_eq!(events_of(&app, "nps.recorded").await.len(), 1);
    let done = app
        .post(&format!("{path}/complete"), &o.rep, Value::Null)
        .await;
    assert_eq!(ok(&done)["status"], "completed");
    let kinds: Vec<String> = events_of(&app, "contract.*")
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    for k in [
        "contract.submitted",
        "contract.approved",
        "contract.signed",
        "contract.live",
        "contract.completed",
    ] {
        assert!(kinds.contains(&k.to_string()), "{k} missing from {kinds:?}");
    }
}

#[actix_web::test]
async fn review_rejects_back_to_draft_and_the_lifecycle_refuses_other_moves() {
    let app = fast_app().await;
    let o = org(&app).await;
    let opp = deal(&app, &o, "杭州新锐").await;
    let id = contract(&app, &o, &opp, "HT-1", 1000000).await;
    let path = format!("/contracts/{id}");
    app.post(
        "/contracts",
        &o.rep,
        json!({"opportunity_id": opp, "number": "HT-1", "title": "x", "amount_cents": 5}),
    )
    .await
    .assert_problem(409, "duplicate");
    app.post(
        "/contracts",
        &o.rep,
        json!({"opportunity_id": opp, "number": "", "title": "", "amount_cents": 0}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let etag = "\"9\"";
    app.send(
        Method::POST,
        &format!("{path}/submit"),
        &o.rep,
        Value::Null,
        &[("if-match", etag)],
    )
    .await
    .assert_problem(412, "version_mismatch");
    ok(&app
        .post(&format!("{path}/submit"), &o.manager, Value::Null)
        .await);
    app.patch(&path, &o.rep, json!({"amount_cents": 900000}), None)
        .await
        .assert_problem(409, "conflict");
    app.post(&format!("{path}/approve"), &o.finance, json!({}))
        .await
        .assert_problem(403, "forbidden");
    app.post(&format!("{path}/reject"), &o.legal, json!({}))
        .await
        .assert_problem(422, "validation_failed");
    let rejected = app
        .post(
            &format!("{path}/reject"),
            &o.legal,
            json!({"comment": "违约责任条款需修改", "clause_revisions": ["liability"]}),
        )
        .await;
    assert_eq!(ok(&rejected)["status"], "rejected");
    let t = app
        .post(&format!("{path}/terminate"), &o.rep, json!({"reason": "x"}))
        .await;
    t.assert_problem(409, "invalid_transition");
    assert_eq!(t.body["allowed"], json!(["draft"]));
    let edited = app
        .patch(&path, &o.rep, json!({"amount_cents": 900000}), None)
        .await;
    assert_eq!(ok(&edited)["status"], "draft");
    ok(&app
        .post(&format!("{path}/submit"), &o.rep, Value::Null)
        .await);
    let approved = app
        .post(&format!("{path}/approve"), &o.legal, json!({}))
        .await;
    assert_eq!(ok(&approved)["status"], "approved");
    assert_eq!(
        approved.body["approvals"].as_array().unwrap().len(),
        2,
        "the trail keeps both rounds"
    );
    app.post(
        &format!("{path}/payments"),
        &o.finance,
        json!({"bank_txn_id": "T-0", "amount_cents": 900000, "paid_at": ago(1)}),
    )
    .await
    .assert_problem(422, "payment_rejected");
    let term = app
        .post(
            &format!("{path}/terminate"),
            &o.manager,
            json!({"reason": "客户取消采购"}),
        )
        .await;
    assert_eq!(ok(&term)["status"], "terminated");
    assert_eq!(events_of(&app, "contract.rejected").await.len(), 1);

    // ERP upsert: 201 then 200, and the number stays unique.
    let body =
        json!({"opportunity_id": opp, "number": "ERP-7", "title": "ERP 合同", "amount_cents": 500});
    let first = app
        .put("/contracts/by-external/erp/7", &o.rep, body.clone())
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let mut changed = body.clone();
    changed["title"] = json!("ERP 合同（修订）");
    let second = app
        .put("/contracts/by-external/erp/7", &o.rep, changed)
        .await;
    assert_eq!((second.status.as_u16(), second.id()), (200, first.id()));
}

#[actix_web::test]
async fn each_payment_check_refuses_with_its_code() {
    let app = fast_app().await;
    let o = org(&app).await;
    let id = signed(&app, &o, "HT-P", 1000000).await;
    let path = format!("/contracts/{id}/payments");
    let post = |body: Value| {
        let (app, path, finance) = (&app, path.clone(), o.finance.clone());
        async move { app.post(&path, &finance, body).await }
    };
    let r = post(json!({"amount_cents": 500000, "paid_at": ago(60), "installment_seq": 1})).await;
    r.assert_problem(422, "payment_rejected");
    assert_eq!(codes(&r), vec!["bank_txn_missing"]);
    let r = post(json!({"bank_txn_id": "T-1", "amount_cents": 490000, "paid_at": ago(60), "installment_seq": 1})).await;
    assert_eq!(codes(&r), vec!["amount_out_of_tolerance"]);
    let r = post(json!({"bank_txn_id": "T-1", "amount_cents": 500000, "paid_at": ago(86400), "installment_seq": 1})).await;
    assert_eq!(codes(&r), vec!["paid_before_signing"]);
    assert_eq!(post(json!({"bank_txn_id": "T-1", "amount_cents": 502500, "paid_at": ago(60), "installment_seq": 1})).await.status, 201);
    let r = post(json!({"bank_txn_id": "T-1", "amount_cents": 500000, "paid_at": ago(60), "installment_seq": 2})).await;
    assert_eq!(codes(&r), vec!["bank_txn_reused"]);
    // Within-tolerance installment payments can never overpay by themselves (the
    // installments' tolerances add up to the contract's), so overpaying also misses the
    // amount due.
    let r = post(json!({"bank_txn_id": "T-2", "amount_cents": 600000, "paid_at": ago(60)})).await;
    assert_eq!(
        codes(&r),
        vec!["amount_out_of_tolerance", "overpaid"],
        "{}",
        r.text
    );
    assert_eq!(
        post(json!({"bank_txn_id": "T-3", "amount_cents": 497500, "paid_at": ago(60)}))
            .await
            .status,
        201
    );
    let listed = app.get(&path, &o.rep).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn a_bank_transaction_posted_twice_at_once_is_stored_once() {
    let app = fast_app().await;
    let o = org(&app).await;
    let id = signed(&app, &o, "HT-C", 1000000).await;
    let path = format!("/contracts/{id}/payments");
    let body = json!({"bank_txn_id": "CCB-DOUBLE", "amount_cents": 500000, "paid_at": ago(60), "installment_seq": 1});
    let (a, b) = futures_util::future::join(
        app.post(&path, &o.finance, body.clone()),
        app.post(&path, &o.finance, body.clone()),
    )
    .await;
    let mut statuses = vec![a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, vec![201, 422], "{} / {}", a.text, b.text);
    let loser = if a.status == 422 { &a } else { &b };
    assert!(
        codes(loser).contains(&"bank_txn_reused".to_string()),
        "{}",
        loser.text
    );
    assert_eq!(
        app.get(&path, &o.finance).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The same id on another installment of another contract is refused too.
    let other = signed(&app, &o, "HT-C2", 1000000).await;
    let r = app
        .post(&format!("/contracts/{other}/payments"), &o.finance, body)
        .await;
    assert_eq!(codes(&r), vec!["bank_txn_reused"]);
}

#[actix_web::test]
async fn a_signing_that_fails_halfway_leaves_nothing_behind() {
    let app = fast_app().await;
    let o = org(&app).await;
    let opp = deal(&app, &o, "宁波精密").await;
    let id = contract(&app, &o, &opp, "HT-F", 1000).await;
    ok(&app
        .post(&format!("/contracts/{id}/submit"), &o.rep, Value::Null)
        .await);
    ok(&app
        .post(&format!("/contracts/{id}/approve"), &o.legal, json!({}))
        .await);
    // Take the delivery order's number first, so its insert fails after the contract row
    // was already updated in the signing transaction.
    let account = app.get(&format!("/contracts/{id}"), &o.rep).await.body["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    let year = chrono::Utc::now().format("%Y");
    raw_conn(&app)
        .batch_execute(&format!(
            "INSERT INTO work_orders (id, number, type, status, account_id, priority, channel, routing, paused_secs,
                                      step_data, created_by, version, created_at, updated_at)
             VALUES ('squatter', 'WO-{year}-000001', 'repair', 'new', '{account}', 'P3', 'api', 'null', 0,
                     '{{}}', 'test', 1, 0, 0)"
        ))
        .unwrap();
    let r = app
        .post(
            &format!("/contracts/{id}/sign"),
            &o.rep,
            json!({"signed_at": ago(60), "signatory": "王总", "signature_ref": "ES-1"}),
        )
        .await;
    r.assert_problem(409, "conflict");
    let c = app.get(&format!("/contracts/{id}"), &o.rep).await;
    assert_eq!(c.body["status"], "approved");
    assert!(c.body["signed_at"].is_null());
    assert_eq!(c.body["work_order_ids"], json!([]));
    assert_eq!(
        app.get(&format!("/opportunities/{opp}"), &o.rep).await.body["status"],
        "open"
    );
    for t in [
        "contract.signed",
        "invoice.requested",
        "delivery.created",
        "opportunity.won",
    ] {
        assert!(events_of(&app, t).await.is_empty(), "{t} leaked");
    }
    // The sequence rolled back with the transaction, so the number is still taken.
    let again = app
        .post(
            &format!("/contracts/{id}/sign"),
            &o.rep,
            json!({"signed_at": ago(60), "signatory": "王总", "signature_ref": "ES-1"}),
        )
        .await;
    again.assert_problem(409, "conflict");
    raw_conn(&app)
        .batch_execute("DELETE FROM work_orders WHERE id = 'squatter'")
        .unwrap();
    let third = app
        .post(
            &format!("/contracts/{id}/sign"),
            &o.rep,
            json!({"signed_at": ago(60), "signatory": "王总", "signature_ref": "ES-1"}),
        )
        .await;
    assert_eq!(ok(&third)["status"], "signed");
}

#[actix_web::test]
async fn contract_settings_and_scopes_are_enforced() {
    let app = fast_app().await;
    let o = org(&app).await;
    app.put("/config/contracts", &o.manager, json!({"finance_approval_threshold_cents": 1, "nps_delay_secs": 1, "delivery_team_id": null}))
        .await
        .assert_problem(403, "forbidden");
    app.put("/config/contracts", &app.admin, json!({"finance_approval_threshold_cents": -1, "nps_delay_secs": 1, "delivery_team_id": "nope"}))
        .await
        .assert_problem(422, "validation_failed");
    app.put("/config/contracts", &app.admin, json!({"finance_approval_threshold_cents": 1, "nps_delay_secs": 1, "delivery_team_id": "nope"}))
        .await
        .assert_problem(422, "validation_failed");
    let id = signed(&app, &o, "HT-S", 1000).await;
    let (_, stranger) = app.user("west.rep", "sales", None).await;
    app.get(&format!("/contracts/{id}"), &stranger)
        .await
        .assert_problem(404, "not_found");
    let wo = app.get(&format!("/contracts/{id}"), &o.rep).await.body["work_order_ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    app.get(&format!("/work-orders/{wo}"), &o.rep)
        .await
        .assert_problem(404, "not_found");
    let w = app.get(&format!("/work-orders/{wo}"), &o.service).await;
    assert_eq!(
        (w.body["type"].as_str(), w.body["status"].as_str()),
        (Some("delivery"), Some("new"))
    );
    assert!(w.body["number"].as_str().unwrap().starts_with("WO-"));
}
