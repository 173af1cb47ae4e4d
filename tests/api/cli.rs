use std::process::Command;

use serde_json::json;

use crate::helpers::{fresh_database, spawn_on};

fn crmflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_crmflow"))
}

#[test]
fn openapi_prints_the_document() {
    let out = crmflow().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["info"]["title"], "crmflow");
}

#[test]
fn serve_without_a_jwt_secret_refuses_to_start_with_a_clear_message() {
    let out = crmflow()
        .arg("serve")
        .env_remove("CRMFLOW_JWT_SECRET")
        .env("CRMFLOW_DATABASE_URL", ":memory:")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CRMFLOW_JWT_SECRET"));
}

#[test]
fn unknown_commands_print_the_usage() {
    let out = crmflow().arg("frobnicate").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
}

#[actix_web::test]
async fn user_create_and_migrate_work_on_the_configured_database() {
    let (url, _dir) = fresh_database();
    let m = crmflow()
        .arg("migrate")
        .env("CRMFLOW_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let out = crmflow()
        .args([
            "user",
            "create",
            "--username",
            "ops.lead",
            "--role",
            "director",
            "--password",
            "cli-pass-2026",
        ])
        .env("CRMFLOW_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = crmflow()
        .args(["user", "create", "--username", "x", "--role", "pope"])
        .env("CRMFLOW_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    // The bootstrap admin is not created on a database that already has users.
    let app = spawn_on(url).await;
    let token = app.login("ops.lead", "cli-pass-2026").await;
    assert_eq!(app.get("/me", &token).await.body["role"], "director");
    let admin = app
        .post(
            "/auth/login",
            "",
            json!({"username": "admin", "password": crate::helpers::ADMIN_PASSWORD}),
        )
        .await;
    admin.assert_problem(401, "unauthorized");
}
