use crate::helpers::spawn_app;

#[test]
fn the_committed_openapi_document_is_current() {
    let generated = crmflow::api::openapi().to_pretty_json().unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap_or_default();
    assert!(
        generated.trim() == committed.trim(),
        "openapi/openapi.json is stale: regenerate it with `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn every_protected_operation_documents_its_problems_and_security() {
    let doc: serde_json::Value = serde_json::to_value(crmflow::api::openapi()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{method} {path} has no success response"
            );
            if path.starts_with("/api/v1") && path != "/api/v1/auth/login" {
                for code in ["401", "403", "404", "422", "500", "503"] {
                    assert!(responses.contains_key(code), "{method} {path} lacks {code}");
                }
                assert_eq!(
                    op["security"][0]["bearer"],
                    serde_json::json!([]),
                    "{method} {path}"
                );
            }
        }
    }
}

#[actix_web::test]
async fn the_document_and_the_offline_docs_page_are_served() {
    let app = spawn_app().await;
    let r = app.get("/openapi.json", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        serde_json::to_value(crmflow::api::openapi()).unwrap()
    );
    let page = app
        .client
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"));
    assert!(
        !html.contains("unpkg.com") && !html.contains("cdn.jsdelivr"),
        "the docs page loads nothing from a CDN"
    );
}
