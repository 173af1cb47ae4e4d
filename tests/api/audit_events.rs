use diesel::connection::SimpleConnection;
use serde_json::json;

use crate::helpers::{is_postgres, raw_conn, spawn_app};

#[actix_web::test]
async fn a_lead_history_lists_each_change_with_actor_and_fields() {
    let app = spawn_app().await;
    let me = app.get("/me", &app.admin).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = app
        .create_lead(
            &app.admin,
            json!({"name": "陈明", "phone": "13800138000", "title": "工程师"}),
        )
        .await
        .id();
    let r = app
        .patch(
            &format!("/leads/{id}"),
            &app.admin,
            json!({"title": "经理", "city": "苏州"}),
            Some(1),
        )
        .await;
    assert_eq!(r.status, 200);
    let h = app.get(&format!("/leads/{id}/history"), &app.admin).await;
    assert_eq!(h.status, 200);
    let items = h.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["action"], "create");
    assert_eq!(items[1]["action"], "update");
    assert_eq!(items[1]["actor_id"], me.as_str());
    let changes = items[1]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes.contains(&json!({"field": "city", "old": null, "new": "苏州"})));
    assert!(changes.contains(&json!({"field": "title", "old": "工程师", "new": "经理"})));
    assert_eq!(items[1]["prev_hash"], items[0]["hash"]);
}

#[actix_web::test]
async fn the_audit_trail_is_for_admins_and_directors_only_and_filters() {
    let app = spawn_app().await;
    let (_, sales) = app.user("ss", "sales", None).await;
    let (_, director) = app.user("dd", "director", None).await;
    app.get("/audit", &sales)
        .await
        .assert_problem(403, "forbidden");
    app.get("/audit/verify", &sales)
        .await
        .assert_problem(403, "forbidden");
    let id = app
        .create_lead(&app.admin, json!({"name": "x", "phone": "13800138000"}))
        .await
        .id();
    let r = app
        .get(&format!("/audit?entity=lead&entity_id={id}"), &director)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let users = app.get("/audit?entity=user&limit=1", &director).await;
    assert_eq!(users.body["items"].as_array().unwrap().len(), 1);
    let next = users.body["next_cursor"].as_str().unwrap();
    let page2 = app
        .get(
            &format!("/audit?entity=user&limit=1&cursor={next}"),
            &director,
        )
        .await;
    assert_ne!(page2.body["items"][0]["id"], users.body["items"][0]["id"]);
}

#[actix_web::test]
async fn the_audit_table_refuses_updates_and_verify_finds_a_forged_entry() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.create_lead(
            &app.admin,
            json!({"name": format!("l{i}"), "phone": "13800138000"}),
        )
        .await;
    }
    let ok = app.get("/audit/verify", &app.admin).await;
    assert_eq!(ok.body["ok"], true, "{}", ok.text);
    let checked = ok.body["checked"].as_u64().unwrap();
    assert!(checked >= 4, "{checked}");

    let mut conn = raw_conn(&app);
    let forge = "UPDATE audit_log SET actor_id = 'mallory' WHERE seq = (SELECT MIN(seq) + 1 FROM audit_log)";
    assert!(
        conn.batch_execute(forge).is_err(),
        "the append-only trigger refuses updates"
    );
    assert!(
        conn.batch_execute("DELETE FROM audit_log").is_err(),
        "and deletes"
    );
    let disable = if is_postgres(&app.database_url) {
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"
    } else {
        "DROP TRIGGER audit_log_no_update"
    };
    conn.batch_execute(disable).unwrap();
    conn.batch_execute(forge).unwrap();
    let audit = app.get("/audit?limit=2", &app.admin).await;
    let forged_id = audit.body["items"][1]["id"].as_str().unwrap().to_string();
    let broken = app.get("/audit/verify", &app.admin).await;
    assert_eq!(broken.body["ok"], false, "{}", broken.text);
    assert_eq!(broken.body["first_broken_id"], forged_id.as_str());
    assert_eq!(broken.body["checked"], 1);
}

#[actix_web::test]
async fn the_event_feed_follows_after_and_filters_by_type_pattern() {
    let app = spawn_app().await;
    let start = app.get("/events", &app.admin).await;
    assert_eq!(start.status, 200);
    let after = start.body["next_after"].as_i64().unwrap();
    let lead = app
        .create_lead(&app.admin, json!({"name": "x", "phone": "13800138000"}))
        .await
        .id();
    app.patch(
        &format!("/leads/{lead}"),
        &app.admin,
        json!({"city": "杭州"}),
        None,
    )
    .await;
    app.post("/accounts", &app.admin, json!({"name": "杭州新锐"}))
        .await;

    let all = app.get(&format!("/events?after={after}"), &app.admin).await;
    let types: Vec<&str> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec![
            "lead.created",
            "lead.needs_info",
            "lead.updated",
            "account.created"
        ]
    );
    let first = &all.body["items"][0];
    assert_eq!(first["entity"], "lead");
    assert_eq!(first["entity_id"], lead.as_str());
    assert_eq!(first["data"]["name"], "x");

    let leads_only = app
        .get(&format!("/events?after={after}&types=lead.*"), &app.admin)
        .await;
    assert_eq!(leads_only.body["items"].as_array().unwrap().len(), 3);
    let next = leads_only.body["next_after"].as_i64().unwrap();
    let rest = app
        .get(&format!("/events?after={next}&types=lead.*"), &app.admin)
        .await;
    assert!(rest.body["items"].as_array().unwrap().is_empty());
    assert_eq!(rest.body["next_after"], next);
    let limited = app
        .get(&format!("/events?after={after}&limit=1"), &app.admin)
        .await;
    assert_eq!(limited.body["items"].as_array().unwrap().len(), 1);

    let (_, sales) = app.user("ss", "sales", None).await;
    app.get("/events", &sales)
        .await
        .assert_problem(403, "forbidden");
    let key = app
        .post("/api-keys", &app.admin, json!({"name": "feed"}))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.get("/events", &key).await.status, 200);
}

#[actix_web::test]
async fn a_failed_use_case_leaves_no_record_audit_or_event() {
    let app = spawn_app().await;
    let before = app.get("/events", &app.admin).await.body["next_after"]
        .as_i64()
        .unwrap();
    let audit_before = app.get("/audit/verify", &app.admin).await.body["checked"]
        .as_u64()
        .unwrap();
    // The USCC check fails after parsing: nothing may be written.
    let r = app
        .post(
            "/accounts",
            &app.admin,
            json!({"name": "坏代码公司", "uscc": "91350100M000100Y44"}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    let team = app
        .post("/teams", &app.admin, json!({"name": "华东"}))
        .await;
    assert_eq!(team.status, 201);
    let dup = app
        .post("/teams", &app.admin, json!({"name": "华东"}))
        .await;
    dup.assert_problem(409, "duplicate");
    let after = app
        .get(&format!("/events?after={before}"), &app.admin)
        .await;
    assert_eq!(
        after.body["items"].as_array().unwrap().len(),
        1,
        "only the first team: {}",
        after.text
    );
    let audit_after = app.get("/audit/verify", &app.admin).await.body["checked"]
        .as_u64()
        .unwrap();
    assert_eq!(audit_after, audit_before + 1);
}

/// On SQLite concurrent writes are committed in groups (`service::group_commit`): one
/// transaction, each write in a savepoint. Each request still gets its own answer, a write
/// that fails (here on a unique index) leaves nothing, and the others are stored with their
/// audit entries and events on one intact chain. On PostgreSQL each write keeps its own
/// transaction, with the same outcomes.
#[actix_web::test]
async fn concurrent_writes_committed_together_keep_their_own_outcomes() {
    let app = spawn_app().await;
    let counter = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("crmflow_{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let checked = |r: &crate::helpers::Resp| r.body["checked"].as_u64().unwrap();
    // One lead alone: how many audit entries a create writes.
    let audit0 = checked(&app.get("/audit/verify", &app.admin).await);
    app.create_lead(&app.admin, json!({"name": "单独", "phone": "13900000000"}))
        .await;
    let per_lead = checked(&app.get("/audit/verify", &app.admin).await) - audit0;
    let mut grouped = false;
    for round in 0..10 {
        let audit_before = checked(&app.get("/audit/verify", &app.admin).await);
        let mut events_before = 0;
        loop {
            let page = app
                .get(&format!("/events?after={events_before}"), &app.admin)
                .await;
            match page.body["next_after"].as_i64().unwrap() {
                n if n == events_before => break,
                n => events_before = n,
            }
        }
        let leads = (0..12).map(|i| {
            app.post(
                "/leads",
                &app.admin,
                json!({"name": format!("并发{round}-{i}"), "phone": format!("1390{round:03}{i:04}")}),
            )
        });
        let teams =
            (0..6).map(|_| app.post("/teams", &app.admin, json!({"name": format!("组{round}")})));
        let (leads, teams) = futures_util::future::join(
            futures_util::future::join_all(leads),
            futures_util::future::join_all(teams),
        )
        .await;
        for (i, r) in leads.iter().enumerate() {
            assert_eq!(r.status, 201, "{}", r.text);
            assert_eq!(r.body["name"], format!("并发{round}-{i}"));
        }
        let created = teams.iter().filter(|r| r.status == 201).count();
        assert_eq!(created, 1, "one team of the name");
        for r in teams.iter().filter(|r| r.status != 201) {
            r.assert_problem(409, "duplicate");
        }
        let after = app
            .get(
                &format!("/events?after={events_before}&limit=200"),
                &app.admin,
            )
            .await;
        let types: Vec<&str> = after.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(types.iter().filter(|t| **t == "lead.created").count(), 12);
        assert_eq!(types.iter().filter(|t| **t == "team.created").count(), 1);
        let verify = app.get("/audit/verify", &app.admin).await;
        assert_eq!(verify.body["ok"], true, "{}", verify.text);
        assert_eq!(checked(&verify), audit_before + 12 * per_lead + 1);
        let m = app.get("/metrics", "").await.text;
        let (groups, writes) = (
            counter(&m, "write_groups_total"),
            counter(&m, "write_group_writes_total"),
        );
        if is_postgres(&app.database_url) {
            assert_eq!(groups, writes, "PostgreSQL writes commit alone");
            return;
        }
        if writes > groups {
            grouped = true;
            break;
        }
    }
    assert!(
        grouped,
        "ten rounds of 18 concurrent writes never shared a commit"
    );
}
