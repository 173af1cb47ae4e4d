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
