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

/// PostgreSQL: connections the database dropped (here terminated under the API) are found
/// by the liveness check when they are next handed out, once it is due (at most a second
/// after their last check), and replaced: no request is answered from a dead connection.
#[actix_web::test]
async fn connections_the_database_dropped_are_replaced() {
    use diesel::RunQueryDsl;
    let app = spawn_app().await;
    if !crate::helpers::is_postgres(&app.database_url) {
        return;
    }
    assert!(burst(&app).await.iter().all(|s| *s == 200));
    let mut conn = crate::helpers::raw_conn(&app);
    let terminated = diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND application_name <> '{}'",
        crmflow::store::listen::APPLICATION_NAME
    ))
    .execute(&mut *conn)
    .unwrap();
    assert!(terminated >= 1, "the app's pooled connections");
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1100)).await;
    for _ in 0..3 {
        let statuses = burst(&app).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
}

/// Eight concurrent `GET /leads`: their statuses.
async fn burst(app: &crate::helpers::TestApp) -> Vec<u16> {
    let asks = (0..8).map(|_| app.get("/leads", &app.admin));
    futures_util::future::join_all(asks)
        .await
        .iter()
        .map(|r| r.status.as_u16())
        .collect()
}
