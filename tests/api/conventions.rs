use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

fn lead(name: &str) -> Value {
    json!({"name": name, "phone": "13800138000", "source": "web_form"})
}

#[actix_web::test]
async fn unknown_routes_answer_a_404_problem() {
    let app = spawn_app().await;
    app.get("/nothing-here", &app.admin)
        .await
        .assert_problem(404, "not_found");
    app.get("/api/v2/leads", &app.admin)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn bad_bodies_get_problem_documents_never_500() {
    let app = spawn_app().await;
    let t = &app.admin;
    // Not JSON at all.
    let r = app
        .send(
            Method::POST,
            "/leads",
            t,
            Value::Null,
            &[("content-type", "application/json")],
        )
        .await;
    r.assert_problem(400, "bad_request");
    let r = app
        .client
        .post(app.url("/leads"))
        .bearer_auth(t)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Wrong content type.
    let r = app
        .client
        .post(app.url("/leads"))
        .bearer_auth(t)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // Wrong types, unknown enum values, unknown fields.
    app.post("/leads", t, json!({"name": 42, "phone": "13800138000"}))
        .await
        .assert_problem(422, "validation_failed");
    let r = app
        .post(
            "/leads",
            t,
            json!({"name": "x", "phone": "13800138000", "source": "carrier_pigeon"}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    let r = app
        .post(
            "/leads",
            t,
            json!({"name": "x", "phone": "13800138000", "status": "qualified"}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "status");
    assert_eq!(r.body["errors"][0]["code"], "unknown_field");
    // Oversized (the test server allows 64 KiB).
    let big = "x".repeat(70 * 1024);
    let r = app
        .post(
            "/leads",
            t,
            json!({"name": "x", "phone": "13800138000", "notes": big}),
        )
        .await;
    r.assert_problem(413, "payload_too_large");
}

#[actix_web::test]
async fn bad_query_parameters_get_422() {
    let app = spawn_app().await;
    let t = &app.admin;
    app.get("/leads?limit=0", t)
        .await
        .assert_problem(422, "validation_failed");
    app.get("/leads?limit=501", t)
        .await
        .assert_problem(422, "validation_failed");
    app.get("/leads?limit=abc", t)
        .await
        .assert_problem(422, "validation_failed");
    app.get("/leads?cursor=%21%21", t)
        .await
        .assert_problem(422, "validation_failed");
    app.get("/leads?status=sleeping", t)
        .await
        .assert_problem(422, "validation_failed");
    app.get("/leads?updated_since=yesterday", t)
        .await
        .assert_problem(422, "validation_failed");
    app.get("/events?types=nothing.*", t)
        .await
        .assert_problem(422, "validation_failed");
}

#[actix_web::test]
async fn lists_page_through_every_record_exactly_once() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            app.create_lead(&app.admin, lead(&format!("lead {i}")))
                .await
                .id(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/leads?limit=3&cursor={c}"),
            None => "/leads?limit=3".into(),
        };
        let r = app.get(&path, &app.admin).await;
        assert_eq!(r.status, 200, "{}", r.text);
        pages += 1;
        for item in r.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    created.reverse();
    assert_eq!(seen, created, "newest first, each once");
}

#[actix_web::test]
async fn creates_answer_201_with_location_and_etag() {
    let app = spawn_app().await;
    let r = app.create_lead(&app.admin, lead("陈明")).await;
    let location = r.header("location").unwrap();
    assert_eq!(location, format!("/api/v1/leads/{}", r.id()));
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));
    let got = app.get(&location, &app.admin).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["id"], r.body["id"]);
    let id = r.id();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "7", "ids are UUIDv7");
    assert!(r.body["created_at"].as_str().unwrap().ends_with('Z'));
}

#[actix_web::test]
async fn a_stale_if_match_is_refused_with_412() {
    let app = spawn_app().await;
    let id = app.create_lead(&app.admin, lead("a")).await.id();
    let path = format!("/leads/{id}");
    let ok = app
        .patch(&path, &app.admin, json!({"title": "经理"}), Some(1))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.header("etag").as_deref(), Some("\"2\""));
    let stale = app
        .patch(&path, &app.admin, json!({"title": "总监"}), Some(1))
        .await;
    stale.assert_problem(412, "version_mismatch");
    assert_eq!(stale.body["current_version"], 2);
    let weak = app
        .send(
            Method::PATCH,
            &path,
            &app.admin,
            json!({"title": "总监"}),
            &[("if-match", "W/\"2\"")],
        )
        .await;
    assert_eq!(weak.status, 200, "{}", weak.text);
    let bad = app
        .send(
            Method::PATCH,
            &path,
            &app.admin,
            json!({"title": "x"}),
            &[("if-match", "banana")],
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(app.get(&path, &app.admin).await.body["title"], "总监");
}

#[actix_web::test]
async fn concurrent_patches_with_one_if_match_let_exactly_one_through() {
    let app = spawn_app().await;
    let id = app.create_lead(&app.admin, lead("race")).await.id();
    let path = format!("/leads/{id}");
    let futures: Vec<_> = (0..20)
        .map(|i| {
            app.patch(
                &path,
                &app.admin,
                json!({"notes": format!("writer {i}")}),
                Some(1),
            )
        })
        .collect();
    let results = futures_util::future::join_all(futures).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    let stale = results.iter().filter(|r| r.status == 412).count();
    assert_eq!(
        (ok, stale),
        (1, 19),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(app.get(&path, &app.admin).await.body["version"], 2);
}

#[actix_web::test]
async fn an_idempotency_key_replays_the_first_response() {
    let app = spawn_app().await;
    let body = lead("once");
    let headers = [("idempotency-key", "k-123")];
    let first = app
        .send(Method::POST, "/leads", &app.admin, body.clone(), &headers)
        .await;
    assert_eq!(first.status, 201);
    assert!(first.header("idempotent-replayed").is_none());
    let again = app
        .send(Method::POST, "/leads", &app.admin, body.clone(), &headers)
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    let list = app.get("/leads", &app.admin).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "stored once"
    );
    let other = app
        .send(
            Method::POST,
            "/leads",
            &app.admin,
            lead("different"),
            &headers,
        )
        .await;
    other.assert_problem(422, "validation_failed");
    // Keys belong to the caller: another caller's same key is a new request.
    let (_, sales) = app.user("s1", "sales", None).await;
    let theirs = app
        .send(Method::POST, "/leads", &sales, body, &headers)
        .await;
    assert_eq!(theirs.status, 201);
    assert!(theirs.header("idempotent-replayed").is_none());
}

#[actix_web::test]
async fn refused_requests_are_replayed_too_but_not_server_failures() {
    let app = spawn_app().await;
    let headers = [("idempotency-key", "bad-1")];
    let first = app
        .send(
            Method::POST,
            "/leads",
            &app.admin,
            json!({"name": "no contact"}),
            &headers,
        )
        .await;
    first.assert_problem(422, "validation_failed");
    let again = app
        .send(
            Method::POST,
            "/leads",
            &app.admin,
            json!({"name": "no contact"}),
            &headers,
        )
        .await;
    assert_eq!(again.status, 422);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
}

#[actix_web::test]
async fn request_ids_are_echoed_or_generated_and_recorded_in_the_audit_trail() {
    let app = spawn_app().await;
    let r = app
        .send(
            Method::POST,
            "/leads",
            &app.admin,
            lead("traced"),
            &[("x-request-id", "req-abc-1")],
        )
        .await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("req-abc-1"));
    let history = app
        .get(&format!("/leads/{}/history", r.id()), &app.admin)
        .await;
    assert_eq!(history.body["items"][0]["request_id"], "req-abc-1");
    let generated = app.get("/healthz", "").await;
    assert_eq!(generated.header("x-request-id").unwrap().len(), 36);
}
