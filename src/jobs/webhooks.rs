//! The webhook worker: every `CRMFLOW_WEBHOOK_POLL_MS` it fans new events out to the
//! active subscriptions and starts a delivery run for each subscription not already
//! running here. A run sends the subscription's due deliveries one by one in event order
//! and stops at the first failure (the retry waits for its time) or when nothing is due.
//! No database connection is held while a receiver answers; the subscription lease keeps
//! a second instance off the same subscription.

use std::collections::HashSet;
use std::time::Instant;

use futures_util::future::LocalBoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::error::AppResult;
use crate::service::webhook_delivery::{self as delivery, Outcome, Outgoing};
use crate::service::{new_id, Services};

/// Deliveries one run sends before it lets go of the subscription.
const RUN_LIMIT: usize = 500;

/// Starts the worker on the current runtime.
pub fn spawn(services: Services) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(services.settings.webhooks.timeout)
            .user_agent(concat!("crmflow-webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                log::error!("webhook worker cannot start its HTTP client: {e}");
                return;
            }
        };
        let owner = new_id();
        let mut running: FuturesUnordered<LocalBoxFuture<'static, String>> =
            FuturesUnordered::new();
        let mut busy: HashSet<String> = HashSet::new();
        let mut tick = actix_web::rt::time::interval(services.settings.webhooks.poll_interval);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    match due(&services).await {
                        Ok(ids) => {
                            for id in ids {
                                if busy.insert(id.clone()) {
                                    running.push(Box::pin(run(services.clone(), client.clone(), owner.clone(), id)));
                                }
                            }
                        }
                        Err(e) => log::warn!("webhook fan-out failed: {e}"),
                    }
                }
                Some(id) = running.next(), if !running.is_empty() => {
                    busy.remove(&id);
                }
            }
        }
    })
}

/// Fans new events out and answers the active subscriptions with a delivery due.
async fn due(services: &Services) -> AppResult<Vec<String>> {
    let (subs, head) = services.read(delivery::active).await?;
    let now = services.now().timestamp_millis();
    for w in subs.iter().filter(|w| w.event_cursor < head) {
        let id = w.id.clone();
        let result = services
            .db_write(move |conn| {
                let mut total = 0;
                // Catch up in bounded steps; the rest waits for the next tick.
                for _ in 0..20 {
                    let n = delivery::fan_out(conn, &id, now)?;
                    total += n;
                    if n == 0 {
                        break;
                    }
                }
                Ok(total)
            })
            .await;
        if let Err(e) = result {
            if e.code != "conflict" {
                return Err(e);
            }
        }
    }
    let now = services.now().timestamp_millis();
    let due = services.read(move |conn| delivery::due(conn, now)).await?;
    Ok(subs
        .into_iter()
        .map(|w| w.id)
        .filter(|id| due.contains(id))
        .collect())
}

/// Delivers one subscription's due deliveries; answers its id when done.
async fn run(
    services: Services,
    client: reqwest::Client,
    owner: String,
    webhook_id: String,
) -> String {
    if let Err(e) = run_inner(&services, &client, &owner, &webhook_id).await {
        log::warn!("webhook {webhook_id}: delivery run failed: {e}");
        let (id, owner) = (webhook_id.clone(), owner.clone());
        let _ = services
            .db_write(move |conn| delivery::release(conn, &id, &owner))
            .await;
    }
    webhook_id
}

async fn run_inner(
    services: &Services,
    client: &reqwest::Client,
    owner: &str,
    webhook_id: &str,
) -> AppResult<()> {
    let settings = services.settings.webhooks.clone();
    let lease_ms = settings.timeout.as_millis() as i64 + 30_000;
    for _ in 0..RUN_LIMIT {
        let now = services.now().timestamp_millis();
        let (id, who, public) = (
            webhook_id.to_string(),
            owner.to_string(),
            services.settings.public_url.clone(),
        );
        let Some(out) = services
            .db_write(move |conn| {
                delivery::prepare(conn, &id, &who, now, lease_ms, public.as_deref())
            })
            .await?
        else {
            return Ok(());
        };
        let outcome = send(client, &out).await;
        let jitter: f64 = rand::random();
        let s = settings.clone();
        let delivered = services
            .write_as(
                "system:webhooks".into(),
                out.delivery_id.clone(),
                move |uow| delivery::record(uow, &out, &outcome, &s, jitter),
            )
            .await?;
        if !delivered {
            let (id, who) = (webhook_id.to_string(), owner.to_string());
            services
                .db_write(move |conn| delivery::release(conn, &id, &who))
                .await?;
            return Ok(());
        }
    }
    let (id, who) = (webhook_id.to_string(), owner.to_string());
    services
        .db_write(move |conn| delivery::release(conn, &id, &who))
        .await
}

/// Sends one attempt (the client's timeout bounds it).
async fn send(client: &reqwest::Client, out: &Outgoing) -> Outcome {
    let started = Instant::now();
    let mut req = client.post(&out.url).body(out.body.clone());
    for (k, v) in &out.headers {
        req = req.header(*k, v);
    }
    let result = req.send().await;
    let outcome = match result {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            // Only the start of the answer is kept: read no more than that.
            let mut body = Vec::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                body.extend_from_slice(&chunk);
                if body.len() >= 1024 {
                    break;
                }
            }
            Outcome {
                status: Some(status),
                body: String::from_utf8_lossy(&body).into_owned(),
                latency_ms: 0,
                error: None,
            }
        }
        Err(e) => Outcome {
            status: None,
            body: String::new(),
            latency_ms: 0,
            error: Some(if e.is_timeout() {
                "timed out".into()
            } else if e.is_connect() {
                "connection failed".into()
            } else {
                format!("request failed: {e}")
            }),
        },
    };
    Outcome {
        latency_ms: started.elapsed().as_millis() as i64,
        ..outcome
    }
}
