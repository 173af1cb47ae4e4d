//! Prometheus metrics: requests and latency by route and status, database pool usage.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::store::Db;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    /// Group commits of writes, and the writes they held (see `service::group_commit`).
    write_groups: IntCounter,
    grouped_writes: IntCounter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry =
            Registry::new_custom(Some("crmflow".into()), None).expect("valid metric prefix");
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database pool connections by pool and state",
            ),
            &["pool", "state"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(requests.clone()))
            .expect("register once");
        registry
            .register(Box::new(latency.clone()))
            .expect("register once");
        let write_groups = IntCounter::new(
            "write_groups_total",
            "Transactions that committed writes together (group commit)",
        )
        .expect("valid metric");
        let grouped_writes = IntCounter::new(
            "write_group_writes_total",
            "Writes run in those transactions (divided by write_groups_total: the mean group)",
        )
        .expect("valid metric");
        registry
            .register(Box::new(pool.clone()))
            .expect("register once");
        registry
            .register(Box::new(write_groups.clone()))
            .expect("register once");
        registry
            .register(Box::new(grouped_writes.clone()))
            .expect("register once");
        Metrics {
            registry,
            requests,
            latency,
            pool,
            write_groups,
            grouped_writes,
        }
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition, with the pool gauges and the group commit counts `(groups,
    /// writes)` read now.
    pub fn render(&self, db: &Db, (groups, writes): (u64, u64)) -> String {
        self.write_groups
            .inc_by(groups.saturating_sub(self.write_groups.get()));
        self.grouped_writes
            .inc_by(writes.saturating_sub(self.grouped_writes.get()));
        for (name, connections, idle) in db.pool_state() {
            self.pool
                .with_label_values(&[name, "open"])
                .set(connections as i64);
            self.pool
                .with_label_values(&[name, "idle"])
                .set(idle as i64);
            self.pool
                .with_label_values(&[name, "in_use"])
                .set(connections.saturating_sub(idle) as i64);
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .unwrap_or_default();
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
