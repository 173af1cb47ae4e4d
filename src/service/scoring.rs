//! The scoring model as runtime configuration: read, replace (versioned, audited,
//! `config.changed`), simulate. Open leads are rescored by the sweeper after a change.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::config::{self, ConfigDoc};
use super::{Ctx, Services, Uow};
use crate::auth::require_role;
use crate::domain::role::Role;
use crate::domain::scoring::{Score, ScoringModel};
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult};
use crate::store::{leads, DbConnection};

/// Who edits the scoring model: admins, directors and marketing.
pub const MODEL_EDITORS: &[Role] = &[Role::Admin, Role::Director, Role::Marketing];

#[derive(Debug, Serialize, ToSchema)]
pub struct ScoringConfigView {
    #[serde(flatten)]
    pub model: ScoringModel,
    /// Bumped by every change (0: the built-in default is in force).
    pub version: i64,
    pub updated_at: Option<String>,
    /// Open leads not yet rescored with this version (the sweeper works through them).
    pub rescore_pending: i64,
    /// Dry run only: the 200 most recent leads whose grade or admission through the quality
    /// gate the new model would change (grade conditions in assignment rules route on it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<super::impact::Impact>,
}

impl ConfigDoc for ScoringModel {
    const KEY: &'static str = "scoring";
    fn problems(&self) -> Vec<(String, String)> {
        self.validate()
    }
}

/// The model in force and its version (the built-in default at version 0).
pub fn current(conn: &mut DbConnection) -> AppResult<(ScoringModel, i64)> {
    config::current::<ScoringModel>(conn).map(|(m, v, _)| (m, v))
}

pub async fn get(svc: &Services, _ctx: &Ctx) -> AppResult<ScoringConfigView> {
    svc.read(|conn| {
        let (model, version, at) = config::current::<ScoringModel>(conn)?;
        let updated_at = at.map(rfc3339);
        let rescore_pending = leads::count_stale_scores(conn, version)?;
        Ok(ScoringConfigView {
            model,
            version,
            updated_at,
            rescore_pending,
            impact: None,
        })
    })
    .await
}

/// Replaces the model; a `?dry_run=true` only validates and reports how many open leads
/// would be rescored.
pub async fn put(
    svc: &Services,
    ctx: &Ctx,
    model: ScoringModel,
    if_match: Option<i64>,
    dry_run: bool,
) -> AppResult<ScoringConfigView> {
    require_role(&ctx.principal, MODEL_EDITORS)?;
    config::check(&model)?;
    if dry_run {
        return svc
            .read(move |conn| {
                let (old, version) = current(conn)?;
                let rescore_pending = leads::count_stale_scores(conn, version + 1)?;
                let impact = grade_changes(conn, &old, &model)?;
                Ok(ScoringConfigView {
                    model,
                    version,
                    updated_at: None,
                    rescore_pending,
                    impact: Some(impact),
                })
            })
            .await;
    }
    svc.write(ctx, move |uow| save(uow, model, if_match)).await
}

fn save(
    uow: &mut Uow<'_>,
    model: ScoringModel,
    if_match: Option<i64>,
) -> AppResult<ScoringConfigView> {
    let version = config::save(uow, &model, if_match)?;
    let rescore_pending = leads::count_stale_scores(uow.conn, version)?;
    Ok(ScoringConfigView {
        model,
        version,
        updated_at: Some(rfc3339(uow.now_ms)),
        rescore_pending,
        impact: None,
    })
}

/// The grade and gate outcome of the most recent leads under `old` and `new`.
fn grade_changes(
    conn: &mut DbConnection,
    old: &ScoringModel,
    new: &ScoringModel,
) -> AppResult<super::impact::Impact> {
    let outcome =
        |s: Score| serde_json::json!({"grade": s.grade, "admitted": s.admitted, "score": s.score});
    let mut impact = super::impact::Impact {
        basis: "the 200 most recent leads: grade and admission through the quality gate".into(),
        checked: 0,
        changed: 0,
        samples: Vec::new(),
    };
    for l in leads::recent(conn, super::impact::RECENT)? {
        let facts = super::routing::facts(&l);
        let (a, b) = (old.score(&facts), new.score(&facts));
        impact.checked += 1;
        if a.grade != b.grade || a.admitted != b.admitted {
            impact.changed += 1;
            if impact.samples.len() < 10 {
                impact.samples.push(super::impact::ImpactSample {
                    id: l.id.clone(),
                    before: outcome(a),
                    after: outcome(b),
                });
            }
        }
    }
    Ok(impact)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ScoringSimulateRequest, example = json!({"lead": {"name": "陈明", "company": "苏州恒锐精工有限公司", "phone": "13800138000", "province": "江苏", "industry": "新能源汽车", "source": "trade_show", "budget_cents": 80000000}}))]
pub struct SimulateRequest {
    /// A lead body (the fields of `POST /leads`); nothing is stored.
    #[schema(value_type = Object)]
    pub lead: Value,
    /// Score with this model instead of the one in force.
    pub model: Option<ScoringModel>,
}

pub async fn simulate(svc: &Services, _ctx: &Ctx, req: SimulateRequest) -> AppResult<Score> {
    if !req.lead.is_object() {
        return Err(AppError::field("lead", "invalid_type", "a lead object"));
    }
    if let Some(m) = &req.model {
        config::check(m)?;
    }
    let model = match req.model {
        Some(m) => m,
        None => svc.read(|conn| current(conn).map(|(m, _)| m)).await?,
    };
    Ok(model.score(&req.lead))
}
