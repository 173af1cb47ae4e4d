//! Work-order SLA clocks: a warning once `warn_ratio` of a window has passed and a breach
//! once per missed deadline (response: accepted by; resolution: customer-signed by, with
//! time waiting on the customer excluded). The columns make each report happen once, also
//! across restarts and with several instances.

use crate::bootstrap::SYSTEM_ACTOR;
use crate::error::AppResult;
use crate::service::{work_orders, Services};
use crate::store::work_orders::{self as store, SlaClock};

const BATCH: i64 = 200;

pub async fn sla_clocks(svc: &Services) -> AppResult<()> {
    let now = svc.now().timestamp_millis();
    for clock in [
        SlaClock::ResponseWarning,
        SlaClock::ResponseBreach,
        SlaClock::ResolutionWarning,
        SlaClock::ResolutionBreach,
    ] {
        let due = svc
            .read(move |conn| Ok(store::sla_due(conn, clock, now, BATCH)?))
            .await?;
        for id in due {
            let result = svc
                .write_as(SYSTEM_ACTOR.into(), "sweeper".into(), move |uow| {
                    work_orders::sla_tick(uow, &id, clock)
                })
                .await;
            super::skip_races(result)?;
        }
    }
    Ok(())
}
