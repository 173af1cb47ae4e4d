//! Lead SLA timers and background rescoring, driven by rows (`claim_due_at`,
//! `first_touch_due_at`, `score_version`): a restart loses none of them.

use crate::bootstrap::SYSTEM_ACTOR;
use crate::error::AppResult;
use crate::service::{routing, Services};
use crate::store::leads;

/// Leads handled per task and sweep.
const BATCH: i64 = 200;

/// Re-assigns or escalates leads whose claim window has passed.
pub async fn claims(svc: &Services) -> AppResult<()> {
    let now = svc.now().timestamp_millis();
    let due = svc
        .read(move |conn| Ok(leads::claim_overdue(conn, now, BATCH)?))
        .await?;
    for id in due {
        let result = svc
            .write_as(SYSTEM_ACTOR.into(), "sweeper".into(), move |uow| {
                routing::claim_lapsed(uow, &id)
            })
            .await;
        super::skip_races(result)?;
    }
    Ok(())
}

/// Reports accepted leads with no reached contact by their first-touch deadline, once.
pub async fn first_touches(svc: &Services) -> AppResult<()> {
    let now = svc.now().timestamp_millis();
    let due = svc
        .read(move |conn| Ok(leads::first_touch_overdue(conn, now, BATCH)?))
        .await?;
    for id in due {
        let result = svc
            .write_as(SYSTEM_ACTOR.into(), "sweeper".into(), move |uow| {
                routing::first_touch_lapsed(uow, &id)
            })
            .await;
        super::skip_races(result)?;
    }
    Ok(())
}

/// Rescores open leads scored with an older model, a batch per sweep and transaction.
pub async fn rescore(svc: &Services) -> AppResult<()> {
    let version = svc
        .read(|conn| Ok(crate::service::scoring::current(conn)?.1))
        .await?;
    let stale = svc
        .read(move |conn| Ok(leads::stale_scores(conn, version, BATCH)?))
        .await?;
    if stale.is_empty() {
        return Ok(());
    }
    svc.write_as(SYSTEM_ACTOR.into(), "sweeper".into(), move |uow| {
        for id in &stale {
            routing::rescore(uow, id)?;
        }
        Ok(())
    })
    .await
}
