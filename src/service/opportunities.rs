//! Opportunities: CRUD, stage changes through the gates of the pipeline, losing a deal, the
//! weighted forecast and the stalled-deal flag.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::input::{double_option, from_json_text, patch, to_json_text, Check};
use super::{check_version, new_id, Ctx, Page, Services, Uow};
use crate::auth::{require_role, Principal};
use crate::domain::audit::{diff, Change};
use crate::domain::pipeline::{
    forecast, Direction, ForecastDeal, ForecastGroup, GateFacts, GateField, Pipeline,
};
use crate::domain::role::{Role, RowScope};
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult, MissingItem};
use crate::store::opportunities::{self, OpportunityFilter, OpportunityRow, StageChangeRow};
use crate::store::{accounts, activities, contacts, leads, quotes, users, DbConnection};

const ENTITY: &str = "opportunity";
const BOOKKEEPING: &[&str] = &["version", "updated_at", "created_at"];

/// Who creates and edits opportunities.
pub const OPPORTUNITY_WRITERS: &[Role] = &[
    Role::Admin,
    Role::Director,
    Role::Manager,
    Role::Sales,
    Role::Integration,
];

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpportunityView {
    pub id: String,
    pub account_id: String,
    pub primary_contact_id: Option<String>,
    pub name: String,
    pub amount_cents: Option<i64>,
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub expected_close_date: Option<String>,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub lead_id: Option<String>,
    /// A stage key of the pipeline.
    pub stage: String,
    /// The stage's win probability in percent.
    pub probability: i32,
    /// `open`, `won` or `lost`.
    pub status: String,
    pub stage_entered_at: String,
    /// Flagged by the sweeper when the time in the current stage exceeds the stalled
    /// threshold; cleared by the next stage change.
    pub stalled: bool,
    /// `normal` or `high` (a priority keyword in an activity).
    pub priority: String,
    pub lost_reason: Option<String>,
    pub competitor: Option<String>,
    pub closed_at: Option<String>,
    /// Backward stage moves (regressions) so far.
    pub regression_count: i32,
    /// Values of the custom fields defined for opportunities (`GET /custom-fields`).
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
    pub created_by: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<OpportunityRow> for OpportunityView {
    fn from(r: OpportunityRow) -> Self {
        OpportunityView {
            id: r.id,
            account_id: r.account_id,
            primary_contact_id: r.primary_contact_id,
            name: r.name,
            amount_cents: r.amount_cents,
            currency: r.currency,
            expected_close_date: r.expected_close_date,
            owner_id: r.owner_id,
            team_id: r.team_id,
            lead_id: r.lead_id,
            stage: r.stage,
            probability: r.probability,
            status: r.status,
            stage_entered_at: rfc3339(r.stage_entered_at),
            stalled: r.stalled,
            priority: r.priority,
            lost_reason: r.lost_reason,
            competitor: r.competitor,
            closed_at: r.closed_at.map(rfc3339),
            regression_count: r.regression_count,
            custom: from_json_text(&r.custom),
            created_by: r.created_by,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn snapshot(row: &OpportunityRow) -> Value {
    serde_json::to_value(OpportunityView::from(row.clone())).unwrap_or_default()
}

/// Create body. The deal starts in the pipeline's first stage with its probability.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "account_id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e5f", "name": "恒锐精工激光焊接产线",
    "primary_contact_id": null, "amount_cents": 120000000, "currency": "CNY",
    "expected_close_date": "2027-03-31", "owner_id": null, "lead_id": null
}))]
pub struct OpportunityInput {
    pub account_id: String,
    pub name: String,
    /// A contact of the account.
    pub primary_contact_id: Option<String>,
    pub amount_cents: Option<i64>,
    /// Defaults to `CNY`.
    pub currency: Option<String>,
    /// `YYYY-MM-DD`.
    pub expected_close_date: Option<String>,
    /// Defaults to the caller (sales, managers) or the account's owner. Sales may only
    /// name themselves.
    pub owner_id: Option<String>,
    pub lead_id: Option<String>,
    /// Values of the custom fields defined for opportunities; strict once any is defined.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
}

/// Edit body; `stage`, `status` and `probability` change only through the lifecycle
/// endpoints. Changing the owner needs a manager, director or admin.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount_cents": 150000000, "expected_close_date": "2027-02-28"}))]
pub struct OpportunityPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub primary_contact_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub amount_cents: Option<Option<i64>>,
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub expected_close_date: Option<Option<String>>,
    pub owner_id: Option<String>,
    /// Replaces `custom{}`.
    #[schema(value_type = Option<Object>)]
    pub custom: Option<Map<String, Value>>,
}

/// The editable fields of a deal, validated.
#[derive(Debug, Clone)]
struct Fields {
    name: String,
    primary_contact_id: Option<String>,
    amount_cents: Option<i64>,
    currency: String,
    expected_close_date: Option<String>,
}

impl Fields {
    fn parse(
        name: String,
        primary_contact_id: Option<String>,
        amount_cents: Option<i64>,
        currency: Option<String>,
        expected_close_date: Option<String>,
    ) -> AppResult<Fields> {
        let mut c = Check::default();
        let f = Fields {
            name: c.required("name", Some(name), 200),
            primary_contact_id: c.text("primary_contact_id", primary_contact_id, 64),
            amount_cents: c.amount("amount_cents", amount_cents),
            currency: c.currency("currency", currency),
            expected_close_date: c.text("expected_close_date", expected_close_date, 10),
        };
        if let Some(d) = &f.expected_close_date {
            if NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
                c.fail(
                    "expected_close_date",
                    "invalid_format",
                    "a date as YYYY-MM-DD",
                );
            }
        }
        c.finish()?;
        Ok(f)
    }
}

/// The owner, their manager (team scope) and leadership steer a deal.
pub fn may_steer(p: &Principal, row: &OpportunityRow) -> bool {
    match p.role {
        Role::Admin | Role::Director => true,
        Role::Manager => {
            row.team_id.is_some() && row.team_id == p.team_id
                || row.owner_id.as_deref() == Some(&p.id)
        }
        _ => row.owner_id.as_deref() == Some(&p.id),
    }
}

fn steer_check(p: &Principal, row: &OpportunityRow) -> AppResult<()> {
    if may_steer(p, row) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only the deal's owner, their manager or a director may do this",
        ))
    }
}

/// The deal if the caller may see it (404 otherwise), at the expected version.
pub fn load(
    conn: &mut DbConnection,
    p: &Principal,
    id: &str,
    if_match: Option<i64>,
) -> AppResult<OpportunityRow> {
    let row = opportunities::find_scoped(conn, id, &p.sales_scope())?
        .ok_or_else(|| AppError::not_found("opportunity"))?;
    check_version(if_match, row.version)?;
    Ok(row)
}

fn check_contact(
    conn: &mut DbConnection,
    account_id: &str,
    contact: Option<&str>,
) -> AppResult<()> {
    if let Some(id) = contact {
        let c = contacts::find_scoped(conn, id, &RowScope::All)?;
        if c.map(|c| c.account_id).as_deref() != Some(account_id) {
            return Err(AppError::field(
                "primary_contact_id",
                "not_found",
                "not a contact of the deal's account",
            ));
        }
    }
    Ok(())
}

/// An active user who can own deals; their team becomes the deal's team.
fn owner_team(conn: &mut DbConnection, owner_id: &str) -> AppResult<Option<String>> {
    match users::find(conn, owner_id)? {
        Some(u) if u.active => Ok(u.team_id),
        _ => Err(AppError::field(
            "owner_id",
            "not_found",
            "no active user with this id",
        )),
    }
}

/// Writes a changed deal (version-checked) with its audit entry; returns the stored row.
pub fn save(
    uow: &mut Uow<'_>,
    old: &OpportunityRow,
    mut new: OpportunityRow,
    action: &str,
) -> AppResult<OpportunityRow> {
    new.version = old.version + 1;
    new.updated_at = uow.now_ms;
    if !opportunities::update(uow.conn, &new, old.version)? {
        return Err(AppError::version_mismatch(old.version + 1));
    }
    let changes = diff(&snapshot(old), &snapshot(&new), BOOKKEEPING);
    if !changes.is_empty() {
        uow.audit(ENTITY, &new.id, action, &changes);
    }
    Ok(new)
}

/// What a new deal is made of (from the API or from a lead conversion).
pub struct NewDeal {
    pub account_id: String,
    pub name: String,
    pub primary_contact_id: Option<String>,
    pub amount_cents: Option<i64>,
    pub currency: String,
    pub expected_close_date: Option<String>,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub lead_id: Option<String>,
    pub custom: Map<String, Value>,
}

/// Opens a deal in the pipeline's first stage: the row, its initial stage-history entry,
/// the audit entry and `opportunity.created`.
pub fn open_in(uow: &mut Uow<'_>, d: NewDeal) -> AppResult<OpportunityRow> {
    let pipeline = super::pipeline::current(uow.conn)?;
    let first = pipeline.first();
    let row = OpportunityRow {
        id: new_id(),
        account_id: d.account_id,
        primary_contact_id: d.primary_contact_id,
        name: d.name,
        amount_cents: d.amount_cents,
        currency: d.currency,
        expected_close_date: d.expected_close_date,
        owner_id: d.owner_id,
        team_id: d.team_id,
        lead_id: d.lead_id,
        stage: first.key.clone(),
        probability: first.probability,
        status: "open".into(),
        stage_entered_at: uow.now_ms,
        version: 1,
        created_at: uow.now_ms,
        updated_at: uow.now_ms,
        lost_reason: None,
        competitor: None,
        stalled: false,
        priority: "normal".into(),
        closed_at: None,
        created_by: uow.actor().to_string(),
        deleted_at: None,
        regression_count: 0,
        custom: to_json_text(&d.custom),
    };
    super::custom_fields::check_write(uow, ENTITY, &row.id, None, &row.custom)?;
    opportunities::insert(uow.conn, &row)?;
    opportunities::insert_stage_change(
        uow.conn,
        &StageChangeRow {
            id: new_id(),
            opportunity_id: row.id.clone(),
            from_stage: None,
            to_stage: row.stage.clone(),
            direction: "initial".into(),
            reason: None,
            from_entered_at: None,
            secs_in_stage: None,
            actor_id: uow.actor().to_string(),
            at: uow.now_ms,
        },
    )?;
    let snap = snapshot(&row);
    uow.audit_created(ENTITY, &row.id, &snap, BOOKKEEPING);
    uow.event("opportunity.created", ENTITY, &row.id, snap);
    Ok(row)
}

pub async fn create(svc: &Services, ctx: &Ctx, i: OpportunityInput) -> AppResult<OpportunityView> {
    require_role(&ctx.principal, OPPORTUNITY_WRITERS)?;
    let f = Fields::parse(
        i.name,
        i.primary_contact_id,
        i.amount_cents,
        i.currency,
        i.expected_close_date,
    )?;
    let mut c = Check::default();
    let custom = c.custom("custom", i.custom);
    c.finish()?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let account = accounts::find_scoped(uow.conn, &i.account_id, &p.sales_scope())?
            .ok_or_else(|| AppError::field("account_id", "not_found", "no such account"))?;
        check_contact(uow.conn, &account.id, f.primary_contact_id.as_deref())?;
        if let Some(lead) = &i.lead_id {
            if leads::find_scoped(uow.conn, lead, &p.sales_scope())?.is_none() {
                return Err(AppError::field("lead_id", "not_found", "no such lead"));
            }
        }
        let owner = match (i.owner_id, p.role) {
            (Some(o), Role::Sales) if o != p.id => {
                return Err(AppError::forbidden("sales reps open deals for themselves"))
            }
            (Some(o), _) => Some(o),
            (None, Role::Sales | Role::Manager) => Some(p.id.clone()),
            (None, _) => account.owner_id.clone(),
        };
        let team_id = match &owner {
            Some(o) => owner_team(uow.conn, o)?,
            None => account.team_id.clone(),
        };
        let row = open_in(
            uow,
            NewDeal {
                account_id: account.id,
                name: f.name,
                primary_contact_id: f.primary_contact_id,
                amount_cents: f.amount_cents,
                currency: f.currency,
                expected_close_date: f.expected_close_date,
                owner_id: owner,
                team_id,
                lead_id: i.lead_id,
                custom,
            },
        )?;
        Ok(OpportunityView::from(row))
    })
    .await
}

pub async fn get(svc: &Services, ctx: &Ctx, id: String) -> AppResult<OpportunityView> {
    let p = ctx.principal.clone();
    svc.read(move |conn| Ok(load(conn, &p, &id, None)?.into()))
        .await
}

pub async fn list(
    svc: &Services,
    ctx: &Ctx,
    f: OpportunityFilter,
    before: Option<String>,
    limit: i64,
) -> AppResult<Page<OpportunityView>> {
    let scope = ctx.principal.sales_scope();
    svc.read(move |conn| {
        let rows = opportunities::list(conn, &f, &scope, before.as_deref(), limit + 1)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            OpportunityView::from,
        ))
    })
    .await
}

pub async fn update(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    p: OpportunityPatch,
) -> AppResult<OpportunityView> {
    require_role(&ctx.principal, OPPORTUNITY_WRITERS)?;
    let who = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &who, &id, if_match)?;
        steer_check(&who, &old)?;
        if old.status != "open" {
            return Err(AppError::conflict(format!(
                "the deal is {} and can no longer be edited",
                old.status
            )));
        }
        let f = Fields::parse(
            p.name.unwrap_or(old.name.clone()),
            patch(old.primary_contact_id.clone(), p.primary_contact_id),
            patch(old.amount_cents, p.amount_cents),
            Some(p.currency.unwrap_or(old.currency.clone())),
            patch(old.expected_close_date.clone(), p.expected_close_date),
        )?;
        let mut c = Check::default();
        let custom = c.custom_patch("custom", p.custom);
        c.finish()?;
        check_contact(uow.conn, &old.account_id, f.primary_contact_id.as_deref())?;
        let mut new = OpportunityRow {
            name: f.name,
            primary_contact_id: f.primary_contact_id,
            amount_cents: f.amount_cents,
            currency: f.currency,
            expected_close_date: f.expected_close_date,
            custom: custom
                .map(|m| to_json_text(&m))
                .unwrap_or(old.custom.clone()),
            ..old.clone()
        };
        super::custom_fields::check_write(uow, ENTITY, &new.id, Some(&old.custom), &new.custom)?;
        if let Some(owner) = p.owner_id.filter(|o| old.owner_id.as_ref() != Some(o)) {
            if !matches!(who.role, Role::Admin | Role::Director | Role::Manager) {
                return Err(AppError::forbidden(
                    "re-assigning a deal needs a manager, director or admin",
                ));
            }
            new.team_id = owner_team(uow.conn, &owner)?;
            new.owner_id = Some(owner);
        }
        let new = save(uow, &old, new, "update")?;
        let changes = diff(&snapshot(&old), &snapshot(&new), BOOKKEEPING);
        if !changes.is_empty() {
            uow.event(
                "opportunity.updated",
                ENTITY,
                &new.id,
                json!({"opportunity": snapshot(&new), "changes": changes}),
            );
        }
        Ok(new.into())
    })
    .await
}

/// Soft-deletes a deal (admin only); it disappears from reads, its history stays.
pub async fn delete(svc: &Services, ctx: &Ctx, id: String, if_match: Option<i64>) -> AppResult<()> {
    require_role(&ctx.principal, &[Role::Admin])?;
    svc.write(ctx, move |uow| {
        let old = opportunities::find(uow.conn, &id)?
            .ok_or_else(|| AppError::not_found("opportunity"))?;
        check_version(if_match, old.version)?;
        let new = OpportunityRow {
            version: old.version + 1,
            updated_at: uow.now_ms,
            deleted_at: Some(uow.now_ms),
            ..old.clone()
        };
        if !opportunities::update(uow.conn, &new, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let change = Change {
            field: "deleted_at".into(),
            old: Value::Null,
            new: rfc3339(uow.now_ms).into(),
        };
        uow.audit(ENTITY, &id, "delete", &[change]);
        uow.event("opportunity.deleted", ENTITY, &id, json!({"id": id}));
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "预算冻结，项目延期到明年", "competitor": "大族激光"}))]
pub struct LoseRequest {
    pub reason: String,
    pub competitor: Option<String>,
}

/// Marks an open deal lost with a reason (owner, their manager, director, admin).
pub async fn lose(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: LoseRequest,
) -> AppResult<OpportunityView> {
    let mut c = Check::default();
    let reason = c.required("reason", Some(req.reason), 500);
    let competitor = c.text("competitor", req.competitor, 200);
    c.finish()?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id, if_match)?;
        steer_check(&p, &old)?;
        if old.status != "open" {
            return Err(AppError::invalid_transition(&old.status, "lost", vec![]));
        }
        let new = OpportunityRow {
            status: "lost".into(),
            lost_reason: Some(reason.clone()),
            competitor: competitor.clone(),
            closed_at: Some(uow.now_ms),
            ..old.clone()
        };
        let new = save(uow, &old, new, "lose")?;
        uow.event(
            "opportunity.lost",
            ENTITY,
            &id,
            json!({"id": id, "stage": new.stage, "reason": reason, "competitor": competitor,
                   "amount_cents": new.amount_cents, "owner_id": new.owner_id}),
        );
        Ok(new.into())
    })
    .await
}

/// What is known about a deal for its stage gates.
pub fn gate_facts(conn: &mut DbConnection, row: &OpportunityRow) -> AppResult<GateFacts> {
    let activities = activities::reached_for_deal(conn, &row.id, row.lead_id.as_deref())?
        .into_iter()
        .map(|(action, evidence)| {
            let ev: Vec<Value> = from_json_text(&evidence);
            (action, !ev.is_empty())
        })
        .collect();
    let mut fields = Vec::new();
    if row.amount_cents.is_some() {
        fields.push(GateField::AmountCents);
    }
    if row.expected_close_date.is_some() {
        fields.push(GateField::ExpectedCloseDate);
    }
    if row.primary_contact_id.is_some() {
        fields.push(GateField::PrimaryContactId);
    }
    Ok(GateFacts {
        activities,
        contact_roles: contacts::roles_on_account(conn, &row.account_id)?,
        fields,
        quote_approved: quotes::has_approved(conn, &row.id)?,
        contract_signed: crate::store::contracts::signed_for_opportunity(conn, &row.id)?,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "solution_demo", "reason": "需求已确认，决策人已见面"}))]
pub struct StageRequest {
    /// The target stage key.
    pub to: String,
    /// Required when moving backwards.
    pub reason: Option<String>,
}

/// Moves a deal to another stage. Forwards: the exit requirements of every stage left must
/// hold (422 `stage_gate` listing each unmet one). Backwards: director or admin with a
/// reason, recorded as a regression. Entering the last stage wins the deal.
pub async fn change_stage(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: StageRequest,
) -> AppResult<OpportunityView> {
    let mut c = Check::default();
    let reason = c.text("reason", req.reason, 500);
    c.finish()?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id, if_match)?;
        steer_check(&p, &old)?;
        if old.status != "open" {
            return Err(AppError::invalid_transition(&old.status, &req.to, vec![]));
        }
        let pipeline = super::pipeline::current(uow.conn)?;
        let direction = pipeline
            .direction(&old.stage, &req.to)
            .map_err(|m| AppError::field("to", "invalid", m))?;
        match &direction {
            Direction::Backward => {
                if !p.role.is_leadership() {
                    return Err(AppError::forbidden(
                        "moving a deal backwards needs a director or admin",
                    ));
                }
                if reason.is_none() {
                    return Err(AppError::field(
                        "reason",
                        "required",
                        "say why the deal moves backwards",
                    ));
                }
            }
            Direction::Forward { gates } => {
                let facts = gate_facts(uow.conn, &old)?;
                let missing = pipeline.unmet(gates, &facts);
                if !missing.is_empty() {
                    let detail = format!(
                        "{} requirement(s) unmet to move from `{}` to `{}`",
                        missing.len(),
                        old.stage,
                        req.to
                    );
                    let items = missing
                        .into_iter()
                        .map(|m| MissingItem {
                            requirement: m.requirement,
                            detail: m.detail,
                            stage: Some(m.stage),
                        })
                        .collect();
                    return Err(AppError::stage_gate(detail, items));
                }
            }
        }
        enter_stage(uow, &pipeline, old, &req.to, &direction, reason).map(OpportunityView::from)
    })
    .await
}

/// Signing a contract wins its deal: an open deal moves to the pipeline's last stage (its
/// stage history, events and `opportunity.won` as for any move). Lost deals are refused.
pub fn win_by_contract(
    uow: &mut Uow<'_>,
    opportunity_id: &str,
    contract_number: &str,
) -> AppResult<()> {
    let old = opportunities::find(uow.conn, opportunity_id)?
        .ok_or_else(|| AppError::not_found("opportunity"))?;
    match old.status.as_str() {
        "won" => Ok(()),
        "lost" => Err(AppError::conflict(
            "the contract's deal is lost; reopen a deal before signing",
        )),
        _ => {
            let pipeline = super::pipeline::current(uow.conn)?;
            let last = pipeline
                .stages
                .last()
                .map(|s| s.key.clone())
                .unwrap_or_default();
            if old.stage == last {
                return Ok(());
            }
            let direction = pipeline
                .direction(&old.stage, &last)
                .map_err(AppError::conflict)?;
            let reason = Some(format!("contract {contract_number} signed"));
            enter_stage(uow, &pipeline, old, &last, &direction, reason).map(|_| ())
        }
    }
}

fn enter_stage(
    uow: &mut Uow<'_>,
    pipeline: &Pipeline,
    old: OpportunityRow,
    to: &str,
    direction: &Direction,
    reason: Option<String>,
) -> AppResult<OpportunityRow> {
    let stage = pipeline
        .stage(to)
        .ok_or_else(|| AppError::field("to", "invalid", "not a stage"))?;
    let secs_in_stage = (uow.now_ms - old.stage_entered_at).max(0) / 1000;
    let won = pipeline.is_last(to);
    let backward = *direction == Direction::Backward;
    let new = OpportunityRow {
        regression_count: old.regression_count + i32::from(backward),
        stage: stage.key.clone(),
        probability: stage.probability,
        stage_entered_at: uow.now_ms,
        stalled: false,
        status: if won {
            "won".into()
        } else {
            old.status.clone()
        },
        closed_at: if won { Some(uow.now_ms) } else { old.closed_at },
        ..old.clone()
    };
    let direction_name = if backward { "backward" } else { "forward" };
    opportunities::insert_stage_change(
        uow.conn,
        &StageChangeRow {
            id: new_id(),
            opportunity_id: old.id.clone(),
            from_stage: Some(old.stage.clone()),
            to_stage: new.stage.clone(),
            direction: direction_name.into(),
            reason: reason.clone(),
            from_entered_at: Some(old.stage_entered_at),
            secs_in_stage: Some(secs_in_stage),
            actor_id: uow.actor().to_string(),
            at: uow.now_ms,
        },
    )?;
    let new = save(uow, &old, new, "stage")?;
    let data = json!({"id": new.id, "from": old.stage, "to": new.stage, "direction": direction_name,
                      "reason": reason, "secs_in_stage": secs_in_stage, "probability": new.probability,
                      "amount_cents": new.amount_cents, "owner_id": new.owner_id});
    uow.event("opportunity.stage_changed", ENTITY, &new.id, data.clone());
    if backward {
        uow.event("opportunity.stage_regressed", ENTITY, &new.id, data);
    }
    if won {
        uow.event(
            "opportunity.won",
            ENTITY,
            &new.id,
            json!({"id": new.id, "amount_cents": new.amount_cents, "currency": new.currency,
                   "account_id": new.account_id, "owner_id": new.owner_id}),
        );
    }
    Ok(new)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageChangeView {
    pub id: String,
    /// Empty for the stage the deal was opened in.
    pub from_stage: Option<String>,
    pub to_stage: String,
    /// `initial`, `forward` or `backward` (a regression).
    pub direction: String,
    pub reason: Option<String>,
    /// Seconds the deal spent in `from_stage`.
    pub secs_in_stage: Option<i64>,
    pub actor_id: String,
    pub at: String,
}

impl From<StageChangeRow> for StageChangeView {
    fn from(r: StageChangeRow) -> Self {
        StageChangeView {
            id: r.id,
            from_stage: r.from_stage,
            to_stage: r.to_stage,
            direction: r.direction,
            reason: r.reason,
            secs_in_stage: r.secs_in_stage,
            actor_id: r.actor_id,
            at: rfc3339(r.at),
        }
    }
}

pub async fn stage_history(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    after: Option<String>,
    limit: i64,
) -> AppResult<Page<StageChangeView>> {
    let p = ctx.principal.clone();
    svc.read(move |conn| {
        load(conn, &p, &id, None)?;
        let rows = opportunities::stage_history(conn, &id, after.as_deref(), limit + 1)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            StageChangeView::from,
        ))
    })
    .await
}

/// How the forecast groups deals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForecastGroupBy {
    Owner,
    Team,
    Month,
    Stage,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastView {
    pub group_by: ForecastGroupBy,
    pub from: Option<String>,
    pub to: Option<String>,
    /// One row per group and currency, sorted by key.
    pub groups: Vec<ForecastGroup>,
    /// One row per currency over all groups.
    pub totals: Vec<ForecastGroup>,
}

/// Weighted and unweighted totals of the open deals in the caller's scope whose expected
/// close date lies in `[from, to]` (deals without a date count only when neither is given).
pub async fn forecast_for(
    svc: &Services,
    ctx: &Ctx,
    group_by: ForecastGroupBy,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> AppResult<ForecastView> {
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(AppError::field("from", "invalid", "`from` is after `to`"));
        }
    }
    let scope = ctx.principal.sales_scope();
    let (from, to) = (
        from.map(|d| d.format("%Y-%m-%d").to_string()),
        to.map(|d| d.format("%Y-%m-%d").to_string()),
    );
    let (f2, t2) = (from.clone(), to.clone());
    let rows = svc
        .read(move |conn| {
            Ok(opportunities::open_in_scope(
                conn,
                &scope,
                f2.as_deref(),
                t2.as_deref(),
            )?)
        })
        .await?;
    let deals: Vec<ForecastDeal> = rows
        .into_iter()
        .map(|r| ForecastDeal {
            group: match group_by {
                ForecastGroupBy::Owner => r.owner_id,
                ForecastGroupBy::Team => r.team_id,
                ForecastGroupBy::Month => {
                    r.expected_close_date.map(|d| d.chars().take(7).collect())
                }
                ForecastGroupBy::Stage => Some(r.stage),
            }
            .unwrap_or_else(|| "none".into()),
            currency: r.currency,
            amount_cents: r.amount_cents.unwrap_or(0),
            probability: r.probability,
        })
        .collect();
    let (groups, totals) = forecast(&deals);
    Ok(ForecastView {
        group_by,
        from,
        to,
        groups,
        totals,
    })
}

/// Flags a deal stalled if it is still open, unflagged and past `stall_after_secs` in its
/// stage (the sweeper calls this per candidate; the version check makes it fire once).
pub fn flag_stalled(
    uow: &mut Uow<'_>,
    id: &str,
    stall_after_secs: i64,
    mean_secs: Option<f64>,
) -> AppResult<()> {
    let Some(old) = opportunities::find(uow.conn, id)? else {
        return Ok(());
    };
    let in_stage = (uow.now_ms - old.stage_entered_at) / 1000;
    if old.status != "open" || old.stalled || in_stage <= stall_after_secs {
        return Ok(());
    }
    let new = save(
        uow,
        &old,
        OpportunityRow {
            stalled: true,
            ..old.clone()
        },
        "stalled",
    )?;
    uow.event(
        "opportunity.stalled",
        ENTITY,
        id,
        json!({"id": id, "stage": new.stage, "secs_in_stage": in_stage, "stall_after_secs": stall_after_secs,
               "stage_mean_secs": mean_secs, "owner_id": new.owner_id, "team_id": new.team_id}),
    );
    Ok(())
}
