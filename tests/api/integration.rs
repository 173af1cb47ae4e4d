//! Webhooks against a real receiver on loopback, the change feed under concurrent writers,
//! bulk imports, and external ids from several systems.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::{raw_conn, spawn_app, spawn_with, TestApp};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    uri: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A local HTTP receiver; `answer(n)` gives the status and body of the n-th request.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(answer: impl Fn(usize) -> (u16, String) + Send + Sync + 'static) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answer = Arc::new(answer);
        let state = got.clone();
        let server = HttpServer::new(move || {
            let (got, answer) = (state.clone(), answer.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (got, answer) = (got.clone(), answer.clone());
                async move {
                    let n = {
                        let mut g = got.lock().unwrap();
                        g.push(Received {
                            at: Instant::now(),
                            uri: req.uri().to_string(),
                            headers: req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                                .collect(),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        g.len() - 1
                    };
                    let (status, text) = answer(n);
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .body(text)
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            got,
        }
    }

    fn requests(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived.
    async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let r = self.requests();
            if r.len() >= n {
                return r;
            }
            assert!(
                start.elapsed() < timeout,
                "only {} of {n} requests arrived",
                r.len()
            );
            actix_web::rt::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Polls `f` until it answers `Some`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Verifies a Standard Webhooks signature the way a receiver would (documented in the
/// README): HMAC-SHA256 keyed by the base64-decoded part of `whsec_…`.
fn signature_ok(secret: &str, r: &Received) -> bool {
    let key = B64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    let signed = format!(
        "{}.{}.{}",
        r.headers["webhook-id"], r.headers["webhook-timestamp"], r.body
    );
    mac.update(signed.as_bytes());
    let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    r.headers["webhook-signature"]
        .split(' ')
        .any(|s| s == expected)
}

async fn subscribe(app: &TestApp, body: Value) -> Value {
    let r = app.post("/webhooks", &app.admin, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn deliveries(app: &TestApp, webhook_id: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/webhooks/{webhook_id}/deliveries"), &app.admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn webhook_deliveries_are_signed_retried_in_growing_gaps_and_logged() {
    // Schedule × 0.001: retries after ~5 ms, then ~300 ms.
    let app = spawn_with(|s| s.webhooks.retry_multiplier = 0.001).await;
    let rx = Receiver::start(|n| {
        if n < 2 {
            (500, "down".into())
        } else {
            (200, "ok".into())
        }
    })
    .await;
    let hook = subscribe(
        &app,
        json!({"url": rx.url, "event_types": ["lead.created"]}),
    )
    .await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(hook["format"], "standard");
    assert_eq!(hook["active"], true);
    let again = app
        .get(
            &format!("/webhooks/{}", hook["id"].as_str().unwrap()),
            &app.admin,
        )
        .await;
    assert!(
        again.body.get("secret").is_none(),
        "the secret is shown once"
    );
    assert_eq!(again.body["signed"], true);

    let lead = app
        .create_lead(
            &app.admin,
            json!({"name": "陈明", "company": "华东机床", "phone": "13800138000"}),
        )
        .await
        .id();
    let got = rx.wait_for(3, Duration::from_secs(20)).await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let got_all = rx.requests();
    assert_eq!(got_all.len(), 3, "one event, three attempts, nothing more");
    let id = &got[0].headers["webhook-id"];
    for r in &got {
        assert_eq!(&r.headers["webhook-id"], id, "one stable id per delivery");
        assert!(
            signature_ok(&secret, r),
            "signature verifies: {:?}",
            r.headers
        );
        assert_eq!(r.headers["content-type"], "application/json");
        let ts: i64 = r.headers["webhook-timestamp"].parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
        let env = r.json();
        assert_eq!(env["type"], "lead.created");
        assert_eq!(env["entity_id"], lead);
        assert_eq!(env["data"]["name"], "陈明");
    }
    let gap1 = got[1].at - got[0].at;
    let gap2 = got[2].at - got[1].at;
    assert!(gap2 > gap1, "gaps grow: {gap1:?} then {gap2:?}");
    assert!(
        gap2 >= Duration::from_millis(200),
        "second retry waits ~300 ms: {gap2:?}"
    );

    let hook_id = hook["id"].as_str().unwrap();
    let log = eventually("the delivery log", Duration::from_secs(5), || async {
        let d = deliveries(&app, hook_id).await;
        (d.len() == 1 && d[0]["status"] == "delivered").then_some(d)
    })
    .await;
    let d = &log[0];
    assert_eq!(d["id"].as_str().unwrap(), id);
    assert_eq!(d["event_type"], "lead.created");
    assert_eq!(d["attempts"], 3);
    let codes: Vec<i64> = d["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![500, 500, 200]);
    assert_eq!(d["attempt_log"][0]["response_body"], "down");
    assert!(d["attempt_log"][2]["latency_ms"].as_i64().unwrap() >= 0);

    // Manual redelivery: same webhook-id, one more attempt.
    let re = app
        .post(
            &format!("/webhook-deliveries/{id}/redeliver"),
            &app.admin,
            Value::Null,
        )
        .await;
    assert_eq!(re.status, 202, "{}", re.text);
    assert_eq!(re.body["status"], "pending");
    let got = rx.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(&got[3].headers["webhook-id"], id);
    eventually(
        "the redelivery to be logged",
        Duration::from_secs(5),
        || async {
            let d = deliveries(&app, hook_id).await;
            (d[0]["status"] == "delivered" && d[0]["attempts"] == 4).then_some(())
        },
    )
    .await;

    // A test event reaches this subscription although it only subscribed to lead.created.
    let t = app
        .post(
            &format!("/webhooks/{hook_id}/test"),
            &app.admin,
            Value::Null,
        )
        .await;
    assert_eq!(t.status, 202, "{}", t.text);
    let got = rx.wait_for(5, Duration::from_secs(10)).await;
    assert_eq!(got[4].json()["type"], "webhook.test");
    assert!(signature_ok(&secret, &got[4]));

    // Events the subscription did not ask for are not sent.
    app.post("/accounts", &app.admin, json!({"name": "宁波精密"}))
        .await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.requests().len(), 5);
}

#[actix_web::test]
async fn a_dead_receiver_fails_the_delivery_and_disables_the_subscription() {
    // The whole schedule (7 attempts) takes ~3.2 s at × 0.00005; only failures for 2 s
    // disable the subscription.
    let app = spawn_with(|s| {
        s.webhooks.retry_multiplier = 0.00005;
        s.webhooks.disable_after_secs = 2;
    })
    .await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hook",
        dead.local_addr().unwrap().port()
    );
    drop(dead);
    let hook = subscribe(&app, json!({"url": url, "event_types": ["lead.*"]})).await;
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let watcher = subscribe(
        &app,
        json!({"url": "http://127.0.0.1:9/unused", "event_types": ["account.*"], "active": false}),
    )
    .await;
    assert_eq!(watcher["active"], false);
    app.create_lead(&app.admin, json!({"name": "王芳", "phone": "13900139000"}))
        .await;
    let d = eventually("the delivery to fail", Duration::from_secs(30), || async {
        let d = deliveries(&app, &hook_id).await;
        d.iter()
            .find(|d| d["event_type"] == "lead.created" && d["status"] == "failed")
            .cloned()
    })
    .await;
    assert_eq!(d["attempts"], 7, "{d}");
    assert!(d["attempt_log"][0]["error"].as_str().is_some());
    assert!(d["attempt_log"][0].get("status_code").is_none());
    let w = app.get(&format!("/webhooks/{hook_id}"), &app.admin).await;
    assert_eq!(w.body["active"], false, "{}", w.text);
    assert!(w.body["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("failed"));
    let feed = app.get("/events?types=webhook.disabled", &app.admin).await;
    let items = feed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", feed.text);
    assert_eq!(items[0]["data"]["webhook_id"], hook_id.as_str());

    // Re-enabling clears the failure state; a disabled subscription cannot be tested.
    let t = app
        .post(
            &format!("/webhooks/{hook_id}/test"),
            &app.admin,
            Value::Null,
        )
        .await;
    t.assert_problem(409, "conflict");
    let on = app
        .patch(
            &format!("/webhooks/{hook_id}"),
            &app.admin,
            json!({"active": true}),
            Some(w.body["version"].as_i64().unwrap()),
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.text);
    assert_eq!(on.body["active"], true);
    assert!(on.body.get("disabled_reason").is_none());
}

#[actix_web::test]
async fn robot_formats_post_signed_chinese_messages() {
    let app = spawn_with(|s| s.public_url = Some("https://crm.example.com".into())).await;
    let ding = Receiver::start(|_| (200, r#"{"errcode":0,"errmsg":"ok"}"#.into())).await;
    let feishu = Receiver::start(|_| (200, r#"{"code":0,"msg":"success"}"#.into())).await;
    let wecom = Receiver::start(|n| {
        if n == 0 {
            // WeCom refuses with 200 and an error code: that is a failed attempt.
            (
                200,
                r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#.into(),
            )
        } else {
            (200, r#"{"errcode":0,"errmsg":"ok"}"#.into())
        }
    })
    .await;
    subscribe(&app, json!({"url": format!("{}?access_token=abc", ding.url), "format": "dingtalk", "secret": "SECding", "event_types": ["lead.created"]})).await;
    let fs = subscribe(&app, json!({"url": feishu.url, "format": "feishu", "secret": "fs-secret", "event_types": ["lead.created"]})).await;
    assert!(fs.get("secret").is_some());
    let wc = subscribe(
        &app,
        json!({"url": wecom.url, "format": "wecom", "event_types": ["lead.created"]}),
    )
    .await;
    assert_eq!(
        wc["signed"], false,
        "a WeCom robot carries its key in the URL"
    );
    let lead = app
        .create_lead(
            &app.admin,
            json!({"name": "陈明", "company": "华东机床", "phone": "13800138000"}),
        )
        .await
        .id();
    let link = format!("[查看记录](https://crm.example.com/api/v1/leads/{lead})");

    let d = &ding.wait_for(1, Duration::from_secs(10)).await[0];
    let url = url::Url::parse(&format!("http://x{}", d.uri)).unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["access_token"], "abc");
    let ts: i64 = q["timestamp"].parse().unwrap();
    assert!(
        (chrono::Utc::now().timestamp_millis() - ts).abs() < 60_000,
        "milliseconds"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(b"SECding").unwrap();
    mac.update(format!("{ts}\nSECding").as_bytes());
    assert_eq!(q["sign"], B64.encode(mac.finalize().into_bytes()));
    let body = d.json();
    assert_eq!(body["msgtype"], "markdown");
    assert_eq!(body["markdown"]["title"], "新线索");
    let text = body["markdown"]["text"].as_str().unwrap();
    assert!(text.contains("新线索 陈明 · 华东机床"), "{text}");
    assert!(text.contains(&link), "{text}");

    let f = &feishu.wait_for(1, Duration::from_secs(10)).await[0];
    let body = f.json();
    assert_eq!(body["msg_type"], "interactive");
    let ts: i64 = body["timestamp"].as_str().unwrap().parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60, "seconds");
    let mac = Hmac::<Sha256>::new_from_slice(format!("{ts}\nfs-secret").as_bytes()).unwrap();
    assert_eq!(body["sign"], B64.encode(mac.finalize().into_bytes()));
    assert_eq!(body["card"]["header"]["title"]["content"], "新线索");
    assert!(body["card"]["elements"][0]["content"]
        .as_str()
        .unwrap()
        .contains("陈明"));

    let w = &wecom.wait_for(2, Duration::from_secs(15)).await;
    let body = w[1].json();
    assert_eq!(body["msgtype"], "markdown");
    assert!(body["markdown"]["content"]
        .as_str()
        .unwrap()
        .starts_with("### 新线索\n\n新线索 陈明"));
    let log = eventually("the WeCom delivery", Duration::from_secs(5), || async {
        let d = deliveries(&app, wc["id"].as_str().unwrap()).await;
        (d[0]["status"] == "delivered").then_some(d)
    })
    .await;
    assert_eq!(
        log[0]["attempts"], 2,
        "the refused 200 counted as a failure"
    );
    assert_eq!(log[0]["attempt_log"][0]["status_code"], 200);
}

#[actix_web::test]
async fn webhook_subscriptions_are_validated_and_admin_only() {
    let app = spawn_app().await;
    for (body, field) in [
        (
            json!({"url": "ftp://example.com/x", "event_types": ["lead.*"]}),
            "url",
        ),
        (
            json!({"url": "file:///etc/passwd", "event_types": ["lead.*"]}),
            "url",
        ),
        (
            json!({"url": "https://example.com/x", "event_types": ["lead.exploded"]}),
            "event_types[0]",
        ),
        (
            json!({"url": "https://example.com/x", "event_types": []}),
            "event_types",
        ),
    ] {
        let r = app.post("/webhooks", &app.admin, body).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.text);
    }
    let r = app
        .post(
            "/webhooks",
            &app.admin,
            json!({"url": "https://example.com/x", "event_types": ["*"], "format": "slack"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let (_, rep) = app.user("rep1", "sales", None).await;
    let (_, integ) = app.user("erp", "integration", None).await;
    app.post(
        "/webhooks",
        &rep,
        json!({"url": "https://example.com/x", "event_types": ["*"]}),
    )
    .await
    .assert_problem(403, "forbidden");
    let w = app
        .post(
            "/webhooks",
            &integ,
            json!({"url": "https://example.com/x", "event_types": ["*"], "description": "ERP"}),
        )
        .await;
    assert_eq!(w.status, 201, "{}", w.text);
    let id = w.id();
    app.get(&format!("/webhooks/{id}/deliveries"), &rep)
        .await
        .assert_problem(403, "forbidden");
    let list = app.get("/webhooks", &integ).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    // Stale If-Match, then a secret rotation shown once, then delete.
    app.patch(
        &format!("/webhooks/{id}"),
        &integ,
        json!({"active": false}),
        Some(7),
    )
    .await
    .assert_problem(412, "version_mismatch");
    let rot = app
        .patch(
            &format!("/webhooks/{id}"),
            &integ,
            json!({"secret": "whsec_bmV3LXNlY3JldC0xMjM0NTY3ODkw"}),
            Some(1),
        )
        .await;
    assert_eq!(rot.status, 200, "{}", rot.text);
    assert_eq!(rot.body["secret"], "whsec_bmV3LXNlY3JldC0xMjM0NTY3ODkw");
    let audit = app
        .get(&format!("/audit?entity=webhook&entity_id={id}"), &app.admin)
        .await;
    assert!(
        !audit.text.contains("bmV3LXNlY3JldC0xMjM0NTY3ODkw"),
        "no secret in the audit trail"
    );
    assert!(audit.text.contains("secret_fingerprint"));
    // Its own config changes were queued for it (example.com is unreachable here).
    eventually("a queued delivery", Duration::from_secs(10), || async {
        (!deliveries(&app, &id).await.is_empty()).then_some(())
    })
    .await;
    let del = app.delete(&format!("/webhooks/{id}"), &integ).await;
    assert_eq!(del.status, 204, "{}", del.text);
    app.get(&format!("/webhooks/{id}"), &integ)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = '{id}' AND status = 'pending'")),
        0,
        "a deleted subscription's waiting deliveries are given up"
    );
    app.post("/webhook-deliveries/nope/redeliver", &integ, Value::Null)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn the_change_feed_loses_nothing_under_concurrent_writers() {
    let app = Arc::new(spawn_app().await);
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let app = app.clone();
            actix_web::rt::spawn(async move {
                for i in 0..12 {
                    let r = app
                        .post("/leads", &app.admin, json!({"name": format!("客户{w}-{i}"), "phone": format!("139{w:04}{i:04}")}))
                        .await;
                    assert_eq!(r.status, 201, "{}", r.text);
                }
            })
        })
        .collect();
    // A reader follows `after` while the writers run, with small pages.
    let reader = {
        let app = app.clone();
        actix_web::rt::spawn(async move {
            let (mut after, mut seen) = (0i64, Vec::new());
            let start = Instant::now();
            loop {
                let r = app
                    .get(&format!("/events?after={after}&limit=7"), &app.admin)
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
                let items = r.body["items"].as_array().unwrap();
                for e in items {
                    seen.push(e["id"].as_i64().unwrap());
                }
                after = r.body["next_after"].as_i64().unwrap();
                let created = seen.len();
                if created > 0 && items.is_empty() && start.elapsed() > Duration::from_secs(1) {
                    let total = app.get("/events?after=0&limit=500", &app.admin).await;
                    let last = total.body["items"]
                        .as_array()
                        .unwrap()
                        .last()
                        .map(|e| e["id"].as_i64().unwrap());
                    if last == seen.last().copied() && lead_count(&app).await == 72 {
                        return seen;
                    }
                }
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "reader never caught up"
                );
            }
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    let seen = reader.await.unwrap();
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let r = app
            .get(&format!("/events?after={after}&limit=500"), &app.admin)
            .await;
        let items = r.body["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        all.extend(items.iter().map(|e| e["id"].as_i64().unwrap()));
        after = r.body["next_after"].as_i64().unwrap();
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ids only grow");
    assert_eq!(seen, all, "the reader saw every event exactly once");
    let created = all.len();
    assert!(created >= 72, "{created}");
}

#[actix_web::test]
async fn the_change_feed_expires_after_its_retention_but_keeps_account_history() {
    let app = spawn_with(|s| s.event_retention_secs = Some(1)).await;
    app.create_lead(&app.admin, json!({"name": "陈明", "phone": "13800138000"}))
        .await;
    let acc = app
        .post("/accounts", &app.admin, json!({"name": "宁波精密"}))
        .await
        .id();
    let before = app
        .get("/events?types=lead.created,account.created", &app.admin)
        .await;
    assert_eq!(
        before.body["items"].as_array().unwrap().len(),
        2,
        "{}",
        before.text
    );
    eventually(
        "the lead event to expire",
        Duration::from_secs(15),
        || async {
            let r = app.get("/events?types=lead.created", &app.admin).await;
            r.body["items"].as_array().unwrap().is_empty().then_some(())
        },
    )
    .await;
    let kept = app.get("/events?types=account.created", &app.admin).await;
    assert_eq!(
        kept.body["items"].as_array().unwrap().len(),
        1,
        "account events stay"
    );
    let timeline = app
        .get(&format!("/accounts/{acc}/timeline"), &app.admin)
        .await;
    assert_eq!(
        timeline.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        timeline.text
    );
}

async fn lead_count(app: &TestApp) -> usize {
    let r = app
        .get("/events?types=lead.created&limit=500", &app.admin)
        .await;
    r.body["items"].as_array().unwrap().len()
}

fn count(app: &TestApp, sql: &str) -> i64 {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = raw_conn(app);
    diesel::sql_query(sql)
        .get_result::<N>(&mut *conn)
        .unwrap()
        .n
}

async fn import(
    app: &TestApp,
    token: &str,
    query: &str,
    content_type: &str,
    body: Vec<u8>,
) -> crate::helpers::Resp {
    let res = app
        .client
        .post(app.url(&format!("/imports?{query}")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    crate::helpers::Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

async fn finished(app: &TestApp, token: &str, id: &str) -> Value {
    eventually("the import to finish", Duration::from_secs(300), || async {
        let r = app.get(&format!("/imports/{id}"), token).await;
        assert_eq!(r.status, 200, "{}", r.text);
        (r.body["status"] == "completed" || r.body["status"] == "failed").then_some(r.body)
    })
    .await
}

#[actix_web::test]
async fn a_large_csv_import_reports_exactly_its_bad_rows_and_stores_the_rest() {
    // Batches of 700 rows cross the stored chunks' 1,000-row boundaries.
    let app = spawn_with(|s| s.imports.batch_rows = 700).await;
    let mut csv =
        String::from("\u{feff}name,company,phone,email,province,city,industry,source,budget\n");
    for i in 1..=10_000 {
        let line = match i {
            17 => format!("李{i},公司{i},137{i:08},not-an-email,江苏,苏州,机械,展会,10万\n"),
            5000 => format!(",公司{i},137{i:08},x{i}@example.cn,江苏,苏州,机械,展会,10万\n"),
            9999 => format!("李{i},公司{i},137{i:08},x{i}@example.cn,江苏,苏州,机械,展会,很多\n"),
            _ => format!("李{i},公司{i},137{i:08},x{i}@example.cn,江苏,苏州,机械,展会,10万\n"),
        };
        csv.push_str(&line);
    }
    let r = import(
        &app,
        &app.admin,
        "entity=leads",
        "text/csv",
        csv.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["total"], 10_000);
    assert_eq!(r.body["status"], "queued");
    let id = r.id();
    assert_eq!(
        r.header("location").unwrap(),
        format!("/api/v1/imports/{id}")
    );
    let done = finished(&app, &app.admin, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["processed"], 10_000);
    assert_eq!(done["succeeded"], 9_997);
    assert_eq!(done["failed"], 3);
    assert_eq!(done["created"], 9_997);
    let errors: Vec<(i64, String)> = done["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["field"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (17, "email".into()),
            (5000, "name".into()),
            (9999, "budget".into())
        ]
    );
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM leads"), 9_997);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM events WHERE event_type = 'lead.created'"
        ),
        9_997,
        "each stored row has its event"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM audit_log WHERE entity = 'lead' AND action = 'create'"
        ),
        9_997
    );
    // Built on the helper thread while the batch went on, each text landed on its own lead.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM events WHERE event_type = 'lead.created' \
             AND data NOT LIKE '%\"id\":\"' || entity_id || '\"%'"
        ),
        0,
        "each lead.created event carries its own lead"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM audit_log a JOIN leads l ON l.id = a.entity_id \
             WHERE a.entity = 'lead' AND a.action = 'create' \
             AND a.changes NOT LIKE '%{\"field\":\"name\",\"old\":null,\"new\":\"' || l.name || '\"}%'"
        ),
        0,
        "each create entry holds its own lead's fields"
    );
    let lead = app.get("/leads?limit=1", &app.admin).await;
    let l = &lead.body["items"][0];
    assert_eq!(l["source"], "trade_show");
    assert_eq!(l["budget_cents"], 10_000_000);
    assert!(l["score"].as_i64().is_some(), "scored like a single create");
    let verify = app.get("/audit/verify", &app.admin).await;
    assert_eq!(verify.body["ok"], true, "{}", verify.text);
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM import_chunks"),
        0,
        "a finished import's rows are dropped"
    );
}

#[actix_web::test]
async fn an_import_whose_instance_died_resumes_at_its_first_unprocessed_row() {
    use diesel::sql_types::{BigInt, Text};
    use diesel::RunQueryDsl;
    let app = spawn_with(|s| s.imports.batch_rows = 400).await;
    // A finished import lends the new one its importer.
    let first = import(
        &app,
        &app.admin,
        "entity=leads",
        "text/csv",
        "name\n种子客户\n".into(),
    )
    .await;
    assert_eq!(first.status, 202, "{}", first.text);
    finished(&app, &app.admin, &first.id()).await;
    // An instance that died after committing 1,500 of 2,500 rows: its lease ran out. Its
    // rows are stored in chunks of any size (here 1,200 and 1,300 rows; an import queued
    // before the rows were chunked has one chunk of all of them).
    let id = "0193a1b2-0000-7000-8000-00000000d1ed";
    {
        let mut conn = raw_conn(&app);
        diesel::sql_query(
            "INSERT INTO imports (id, entity, dry_run, status, total, processed, succeeded, failed, \
             created_count, updated_count, principal, lease_owner, lease_until, error, created_by, \
             created_at, updated_at, finished_at) \
             SELECT $1, entity, dry_run, 'running', 2500, 1500, 1500, 0, 1500, 0, principal, \
             'a-dead-instance', 0, NULL, created_by, created_at, updated_at, NULL \
             FROM imports WHERE id = $2",
        )
        .bind::<Text, _>(id)
        .bind::<Text, _>(first.id())
        .execute(&mut *conn)
        .unwrap();
        for (first_row, n) in [(0i64, 1200i64), (1200, 1300)] {
            let rows: String = (first_row..first_row + n)
                .map(|i| format!("{{\"name\":\"续传{i}\",\"phone\":\"135{i:08}\"}}\n"))
                .collect();
            diesel::sql_query(
                "INSERT INTO import_chunks (import_id, first_row, row_count, rows) VALUES ($1, $2, $3, $4)",
            )
            .bind::<Text, _>(id)
            .bind::<BigInt, _>(first_row)
            .bind::<BigInt, _>(n)
            .bind::<Text, _>(rows)
            .execute(&mut *conn)
            .unwrap();
        }
    }
    let done = finished(&app, &app.admin, id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["processed"], 2500);
    assert_eq!(
        done["created"], 2500,
        "counted on from the committed batches"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM leads WHERE name LIKE '续传%'"
        ),
        1000,
        "rows 1,501 to 2,500 ran, once each"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM leads WHERE name IN ('续传1499', '续传1500', '续传2499')"
        ),
        2
    );
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM import_chunks"), 0);
}

#[actix_web::test]
async fn an_imports_updates_reach_the_timeline_of_their_leads_account() {
    use diesel::connection::SimpleConnection;
    let app = spawn_app().await;
    let acc = app
        .post(
            "/accounts",
            &app.admin,
            json!({"name": "苏州恒锐精工有限公司"}),
        )
        .await;
    assert_eq!(acc.status, 201, "{}", acc.text);
    let acc = acc.id();
    let rows = |title: &str| {
        serde_json::to_vec(&json!([
            {"name": "陈明", "phone": "13800138000", "title": title,
             "external_system": "erp", "external_id": "L-1"},
            {"name": "王芳", "phone": "13900139000", "title": title,
             "external_system": "erp", "external_id": "L-2"}
        ]))
        .unwrap()
    };
    for (title, created, updated) in [("经理", 2, 0), ("总经理", 0, 2)] {
        let r = import(
            &app,
            &app.admin,
            "entity=leads",
            "application/json",
            rows(title),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.text);
        let done = finished(&app, &app.admin, &r.id()).await;
        assert_eq!(
            (done["created"].as_i64(), done["updated"].as_i64()),
            (Some(created), Some(updated)),
            "{done}"
        );
        if created > 0 {
            // Both leads tied to the account (as a conversion ties one), then updated.
            raw_conn(&app)
                .batch_execute(&format!("UPDATE leads SET account_id = '{acc}'"))
                .unwrap();
        }
    }
    // `lead.updated` names no account in its payload: the batch looks its leads' up together.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) AS n FROM events WHERE event_type = 'lead.updated' AND account_id = '{acc}'"
            )
        ),
        2
    );
    let timeline = app
        .get(
            &format!("/accounts/{acc}/timeline?types=lead.updated"),
            &app.admin,
        )
        .await;
    assert_eq!(timeline.status, 200, "{}", timeline.text);
    assert_eq!(
        timeline.body["items"].as_array().unwrap().len(),
        2,
        "{}",
        timeline.text
    );
}

#[actix_web::test]
async fn gbk_csv_dry_run_upserts_by_external_id_and_limits() {
    let app = spawn_with(|s| s.imports.max_bytes = 64 * 1024).await;
    let (gbk, _, _) = encoding_rs::GBK.encode(
        "姓名,公司,手机,邮箱,省份,城市,行业,来源,预算,external_system,external_id\n\
         陈明,华东机床,13800138000,chen@hdjc.cn,江苏,苏州,机械制造,展会,120万,erp,L-1\n\
         王芳,宁波精密,13900139000,,浙江,宁波,汽配,官网,,,\n",
    );
    let r = import(&app, &app.admin, "entity=leads", "text/csv", gbk.to_vec()).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let done = finished(&app, &app.admin, &r.id()).await;
    assert_eq!(done["succeeded"], 2, "{done}");
    let chen = app.get("/leads?q=陈明", &app.admin).await;
    let chen = &chen.body["items"][0];
    assert_eq!(chen["company"], "华东机床");
    assert_eq!(chen["city"], "苏州");
    assert_eq!(chen["budget_cents"], 120_000_000);
    assert_eq!(
        chen["external_refs"],
        json!([{"system": "erp", "external_id": "L-1"}])
    );

    // The same external id again updates instead of duplicating (JSON this time).
    let r = import(
        &app,
        &app.admin,
        "entity=leads",
        "application/json",
        serde_json::to_vec(&json!([{"name": "陈明", "phone": "13800138000", "title": "总经理", "external_system": "erp", "external_id": "L-1"}])).unwrap(),
    )
    .await;
    let done = finished(&app, &app.admin, &r.id()).await;
    assert_eq!(
        (done["created"].as_i64(), done["updated"].as_i64()),
        (Some(0), Some(1)),
        "{done}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM leads"), 2);

    // Explicit charset=gbk.
    let (gbk, _, _) = encoding_rs::GBK.encode("姓名,手机\n赵六,13600136000\n");
    let r = import(
        &app,
        &app.admin,
        "entity=leads",
        "text/csv; charset=GBK",
        gbk.to_vec(),
    )
    .await;
    assert_eq!(finished(&app, &app.admin, &r.id()).await["succeeded"], 1);

    // A dry run validates through the full path and stores nothing.
    let events_before = count(&app, "SELECT COUNT(*) AS n FROM events");
    let rows = json!([
        {"name": "甲", "phone": "13500135000"},
        {"name": "乙", "email": "not-mail"},
        {"name": "丙", "phone": "13500135001", "shoe_size": 42},
        {"name": "丁", "phone": "13500135002", "source": "老客户"},
        {"name": "戊", "phone": "13500135003", "budget_cents": "很多"}
    ]);
    let r = import(
        &app,
        &app.admin,
        "entity=leads&dry_run=true",
        "application/json",
        serde_json::to_vec(&rows).unwrap(),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["dry_run"], true);
    let done = finished(&app, &app.admin, &r.id()).await;
    assert_eq!(
        (done["succeeded"].as_i64(), done["failed"].as_i64()),
        (Some(1), Some(4)),
        "{done}"
    );
    assert_eq!(done["errors"][0]["row"], 2);
    assert_eq!(done["errors"][0]["field"], "email");
    assert_eq!(done["errors"][1]["row"], 3);
    assert_eq!(done["errors"][1]["code"], "unknown_field");
    assert_eq!(done["errors"][1]["field"], "shoe_size");
    assert_eq!(done["errors"][2]["row"], 4);
    assert_eq!(done["errors"][2]["field"], "source");
    assert_eq!(done["errors"][3]["row"], 5);
    assert_eq!(done["errors"][3]["field"], "budget_cents");
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM leads"),
        3,
        "nothing stored"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM events"),
        events_before
    );

    // Accounts and contacts with Chinese headers.
    let r = import(
        &app,
        &app.admin,
        "entity=accounts",
        "text/csv",
        "公司,城市\n苏州恒锐精工,苏州\n".as_bytes().to_vec(),
    )
    .await;
    assert_eq!(finished(&app, &app.admin, &r.id()).await["succeeded"], 1);
    let acc = app.get("/accounts?q=恒锐", &app.admin).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = import(
        &app,
        &app.admin,
        "entity=contacts",
        "text/csv",
        format!("客户,姓名,职位,手机\n{acc},周强,采购经理,13700137000\n{acc},,,\n").into_bytes(),
    )
    .await;
    let done = finished(&app, &app.admin, &r.id()).await;
    assert_eq!(done["succeeded"], 1, "{done}");

    // Refusals of the file itself.
    import(
        &app,
        &app.admin,
        "entity=leads",
        "text/csv",
        "name,shoe_size\nx,42\n".into(),
    )
    .await
    .assert_problem(422, "validation_failed");
    import(
        &app,
        &app.admin,
        "entity=leads",
        "text/plain",
        "name\nx\n".into(),
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    import(
        &app,
        &app.admin,
        "entity=planets",
        "text/csv",
        "name\nx\n".into(),
    )
    .await
    .assert_problem(422, "validation_failed");
    import(
        &app,
        &app.admin,
        "entity=leads",
        "text/csv",
        "name\n".into(),
    )
    .await
    .assert_problem(422, "validation_failed");
    let big = format!("name,phone\n{}", "某某,13800138000\n".repeat(4000));
    import(
        &app,
        &app.admin,
        "entity=leads",
        "text/csv",
        big.into_bytes(),
    )
    .await
    .assert_problem(413, "payload_too_large");
    let (_, engineer) = app.user("eng1", "engineer", None).await;
    import(
        &app,
        &engineer,
        "entity=leads",
        "text/csv",
        "name\nx\n".into(),
    )
    .await
    .assert_problem(403, "forbidden");
    // Someone else's import is not theirs to read.
    let (_, rep) = app.user("rep9", "sales", None).await;
    app.get(&format!("/imports/{}", r.id()), &rep)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn an_import_stops_when_its_user_is_deactivated() {
    let app = spawn_with(|s| s.imports.batch_rows = 5).await;
    let (mkt_id, mkt) = app.user("mkt1", "marketing", None).await;
    let mut csv = String::from("name,phone\n");
    for i in 0..400 {
        csv.push_str(&format!("客户{i},136{i:08}\n"));
    }
    let r = import(&app, &mkt, "entity=leads", "text/csv", csv.into_bytes()).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let off = app
        .patch(
            &format!("/users/{mkt_id}"),
            &app.admin,
            json!({"active": false}),
            None,
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    let done = finished(&app, &app.admin, &r.id()).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(done["error"].as_str().unwrap().contains("no longer active"));
    let processed = done["processed"].as_i64().unwrap();
    assert!(processed < 400, "{done}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM leads"),
        processed,
        "the batches before stay, nothing after"
    );
}

#[actix_web::test]
async fn records_carry_external_ids_from_several_systems() {
    let app = spawn_app().await;
    let acc = app
        .put(
            "/accounts/by-external/erp/C-1",
            &app.admin,
            json!({"name": "华东机床"}),
        )
        .await;
    assert_eq!(acc.status, 201, "{}", acc.text);
    let acc_id = acc.id();
    let wo = app
        .put(
            "/work-orders/by-external/erp/WO-1",
            &app.admin,
            json!({"type": "repair", "account_id": acc_id, "description": "主轴异响"}),
        )
        .await;
    assert_eq!(wo.status, 201, "{}", wo.text);
    let wo_id = wo.id();
    // MES learns the order and links its own id; its upserts then update the same order.
    let linked = app
        .post(
            &format!("/work-orders/{wo_id}/external-refs"),
            &app.admin,
            json!({"system": "mes", "external_id": "M-77"}),
        )
        .await;
    assert_eq!(linked.status, 200, "{}", linked.text);
    let mut refs: Vec<String> = linked
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["system"].as_str().unwrap(),
                r["external_id"].as_str().unwrap()
            )
        })
        .collect();
    refs.sort();
    assert_eq!(refs, vec!["erp/WO-1", "mes/M-77"]);
    let again = app
        .post(
            &format!("/work-orders/{wo_id}/external-refs"),
            &app.admin,
            json!({"system": "mes", "external_id": "M-77"}),
        )
        .await;
    assert_eq!(again.status, 200, "linking twice is a no-op");
    let up = app
        .put(
            "/work-orders/by-external/mes/M-77",
            &app.admin,
            json!({"type": "repair", "account_id": acc_id, "description": "主轴异响，已停机"}),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.text);
    assert_eq!(up.id(), wo_id);
    let got = app.get(&format!("/work-orders/{wo_id}"), &app.admin).await;
    assert_eq!(got.body["external_refs"].as_array().unwrap().len(), 2);
    // An id that names another record is refused.
    let other = app
        .post("/accounts", &app.admin, json!({"name": "宁波精密"}))
        .await
        .id();
    app.post(
        &format!("/accounts/{other}/external-refs"),
        &app.admin,
        json!({"system": "erp", "external_id": "C-1"}),
    )
    .await
    .assert_problem(409, "duplicate");
    app.post(
        &format!("/accounts/{other}/external-refs"),
        &app.admin,
        json!({"system": "e r p", "external_id": "x"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/planets/x/external-refs",
        &app.admin,
        json!({"system": "erp", "external_id": "x"}),
    )
    .await
    .assert_problem(404, "not_found");
    // Outside the caller's scope: 404, never data.
    let (_, rep) = app.user("rep1", "sales", None).await;
    app.post(
        &format!("/accounts/{other}/external-refs"),
        &rep,
        json!({"system": "crm2", "external_id": "z"}),
    )
    .await
    .assert_problem(404, "not_found");
    // Every kind of record takes external ids (leads, accounts, contracts, work orders, assets).
    let lead = app
        .create_lead(&app.admin, json!({"name": "陈明", "phone": "13800138000"}))
        .await
        .id();
    let l = app
        .post(
            &format!("/leads/{lead}/external-refs"),
            &app.admin,
            json!({"system": "wechat", "external_id": "openid-1"}),
        )
        .await;
    assert_eq!(l.status, 200, "{}", l.text);
}
