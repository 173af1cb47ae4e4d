//! Settings from environment variables (every one documented in the README).

use std::time::Duration;

use crate::store::Backend;

/// Everything crmflow reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub database_url: String,
    pub jwt_secret: Option<String>,
    pub jwt_ttl_secs: i64,
    pub jwt_issuer: String,
    pub jwt_audience: Option<String>,
    pub body_limit_bytes: usize,
    /// Largest request head (request line + headers) in bytes (431 above it).
    pub header_limit_bytes: usize,
    pub db_pool_size: u32,
    pub db_timeout: Duration,
    /// Reports computed at once (each scans a period's records); further report requests
    /// wait up to `report_wait` for a slot, then answer 503.
    pub report_concurrency: usize,
    pub report_wait: Duration,
    /// A computed report is served to the same request (report, row scope, filters,
    /// period) for this long; zero: always computed.
    pub report_cache_ttl: Duration,
    pub sweep_interval: Duration,
    pub bootstrap_admin: Option<(String, String)>,
    pub idempotency_ttl_secs: i64,
    pub public_url: Option<String>,
    pub workers: usize,
    /// The company's zone: where calendar days (warranty and contract end dates) begin.
    pub time_zone: chrono_tz::Tz,
    pub webhooks: WebhookSettings,
    pub imports: ImportSettings,
    /// Events not tied to an account leave the change feed after this many seconds
    /// (`None`: kept).
    pub event_retention_secs: Option<i64>,
    /// Failed-login limits (429 past them).
    pub login_limits: crate::auth::throttle::ThrottleLimits,
    /// Origins a browser front end may call from (CORS); empty: none.
    pub cors_origins: Vec<String>,
    /// The daily lead-health digest: local time of day and zone (`None`: no digest).
    pub digest: Option<(chrono::NaiveTime, chrono_tz::Tz)>,
}

/// When the daily digest goes out unless `CRMFLOW_DIGEST_TIME` says otherwise.
pub fn default_digest_time() -> chrono::NaiveTime {
    chrono::NaiveTime::from_hms_opt(8, 30, 0).expect("a valid time")
}

/// The webhook delivery worker.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// How often the worker looks for new events and due retries.
    pub poll_interval: Duration,
    /// One attempt's time limit.
    pub timeout: Duration,
    /// Scales the retry schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h); tests shrink it.
    pub retry_multiplier: f64,
    /// A subscription whose attempts have all failed for this long is disabled.
    pub disable_after_secs: i64,
    /// Finished deliveries and their attempts are kept this long.
    pub log_retention_secs: i64,
}

/// Bulk imports.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    /// The largest accepted file (413 above).
    pub max_bytes: usize,
    /// Rows per transaction.
    pub batch_rows: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            poll_interval: Duration::from_millis(1000),
            timeout: Duration::from_secs(10),
            retry_multiplier: 1.0,
            disable_after_secs: 24 * 3600,
            log_retention_secs: 30 * 24 * 3600,
        }
    }
}

impl Default for ImportSettings {
    fn default() -> Self {
        ImportSettings {
            max_bytes: 32 * 1024 * 1024,
            batch_rows: 500,
        }
    }
}

/// Database connections when `CRMFLOW_DB_POOL_SIZE` is not set. SQLite: 8 readers (reads
/// run in this process; the one writer is extra). PostgreSQL: two per CPU core of this
/// machine, at least 2. Every busy connection is a PostgreSQL backend that competes with this
/// process for the same cores when both run on one machine. With 8 on two cores, wrk's p99
/// of `GET /leads/{id}` was 202–789 ms while the server's own histogram had 99.96 % of them
/// within 50 ms: they waited to be scheduled. With 4 it was 5–6 ms at the same throughput,
/// and creates (which queue on the journal head anyway) went from p99 73 to 43 ms, 5 % more.
pub fn default_pool_size(backend: Backend, cores: usize) -> u32 {
    match backend {
        Backend::Sqlite => 8,
        Backend::Postgres => (2 * cores).clamp(2, 64) as u32,
    }
}

/// Where the company's calendar days begin unless `CRMFLOW_TIME_ZONE` says otherwise.
pub const DEFAULT_TIME_ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn num<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name} must be a number, got `{v}`")),
    }
}

impl Settings {
    pub fn from_env() -> Result<Settings, String> {
        let bootstrap_admin = match var("CRMFLOW_BOOTSTRAP_ADMIN") {
            None => None,
            Some(v) => match v.split_once(':') {
                Some((u, p)) if !u.is_empty() && p.len() >= 8 => Some((u.to_string(), p.to_string())),
                _ => return Err("CRMFLOW_BOOTSTRAP_ADMIN must be `username:password` with a password of 8+ characters".into()),
            },
        };
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let workers = num("CRMFLOW_WORKERS", cores)?;
        let database_url = var("CRMFLOW_DATABASE_URL").unwrap_or_else(|| "./crmflow.db".into());
        let db_pool_size = num(
            "CRMFLOW_DB_POOL_SIZE",
            default_pool_size(Backend::of_url(&database_url), cores),
        )?;
        let time_zone = match var("CRMFLOW_TIME_ZONE") {
            None => DEFAULT_TIME_ZONE,
            Some(v) => v
                .parse()
                .map_err(|_| format!("CRMFLOW_TIME_ZONE must be an IANA zone, got `{v}`"))?,
        };
        let digest_zone = match var("CRMFLOW_DIGEST_TIME_ZONE") {
            None => time_zone,
            Some(v) => v
                .parse()
                .map_err(|_| format!("CRMFLOW_DIGEST_TIME_ZONE must be an IANA zone, got `{v}`"))?,
        };
        let digest = match var("CRMFLOW_DIGEST_TIME").as_deref() {
            None => Some((default_digest_time(), digest_zone)),
            Some("off") => None,
            Some(v) => Some((
                chrono::NaiveTime::parse_from_str(v, "%H:%M").map_err(|_| {
                    format!("CRMFLOW_DIGEST_TIME must be HH:MM or `off`, got `{v}`")
                })?,
                digest_zone,
            )),
        };
        Ok(Settings {
            digest,
            bind: var("CRMFLOW_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            database_url,
            jwt_secret: var("CRMFLOW_JWT_SECRET"),
            jwt_ttl_secs: num("CRMFLOW_JWT_TTL_SECS", 8 * 3600)?,
            jwt_issuer: var("CRMFLOW_JWT_ISSUER").unwrap_or_else(|| "crmflow".into()),
            jwt_audience: var("CRMFLOW_JWT_AUDIENCE"),
            body_limit_bytes: num("CRMFLOW_BODY_LIMIT_BYTES", 1024 * 1024)?,
            header_limit_bytes: num("CRMFLOW_HEADER_LIMIT_BYTES", 16 * 1024)?,
            db_pool_size: match db_pool_size {
                0 => return Err("CRMFLOW_DB_POOL_SIZE must be at least 1".into()),
                n => n,
            },
            db_timeout: Duration::from_millis(num("CRMFLOW_DB_TIMEOUT_MS", 5000)?),
            report_concurrency: match num("CRMFLOW_REPORT_CONCURRENCY", 2usize)? {
                0 => return Err("CRMFLOW_REPORT_CONCURRENCY must be at least 1".into()),
                n => n,
            },
            report_wait: Duration::from_millis(num("CRMFLOW_REPORT_WAIT_MS", 30_000)?),
            report_cache_ttl: Duration::from_secs(num("CRMFLOW_REPORT_CACHE_SECS", 30)?),
            sweep_interval: Duration::from_millis(num("CRMFLOW_SWEEP_INTERVAL_MS", 5000)?),
            bootstrap_admin,
            idempotency_ttl_secs: num("CRMFLOW_IDEMPOTENCY_TTL_SECS", 24 * 3600)?,
            public_url: var("CRMFLOW_PUBLIC_URL"),
            workers: workers.max(1),
            time_zone,
            webhooks: WebhookSettings {
                poll_interval: Duration::from_millis(num("CRMFLOW_WEBHOOK_POLL_MS", 1000)?),
                timeout: Duration::from_millis(num("CRMFLOW_WEBHOOK_TIMEOUT_MS", 10_000)?),
                retry_multiplier: num("CRMFLOW_WEBHOOK_RETRY_MULTIPLIER", 1.0)?,
                disable_after_secs: num("CRMFLOW_WEBHOOK_DISABLE_AFTER_SECS", 24 * 3600)?,
                log_retention_secs: num("CRMFLOW_WEBHOOK_LOG_RETENTION_SECS", 30 * 24 * 3600)?,
            },
            imports: ImportSettings {
                max_bytes: num("CRMFLOW_IMPORT_MAX_BYTES", 32 * 1024 * 1024)?,
                batch_rows: num("CRMFLOW_IMPORT_BATCH_ROWS", 500usize)?.max(1),
            },
            event_retention_secs: match num("CRMFLOW_EVENT_RETENTION_SECS", 0i64)? {
                0 => None,
                n => Some(n.max(1)),
            },
            login_limits: crate::auth::throttle::ThrottleLimits {
                per_user: num("CRMFLOW_LOGIN_MAX_FAILURES_PER_USER", 5usize)?.max(1),
                per_ip: num("CRMFLOW_LOGIN_MAX_FAILURES_PER_IP", 20usize)?.max(1),
                window_secs: num("CRMFLOW_LOGIN_WINDOW_SECS", 300i64)?.max(1),
            },
            cors_origins: var("CRMFLOW_CORS_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_string())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgresql_gets_two_connections_per_core_and_sqlite_eight_readers() {
        assert_eq!(default_pool_size(Backend::Postgres, 2), 4);
        assert_eq!(default_pool_size(Backend::Postgres, 1), 2);
        assert_eq!(default_pool_size(Backend::Postgres, 16), 32);
        assert_eq!(default_pool_size(Backend::Postgres, 128), 64);
        assert_eq!(default_pool_size(Backend::Sqlite, 2), 8);
        assert_eq!(default_pool_size(Backend::Sqlite, 64), 8);
    }
}
