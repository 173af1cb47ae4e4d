//! The daily lead-health digest and the upkeep of the custom-value write log.

use crate::bootstrap::SYSTEM_ACTOR;
use crate::error::AppResult;
use crate::service::Services;

/// Sends each team's `report.lead_health_daily` once its local time has come today.
pub async fn daily_digest(services: &Services) -> AppResult<()> {
    let Some((at, tz)) = services.settings.digest else {
        return Ok(());
    };
    let Some((day, _)) = crate::domain::report::digest_due(services.now(), &tz, at) else {
        return Ok(());
    };
    let pending = services
        .read(move |conn| Ok(crate::store::teams::digests_pending(conn, &day)?))
        .await?;
    if pending == 0 {
        return Ok(());
    }
    let now = services.now();
    let digests = services
        .read(move |conn| crate::service::reports::due_digests(conn, now, tz, at))
        .await?;
    let sent = services
        .write_as(SYSTEM_ACTOR.into(), "sweeper".into(), move |uow| {
            crate::service::reports::send_digests(uow, tz, digests)
        })
        .await?;
    if sent > 0 {
        log::info!("sent {sent} daily lead-health digests");
    }
    Ok(())
}

/// Forgets custom-value writes older than the dry-run window needs.
pub async fn purge_write_log(services: &Services) -> AppResult<()> {
    let now = services.now().timestamp_millis();
    let n = services
        .db_write(move |conn| crate::service::custom_fields::purge_write_log(conn, now))
        .await?;
    if n > 0 {
        log::debug!("purged {n} logged custom-value writes");
    }
    Ok(())
}
