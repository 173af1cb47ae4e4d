//! Renewal signals: each sweep raises the signals the rules call for, one transaction each;
//! the unique key on (reason, subject, period) makes each fire once, also with several
//! instances.

use crate::bootstrap::SYSTEM_ACTOR;
use crate::error::AppResult;
use crate::service::{renewal, Services};

pub async fn signals(svc: &Services) -> AppResult<()> {
    let (now, tz) = (svc.now().timestamp_millis(), svc.settings.time_zone);
    let due = svc.read(move |conn| renewal::due(conn, now, tz)).await?;
    for c in due {
        let result = svc
            .write_as(SYSTEM_ACTOR.into(), "sweeper".into(), move |uow| {
                renewal::raise(uow, c)
            })
            .await;
        match result {
            // Another instance raised the same signal between our check and insert.
            Err(e) if e.code == "conflict" => {}
            other => other?,
        }
    }
    Ok(())
}
