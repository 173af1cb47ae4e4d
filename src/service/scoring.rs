//! The scoring model as runtime configuration: read, replace (versioned, audited,
//! `config.changed`), simulate. Open leads are rescored by the sweeper after a change.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{Ctx, Services, Uow};
use crate::auth::require_role;
use crate::domain::audit::diff;
use crate::domain::role::Role;
use crate::domain::scoring::{Score, ScoringModel};
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult, FieldError};
use crate::store::config::{self, ConfigRow};
use crate::store::{leads, DbConnection};

const KEY: &str = "scoring";

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
}

/// The model in force and its version (the built-in default at version 0).
pub fn current(conn: &mut DbConnection) -> AppResult<(ScoringModel, i64)> {
    match config::find(conn, KEY)? {
        Some(row) => {
            let model = serde_json::from_str(&row.value)
                .map_err(|e| AppError::internal(format!("stored scoring model: {e}")))?;
            Ok((model, row.version))
        }
        None => Ok((ScoringModel::default(), 0)),
    }
}

fn check(model: &ScoringModel) -> AppResult<()> {
    let errors: Vec<FieldError> = model
        .validate()
        .into_iter()
        .map(|(field, message)| FieldError {
            field,
            code: "invalid".into(),
            message,
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::validation(errors))
    }
}

pub async fn get(svc: &Services, _ctx: &Ctx) -> AppResult<ScoringConfigView> {
    svc.read(|conn| {
        let (model, version) = current(conn)?;
        let updated_at = config::find(conn, KEY)?.map(|r| rfc3339(r.updated_at));
        let rescore_pending = leads::count_stale_scores(conn, version)?;
        Ok(ScoringConfigView {
            model,
            version,
            updated_at,
            rescore_pending,
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
    check(&model)?;
    if dry_run {
        return svc
            .read(move |conn| {
                let (_, version) = current(conn)?;
                let rescore_pending = leads::count_stale_scores(conn, version + 1)?;
                Ok(ScoringConfigView {
                    model,
                    version,
                    updated_at: None,
                    rescore_pending,
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
    let (old, version) = current(uow.conn)?;
    super::check_version(if_match, version)?;
    let row = ConfigRow {
        key: KEY.into(),
        value: serde_json::to_string(&model).unwrap_or_default(),
        version: version + 1,
        updated_by: uow.actor().to_string(),
        updated_at: uow.now_ms,
    };
    if !config::save(uow.conn, &row, version)? {
        return Err(AppError::version_mismatch(version + 1));
    }
    let changes = diff(
        &serde_json::to_value(&old).unwrap_or_default(),
        &serde_json::to_value(&model).unwrap_or_default(),
        &[],
    );
    uow.audit("config", KEY, "update", &changes);
    uow.event(
        "config.changed",
        "config",
        KEY,
        json!({"key": KEY, "version": row.version, "changes": changes}),
    );
    let rescore_pending = leads::count_stale_scores(uow.conn, row.version)?;
    Ok(ScoringConfigView {
        model,
        version: row.version,
        updated_at: Some(rfc3339(row.updated_at)),
        rescore_pending,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
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
        check(m)?;
    }
    let model = match req.model {
        Some(m) => m,
        None => svc.read(|conn| current(conn).map(|(m, _)| m)).await?,
    };
    Ok(model.score(&req.lead))
}
