//! Assignment rules: ordered conditions → a pool and a strategy, with SLA timeouts.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::impact::{write_or_try, Outcomes, Written};
use super::input::{from_json_text, to_json_text, Check};
use super::routing::{self, AssignmentRecord};
use super::{check_version, new_id, Ctx, Page, Services};
use crate::auth::{require_role, Principal};
use crate::domain::assignment::Strategy;
use crate::domain::audit::diff;
use crate::domain::conditions::Condition;
use crate::domain::role::Role;
use crate::domain::scoring::is_lead_field;
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult};
use crate::store::rules::{self, RuleRow};
use crate::store::{teams, users, DbConnection};

const ENTITY: &str = "assignment_rule";
const RULE_ADMINS: &[Role] = &[Role::Admin, Role::Director, Role::Manager];

type Probe = fn(&mut DbConnection) -> AppResult<Outcomes>;

/// What a dry run of a rule change is tried on.
const TRIED_ON: (&str, Probe) = (routing::RULE_BASIS, routing::rule_outcomes);

/// Who a rule hands leads to: the sales reps of a team and/or listed users.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub team_id: Option<String>,
    #[serde(default)]
    pub user_ids: Vec<String>,
}

/// Create/replace body of an assignment rule (DESIGN §7). A rule without conditions matches
/// every lead: give it the highest `priority` number to make it the fallback.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "新能源大客户", "priority": 10, "active": true,
    "conditions": [{"field": "industry", "op": "eq", "value": "新能源汽车"}, {"field": "budget_cents", "op": "gte", "value": 50000000}],
    "pool": {"team_id": "0193a1b2-0000-7000-8000-000000000001", "user_ids": []},
    "strategy": "top_performers", "top_n": 3, "max_load_ratio": 0.65,
    "claim_timeout_secs": 7200, "first_touch_timeout_secs": 14400, "max_reassignments": 2, "calendar_id": null
}))]
pub struct RuleInput {
    pub name: String,
    /// Lower is evaluated first.
    pub priority: i32,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub pool: Pool,
    pub strategy: Strategy,
    /// For `top_performers` (default 3).
    pub top_n: Option<i32>,
    /// Never give a rep a lead at or above this load while someone is below it (0–1].
    pub max_load_ratio: Option<f64>,
    /// Time to press "accept" (default 7200).
    #[serde(default = "default_claim")]
    pub claim_timeout_secs: i64,
    /// Time from accept to the first reached contact (default 14400).
    #[serde(default = "default_first_touch")]
    pub first_touch_timeout_secs: i64,
    /// Re-assignments before the lead goes to the team manager's queue (default 2).
    #[serde(default = "default_reassignments")]
    pub max_reassignments: i32,
    /// A business calendar for the timers; none = 24/7.
    pub calendar_id: Option<String>,
}

fn yes() -> bool {
    true
}
fn default_claim() -> i64 {
    7200
}
fn default_first_touch() -> i64 {
    14400
}
fn default_reassignments() -> i32 {
    2
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleView {
    pub id: String,
    pub name: String,
    pub priority: i32,
    pub active: bool,
    pub conditions: Vec<Condition>,
    pub pool: Pool,
    pub strategy: Strategy,
    pub top_n: Option<i32>,
    pub max_load_ratio: Option<f64>,
    pub claim_timeout_secs: i64,
    pub first_touch_timeout_secs: i64,
    pub max_reassignments: i32,
    pub calendar_id: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<RuleRow> for RuleView {
    fn from(r: RuleRow) -> Self {
        RuleView {
            id: r.id,
            name: r.name,
            priority: r.priority,
            active: r.active,
            conditions: from_json_text(&r.conditions),
            pool: Pool {
                team_id: r.team_id,
                user_ids: from_json_text(&r.user_ids),
            },
            strategy: serde_json::from_value(Value::String(r.strategy))
                .unwrap_or(Strategy::RoundRobin),
            top_n: r.top_n,
            max_load_ratio: r.max_load_ratio,
            claim_timeout_secs: r.claim_timeout_secs,
            first_touch_timeout_secs: r.first_touch_timeout_secs,
            max_reassignments: r.max_reassignments,
            calendar_id: r.calendar_id,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn validate(i: &RuleInput) -> AppResult<()> {
    let mut c = Check::default();
    c.required("name", Some(i.name.clone()), 100);
    if !(0..=100_000).contains(&i.priority) {
        c.fail("priority", "out_of_range", "between 0 and 100000");
    }
    if i.conditions.len() > 20 {
        c.fail("conditions", "too_many", "at most 20 conditions");
    }
    for (n, cond) in i.conditions.iter().enumerate() {
        if let Err(m) = cond.validate(is_lead_field) {
            c.fail(&format!("conditions[{n}]"), "invalid", m);
        }
    }
    if i.pool.team_id.is_none() && i.pool.user_ids.is_empty() {
        c.fail("pool", "required", "a team_id or user_ids");
    }
    if let Some(n) = i.top_n {
        if !(1..=50).contains(&n) {
            c.fail("top_n", "out_of_range", "between 1 and 50");
        }
    }
    if let Some(r) = i.max_load_ratio {
        if !(r > 0.0 && r <= 1.0) {
            c.fail("max_load_ratio", "out_of_range", "above 0 and at most 1");
        }
    }
    for (field, v) in [
        ("claim_timeout_secs", i.claim_timeout_secs),
        ("first_touch_timeout_secs", i.first_touch_timeout_secs),
    ] {
        if !(1..=30 * 86_400).contains(&v) {
            c.fail(field, "out_of_range", "between 1 second and 30 days");
        }
    }
    if !(0..=10).contains(&i.max_reassignments) {
        c.fail("max_reassignments", "out_of_range", "between 0 and 10");
    }
    c.finish()
}

/// Checks the references of a rule and that a manager only routes into their own team.
fn check_refs(conn: &mut DbConnection, p: &Principal, i: &RuleInput) -> AppResult<()> {
    let mut c = Check::default();
    if let Some(t) = &i.pool.team_id {
        if teams::find(conn, t)?.is_none() {
            c.fail("pool.team_id", "not_found", "no such team");
        }
    }
    for (n, u) in i.pool.user_ids.iter().enumerate() {
        match users::find(conn, u)? {
            None => c.fail(&format!("pool.user_ids[{n}]"), "not_found", "no such user"),
            Some(user) if p.role == Role::Manager && user.team_id != p.team_id => {
                return Err(AppError::forbidden(
                    "managers route only to users of their own team",
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(cal) = &i.calendar_id {
        if crate::store::calendars::find(conn, cal)?.is_none() {
            c.fail("calendar_id", "not_found", "no such business calendar");
        }
    }
    if p.role == Role::Manager && i.pool.team_id.is_some() && i.pool.team_id != p.team_id {
        return Err(AppError::forbidden("managers route only to their own team"));
    }
    c.finish()
}

fn apply(i: RuleInput, r: RuleRow) -> RuleRow {
    RuleRow {
        name: i.name.trim().to_string(),
        priority: i.priority,
        active: i.active,
        conditions: to_json_text(&i.conditions),
        team_id: i.pool.team_id,
        user_ids: to_json_text(&i.pool.user_ids),
        strategy: serde_json::to_value(i.strategy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        top_n: i.top_n,
        max_load_ratio: i.max_load_ratio,
        claim_timeout_secs: i.claim_timeout_secs,
        first_touch_timeout_secs: i.first_touch_timeout_secs,
        max_reassignments: i.max_reassignments,
        calendar_id: i.calendar_id,
        ..r
    }
}

fn manager_owns(p: &Principal, r: &RuleRow) -> AppResult<()> {
    if p.role == Role::Manager && (r.team_id.is_none() || r.team_id != p.team_id) {
        return Err(AppError::forbidden(
            "managers change only the rules of their own team",
        ));
    }
    Ok(())
}

/// With `dry_run`, reports which recent leads would match another rule instead of saving.
pub async fn create(
    svc: &Services,
    ctx: &Ctx,
    i: RuleInput,
    dry_run: bool,
) -> AppResult<Written<RuleView>> {
    require_role(&ctx.principal, RULE_ADMINS)?;
    validate(&i)?;
    let p = ctx.principal.clone();
    write_or_try(svc, ctx, dry_run, TRIED_ON, move |uow| {
        check_refs(uow.conn, &p, &i)?;
        let blank = RuleRow {
            id: new_id(),
            name: String::new(),
            priority: 0,
            active: true,
            conditions: "[]".into(),
            team_id: None,
            user_ids: "[]".into(),
            strategy: String::new(),
            top_n: None,
            max_load_ratio: None,
            claim_timeout_secs: 0,
            first_touch_timeout_secs: 0,
            max_reassignments: 0,
            calendar_id: None,
            rr_cursor: None,
            version: 1,
            created_at: uow.now_ms,
            updated_at: uow.now_ms,
            deleted_at: None,
        };
        let row = apply(i, blank);
        rules::insert(uow.conn, &row)?;
        let view = RuleView::from(row);
        let snap = serde_json::to_value(&view).unwrap_or_default();
        uow.audit_created(
            ENTITY,
            &view.id,
            &snap,
            &["version", "created_at", "updated_at"],
        );
        uow.event(
            "config.changed",
            ENTITY,
            &view.id,
            json!({"key": "assignment_rules", "rule": snap}),
        );
        Ok(view)
    })
    .await
}

pub async fn list(svc: &Services, ctx: &Ctx) -> AppResult<Page<RuleView>> {
    require_role(&ctx.principal, RULE_ADMINS)?;
    let rows = svc.read(|conn| Ok(rules::all(conn)?)).await?;
    Ok(Page {
        items: rows.into_iter().map(RuleView::from).collect(),
        next_cursor: None,
    })
}

pub async fn get(svc: &Services, ctx: &Ctx, id: String) -> AppResult<RuleView> {
    require_role(&ctx.principal, RULE_ADMINS)?;
    svc.read(move |conn| {
        rules::find(conn, &id)?
            .map(RuleView::from)
            .ok_or_else(|| AppError::not_found("assignment rule"))
    })
    .await
}

pub async fn replace(
    svc: &Services,
    ctx: &Ctx,
    (id, if_match): (String, Option<i64>),
    i: RuleInput,
    dry_run: bool,
) -> AppResult<Written<RuleView>> {
    require_role(&ctx.principal, RULE_ADMINS)?;
    validate(&i)?;
    let p = ctx.principal.clone();
    write_or_try(svc, ctx, dry_run, TRIED_ON, move |uow| {
        let old =
            rules::find(uow.conn, &id)?.ok_or_else(|| AppError::not_found("assignment rule"))?;
        check_version(if_match, old.version)?;
        manager_owns(&p, &old)?;
        check_refs(uow.conn, &p, &i)?;
        let new = RuleRow {
            version: old.version + 1,
            updated_at: uow.now_ms,
            ..apply(i, old.clone())
        };
        if !rules::update(uow.conn, &new, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let (before, after) = (RuleView::from(old), RuleView::from(new));
        let after_json = serde_json::to_value(&after).unwrap_or_default();
        let changes = diff(
            &serde_json::to_value(&before).unwrap_or_default(),
            &after_json,
            &["version", "updated_at"],
        );
        uow.audit(ENTITY, &after.id, "update", &changes);
        uow.event(
            "config.changed",
            ENTITY,
            &after.id,
            json!({"key": "assignment_rules", "rule": after_json, "changes": changes}),
        );
        Ok(after)
    })
    .await
}

pub async fn delete(
    svc: &Services,
    ctx: &Ctx,
    (id, if_match): (String, Option<i64>),
    dry_run: bool,
) -> AppResult<Written<()>> {
    require_role(&ctx.principal, RULE_ADMINS)?;
    let p = ctx.principal.clone();
    write_or_try(svc, ctx, dry_run, TRIED_ON, move |uow| {
        let old =
            rules::find(uow.conn, &id)?.ok_or_else(|| AppError::not_found("assignment rule"))?;
        check_version(if_match, old.version)?;
        manager_owns(&p, &old)?;
        let new = RuleRow {
            version: old.version + 1,
            updated_at: uow.now_ms,
            deleted_at: Some(uow.now_ms),
            ..old.clone()
        };
        if !rules::update(uow.conn, &new, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let change = crate::domain::audit::Change {
            field: "deleted_at".into(),
            old: Value::Null,
            new: rfc3339(uow.now_ms).into(),
        };
        uow.audit(ENTITY, &id, "delete", &[change]);
        uow.event(
            "config.changed",
            ENTITY,
            &id,
            json!({"key": "assignment_rules", "deleted": id}),
        );
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AssignmentSimulateRequest, example = json!({"lead": {"name": "陈明", "company": "苏州恒锐精工有限公司", "province": "江苏", "industry": "新能源汽车", "source": "trade_show", "budget_cents": 80000000}}))]
pub struct SimulateRequest {
    /// A lead body (the fields of `POST /leads`); nothing is stored.
    #[schema(value_type = Object)]
    pub lead: Value,
}

/// What the rules would do with a lead, without storing anything.
pub async fn simulate(
    svc: &Services,
    ctx: &Ctx,
    req: SimulateRequest,
) -> AppResult<AssignmentRecord> {
    require_role(&ctx.principal, RULE_ADMINS)?;
    if !req.lead.is_object() {
        return Err(AppError::field("lead", "invalid_type", "a lead object"));
    }
    let now = svc.now().timestamp_millis();
    svc.read(move |conn| Ok(routing::decide(conn, &req.lead, &[], now)?.record(now)))
        .await
}
