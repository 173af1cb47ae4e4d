use std::time::Duration;

use serde_json::{json, Value};

use crate::contracts::{deal, ok, org, signed_on};
use crate::helpers::{spawn_with, TestApp};

async fn fast() -> TestApp {
    spawn_with(|s| s.sweep_interval = Duration::from_millis(100)).await
}

/// Today in the company's zone, shifted by `days`.
fn day(days: i64) -> String {
    (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai) + chrono::Duration::days(days))
        .date_naive()
        .to_string()
}

struct Desk {
    service: String,
    engineer_id: String,
    account: String,
}

async fn desk(app: &TestApp) -> Desk {
    let team = app.create_team("杭州技术中心").await;
    let (engineer_id, _) = app.user("eng.hz", "engineer", Some(&team)).await;
    let (_, service) = app.user("desk", "service", None).await;
    let a = app
        .post(
            "/accounts",
            &service,
            json!({"name": "浙江省人民医院", "tier": "A", "phone": "0571-87666666"}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    Desk {
        service,
        engineer_id,
        account: a.id(),
    }
}

async fn order(app: &TestApp, d: &Desk, body: Value) -> Value {
    let mut b = json!({"type": "repair", "account_id": d.account, "contact_name": "王护士长",
                       "contact_phone": "13900139000", "description": "内镜图像发暗", "priority": "P2"});
    for (k, v) in body.as_object().unwrap() {
        b[k] = v.clone();
    }
    let r = app.post("/work-orders", &d.service, b).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn steps(app: &TestApp, d: &Desk, id: &str, steps: &[Value]) -> Value {
    let mut last = Value::Null;
    for s in steps {
        let r = app
            .post(
                &format!("/work-orders/{id}/transition"),
                &d.service,
                s.clone(),
            )
            .await;
        assert!(r.status.is_success(), "{s}: {}", r.text);
        last = r.body;
    }
    last
}

async fn close(app: &TestApp, d: &Desk, id: &str) -> Value {
    steps(
        app,
        d,
        id,
        &[
            json!({"to": "accepted"}),
            json!({"to": "dispatched", "engineer_id": d.engineer_id}),
            json!({"to": "on_site", "diagnosis": "光源老化"}),
            json!({"to": "customer_signed", "signer": "王护士长"}),
            json!({"to": "closed"}),
        ],
    )
    .await
}

async fn status_of(app: &TestApp, asset: &str, token: &str) -> Value {
    app.get(&format!("/assets/{asset}"), token).await.body["status"].clone()
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
async fn a_closed_delivery_order_puts_its_units_into_the_installed_base() {
    let app = spawn_with(|_| {}).await;
    let d = desk(&app).await;
    let delivery = order(
        &app,
        &d,
        json!({"type": "delivery", "product_model": "QM-ENDO-1", "description": "内镜系统交付"}),
    )
    .await;
    let id = delivery["id"].as_str().unwrap();
    // Serial numbers come with any step and add up; repeats and case do not matter.
    let done = steps(
        &app,
        &d,
        id,
        &[
            json!({"to": "accepted", "serial_numbers": ["qm-endo-1-0001"]}),
            json!({"to": "dispatched", "engineer_id": d.engineer_id}),
            json!({"to": "on_site", "diagnosis": "安装调试完成"}),
            json!({"to": "customer_signed", "signer": "设备科", "serial_numbers": ["QM-ENDO-1-0002", "QM-ENDO-1-0001"]}),
        ],
    )
    .await;
    assert_eq!(
        done["step_data"]["serial_numbers"],
        json!(["QM-ENDO-1-0001", "QM-ENDO-1-0002"])
    );
    // Nothing is installed before the order closes.
    let none = app
        .get(&format!("/assets?account_id={}", d.account), &d.service)
        .await;
    assert_eq!(none.body["items"], json!([]));
    steps(&app, &d, id, &[json!({"to": "closed"})]).await;

    let list = app
        .get(&format!("/assets?account_id={}", d.account), &d.service)
        .await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", list.text);
    let mut serials: Vec<&str> = items
        .iter()
        .map(|a| a["serial_number"].as_str().unwrap())
        .collect();
    serials.sort();
    assert_eq!(serials, ["QM-ENDO-1-0001", "QM-ENDO-1-0002"]);
    for a in items {
        assert_eq!(a["status"], "active");
        assert_eq!(a["product_model"], "QM-ENDO-1");
        assert_eq!(a["work_order_id"], id);
        assert_eq!(a["warranty_until"], day(365), "default warranty: 365 days");
        assert_eq!(a["in_warranty"], true);
        assert!(a["installed_at"].is_string());
    }
    assert_eq!(events_of(&app, "asset.created").await.len(), 2);

    // Only serial numbers belong on delivery orders.
    let repair = order(&app, &d, json!({})).await;
    app.post(
        &format!("/work-orders/{}/transition", repair["id"].as_str().unwrap()),
        &d.service,
        json!({"to": "accepted", "serial_numbers": ["X1"]}),
    )
    .await
    .assert_problem(422, "validation_failed");
    // A bad serial number is named.
    let bad = app
        .post(
            &format!("/work-orders/{id}/transition"),
            &d.service,
            json!({"to": "closed", "serial_numbers": ["QM 0001"]}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.body["errors"][0]["field"], "serial_numbers[0]");
}

#[actix_web::test]
async fn work_orders_link_to_their_asset_and_show_its_warranty() {
    let app = spawn_with(|_| {}).await;
    let d = desk(&app).await;
    let covered = app
        .post(
            "/assets",
            &d.service,
            json!({"serial_number": "qm-endo-1-0100", "product_model": "QM-ENDO-1", "account_id": d.account,
                   "installed_at": "2024-08-15T02:00:00Z", "warranty_until": day(30)}),
        )
        .await;
    assert_eq!(covered.status, 201, "{}", covered.text);
    assert_eq!(covered.body["serial_number"], "QM-ENDO-1-0100");
    assert!(covered.header("location").unwrap().ends_with(&covered.id()));
    let expired = app
        .post(
            "/assets",
            &d.service,
            json!({"serial_number": "QM-ENDO-1-0200", "account_id": d.account, "warranty_until": day(-1)}),
        )
        .await;
    assert_eq!(expired.status, 201, "{}", expired.text);
    assert_eq!(expired.body["in_warranty"], false);

    // A repair on a covered unit: linked, in warranty, and the unit is in repair until it ends.
    let r1 = order(&app, &d, json!({"device_sn": " qm-endo-1-0100 "})).await;
    assert_eq!(r1["device_sn"], "QM-ENDO-1-0100");
    assert_eq!(r1["asset_id"], covered.id());
    assert_eq!(r1["in_warranty"], true);
    assert_eq!(r1["unknown_asset"], false);
    let a = app
        .get(&format!("/assets/{}", covered.id()), &d.service)
        .await;
    assert_eq!(a.body["status"], "in_repair");
    // A second repair on it keeps it in repair until both end.
    let r2 = order(&app, &d, json!({"device_sn": "QM-ENDO-1-0100"})).await;
    close(&app, &d, r1["id"].as_str().unwrap()).await;
    let a = app
        .get(&format!("/assets/{}", covered.id()), &d.service)
        .await;
    assert_eq!(a.body["status"], "in_repair");
    ok(&app
        .post(
            &format!("/work-orders/{}/transition", r2["id"].as_str().unwrap()),
            &d.service,
            json!({"to": "cancelled", "reason": "重复报修"}),
        )
        .await);
    let a = app
        .get(&format!("/assets/{}", covered.id()), &d.service)
        .await;
    assert_eq!(a.body["status"], "active");
    // A repair whose serial is corrected to another unit, or that is deleted, releases it.
    let r5 = order(&app, &d, json!({"device_sn": "QM-ENDO-1-0100"})).await;
    assert_eq!(
        status_of(&app, &covered.id(), &d.service).await,
        "in_repair"
    );
    let moved = app
        .patch(
            &format!("/work-orders/{}", r5["id"].as_str().unwrap()),
            &d.service,
            json!({"device_sn": "QM-ENDO-1-7777"}),
            None,
        )
        .await;
    assert_eq!(moved.body["unknown_asset"], true, "{}", moved.text);
    assert_eq!(status_of(&app, &covered.id(), &d.service).await, "active");
    let r6 = order(&app, &d, json!({"device_sn": "QM-ENDO-1-0100"})).await;
    assert_eq!(
        status_of(&app, &covered.id(), &d.service).await,
        "in_repair"
    );
    let gone = app
        .delete(
            &format!("/work-orders/{}", r6["id"].as_str().unwrap()),
            &app.admin,
        )
        .await;
    assert!(gone.status.is_success(), "{}", gone.text);
    assert_eq!(status_of(&app, &covered.id(), &d.service).await, "active");

    // Out of warranty.
    let r3 = order(&app, &d, json!({"device_sn": "QM-ENDO-1-0200"})).await;
    assert_eq!(r3["in_warranty"], false);

    // An unknown serial number is accepted and flagged …
    let r4 = order(&app, &d, json!({"device_sn": "QM-ENDO-1-0999"})).await;
    assert_eq!(r4["unknown_asset"], true);
    assert_eq!(r4["asset_id"], Value::Null);
    assert_eq!(r4["in_warranty"], Value::Null);
    // … until the unit is synced from ERP: the open order links to it.
    let synced = app
        .put(
            "/assets/by-external/erp/FA-0999",
            &d.service,
            json!({"serial_number": "QM-ENDO-1-0999", "account_id": d.account, "warranty_until": day(100)}),
        )
        .await;
    assert_eq!(synced.status, 201, "{}", synced.text);
    let r4 = app
        .get(
            &format!("/work-orders/{}", r4["id"].as_str().unwrap()),
            &d.service,
        )
        .await;
    assert_eq!(r4.body["asset_id"], synced.id());
    assert_eq!(r4.body["unknown_asset"], false);
    assert_eq!(r4.body["in_warranty"], true);
    assert_eq!(
        app.get(&format!("/assets/{}", synced.id()), &d.service)
            .await
            .body["status"],
        "in_repair"
    );

    // The ERP upsert updates; a serial known from elsewhere takes the external id instead
    // of duplicating.
    let again = app
        .put(
            "/assets/by-external/erp/FA-0999",
            &d.service,
            json!({"serial_number": "QM-ENDO-1-0999", "account_id": d.account, "warranty_until": day(200), "status": "in_repair"}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["warranty_until"], day(200));
    let adopt = app
        .put(
            "/assets/by-external/erp/FA-0100",
            &d.service,
            json!({"serial_number": "QM-ENDO-1-0100", "account_id": d.account, "product_model": "QM-ENDO-1"}),
        )
        .await;
    assert_eq!(adopt.status, 200, "{}", adopt.text);
    assert_eq!(adopt.id(), covered.id());
    assert_eq!(
        adopt.body["external_refs"],
        json!([{"system": "erp", "external_id": "FA-0100"}])
    );
    let serial_change = app
        .put(
            "/assets/by-external/erp/FA-0100",
            &d.service,
            json!({"serial_number": "QM-ENDO-1-0101", "account_id": d.account}),
        )
        .await;
    serial_change.assert_problem(422, "validation_failed");

    // Bad input and duplicates.
    app.post(
        "/assets",
        &d.service,
        json!({"serial_number": "QM-ENDO-1-0100", "account_id": d.account}),
    )
    .await
    .assert_problem(409, "duplicate");
    let bad = app
        .post(
            "/assets",
            &d.service,
            json!({"serial_number": "有空格 1", "account_id": d.account, "warranty_until": "31/12/2027"}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["serial_number", "warranty_until"]);
    app.post(
        "/assets",
        &d.service,
        json!({"serial_number": "QM-1", "account_id": "nope"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    // Retiring needs the current version (2: the open repair took it in_repair).
    let stale = app
        .patch(
            &format!("/assets/{}", expired.id()),
            &d.service,
            json!({"status": "retired"}),
            Some(7),
        )
        .await;
    stale.assert_problem(412, "version_mismatch");
    let retired = app
        .patch(
            &format!("/assets/{}", expired.id()),
            &d.service,
            json!({"status": "retired"}),
            Some(2),
        )
        .await;
    assert_eq!(retired.body["status"], "retired", "{}", retired.text);
    let (_, rep) = app.user("rep", "sales", None).await;
    app.post(
        "/assets",
        &rep,
        json!({"serial_number": "QM-2", "account_id": d.account}),
    )
    .await
    .assert_problem(403, "forbidden");
    // A manager sees the whole installed base, like every work order.
    let team = app.create_team("服务部").await;
    let (_, manager) = app.user("svc.boss", "manager", Some(&team)).await;
    let seen = app
        .get(&format!("/assets/{}", covered.id()), &manager)
        .await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    // A rep sees no assets of accounts that are not theirs.
    app.get(&format!("/assets/{}", covered.id()), &rep)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn the_timeline_mixes_every_kind_newest_first_pages_and_hides_what_the_caller_may_not_see() {
    let app = spawn_with(|_| {}).await;
    let team = app.create_team("华东").await;
    let (_, manager) = app.user("boss", "manager", Some(&team)).await;
    let (_, rep) = app.user("rep1", "sales", Some(&team)).await;
    let (rep2_id, rep2) = app.user("rep2", "sales", Some(&team)).await;
    let (_, service) = app.user("desk", "service", None).await;

    // A lead of rep1, worked and converted: its earlier history joins the account.
    let lead = app
        .create_lead(
            &rep,
            json!({"name": "陈明", "company": "苏州恒锐精工有限公司", "phone": "13800138000",
                   "industry": "新能源汽车", "budget_cents": 100000000, "source": "web_form"}),
        )
        .await;
    assert_eq!(lead.status, 201, "{}", lead.text);
    let lead_id = lead.id();
    let due = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    ok(&app
        .post(
            &format!("/leads/{lead_id}/activities"),
            &rep,
            json!({"channel": "visit", "action": "needs_discovery", "reached": true, "summary": "确认需求",
                   "next_action": "demo", "next_action_due_at": due}),
        )
        .await);
    ok(&app
        .post(&format!("/leads/{lead_id}/accept"), &rep, Value::Null)
        .await);
    ok(&app
        .post(&format!("/leads/{lead_id}/qualify"), &rep, Value::Null)
        .await);
    let conv = app
        .post(&format!("/leads/{lead_id}/convert"), &rep, json!({}))
        .await;
    let account = ok(&conv)["account_id"].as_str().unwrap().to_string();
    let opp1 = conv.body["opportunity_id"].as_str().unwrap().to_string();
    // rep2's deal on the same account, and a work order.
    let opp2 = app
        .post(
            "/opportunities",
            &app.admin,
            json!({"account_id": account, "name": "二期", "owner_id": rep2_id}),
        )
        .await;
    assert_eq!(opp2.status, 201, "{}", opp2.text);
    let wo = app
        .post(
            "/work-orders",
            &service,
            json!({"type": "repair", "account_id": account, "description": "焊机报警"}),
        )
        .await;
    assert_eq!(wo.status, 201, "{}", wo.text);

    // Everything, newest first, for someone who sees all.
    let all = app
        .get(
            &format!("/accounts/{account}/timeline?limit=500"),
            &app.admin,
        )
        .await;
    let items = ok(&all)["items"].as_array().unwrap().clone();
    let ids: Vec<i64> = items.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    let types: Vec<&str> = items.iter().map(|i| i["type"].as_str().unwrap()).collect();
    for t in [
        "lead.created",
        "lead.accepted",
        "activity.created",
        "lead.converted",
        "account.created",
        "contact.created",
        "opportunity.created",
        "work_order.created",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    assert_eq!(types[0], "work_order.created");
    assert_eq!(items[0]["kind"], "work_order");
    // The conversion wrote several audit entries in one transaction: the chain holds.
    let chain = app.get("/audit/verify", &app.admin).await;
    assert_eq!(chain.body["ok"], true, "{}", chain.text);
    assert_eq!(all.body["next_cursor"], Value::Null);

    // Paging by two walks the same items without gaps or repeats.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/accounts/{account}/timeline?limit=2&before={c}"),
            None => format!("/accounts/{account}/timeline?limit=2"),
        };
        let p = app.get(&path, &app.admin).await;
        for i in ok(&p)["items"].as_array().unwrap() {
            walked.push(i["id"].as_i64().unwrap());
        }
        match p.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(walked, ids);

    // A type filter by family or exact name.
    let only = app
        .get(
            &format!("/accounts/{account}/timeline?types=work_order,lead.converted"),
            &app.admin,
        )
        .await;
    let t: Vec<&str> = ok(&only)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(t, ["work_order.created", "lead.converted"]);
    app.get(
        &format!("/accounts/{account}/timeline?types=weather"),
        &app.admin,
    )
    .await
    .assert_problem(422, "validation_failed");
    let bad_cursor = app
        .get(
            &format!("/accounts/{account}/timeline?before=zzz"),
            &app.admin,
        )
        .await;
    bad_cursor.assert_problem(422, "validation_failed");
    assert_eq!(bad_cursor.body["errors"][0]["field"], "before");

    // rep1 owns the account: sees their lead and deal, not rep2's deal nor the work order.
    let mine = app
        .get(&format!("/accounts/{account}/timeline?limit=500"), &rep)
        .await;
    let seen: Vec<(String, String)> = ok(&mine)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["entity"].as_str().unwrap().to_string(),
                i["entity_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(seen.contains(&("lead".into(), lead_id.clone())));
    assert!(seen.contains(&("opportunity".into(), opp1.clone())));
    assert!(!seen.iter().any(|(_, id)| *id == opp2.id()));
    assert!(!seen.iter().any(|(e, _)| e == "work_order"));
    // Small pages for rep1 still walk every visible item.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/accounts/{account}/timeline?limit=1&before={c}"),
            None => format!("/accounts/{account}/timeline?limit=1"),
        };
        let p = app.get(&path, &rep).await;
        for i in ok(&p)["items"].as_array().unwrap() {
            walked.push(i["id"].as_i64().unwrap());
        }
        match p.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(walked.len(), seen.len());
    // The manager sees both deals; rep2 does not see the account at all.
    let team_view = app
        .get(&format!("/accounts/{account}/timeline?limit=500"), &manager)
        .await;
    assert!(ok(&team_view)["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["entity_id"] == opp2.id()));
    app.get(&format!("/accounts/{account}/timeline"), &rep2)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn the_hotline_lookup_finds_the_caller_in_any_phone_format() {
    let app = spawn_with(|_| {}).await;
    let d = desk(&app).await;
    let c = app
        .post(
            "/contacts",
            &d.service,
            json!({"account_id": d.account, "name": "李娜", "title": "设备科科长", "phone": "13800138000",
                   "email": "li.na@zjph.cn", "decision_role": "decision_maker"}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let asset = app
        .post(
            "/assets",
            &d.service,
            json!({"serial_number": "QM-ENDO-1-0042", "product_model": "QM-ENDO-1", "account_id": d.account,
                   "warranty_until": day(90)}),
        )
        .await;
    assert_eq!(asset.status, 201, "{}", asset.text);
    // August maintenance, closed; and an open repair.
    let m = order(
        &app,
        &d,
        json!({"type": "maintenance", "device_sn": "QM-ENDO-1-0042"}),
    )
    .await;
    close(&app, &d, m["id"].as_str().unwrap()).await;
    let open = order(&app, &d, json!({"device_sn": "QM-ENDO-1-0042"})).await;

    let r = app
        .get("/lookup?phone=%2B86%20138-0013-8000", &d.service)
        .await;
    let body = ok(&r);
    assert_eq!(
        body["query"],
        json!({"by": "phone", "value": "13800138000"})
    );
    assert_eq!(body["contacts"][0]["id"], c.id());
    let acc = &body["accounts"][0];
    assert_eq!(acc["id"], d.account);
    assert_eq!(acc["decision_chain"][0]["name"], "李娜");
    assert_eq!(acc["open_work_orders"].as_array().unwrap().len(), 1);
    assert_eq!(acc["open_work_orders"][0]["id"], open["id"]);
    assert_eq!(acc["open_work_orders"][0]["in_warranty"], true);
    assert_eq!(acc["assets"][0]["serial_number"], "QM-ENDO-1-0042");
    assert_eq!(acc["assets"][0]["in_warranty"], true);
    assert!(acc["last_maintenance_at"].is_string(), "{}", r.text);
    assert_eq!(body["accounts"].as_array().unwrap().len(), 1);

    // By serial (any case) and by e-mail; the account's own landline too.
    let s = app.get("/lookup?serial=qm-endo-1-0042", &d.service).await;
    assert_eq!(ok(&s)["assets"][0]["id"], asset.id());
    assert_eq!(s.body["accounts"][0]["id"], d.account);
    let e = app.get("/lookup?email=LI.NA@zjph.cn", &d.service).await;
    assert_eq!(ok(&e)["contacts"][0]["id"], c.id());
    let l = app.get("/lookup?phone=0571-8766-6666", &d.service).await;
    assert_eq!(ok(&l)["accounts"][0]["id"], d.account);
    // The caller of a work order is found through it.
    let w = app.get("/lookup?phone=139%200013%209000", &d.service).await;
    assert_eq!(ok(&w)["accounts"][0]["id"], d.account);
    // Nobody.
    let n = app.get("/lookup?phone=13700000000", &d.service).await;
    assert_eq!(ok(&n)["accounts"], json!([]));

    // Exactly one key, well formed.
    let none = app.get("/lookup", &d.service).await;
    none.assert_problem(422, "validation_failed");
    assert_eq!(none.body["errors"][0]["field"], "query");
    let two = app.get("/lookup?phone=1&serial=x", &d.service).await;
    two.assert_problem(422, "validation_failed");
    assert_eq!(two.body["errors"][0]["field"], "serial");
    assert_eq!(two.body["errors"][0]["code"], "conflict");
    app.get("/lookup?phone=abc", &d.service)
        .await
        .assert_problem(422, "validation_failed");
    // A rep who does not own the account finds nothing of it.
    let (_, rep) = app.user("rep", "sales", None).await;
    let hidden = app.get("/lookup?phone=13800138000", &rep).await;
    assert_eq!(ok(&hidden)["contacts"], json!([]));
    assert_eq!(hidden.body["accounts"], json!([]));
}

#[actix_web::test]
async fn each_renewal_rule_fires_once_and_shows_on_the_account() {
    let app = fast().await;
    let o = org(&app).await;
    let opp = deal(&app, &o, "宁波第一医院").await;
    let account = app.get(&format!("/opportunities/{opp}"), &o.rep).await.body["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    let rules = json!({"repeat_repairs": {"min_orders": 2, "within_secs": 86400},
                       "contract_ending_within_secs": 2592000, "warranty_expiring_within_secs": 2592000});
    let bad = app
        .put(
            "/config/renewal-signals",
            &app.admin,
            json!({"repeat_repairs": {"min_orders": 1, "within_secs": 60}, "contract_ending_within_secs": null,
                   "warranty_expiring_within_secs": null}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    app.put("/config/renewal-signals", &o.rep, rules.clone())
        .await
        .assert_problem(403, "forbidden");
    let saved = app.put("/config/renewal-signals", &app.admin, rules).await;
    assert_eq!(ok(&saved)["version"], 1);

    // A contract ending in 20 days; one ending in a year does not signal.
    let ending = signed_on(
        &app,
        &o,
        &opp,
        "HT-END-1",
        1_000_000,
        json!({"end_date": day(20)}),
    )
    .await;
    let opp_b = deal(&app, &o, "宁波第二医院").await;
    signed_on(
        &app,
        &o,
        &opp_b,
        "HT-END-2",
        1_000_000,
        json!({"end_date": day(365)}),
    )
    .await;
    // A warranty running out in 10 days; a unit repaired twice today.
    let expiring = app
        .post(
            "/assets",
            &o.service,
            json!({"serial_number": "SN-W-1", "account_id": account, "warranty_until": day(10)}),
        )
        .await;
    assert_eq!(expiring.status, 201, "{}", expiring.text);
    let flaky = app
        .post(
            "/assets",
            &o.service,
            json!({"serial_number": "SN-R-1", "account_id": account, "warranty_until": day(700)}),
        )
        .await;
    assert_eq!(flaky.status, 201, "{}", flaky.text);
    for _ in 0..3 {
        let w = app
            .post(
                "/work-orders",
                &o.service,
                json!({"type": "repair", "account_id": account, "device_sn": "SN-R-1"}),
            )
            .await;
        assert_eq!(w.status, 201, "{}", w.text);
    }

    let mut signals = Vec::new();
    for _ in 0..100 {
        signals = events_of(&app, "account.renewal_signal").await;
        if signals.len() >= 3 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    // Several more sweeps raise nothing new.
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    let signals_after = events_of(&app, "account.renewal_signal").await;
    assert_eq!(signals_after.len(), 3, "{signals_after:?}");
    assert_eq!(signals.len(), 3);
    let mut reasons: Vec<(String, Value, Value)> = signals_after
        .iter()
        .map(|e| {
            assert_eq!(e["data"]["account_id"], account);
            (
                e["data"]["reason"].as_str().unwrap().to_string(),
                e["data"]["asset_id"].clone(),
                e["data"]["contract_id"].clone(),
            )
        })
        .collect();
    reasons.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        reasons,
        vec![
            ("contract_ending".to_string(), Value::Null, json!(ending)),
            ("repeat_repairs".to_string(), json!(flaky.id()), Value::Null),
            (
                "warranty_expiring".to_string(),
                json!(expiring.id()),
                Value::Null
            ),
        ]
    );
    let acc = app.get(&format!("/accounts/{account}"), &o.rep).await;
    let shown = ok(&acc)["signals"].as_array().unwrap();
    assert_eq!(shown.len(), 3, "{}", acc.text);
    let repeat = shown
        .iter()
        .find(|s| s["reason"] == "repeat_repairs")
        .unwrap();
    assert!(repeat["detail"]["repair_orders"].as_i64().unwrap() >= 2);
    // The timeline has them too.
    let tl = app
        .get(
            &format!("/accounts/{account}/timeline?types=account.renewal_signal"),
            &o.rep,
        )
        .await;
    assert_eq!(ok(&tl)["items"].as_array().unwrap().len(), 3);
}
