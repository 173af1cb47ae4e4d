use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn a_lead_is_stored_with_normalised_phone_email_and_defaults() {
    let app = spawn_app().await;
    let r = app
        .create_lead(
            &app.admin,
            json!({"name": " 陈明 ", "company": "苏州恒锐精工有限公司", "phone": "+86 138-0013-8000", "email": " Chen.Ming@HengRui.CN ",
                   "province": "江苏", "industry": "新能源汽车", "budget_cents": 80000000, "custom": {"expo_booth": "A12"}}),
        )
        .await;
    assert_eq!(r.body["name"], "陈明");
    assert_eq!(r.body["phone"], "13800138000");
    assert_eq!(r.body["email"], "chen.ming@hengrui.cn");
    assert_eq!(r.body["source"], "other");
    assert_eq!(r.body["currency"], "CNY");
    // Scored with the default model: 30 (budget) + 30 (新能源汽车) + 25 (complete) = 85, A;
    // no assignment rule exists, so it waits in the unassigned queue.
    assert_eq!(
        (r.body["score"].as_i64(), r.body["grade"].as_str()),
        (Some(85), Some("A"))
    );
    assert_eq!(r.body["status"], "unassigned");
    assert_eq!(r.body["custom"]["expo_booth"], "A12");
    assert_eq!(r.body["priority"], "normal");
    assert_eq!(r.body["version"], 1);
}

#[actix_web::test]
async fn every_contract_source_name_is_accepted() {
    let app = spawn_app().await;
    for (i, source) in [
        "web_form",
        "whitepaper_download",
        "wechat",
        "phone_400",
        "trade_show",
        "sem",
        "referral",
        "import",
        "other",
    ]
    .iter()
    .enumerate()
    {
        let r = app
            .create_lead(
                &app.admin,
                json!({"name": "x", "phone": format!("1380000000{i}"), "source": source}),
            )
            .await;
        assert_eq!(r.body["source"], *source);
    }
}

#[actix_web::test]
async fn invalid_leads_get_422_naming_each_field() {
    let app = spawn_app().await;
    let t = &app.admin;
    let r = app.post("/leads", t, json!({"name": "", "phone": "12-34", "email": "nope", "budget_cents": -5, "currency": "RMB1"})).await;
    r.assert_problem(422, "validation_failed");
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["name", "phone", "email", "budget_cents", "currency"] {
        assert!(fields.contains(&f), "{f} missing in {fields:?}");
    }
    let no_contact = app.post("/leads", t, json!({"name": "无联系方式"})).await;
    no_contact.assert_problem(422, "validation_failed");
    assert_eq!(no_contact.body["errors"][0]["code"], "required");
    let bad_custom = app.post("/leads", t, json!({"name": "x", "phone": "13800138000", "custom": {"Bad Key": 1, "nested": {"a": 1}}})).await;
    bad_custom.assert_problem(422, "validation_failed");
}

#[actix_web::test]
async fn read_only_fields_cannot_be_mass_assigned() {
    let app = spawn_app().await;
    for field in [
        "id",
        "status",
        "owner_id",
        "score",
        "grade",
        "version",
        "created_at",
        "team_id",
        "priority",
    ] {
        let mut body = json!({"name": "x", "phone": "13800138000"});
        body[field] = json!("x");
        let r = app.post("/leads", &app.admin, body).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field);
    }
    let id = app
        .create_lead(&app.admin, json!({"name": "x", "phone": "13800138000"}))
        .await
        .id();
    for field in ["status", "owner_id", "score", "version"] {
        let r = app
            .patch(
                &format!("/leads/{id}"),
                &app.admin,
                json!({field: "x"}),
                None,
            )
            .await;
        r.assert_problem(422, "validation_failed");
    }
    let lead = app.get(&format!("/leads/{id}"), &app.admin).await;
    assert_eq!(
        (lead.body["status"].as_str(), lead.body["version"].as_i64()),
        (Some("needs_info"), Some(1))
    );
}

#[actix_web::test]
async fn patch_sets_clears_and_revalidates() {
    let app = spawn_app().await;
    let id = app
        .create_lead(
            &app.admin,
            json!({"name": "x", "phone": "13800138000", "email": "a@b.cn", "city": "苏州"}),
        )
        .await
        .id();
    let path = format!("/leads/{id}");
    let r = app
        .patch(
            &path,
            &app.admin,
            json!({"city": null, "email": "NEW@b.cn"}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["city"], serde_json::Value::Null);
    assert_eq!(r.body["email"], "new@b.cn");
    app.patch(
        &path,
        &app.admin,
        json!({"phone": null, "email": null}),
        None,
    )
    .await
    .assert_problem(422, "validation_failed");
    app.patch(&path, &app.admin, json!({"phone": "abc"}), None)
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(
        app.get(&path, &app.admin).await.body["version"],
        2,
        "refused patches change nothing"
    );
    app.patch("/leads/nope", &app.admin, json!({"city": "x"}), None)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn lists_filter_by_status_source_owner_and_text() {
    let app = spawn_app().await;
    let team = app.create_team("华东").await;
    let (rep, sales) = app.user("rep", "sales", Some(&team)).await;
    app.create_lead(
        &app.admin,
        json!({"name": "甲", "phone": "13800000001", "source": "wechat", "company": "苏州恒锐"}),
    )
    .await;
    app.create_lead(
        &app.admin,
        json!({"name": "乙", "phone": "13800000002", "source": "web_form"}),
    )
    .await;
    let own = app
        .create_lead(
            &sales,
            json!({"name": "丙", "phone": "13800000003", "source": "web_form"}),
        )
        .await;
    assert_eq!(own.body["owner_id"], rep.as_str());
    assert_eq!(own.body["status"], "assigned");
    let count = |r: crate::helpers::Resp| r.body["items"].as_array().unwrap().len();
    assert_eq!(
        count(app.get("/leads?source=web_form", &app.admin).await),
        2
    );
    assert_eq!(
        count(
            app.get("/leads?source=wechat&status=needs_info", &app.admin)
                .await
        ),
        1
    );
    assert_eq!(
        count(
            app.get(
                &format!("/leads?owner_id={rep}&status=assigned"),
                &app.admin
            )
            .await
        ),
        1
    );
    assert_eq!(
        count(app.get(&format!("/leads?team_id={team}"), &app.admin).await),
        1
    );
    assert_eq!(
        count(app.get("/leads?q=%E6%81%92%E9%94%90", &app.admin).await),
        1,
        "q matches company"
    );
    assert_eq!(
        count(app.get("/leads?q=13800000002", &app.admin).await),
        1,
        "q matches phone"
    );
    assert_eq!(
        count(app.get("/leads?q=%25", &app.admin).await),
        0,
        "LIKE wildcards are literal"
    );
    assert_eq!(
        count(
            app.get("/leads?updated_since=2000-01-01T00:00:00Z", &app.admin)
                .await
        ),
        3
    );
    assert_eq!(
        count(
            app.get("/leads?updated_since=2100-01-01T00:00:00Z", &app.admin)
                .await
        ),
        0
    );
    // Row scope: a rep sees only their own leads.
    assert_eq!(count(app.get("/leads", &sales).await), 1);
}

#[actix_web::test]
async fn leads_outside_the_callers_scope_answer_404() {
    let app = spawn_app().await;
    let east = app.create_team("华东").await;
    let south = app.create_team("华南").await;
    let (_, a) = app.user("aa", "sales", Some(&east)).await;
    let (_, b) = app.user("bb", "sales", Some(&east)).await;
    let (_, em) = app.user("em", "manager", Some(&east)).await;
    let (_, sm) = app.user("sm", "manager", Some(&south)).await;
    let (_, eng) = app.user("eng", "engineer", None).await;
    let id = app
        .create_lead(&a, json!({"name": "x", "phone": "13800138000"}))
        .await
        .id();
    let path = format!("/leads/{id}");
    assert_eq!(app.get(&path, &a).await.status, 200);
    assert_eq!(app.get(&path, &em).await.status, 200);
    for t in [&b, &sm, &eng] {
        app.get(&path, t).await.assert_problem(404, "not_found");
        app.get(&format!("{path}/history"), t)
            .await
            .assert_problem(404, "not_found");
    }
    app.patch(&path, &b, json!({"city": "x"}), None)
        .await
        .assert_problem(404, "not_found");
    app.post("/leads", &eng, json!({"name": "x", "phone": "13800138000"}))
        .await
        .assert_problem(403, "forbidden");
}

#[actix_web::test]
async fn only_admins_delete_leads_and_deleted_leads_disappear() {
    let app = spawn_app().await;
    let (_, director) = app.user("dd", "director", None).await;
    let id = app
        .create_lead(&app.admin, json!({"name": "x", "phone": "13800138000"}))
        .await
        .id();
    let path = format!("/leads/{id}");
    app.delete(&path, &director)
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(app.delete(&path, &app.admin).await.status, 204);
    app.get(&path, &app.admin)
        .await
        .assert_problem(404, "not_found");
    app.delete(&path, &app.admin)
        .await
        .assert_problem(404, "not_found");
    assert!(app.get("/leads", &app.admin).await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
    let history = app
        .get(&format!("/audit?entity=lead&entity_id={id}"), &app.admin)
        .await;
    let actions: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["create", "delete"]);
}

#[actix_web::test]
async fn upsert_by_external_id_never_makes_a_second_record_even_concurrently() {
    let app = spawn_app().await;
    let path = "/leads/by-external/legacy_crm/L-778";
    let body = json!({"name": "赵六", "phone": "13700001111", "source": "import"});
    let first = app.put(path, &app.admin, body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = app
        .put(
            path,
            &app.admin,
            json!({"name": "赵六", "phone": "13700001111", "source": "import", "city": "无锡"}),
        )
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(second.id(), first.id());
    assert_eq!(second.body["city"], "无锡");

    let concurrent: Vec<_> = (0..10)
        .map(|_| app.put("/leads/by-external/erp/SAME-1", &app.admin, body.clone()))
        .collect();
    let results = futures_util::future::join_all(concurrent).await;
    let created = results.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created,
        1,
        "{:?}",
        results
            .iter()
            .map(|r| (r.status, r.text.clone()))
            .collect::<Vec<_>>()
    );
    assert!(results.iter().all(|r| r.status == 201 || r.status == 200));
    let ids: std::collections::HashSet<String> = results.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        app.get("/leads", &app.admin).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
