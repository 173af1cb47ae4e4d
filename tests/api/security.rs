//! The API security checklist (OWASP API Top 10) probed over the whole documented surface:
//! authentication on every operation, object-level authorization on every `{id}` route,
//! the function-level role matrix of the admin and configuration endpoints, mass
//! assignment, request limits and what reaches the logs.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};

use crate::contracts::{deal, org};
use crate::helpers::{spawn_app, spawn_with, TestApp, PASSWORD};

/// A documented operation.
struct Op {
    method: Method,
    path: String,
    public: bool,
    /// The documented example of its JSON body (`{}` when it has none, null without a body).
    example: Value,
}

/// Every documented operation.
fn operations() -> Vec<Op> {
    let doc = serde_json::to_value(crmflow::api::openapi()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let json = &op["requestBody"]["content"]["application/json"];
            let schema = json["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .map(|name| &schemas[name]);
            let example = match (&json["example"], schema) {
                (Value::Null, Some(s)) if !s["example"].is_null() => s["example"].clone(),
                (Value::Null, _) if has_body(&m) => json!({}),
                (e, _) => e.clone(),
            };
            ops.push(Op {
                public: op["security"].as_array().is_some_and(|s| s.is_empty()),
                method: m,
                path: path.clone(),
                example,
            });
        }
    }
    ops
}

fn has_body(m: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH].contains(m)
}

#[actix_web::test]
async fn every_protected_operation_refuses_callers_without_credentials() {
    let app = spawn_app().await;
    let mut probed = 0;
    for Op {
        method,
        path: template,
        public,
        ..
    } in operations()
    {
        let path = template
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e5f"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let body = if has_body(&method) {
            json!({})
        } else {
            Value::Null
        };
        let r = app.send(method.clone(), &path, "", body, &[]).await;
        if public {
            assert_ne!(r.status, 401, "{method} {template} is documented public");
        } else {
            assert_eq!(r.status, 401, "{method} {template}: {}", r.text);
            assert_eq!(r.body["code"], "unauthorized");
            probed += 1;
        }
    }
    assert!(probed > 140, "only {probed} protected operations");
}

/// The records of one rep, and who must not see them.
struct Fixture {
    ids: BTreeMap<&'static str, String>,
    /// A sales rep of another team (sales records).
    other_rep: String,
    /// An engineer of another team (work orders).
    other_engineer: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let o = org(app).await;
    let west = app.create_team("华西").await;
    let (_, other_rep) = app.user("west.rep", "sales", Some(&west)).await;
    let (_, other_engineer) = app.user("west.eng", "engineer", Some(&west)).await;
    let mut ids = BTreeMap::new();
    let lead = app
        .create_lead(
            &o.rep,
            json!({"name": "机密线索", "company": "保密科技", "phone": "13900000001", "source": "web_form"}),
        )
        .await;
    ids.insert("leads", lead.id());
    let opp = deal(app, &o, "机密客户").await;
    let account = app.get(&format!("/opportunities/{opp}"), &o.rep).await.body["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    ids.insert("opportunities", opp.clone());
    ids.insert("accounts", account.clone());
    let contact = app
        .post(
            "/contacts",
            &o.rep,
            json!({"account_id": account, "name": "机密联系人", "phone": "13900000002"}),
        )
        .await;
    assert_eq!(contact.status, 201, "{}", contact.text);
    ids.insert("contacts", contact.id());
    let quote = app
        .post(
            &format!("/opportunities/{opp}/quotes"),
            &o.rep,
            json!({"items": [{"sku": "LW-3000", "description": "激光焊接工作站", "quantity": 1, "unit_price_cents": 45000000}]}),
        )
        .await;
    assert_eq!(quote.status, 201, "{}", quote.text);
    ids.insert("quotes", quote.id());
    let contract = app
        .post(
            "/contracts",
            &o.rep,
            json!({"opportunity_id": opp, "number": "SEC-1", "title": "机密合同", "amount_cents": 45000000}),
        )
        .await;
    assert_eq!(contract.status, 201, "{}", contract.text);
    ids.insert("contracts", contract.id());
    let asset = app
        .post(
            "/assets",
            &app.admin,
            json!({"serial_number": "SEC-0001", "product_model": "QM-3000", "account_id": account}),
        )
        .await;
    assert_eq!(asset.status, 201, "{}", asset.text);
    ids.insert("assets", asset.id());
    let order = app
        .post(
            "/work-orders",
            &o.service,
            json!({"type": "repair", "account_id": account, "contact_name": "机密联系人",
                   "contact_phone": "13900000002", "description": "机密故障", "priority": "P2"}),
        )
        .await;
    assert_eq!(order.status, 201, "{}", order.text);
    ids.insert("work-orders", order.id());
    let import = app
        .send(
            Method::POST,
            "/imports?entity=leads&dry_run=true",
            &o.rep,
            json!([{"name": "机密导入", "company": "保密科技", "phone": "13900000003"}]),
            &[],
        )
        .await;
    assert_eq!(import.status, 202, "{}", import.text);
    ids.insert("imports", import.id());
    Fixture {
        ids,
        other_rep,
        other_engineer,
    }
}

#[actix_web::test]
async fn records_outside_the_callers_scope_answer_404_on_every_route_that_names_them() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let (mut probed, mut forbidden) = (0, 0);
    for Op {
        method,
        path: template,
        example,
        ..
    } in operations()
    {
        let segments: Vec<&str> = template.trim_start_matches("/api/v1/").split('/').collect();
        let (kind, rest) = match segments.as_slice() {
            ["{collection}", "{id}", rest @ ..] => ("*", rest),
            [kind, "{id}", rest @ ..] => (*kind, rest),
            _ => continue,
        };
        let kinds: Vec<&str> = if kind == "*" {
            vec![
                "leads",
                "accounts",
                "contacts",
                "opportunities",
                "contracts",
                "work-orders",
                "assets",
            ]
        } else if f.ids.contains_key(kind) {
            vec![kind]
        } else {
            continue;
        };
        for kind in kinds {
            let id = &f.ids[kind];
            let path = format!("/{kind}/{id}/{}", rest.join("/"));
            let path = path.trim_end_matches('/');
            let caller = if kind == "work-orders" {
                &f.other_engineer
            } else {
                &f.other_rep
            };
            let body = example.clone();
            let headers = [("if-match", "\"1\"")];
            let r = app
                .send(method.clone(), path, caller, body.clone(), &headers)
                .await;
            // A role that may not call this function at all is refused before the record
            // is looked up: the same answer as for an id that does not exist.
            let missing = path.replace(id.as_str(), "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e5f");
            let m = app
                .send(method.clone(), &missing, caller, body, &headers)
                .await;
            assert_eq!(
                (r.status, &r.body["code"]),
                (m.status, &m.body["code"]),
                "{method} {path} answers differently for a record that exists: {}",
                r.text
            );
            if r.status == 403 {
                forbidden += 1;
            } else {
                assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
                assert_eq!(r.body["code"], "not_found", "{method} {path}");
            }
            assert!(
                !r.text.contains("机密")
                    && !r.text.contains("保密")
                    && !r.text.contains(id.as_str()),
                "{method} {path} leaks: {}",
                r.text
            );
            probed += 1;
        }
    }
    assert!(probed >= 60, "only {probed} probes");
    assert!(
        forbidden * 4 < probed,
        "{forbidden} of {probed} refused by role, not by scope"
    );
    // The owner still sees every one of them (the probes changed nothing).
    let lead = &f.ids["leads"];
    let r = app.get(&format!("/leads/{lead}"), &app.admin).await;
    assert_eq!(r.body["version"], 1, "{}", r.text);
}

/// A body that an allowed role gets a 2xx for; `{}` bodies would be refused by validation
/// before the role is looked at.
async fn config_body(app: &TestApp, path: &str) -> (Value, String) {
    let mut body = app.get(path, &app.admin).await.body;
    let version = body["version"].as_i64().unwrap_or(0);
    for k in ["version", "updated_at", "rescore_pending"] {
        body.as_object_mut().unwrap().remove(k);
    }
    (body, format!("\"{version}\""))
}

#[actix_web::test]
async fn each_role_reaches_exactly_the_admin_and_configuration_functions_it_is_granted() {
    let app = spawn_app().await;
    let team = app.create_team("矩阵").await;
    let roles = [
        "admin",
        "director",
        "manager",
        "sales",
        "marketing",
        "service",
        "engineer",
        "legal",
        "finance",
        "implementation",
        "integration",
    ];
    let mut tokens = BTreeMap::new();
    for role in roles {
        let token = if role == "admin" {
            app.admin.clone()
        } else {
            app.user(&format!("m.{role}"), role, Some(&team)).await.1
        };
        tokens.insert(role, token);
    }
    // (method, path, allowed roles); bodies are built per call so that each allowed call
    // succeeds and each refused one could have.
    let matrix: &[(&str, &str, &[&str])] = &[
        ("GET", "/audit", &["admin", "director"]),
        ("GET", "/audit/verify", &["admin", "director"]),
        ("GET", "/events", &["admin", "director", "integration"]),
        ("GET", "/api-keys", &["admin"]),
        ("POST", "/api-keys", &["admin"]),
        ("POST", "/teams", &["admin"]),
        ("POST", "/users", &["admin"]),
        ("GET", "/webhooks", &["admin", "integration"]),
        ("POST", "/webhooks", &["admin", "integration"]),
        ("POST", "/custom-fields", &["admin"]),
        ("POST", "/calendars", &["admin"]),
        (
            "PUT",
            "/config/scoring",
            &["admin", "director", "marketing"],
        ),
        ("PUT", "/config/activities", &["admin", "director"]),
        ("PUT", "/config/renewal-signals", &["admin", "director"]),
        ("PUT", "/config/contracts", &["admin"]),
        ("PUT", "/config/service", &["admin", "director", "manager"]),
        ("PUT", "/pipeline", &["admin"]),
        (
            "POST",
            "/sla-policies?dry_run=true",
            &["admin", "director", "manager"],
        ),
    ];
    for (method, path, allowed) in matrix {
        for role in roles {
            let n = format!("{role}{}", path.len());
            let (body, etag) = match *path {
                "/api-keys" => (
                    json!({"name": format!("key {n}"), "role": "integration"}),
                    None,
                ),
                "/teams" => (json!({"name": format!("team {n}")}), None),
                "/users" => (
                    json!({"username": format!("new.{n}"), "password": PASSWORD, "role": "sales"}),
                    None,
                ),
                "/webhooks" => (
                    json!({"url": "https://erp.example.com/hooks/crm", "event_types": ["lead.*"]}),
                    None,
                ),
                "/custom-fields" => (
                    json!({"entity": "lead", "key": format!("k_{role}"), "label": "键", "type": "text"}),
                    None,
                ),
                "/calendars" => (
                    json!({"name": format!("cal {n}"), "time_zone": "Asia/Shanghai",
                           "hours": [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}]}),
                    None,
                ),
                "/sla-policies?dry_run=true" => (
                    json!({"name": "QM 48h", "priority": 10, "active": true, "conditions": [],
                           "response_secs": 7200, "resolution_secs": 172800, "warn_ratio": 0.8}),
                    None,
                ),
                p if p.starts_with("/config") || p == "/pipeline" => {
                    let (b, e) = config_body(&app, p).await;
                    (b, Some(e))
                }
                _ => (Value::Null, None),
            };
            let headers: Vec<(&str, &str)> =
                etag.iter().map(|e| ("if-match", e.as_str())).collect();
            let r = app
                .send(method.parse().unwrap(), path, &tokens[role], body, &headers)
                .await;
            if allowed.contains(&role) {
                assert!(
                    r.status.is_success(),
                    "{role} {method} {path}: {} {}",
                    r.status,
                    r.text
                );
            } else {
                assert_eq!(r.status, 403, "{role} {method} {path}: {}", r.text);
                assert_eq!(r.body["code"], "forbidden");
            }
        }
    }
}

#[actix_web::test]
async fn server_managed_fields_in_bodies_are_refused_never_applied() {
    let app = spawn_app().await;
    let o = org(&app).await;
    let lead = app
        .create_lead(
            &o.rep,
            json!({"name": "周", "company": "周氏", "phone": "13900000011"}),
        )
        .await;
    let opp = deal(&app, &o, "周氏集团").await;
    let account = app.get(&format!("/opportunities/{opp}"), &o.rep).await.body["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    let forged = [
        ("id", json!("01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e5f")),
        ("owner_id", json!("01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e5f")),
        ("status", json!("won")),
        ("score", json!(100)),
        ("version", json!(99)),
        ("created_at", json!("2020-01-01T00:00:00Z")),
    ];
    // (create path, create body, record path for the patch)
    let targets = [
        (
            "/leads",
            json!({"name": "吴", "company": "吴氏", "phone": "13900000012"}),
            format!("/leads/{}", lead.id()),
        ),
        (
            "/accounts",
            json!({"name": "郑氏集团"}),
            format!("/accounts/{account}"),
        ),
        (
            "/opportunities",
            json!({"account_id": account, "name": "产线", "amount_cents": 100}),
            format!("/opportunities/{opp}"),
        ),
    ];
    for (create, base, record) in targets {
        for (field, value) in &forged {
            let mut body = base.clone();
            body[*field] = value.clone();
            let r = app.post(create, &o.rep, body).await;
            // `owner_id` is a documented create field of leads, accounts and deals, checked
            // against the caller's scope; every other server-managed field is unknown.
            if *field == "owner_id" {
                assert!(
                    r.status == 422 || r.status == 403,
                    "{create} {field}: {}",
                    r.text
                );
            } else {
                r.assert_problem(422, "validation_failed");
                assert_eq!(r.body["errors"][0]["field"], *field, "{create}: {}", r.text);
            }
            let before = app.get(&record, &app.admin).await.body;
            let r = app
                .patch(
                    &record,
                    &o.rep,
                    json!({ *field: value }),
                    before["version"].as_i64(),
                )
                .await;
            assert!(
                r.status == 422 || r.status == 403,
                "PATCH {record} {field}: {} {}",
                r.status,
                r.text
            );
            let after = app.get(&record, &app.admin).await.body;
            assert_eq!(before, after, "PATCH {record} {field} changed the record");
        }
    }
}

#[actix_web::test]
async fn oversized_bodies_and_headers_are_refused_before_any_work() {
    let app = spawn_with(|s| s.body_limit_bytes = 4096).await;
    let big = "x".repeat(8192);
    let r = app
        .post(
            "/leads",
            &app.admin,
            json!({"name": big, "company": "c", "phone": "13900000013"}),
        )
        .await;
    r.assert_problem(413, "payload_too_large");
    let huge = "a".repeat(64 * 1024);
    let r = app
        .send(
            Method::GET,
            "/me",
            &app.admin,
            Value::Null,
            &[("x-padding", huge.as_str())],
        )
        .await;
    r.assert_problem(431, "headers_too_large");
    assert!(
        r.header("x-request-id").is_some(),
        "a refused request still gets its id"
    );
    let leads = app.get("/leads", &app.admin).await;
    assert_eq!(leads.body["items"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn documented_paths_answer_405_with_allow_for_other_methods() {
    let app = spawn_app().await;
    let r = app
        .send(Method::DELETE, "/leads", &app.admin, Value::Null, &[])
        .await;
    r.assert_problem(405, "method_not_allowed");
    assert_eq!(r.header("allow").as_deref(), Some("GET, POST"));
    let r = app
        .send(
            Method::PUT,
            "/leads/dedup-check",
            &app.admin,
            json!({}),
            &[],
        )
        .await;
    r.assert_problem(405, "method_not_allowed");
    assert_eq!(r.header("allow").as_deref(), Some("POST"));
    let r = app
        .send(Method::TRACE, "/healthz", "", Value::Null, &[])
        .await;
    assert_eq!(r.status, 405);
    app.get("/no-such-thing", &app.admin)
        .await
        .assert_problem(404, "not_found");
    // A trailing slash is another path, not the documented one.
    app.send(Method::PUT, "/leads/", &app.admin, json!({}), &[])
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn no_password_token_or_secret_reaches_the_logs() {
    let (url, _dir) = crate::helpers::fresh_database();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = tempfile::NamedTempFile::new().unwrap();
    let jwt_secret = "log-probe-jwt-secret-0123456789";
    let admin_password = "log-probe-admin-pass";
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_crmflow"))
        .arg("serve")
        .env("CRMFLOW_DATABASE_URL", &url)
        .env("CRMFLOW_BIND", format!("127.0.0.1:{port}"))
        .env("CRMFLOW_JWT_SECRET", jwt_secret)
        .env("CRMFLOW_BOOTSTRAP_ADMIN", format!("admin:{admin_password}"))
        .env("RUST_LOG", "debug")
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the server did not start");
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut rb = client.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send()
    };
    let wrong = post(
        "/auth/login",
        None,
        json!({"username": "admin", "password": "wrong-guess-pass-1"}),
    )
    .await
    .unwrap();
    assert_eq!(wrong.status(), 401);
    let login: Value = post(
        "/auth/login",
        None,
        json!({"username": "admin", "password": admin_password}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    let user_password = "log-probe-user-pass";
    let created = post(
        "/users",
        Some(&token),
        json!({"username": "probe", "password": user_password, "role": "sales"}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let key: Value = post(
        "/api-keys",
        Some(&token),
        json!({"name": "probe", "role": "integration"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let api_key = key["token"].as_str().unwrap().to_string();
    let hook: Value = post(
        "/webhooks",
        Some(&api_key),
        json!({"url": "https://erp.example.com/hooks/crm", "event_types": ["lead.*"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let hook_secret = hook["secret"].as_str().unwrap_or_default().to_string();
    let me = client
        .get(format!("{base}/me"))
        .bearer_auth(&api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    server.kill().unwrap();
    server.wait().unwrap();
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        logged.contains("/api/v1/auth/login"),
        "nothing was logged: {logged}"
    );
    for secret in [
        jwt_secret,
        admin_password,
        "wrong-guess-pass-1",
        user_password,
        token.as_str(),
        api_key.as_str(),
        hook_secret.as_str(),
    ] {
        assert!(
            secret.len() > 8,
            "probe value {secret:?} is too short to mean anything"
        );
        assert!(!logged.contains(secret), "the log holds a secret: {secret}");
    }
}
