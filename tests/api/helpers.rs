//! Spawns the real application on a random port against a fresh database: a temporary
//! SQLite file, or a new PostgreSQL database when `CRMFLOW_TEST_DATABASE_URL` is set.

use std::sync::Arc;
use std::time::Duration;

use crmflow::clock::SystemClock;
use crmflow::config::Settings;
use crmflow::startup::Application;
use diesel::{Connection, RunQueryDsl};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const ADMIN_PASSWORD: &str = "admin-pass-2026";
pub const PASSWORD: &str = "user-pass-2026";
pub const JWT_SECRET: &str = "test-secret-0123456789-abcdef";

/// A fresh database URL for one test.
pub fn fresh_database() -> (String, Option<tempfile::TempDir>) {
    match std::env::var("CRMFLOW_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("t_{}", uuid::Uuid::now_v7().simple());
            let mut conn = diesel::PgConnection::establish(&admin_url)
                .expect("CRMFLOW_TEST_DATABASE_URL reachable");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .expect("create test database");
            let (base, _) = admin_url
                .rsplit_once('/')
                .expect("a URL with a database name");
            (format!("{base}/{name}"), None)
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("crmflow.db");
            (path.to_string_lossy().into_owned(), Some(dir))
        }
    }
}

/// A direct connection to the app's database, for tests that must reach under the API.
pub struct RawConn(crmflow::store::PooledConn);

impl std::ops::Deref for RawConn {
    type Target = crmflow::store::DbConnection;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for RawConn {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

pub fn raw_conn(app: &TestApp) -> RawConn {
    let db = crmflow::store::Db::connect(
        &app.database_url,
        &crmflow::store::PoolOptions {
            size: 1,
            connect_timeout: std::time::Duration::from_secs(5),
            busy_timeout_ms: 5000,
        },
    )
    .unwrap();
    RawConn(db.write_conn().unwrap())
}

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres")
}

pub fn test_settings(database_url: &str) -> Settings {
    Settings {
        bind: "127.0.0.1:0".into(),
        database_url: database_url.into(),
        jwt_secret: Some(JWT_SECRET.into()),
        jwt_ttl_secs: 3600,
        jwt_issuer: "crmflow".into(),
        jwt_audience: None,
        body_limit_bytes: 64 * 1024,
        header_limit_bytes: 16 * 1024,
        db_pool_size: 4,
        db_timeout: Duration::from_secs(5),
        report_concurrency: 2,
        report_wait: Duration::from_secs(30),
        report_cache_ttl: Duration::ZERO,
        sweep_interval: Duration::from_millis(200),
        bootstrap_admin: Some(("admin".into(), ADMIN_PASSWORD.into())),
        idempotency_ttl_secs: 24 * 3600,
        public_url: None,
        workers: 2,
        time_zone: chrono_tz::Asia::Shanghai,
        webhooks: crmflow::config::WebhookSettings {
            poll_interval: Duration::from_millis(50),
            ..Default::default()
        },
        imports: Default::default(),
        event_retention_secs: None,
        login_limits: Default::default(),
        cors_origins: Vec::new(),
        digest: None,
    }
}

/// One HTTP answer, body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.text))
            .to_string()
    }

    /// Asserts a problem document with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.body["code"], code, "{}", self.text);
        assert_eq!(self.body["status"], status);
        assert!(self.body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:crmflow:problem:"));
    }
}

pub struct TestApp {
    /// Stops this instance (server and sweeper), as a crash would.
    pub stop: Option<crmflow::startup::StopHandle>,
    pub base: String,
    pub client: reqwest::Client,
    pub admin: String,
    pub database_url: String,
    _dir: Option<tempfile::TempDir>,
}

/// Starts the application on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// Starts the application with adjusted settings.
pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_with_clock(Arc::new(SystemClock::default()), adjust).await
}

/// Starts the application with a clock the test moves.
pub async fn spawn_with_clock(
    clock: Arc<SystemClock>,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let (url, dir) = fresh_database();
    let mut t = start(url, dir, clock, adjust).await;
    t.admin = t.login("admin", ADMIN_PASSWORD).await;
    t
}

/// Starts the application on an existing database (no admin login).
pub async fn spawn_on(url: String) -> TestApp {
    start(url, None, Arc::new(SystemClock::default()), |_| {}).await
}

/// Starts the application on an existing database with a clock the test moves.
pub async fn spawn_on_with_clock(
    url: String,
    clock: Arc<SystemClock>,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    start(url, None, clock, adjust).await
}

async fn start(
    url: String,
    dir: Option<tempfile::TempDir>,
    clock: Arc<SystemClock>,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = test_settings(&url);
    adjust(&mut settings);
    let app = Application::build(settings, clock)
        .await
        .expect("application builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = Some(app.stop_handle());
    actix_web::rt::spawn(app.run());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    TestApp {
        stop,
        base,
        client,
        admin: String::new(),
        database_url: url,
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/')
            && !path.starts_with("/api/")
            && !path.starts_with("/healthz")
            && !path.starts_with("/readyz")
            && !path.starts_with("/metrics")
            && !path.starts_with("/openapi.json")
            && !path.starts_with("/docs")
        {
            format!("{}/api/v1{}", self.base, path)
        } else {
            format!("{}{}", self.base, path)
        }
    }

    /// Sends a request; `token` may be empty for none; `body` is sent as JSON when not null.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self.client.request(method, self.url(path));
        if !token.is_empty() {
            rb = rb.bearer_auth(token);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if !body.is_null() {
            rb = rb.json(&body);
        }
        let res = rb.send().await.expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(Method::GET, path, token, Value::Null, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::POST, path, token, body, &[]).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::PUT, path, token, body, &[]).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value, if_match: Option<i64>) -> Resp {
        let etag = if_match.map(|v| format!("\"{v}\""));
        let headers: Vec<(&str, &str)> = etag.iter().map(|e| ("if-match", e.as_str())).collect();
        self.send(Method::PATCH, path, token, body, &headers).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(Method::DELETE, path, token, Value::Null, &[])
            .await
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self
            .post(
                "/auth/login",
                "",
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(r.status, 200, "login {username}: {}", r.text);
        r.body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn create_team(&self, name: &str) -> String {
        let r = self
            .post("/teams", &self.admin, json!({"name": name}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.id()
    }

    /// Creates a user and returns (id, token).
    pub async fn user(
        &self,
        username: &str,
        role: &str,
        team_id: Option<&str>,
    ) -> (String, String) {
        let r = self
            .post(
                "/users",
                &self.admin,
                json!({"username": username, "password": PASSWORD, "role": role, "team_id": team_id, "capacity": 10}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let token = self.login(username, PASSWORD).await;
        (r.id(), token)
    }

    pub async fn create_lead(&self, token: &str, body: Value) -> Resp {
        let r = self.post("/leads", token, body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r
    }
}
