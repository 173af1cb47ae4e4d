use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn dedup_check_finds_the_field_examples_without_storing() {
    let app = spawn_app().await;
    let stored = app
        .create_lead(&app.admin, json!({"name": "陈明", "phone": "13800138000", "company": "苏州恒锐精工有限公司", "province": "江苏"}))
        .await
        .id();
    let before = app.get("/events", &app.admin).await.body["next_after"]
        .as_i64()
        .unwrap();
    let by_phone = app
        .post(
            "/leads/dedup-check",
            &app.admin,
            json!({"name": "陈先生", "phone": "+86 138-0013-8000"}),
        )
        .await;
    assert_eq!(by_phone.status, 200, "{}", by_phone.text);
    let hits = by_phone.body.as_array().unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["lead_id"], stored.as_str());
    assert_eq!(hits[0]["matched_on"], json!(["phone"]));
    assert_eq!(hits[0]["similarity"], 1.0);
    let diff_fields: Vec<&str> = hits[0]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert!(
        diff_fields.contains(&"name") && diff_fields.contains(&"company"),
        "{diff_fields:?}"
    );
    let name_diff = hits[0]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["field"] == "name")
        .unwrap()
        .clone();
    assert_eq!(
        name_diff,
        json!({"field": "name", "this": "陈先生", "other": "陈明"})
    );

    let by_company = app
        .post(
            "/leads/dedup-check",
            &app.admin,
            json!({"name": "李", "phone": "13900000000", "company": "苏州恒锐精工"}),
        )
        .await;
    let hits = by_company.body.as_array().unwrap();
    assert_eq!(hits.len(), 1, "{}", by_company.text);
    assert_eq!(hits[0]["matched_on"], json!(["company_name"]));
    let none = app
        .post(
            "/leads/dedup-check",
            &app.admin,
            json!({"name": "王", "phone": "13900000001", "company": "苏州东方电气"}),
        )
        .await;
    assert!(none.body.as_array().unwrap().is_empty(), "{}", none.text);
    let after = app
        .get(&format!("/events?after={before}"), &app.admin)
        .await;
    assert!(
        after.body["items"].as_array().unwrap().is_empty(),
        "a check stores nothing"
    );
    app.post(
        "/leads/dedup-check",
        &app.admin,
        json!({"name": "x", "phone": "nope"}),
    )
    .await
    .assert_problem(422, "validation_failed");
}

#[actix_web::test]
async fn a_suspected_duplicate_is_stored_flagged_and_announced() {
    let app = spawn_app().await;
    let first = app
        .create_lead(
            &app.admin,
            json!({"name": "A", "email": "li@hengrui.cn", "company": "苏州恒锐精工有限公司"}),
        )
        .await;
    assert_eq!(first.body["possible_duplicate"], false);
    let second = app
        .create_lead(
            &app.admin,
            json!({"name": "B", "email": "wang@hengrui.cn", "company": "苏州恒锐精工股份有限公司"}),
        )
        .await;
    assert_eq!(second.body["possible_duplicate"], true);
    let cands = second.body["duplicate_candidates"].as_array().unwrap();
    assert_eq!(cands[0]["lead_id"], first.body["id"]);
    assert_eq!(
        cands[0]["matched_on"],
        json!(["email_domain+company", "company_name"])
    );
    let ev = app
        .get("/events?types=lead.duplicate_suspected", &app.admin)
        .await;
    assert_eq!(ev.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(ev.body["items"][0]["entity_id"], second.body["id"]);
}

#[actix_web::test]
async fn at_most_twenty_live_duplicates_are_listed_best_first() {
    let app = spawn_app().await;
    // One company block (恒锐…): every company is similar to the probe's, the first lead
    // also has its phone.
    let mut ids = Vec::new();
    for (i, c) in "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"
        .chars()
        .enumerate()
    {
        let phone = if i == 0 { 13700000000 } else { 13700001000 + i };
        let body = json!({"name": format!("客户{i}"), "phone": phone.to_string(),
                          "company": format!("恒锐精工机械{c}有限公司")});
        ids.push(app.create_lead(&app.admin, body).await.id());
    }
    let deleted = ids[1].clone();
    let gone = app.delete(&format!("/leads/{deleted}"), &app.admin).await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    app.get(&format!("/leads/{deleted}"), &app.admin)
        .await
        .assert_problem(404, "not_found");
    let check = app
        .post(
            "/leads/dedup-check",
            &app.admin,
            json!({"name": "探", "phone": "13700000000", "company": "恒锐精工机械有限公司"}),
        )
        .await;
    assert_eq!(check.status, 200, "{}", check.text);
    let hits = check.body.as_array().unwrap();
    assert_eq!(hits.len(), 20, "{}", check.text);
    assert_eq!(hits[0]["lead_id"], ids[0].as_str());
    assert_eq!(hits[0]["similarity"], 1.0);
    let rest: Vec<(f64, String)> = hits[1..]
        .iter()
        .map(|h| {
            assert!(h["matched_on"] == json!(["company_name"]), "{h}");
            (
                h["similarity"].as_f64().unwrap(),
                h["lead_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut expected = rest.clone();
    expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(rest, expected, "best first, then by id");
    assert!(
        hits.iter().all(|h| h["lead_id"] != deleted.as_str()),
        "a deleted lead is no duplicate"
    );
    let mut live: Vec<&String> = ids[2..].iter().collect();
    live.sort();
    let listed: Vec<&String> = rest.iter().map(|(_, id)| id).collect();
    if rest.iter().all(|(s, _)| *s == rest[0].0) {
        assert_eq!(
            listed,
            live[..19].to_vec(),
            "equally similar: the oldest ids"
        );
    }
}

#[actix_web::test]
async fn concurrent_creates_with_one_phone_are_all_stored_and_all_but_the_first_flagged() {
    let app = spawn_app().await;
    let futures: Vec<_> = (0..8)
        .map(|i| {
            app.post(
                "/leads",
                &app.admin,
                json!({"name": format!("并发{i}"), "phone": "+86 139 1234 5678"}),
            )
        })
        .collect();
    let results = futures_util::future::join_all(futures).await;
    assert!(
        results.iter().all(|r| r.status == 201),
        "{:?}",
        results.iter().map(|r| r.text.clone()).collect::<Vec<_>>()
    );
    let flagged = results
        .iter()
        .filter(|r| r.body["possible_duplicate"] == true)
        .count();
    assert_eq!(flagged, 7);
}

#[actix_web::test]
async fn merge_folds_the_duplicate_into_the_survivor_with_its_activities_and_history() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (_, rep) = app.user("merger", "sales", Some(&team)).await;
    let survivor = app
        .create_lead(
            &rep,
            json!({"name": "陈明", "phone": "13800138000", "company": "苏州恒锐精工"}),
        )
        .await
        .id();
    let dup = app
        .put("/leads/by-external/wechat/openid-77", &rep, json!({"name": "陈明", "phone": "13800138000", "email": "chen@hengrui.cn", "city": "苏州"}))
        .await;
    assert_eq!(dup.status, 201, "{}", dup.text);
    let dup_id = dup.id();
    let due = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let act = app
        .post(&format!("/leads/{dup_id}/activities"), &rep,
              json!({"channel": "wechat", "action": "first_contact", "reached": true, "summary": "微信沟通",
                     "next_action": "needs_discovery", "next_action_due_at": due}))
        .await;
    assert_eq!(act.status, 201, "{}", act.text);
    app.post(
        &format!("/leads/{survivor}/merge"),
        &rep,
        json!({"duplicate_id": survivor}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let merged = app
        .post(
            &format!("/leads/{survivor}/merge"),
            &rep,
            json!({"duplicate_id": dup_id}),
        )
        .await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    assert_eq!(
        merged.body["email"], "chen@hengrui.cn",
        "empty fields filled from the duplicate"
    );
    assert_eq!(
        merged.body["company"], "苏州恒锐精工",
        "non-empty fields kept"
    );
    assert_eq!(merged.body["city"], "苏州");
    assert!(merged.body["first_touch_at"].is_string());
    assert_eq!(
        merged.body["external_refs"],
        json!([{"system": "wechat", "external_id": "openid-77"}])
    );
    let acts = app
        .get(&format!("/leads/{survivor}/activities"), &rep)
        .await;
    assert_eq!(acts.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(acts.body["items"][0]["lead_id"], survivor.as_str());
    let gone = app.get(&format!("/leads/{dup_id}"), &rep).await.body;
    assert_eq!(
        (gone["status"].as_str(), gone["disqualify_reason"].as_str()),
        (Some("disqualified"), Some("duplicate"))
    );
    assert_eq!(gone["merged_into"], survivor.as_str());
    // A merged lead is no longer a duplicate candidate; its survivor is.
    let check = app
        .post(
            "/leads/dedup-check",
            &rep,
            json!({"name": "陈", "phone": "13800138000"}),
        )
        .await;
    let hits: Vec<&str> = check
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["lead_id"].as_str().unwrap())
        .collect();
    assert_eq!(hits, vec![survivor.as_str()], "{}", check.text);
    let history = app.get(&format!("/leads/{survivor}/history"), &rep).await;
    let ids: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&dup_id.as_str()) && ids.contains(&survivor.as_str()),
        "both histories: {ids:?}"
    );
    let ev = app.get("/events?types=lead.merged", &app.admin).await;
    assert_eq!(ev.body["items"][0]["data"]["duplicate_id"], dup_id.as_str());
    // The external id now resolves to the survivor.
    let upsert = app
        .put(
            "/leads/by-external/wechat/openid-77",
            &rep,
            json!({"name": "陈明", "phone": "13800138000", "company": "苏州恒锐精工"}),
        )
        .await;
    assert_eq!(
        (upsert.status.as_u16(), upsert.id()),
        (200, survivor.clone())
    );
    app.post(
        &format!("/leads/{survivor}/merge"),
        &rep,
        json!({"duplicate_id": dup_id}),
    )
    .await
    .assert_problem(409, "conflict");
}
