//! The pipeline definition as runtime configuration (`GET/PUT /pipeline`).

use serde::Serialize;
use utoipa::ToSchema;

use super::config::{self, ConfigDoc};
use super::impact::{write_or_try, Outcomes, Written};
use super::{Ctx, Services};
use crate::auth::require_role;
use crate::domain::pipeline::Pipeline;
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult};
use crate::store::{opportunities, DbConnection};

impl ConfigDoc for Pipeline {
    const KEY: &'static str = "pipeline";
    fn problems(&self) -> Vec<(String, String)> {
        self.validate()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineView {
    #[serde(flatten)]
    pub pipeline: Pipeline,
    /// Bumped by every change (0: the built-in default is in force).
    pub version: i64,
    pub updated_at: Option<String>,
}

/// The pipeline in force.
pub fn current(conn: &mut DbConnection) -> AppResult<Pipeline> {
    config::current::<Pipeline>(conn).map(|(p, _, _)| p)
}

pub async fn get(svc: &Services, _ctx: &Ctx) -> AppResult<PipelineView> {
    svc.read(|conn| {
        let (pipeline, version, at) = config::current::<Pipeline>(conn)?;
        Ok(PipelineView {
            pipeline,
            version,
            updated_at: at.map(rfc3339),
        })
    })
    .await
}

/// Replaces the pipeline (admin): validated, versioned, audited, `config.changed`. A stage
/// that still holds open deals cannot be removed; open deals take their stage's new
/// probability in the same transaction. With `dry_run`, reports which open deals' win
/// probability would change instead of saving.
pub async fn put(
    svc: &Services,
    ctx: &Ctx,
    pipeline: Pipeline,
    if_match: Option<i64>,
    dry_run: bool,
) -> AppResult<Written<PipelineView>> {
    require_role(&ctx.principal, &[Role::Admin])?;
    config::check(&pipeline)?;
    let tried_on: (&str, fn(&mut DbConnection) -> AppResult<Outcomes>) =
        ("every open deal: its stage and win probability", open_deals);
    write_or_try(svc, ctx, dry_run, tried_on, move |uow| {
        for (stage, open) in opportunities::open_per_stage(uow.conn)? {
            if pipeline.stage(&stage).is_none() {
                return Err(AppError::conflict(format!(
                    "stage `{stage}` still holds {open} open deal(s): move them before removing it"
                )));
            }
        }
        let version = config::save(uow, &pipeline, if_match)?;
        for s in &pipeline.stages {
            opportunities::set_probability(uow.conn, &s.key, s.probability)?;
        }
        Ok(PipelineView {
            pipeline,
            version,
            updated_at: Some(rfc3339(uow.now_ms)),
        })
    })
    .await
}

/// The stage and win probability of every open deal.
fn open_deals(conn: &mut DbConnection) -> AppResult<Outcomes> {
    Ok(opportunities::open_probabilities(conn)?
        .into_iter()
        .map(|(id, stage, p)| (id, serde_json::json!({"stage": stage, "probability": p})))
        .collect())
}
