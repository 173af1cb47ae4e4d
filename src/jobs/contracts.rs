//! NPS surveys: a live contract's survey falls due `nps_delay_secs` after go-live and is
//! announced once (`nps.survey_due`).

use crate::bootstrap::SYSTEM_ACTOR;
use crate::error::AppResult;
use crate::service::{contracts, Services};
use crate::store::contracts as store;

const BATCH: i64 = 200;

pub async fn nps_surveys(svc: &Services) -> AppResult<()> {
    let now = svc.now().timestamp_millis();
    let due = svc
        .read(move |conn| Ok(store::nps_due(conn, now, BATCH)?))
        .await?;
    for id in due {
        let result = svc
            .write_as(SYSTEM_ACTOR.into(), "sweeper".into(), move |uow| {
                contracts::announce_nps(uow, &id)
            })
            .await;
        super::skip_races(result)?;
    }
    Ok(())
}
