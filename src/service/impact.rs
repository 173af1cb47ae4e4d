//! The impact of a configuration change, measured before it is applied (`?dry_run=true`):
//! the outcome of a fixed set of recent records is computed under the rules in force,
//! the change is applied inside a transaction that is then rolled back, and the outcomes
//! are computed again.

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::Uow;
use crate::error::AppResult;
use crate::store::DbConnection;

/// How many recent records a rule change is tried on.
pub const RECENT: i64 = 200;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImpactSample {
    pub id: String,
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"basis": "the 200 most recent leads: the assignment rule that matches",
    "checked": 200, "changed": 14, "samples": [{"id": "0193a1b2-0000-7000-8000-00000000a001",
    "before": {"rule_id": "0193a1b2-0000-7000-8000-0000000000f1"}, "after": {"rule_id": null}}]}))]
pub struct Impact {
    /// Which records were tried and what was compared.
    pub basis: String,
    pub checked: i64,
    /// Records whose outcome would differ.
    pub changed: i64,
    /// Up to 10 of them.
    pub samples: Vec<ImpactSample>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"dry_run": true, "would_save": {"name": "华东大客户", "priority": 1},
    "impact": {"basis": "the 200 most recent leads: the assignment rule that matches", "checked": 200, "changed": 14, "samples": []}}))]
pub struct ConfigDryRun {
    pub dry_run: bool,
    /// The record as the change would leave it (null for a delete).
    pub would_save: Value,
    pub impact: Impact,
}

/// Outcomes of a fixed set of records: (id, outcome).
pub type Outcomes = Vec<(String, Value)>;

/// Applies `change` and compares `probe` before and after it. The caller runs this inside
/// [`super::Services::dry_run`], so the change is rolled back.
pub fn measure<T: Serialize>(
    uow: &mut Uow<'_>,
    basis: &str,
    probe: impl Fn(&mut DbConnection) -> AppResult<Outcomes>,
    change: impl FnOnce(&mut Uow<'_>) -> AppResult<T>,
) -> AppResult<ConfigDryRun> {
    let before = probe(uow.conn)?;
    let saved = change(uow)?;
    let after = probe(uow.conn)?;
    let mut changed = 0;
    let mut samples = Vec::new();
    for ((id, b), (_, a)) in before.iter().zip(after.iter()) {
        if a != b {
            changed += 1;
            if samples.len() < 10 {
                samples.push(ImpactSample {
                    id: id.clone(),
                    before: b.clone(),
                    after: a.clone(),
                });
            }
        }
    }
    Ok(ConfigDryRun {
        dry_run: true,
        would_save: serde_json::to_value(saved).unwrap_or(json!(null)),
        impact: Impact {
            basis: basis.into(),
            checked: before.len() as i64,
            changed,
            samples,
        },
    })
}

/// A write's answer: saved, or what it would do (`?dry_run=true`).
pub enum Written<T> {
    Saved(T),
    DryRun(ConfigDryRun),
}

/// Runs `change` as a use case, or with `dry_run` measures it against `probe` and rolls it
/// back.
pub async fn write_or_try<T, F, P>(
    svc: &super::Services,
    ctx: &super::Ctx,
    dry_run: bool,
    (basis, probe): (&'static str, P),
    change: F,
) -> AppResult<Written<T>>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&mut Uow<'_>) -> AppResult<T> + Send + 'static,
    P: Fn(&mut DbConnection) -> AppResult<Outcomes> + Send + 'static,
{
    if dry_run {
        svc.dry_run(ctx, move |uow| measure(uow, basis, probe, change))
            .await
            .map(Written::DryRun)
    } else {
        svc.write(ctx, change).await.map(Written::Saved)
    }
}
