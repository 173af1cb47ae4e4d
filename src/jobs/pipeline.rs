//! Stalled deals: a deal whose time in its current stage exceeds the pipeline's
//! `stalled_factor` × the stage's historical mean (from the stage history; the configured
//! default while a stage has none) is flagged once per stage entry.

use std::collections::HashMap;

use crate::bootstrap::SYSTEM_ACTOR;
use crate::error::AppResult;
use crate::service::{opportunities, pipeline, Services};
use crate::store::opportunities as store;

/// Deals flagged per stage and sweep.
const BATCH: i64 = 200;

pub async fn stalled(svc: &Services) -> AppResult<()> {
    let now = svc.now().timestamp_millis();
    let (pipeline, means) = svc
        .read(|conn| {
            let p = pipeline::current(conn)?;
            let means: HashMap<String, f64> =
                store::mean_secs_in_stage(conn)?.into_iter().collect();
            Ok((p, means))
        })
        .await?;
    for stage in &pipeline.stages {
        let mean = means.get(&stage.key).copied();
        let after = pipeline.stall_after_secs(stage, mean);
        let key = stage.key.clone();
        let due = svc
            .read(move |conn| {
                Ok(store::stall_candidates(
                    conn,
                    &key,
                    now - after * 1000,
                    BATCH,
                )?)
            })
            .await?;
        for id in due {
            let result = svc
                .write_as(SYSTEM_ACTOR.into(), "sweeper".into(), move |uow| {
                    opportunities::flag_stalled(uow, &id, after, mean)
                })
                .await;
            super::skip_races(result)?;
        }
    }
    Ok(())
}
