//! Background jobs. The sweeper wakes every `CRMFLOW_SWEEP_INTERVAL_MS` and runs each
//! periodic task; tasks coordinate through rows, so several instances may run them: each
//! timer is handled in its own transaction that re-reads the lead and writes it only if its
//! version is unchanged, so a timer fires once even when two instances see it due.

pub mod contracts;
pub mod imports;
pub mod lead_timers;
pub mod pipeline;
pub mod renewal;
pub mod reports;
pub mod service;
pub mod webhooks;

use crate::service::Services;
use crate::store::idempotency;

/// Starts the sweeper on the current runtime.
pub fn spawn(services: Services) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(services.settings.sweep_interval);
        loop {
            tick.tick().await;
            if let Err(e) = sweep(&services).await {
                log::warn!("sweep failed: {e}");
            }
        }
    })
}

/// One pass of every periodic task.
pub async fn sweep(services: &Services) -> crate::error::AppResult<()> {
    purge_idempotency_keys(services).await?;
    lead_timers::claims(services).await?;
    lead_timers::first_touches(services).await?;
    lead_timers::rescore(services).await?;
    pipeline::stalled(services).await?;
    contracts::nps_surveys(services).await?;
    service::sla_clocks(services).await?;
    renewal::signals(services).await?;
    reports::daily_digest(services).await?;
    reports::purge_write_log(services).await?;
    expire_feed(services).await?;
    Ok(())
}

/// Retention: change-feed events past `CRMFLOW_EVENT_RETENTION_SECS` (account events
/// stay for the timeline) and finished webhook deliveries past their log retention.
async fn expire_feed(services: &Services) -> crate::error::AppResult<()> {
    let now = services.now().timestamp_millis();
    let (retention, hooks) = (
        services.settings.event_retention_secs,
        services.settings.webhooks.clone(),
    );
    let n = services
        .db_write(move |conn| {
            crate::service::webhook_delivery::expire(conn, now, retention, &hooks)
        })
        .await?;
    if n > 0 {
        log::debug!("expired {n} change-feed events and webhook deliveries");
    }
    Ok(())
}

/// Forgets `Idempotency-Key` responses older than their TTL.
async fn purge_idempotency_keys(services: &Services) -> crate::error::AppResult<()> {
    let before = services.now().timestamp_millis() - services.settings.idempotency_ttl_secs * 1000;
    let purged = services
        .db_write(move |conn| Ok(idempotency::purge(conn, before)?))
        .await?;
    if purged > 0 {
        log::debug!("purged {purged} expired idempotency keys");
    }
    Ok(())
}

/// A task that lost a race to another instance (the record moved on) skips it.
fn skip_races(result: crate::error::AppResult<()>) -> crate::error::AppResult<()> {
    match result {
        Err(e) if e.code == "version_mismatch" => Ok(()),
        other => other,
    }
}
