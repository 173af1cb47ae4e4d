use crate::helpers::spawn_app;

#[actix_web::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    let h = app.get("/healthz", "").await;
    assert_eq!(
        (h.status.as_u16(), h.body["status"].as_str()),
        (200, Some("ok"))
    );
    let r = app.get("/readyz", "").await;
    assert_eq!(r.status, 200);
    app.get("/leads", &app.admin).await;
    let m = app.get("/metrics", "").await;
    assert_eq!(m.status, 200);
    assert!(
        m.text.contains(
            r#"crmflow_http_requests_total{method="GET",route="/api/v1/leads",status="200"} 1"#
        ),
        "{}",
        m.text
    );
    assert!(m
        .text
        .contains("crmflow_http_request_duration_seconds_bucket"));
    assert!(m
        .text
        .contains(r#"crmflow_db_pool_connections{pool="read",state="open"}"#));
}

/// SQLite: committed pages reach the database file through the checkpointer while the
/// writer never stops to copy them (its own checkpoint waits for ~4,000 log pages).
#[actix_web::test]
async fn sqlite_writes_are_checkpointed_off_the_write_path() {
    let app = spawn_app().await;
    if crate::helpers::is_postgres(&app.database_url) {
        return;
    }
    let file = std::path::PathBuf::from(&app.database_url);
    let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let settle = || async {
        let mut last = size();
        loop {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
            let now = size();
            if now == last {
                return now;
            }
            last = now;
        }
    };
    let before = settle().await;
    for i in 0..60 {
        app.create_lead(
            &app.admin,
            serde_json::json!({"name": format!("检查点{i}"), "company": format!("检查点{i}有限公司"),
                               "phone": format!("1390000{i:04}"), "source": "web_form"}),
        )
        .await;
    }
    let after = tokio::time::timeout(std::time::Duration::from_secs(5), settle())
        .await
        .expect("the database file settles");
    assert!(
        after > before,
        "60 creates reached the database file: {before} → {after} bytes"
    );
}
