use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use crate::helpers::{is_postgres, spawn_app, spawn_on, ADMIN_PASSWORD, JWT_SECRET, PASSWORD};

#[actix_web::test]
async fn login_returns_a_bearer_token_that_identifies_the_user() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/auth/login",
            "",
            json!({"username": "admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3600);
    assert_eq!(r.body["user"]["role"], "admin");
    assert!(
        r.body["user"].get("password_hash").is_none() && r.body["user"].get("password").is_none()
    );
    let me = app
        .get("/me", r.body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["kind"], "user");
    assert_eq!(me.body["user"]["username"], "admin");
}

#[actix_web::test]
async fn wrong_passwords_and_unknown_users_get_the_same_401() {
    let app = spawn_app().await;
    let wrong = app
        .post(
            "/auth/login",
            "",
            json!({"username": "admin", "password": "nope-nope-nope"}),
        )
        .await;
    wrong.assert_problem(401, "unauthorized");
    let unknown = app
        .post(
            "/auth/login",
            "",
            json!({"username": "ghost", "password": "nope-nope-nope"}),
        )
        .await;
    unknown.assert_problem(401, "unauthorized");
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
    let missing = app
        .post("/auth/login", "", json!({"username": "admin"}))
        .await;
    missing.assert_problem(422, "validation_failed");
    assert_eq!(missing.body["errors"][0]["field"], "password");
}

#[actix_web::test]
async fn every_api_route_but_login_needs_credentials() {
    let app = spawn_app().await;
    for path in [
        "/me",
        "/leads",
        "/accounts",
        "/contacts",
        "/users",
        "/teams",
        "/audit",
        "/events",
        "/api-keys",
    ] {
        app.get(path, "").await.assert_problem(401, "unauthorized");
        app.get(path, "garbage")
            .await
            .assert_problem(401, "unauthorized");
    }
    let r = app
        .send(
            reqwest::Method::GET,
            "/me",
            "",
            serde_json::Value::Null,
            &[("authorization", "Basic YWRtaW46eA==")],
        )
        .await;
    r.assert_problem(401, "unauthorized");
}

fn forge(header: &str, claims: serde_json::Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.as_bytes()),
        URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes()),
        signature
    )
}

#[actix_web::test]
async fn unsigned_tampered_expired_and_foreign_tokens_are_refused() {
    let app = spawn_app().await;
    let me = app.get("/me", &app.admin).await;
    let admin_id = me.body["id"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims =
        json!({"sub": admin_id, "role": "admin", "iat": now, "exp": now + 600, "iss": "crmflow"});

    let none = forge(r#"{"alg":"none","typ":"JWT"}"#, claims.clone(), "");
    app.get("/me", &none)
        .await
        .assert_problem(401, "unauthorized");

    let parts: Vec<&str> = app.admin.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes()),
        parts[2]
    );
    app.get("/me", &tampered)
        .await
        .assert_problem(401, "unauthorized");

    let rs = forge(r#"{"alg":"RS256","typ":"JWT"}"#, claims.clone(), parts[2]);
    app.get("/me", &rs)
        .await
        .assert_problem(401, "unauthorized");

    let expired =
        crmflow::auth::jwt::JwtKeys::new(JWT_SECRET.as_bytes(), "crmflow".into(), None, 60)
            .issue(admin_id, "admin", now - 3600)
            .unwrap();
    app.get("/me", &expired)
        .await
        .assert_problem(401, "unauthorized");

    let other_secret = crmflow::auth::jwt::JwtKeys::new(
        b"some-other-secret-0123456789",
        "crmflow".into(),
        None,
        600,
    )
    .issue(admin_id, "admin", now)
    .unwrap();
    app.get("/me", &other_secret)
        .await
        .assert_problem(401, "unauthorized");

    let other_issuer =
        crmflow::auth::jwt::JwtKeys::new(JWT_SECRET.as_bytes(), "not-crmflow".into(), None, 600)
            .issue(admin_id, "admin", now)
            .unwrap();
    app.get("/me", &other_issuer)
        .await
        .assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn api_keys_are_shown_once_work_as_bearer_and_stop_working_when_revoked() {
    let app = spawn_app().await;
    let created = app
        .post("/api-keys", &app.admin, json!({"name": "ERP sync"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(created.header("location").unwrap().ends_with(&created.id()));
    let token = created.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("crmf_"));
    assert_eq!(created.body["role"], "integration");

    let list = app.get("/api-keys", &app.admin).await;
    assert_eq!(list.status, 200);
    assert!(
        !list.text.contains(&token),
        "the token is never shown again"
    );
    assert_eq!(list.body["items"][0]["token_prefix"], token[..10]);

    let me = app.get("/me", &token).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["kind"], "api_key");
    assert_eq!(me.body["role"], "integration");

    let revoked = app
        .delete(&format!("/api-keys/{}", created.id()), &app.admin)
        .await;
    assert_eq!(revoked.status, 204);
    app.get("/me", &token)
        .await
        .assert_problem(401, "unauthorized");
    app.delete(&format!("/api-keys/{}", created.id()), &app.admin)
        .await
        .assert_problem(409, "conflict");
    app.delete("/api-keys/no-such-key", &app.admin)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn only_admins_manage_api_keys() {
    let app = spawn_app().await;
    let (_, director) = app.user("dora", "director", None).await;
    app.post("/api-keys", &director, json!({"name": "x"}))
        .await
        .assert_problem(403, "forbidden");
    app.get("/api-keys", &director)
        .await
        .assert_problem(403, "forbidden");
    app.post(
        "/api-keys",
        &app.admin,
        json!({"name": "x", "role": "emperor"}),
    )
    .await
    .assert_problem(422, "validation_failed");
}

#[actix_web::test]
async fn a_deactivated_user_loses_access_at_once() {
    let app = spawn_app().await;
    let (id, token) = app.user("sam", "sales", None).await;
    assert_eq!(app.get("/me", &token).await.status, 200);
    deactivate(&app, &id).await;
    app.get("/me", &token)
        .await
        .assert_problem(401, "unauthorized");
    let login = app
        .post(
            "/auth/login",
            "",
            json!({"username": "sam", "password": PASSWORD}),
        )
        .await;
    login.assert_problem(401, "unauthorized");
}

async fn deactivate(app: &crate::helpers::TestApp, id: &str) {
    let r = app
        .patch(
            &format!("/users/{id}"),
            &app.admin,
            json!({"active": false}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Whether `app` refuses `token` within 2 s (a bound, so that a change never heard fails).
async fn refused_soon(app: &crate::helpers::TestApp, token: &str) -> bool {
    for _ in 0..40 {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        let r = app.get("/me", token).await;
        if r.status == 401 {
            r.assert_problem(401, "unauthorized");
            return true;
        }
    }
    false
}

/// Keeps `token`'s caller in `app` (asked for after its listener has started).
async fn warm(app: &crate::helpers::TestApp, token: &str) {
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    for _ in 0..3 {
        assert_eq!(app.get("/me", token).await.status, 200);
    }
}

/// PostgreSQL, several instances: each keeps its callers in memory and hears the others'
/// changes to users and keys (SQLite has one instance).
#[actix_web::test]
async fn a_user_changed_through_one_instance_loses_access_through_another() {
    let app = spawn_app().await;
    if !is_postgres(&app.database_url) {
        return;
    }
    let other = spawn_on(app.database_url.clone()).await;
    let (id, token) = app.user("sam", "sales", None).await;
    warm(&other, &token).await;
    deactivate(&app, &id).await;
    assert!(
        refused_soon(&other, &token).await,
        "the other instance still serves a deactivated user"
    );
}

/// PostgreSQL: an instance whose listener loses its connection stops keeping callers, so a
/// change it cannot hear of (here one made under the API, which notifies no one) still
/// applies to its next request.
#[actix_web::test]
async fn an_instance_that_stops_hearing_changes_stops_keeping_callers() {
    use diesel::RunQueryDsl;
    let app = spawn_app().await;
    if !is_postgres(&app.database_url) {
        return;
    }
    let (_, token) = app.user("sam", "sales", None).await;
    warm(&app, &token).await;
    let mut conn = crate::helpers::raw_conn(&app);
    let terminated = diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = '{}'",
        crmflow::store::listen::APPLICATION_NAME
    ))
    .execute(&mut *conn)
    .unwrap();
    assert_eq!(terminated, 1, "the instance's listener");
    diesel::sql_query("UPDATE users SET active = false WHERE username = 'sam'")
        .execute(&mut *conn)
        .unwrap();
    assert!(
        refused_soon(&app, &token).await,
        "a caller kept while changes went unheard is still served"
    );
    // Listening again (after a second), it does not bring back what it kept before.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.get("/me", &token)
        .await
        .assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn the_last_active_admin_can_be_neither_demoted_nor_deactivated() {
    let app = spawn_app().await;
    let me = app.get("/me", &app.admin).await.id();
    for change in [json!({"role": "manager"}), json!({"active": false})] {
        app.patch(&format!("/users/{me}"), &app.admin, change, None)
            .await
            .assert_problem(409, "conflict");
    }
    let me_now = app.get(&format!("/users/{me}"), &app.admin).await;
    assert_eq!(me_now.body["role"], "admin");
    assert_eq!(me_now.body["active"], true);
    assert_eq!(me_now.body["version"], 1, "nothing was written");
    // With a second admin, either may step down.
    let (other, other_token) = app.user("second-admin", "admin", None).await;
    let r = app
        .patch(
            &format!("/users/{me}"),
            &app.admin,
            json!({"role": "director"}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.patch(
        &format!("/users/{other}"),
        &other_token,
        json!({"active": false}),
        None,
    )
    .await
    .assert_problem(409, "conflict");
}

#[actix_web::test]
async fn a_role_change_applies_to_existing_tokens() {
    let app = spawn_app().await;
    let (id, token) = app.user("rita", "sales", None).await;
    app.get("/audit", &token)
        .await
        .assert_problem(403, "forbidden");
    let r = app
        .patch(
            &format!("/users/{id}"),
            &app.admin,
            json!({"role": "director"}),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(app.get("/audit", &token).await.status, 200);
}

#[actix_web::test]
async fn failed_logins_are_limited_per_username_and_per_address() {
    let app = crate::helpers::spawn_with(|s| {
        s.login_limits = crmflow::auth::throttle::ThrottleLimits {
            per_user: 3,
            per_ip: 6,
            window_secs: 60,
        }
    })
    .await;
    app.user("chen", "sales", None).await;
    let attempt = |user: &'static str, pass: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/auth/login",
                "",
                json!({"username": user, "password": pass}),
            )
            .await
        }
    };
    for _ in 0..3 {
        attempt("chen", "wrong-password")
            .await
            .assert_problem(401, "unauthorized");
    }
    // Locked now, even with the right password; the answer says how long to wait.
    let locked = attempt("chen", crate::helpers::PASSWORD).await;
    locked.assert_problem(429, "rate_limited");
    let wait: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Other usernames from this address still get in until the address limit (6 failures).
    assert_eq!(
        attempt("admin", crate::helpers::ADMIN_PASSWORD)
            .await
            .status,
        200
    );
    for _ in 0..3 {
        attempt("nobody", "x-x-x-x-x")
            .await
            .assert_problem(401, "unauthorized");
    }
    attempt("admin", crate::helpers::ADMIN_PASSWORD)
        .await
        .assert_problem(429, "rate_limited");
}

#[actix_web::test]
async fn cors_answers_only_the_configured_origins() {
    let app =
        crate::helpers::spawn_with(|s| s.cors_origins = vec!["https://app.example.com".into()])
            .await;
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/leads"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization,content-type",
                )
                .send()
                .await
                .unwrap()
        }
    };
    let ok = preflight("https://app.example.com").await;
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = preflight("https://evil.example.net").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let get = app
        .client
        .get(app.url("/me"))
        .bearer_auth(&app.admin)
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(
        get.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(get.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("etag"));
    // Without an allow-list no CORS header is ever sent.
    let plain = crate::helpers::spawn_app().await;
    let r = plain
        .client
        .get(plain.url("/me"))
        .bearer_auth(&plain.admin)
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
