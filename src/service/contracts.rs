//! Contracts: drafting and ERP upsert, review by legal (and finance above the threshold),
//! signing (delivery work order, invoice request and the won deal in one transaction),
//! installments, payments with the three checks, the success plan, go-live and NPS.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::config::{self, ConfigDoc};
use super::input::{from_json_text, to_json_text, Check};
use super::{check_version, new_id, Ctx, Services, Uow};
use crate::auth::{require_role, Principal};
use crate::domain::audit::diff;
use crate::domain::contract::{
    check_installments, check_payment, required_approvals, tolerance_cents, ClauseRevision,
    ContractStatus, PaymentAttempt, PaymentContext, PlannedInstallment,
};
use crate::domain::role::Role;
use crate::domain::time::{rfc3339, to_millis};
use crate::error::{AppError, AppResult, FieldError};
use crate::store::contracts::{
    self, ApprovalRow, ContractFilter, ContractRow, InstallmentRow, PaymentRow,
};
use crate::store::work_orders;
use crate::store::{opportunities, teams, users, DbConnection};

const ENTITY: &str = "contract";
const BOOKKEEPING: &[&str] = &[
    "version",
    "updated_at",
    "created_at",
    "approvals",
    "installments",
    "work_order_ids",
];

/// Contract settings (`GET/PUT /config/contracts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"finance_approval_threshold_cents": 100000000, "nps_delay_secs": 604800, "delivery_team_id": null}))]
pub struct ContractSettings {
    /// From this amount on, finance must approve too (default 1,000,000.00 CNY).
    pub finance_approval_threshold_cents: i64,
    /// The NPS survey falls due this long after go-live (default 7 days).
    pub nps_delay_secs: i64,
    /// The implementation team that delivery work orders go to.
    pub delivery_team_id: Option<String>,
}

impl Default for ContractSettings {
    fn default() -> Self {
        ContractSettings {
            finance_approval_threshold_cents: 100_000_000,
            nps_delay_secs: 7 * 86_400,
            delivery_team_id: None,
        }
    }
}

impl ConfigDoc for ContractSettings {
    const KEY: &'static str = "contracts";
    fn problems(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.finance_approval_threshold_cents < 0 {
            e.push((
                "finance_approval_threshold_cents".into(),
                "not negative".into(),
            ));
        }
        if self.nps_delay_secs < 0 || self.nps_delay_secs > 365 * 86_400 {
            e.push(("nps_delay_secs".into(), "between 0 and one year".into()));
        }
        e
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContractSettingsView {
    #[serde(flatten)]
    pub settings: ContractSettings,
    pub version: i64,
    pub updated_at: Option<String>,
}

pub async fn settings(svc: &Services, _ctx: &Ctx) -> AppResult<ContractSettingsView> {
    svc.read(|conn| {
        let (settings, version, at) = config::current::<ContractSettings>(conn)?;
        Ok(ContractSettingsView {
            settings,
            version,
            updated_at: at.map(rfc3339),
        })
    })
    .await
}

/// Replaces the contract settings (admin): versioned, audited, `config.changed`.
pub async fn put_settings(
    svc: &Services,
    ctx: &Ctx,
    s: ContractSettings,
    if_match: Option<i64>,
) -> AppResult<ContractSettingsView> {
    require_role(&ctx.principal, &[Role::Admin])?;
    config::check(&s)?;
    svc.write(ctx, move |uow| {
        if let Some(t) = &s.delivery_team_id {
            if teams::find(uow.conn, t)?.is_none() {
                return Err(AppError::field(
                    "delivery_team_id",
                    "not_found",
                    "no such team",
                ));
            }
        }
        let version = config::save(uow, &s, if_match)?;
        Ok(ContractSettingsView {
            settings: s,
            version,
            updated_at: Some(rfc3339(uow.now_ms)),
        })
    })
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalView {
    pub review_round: i32,
    /// `legal` or `finance`.
    pub role: String,
    /// `approved` or `rejected`.
    pub decision: String,
    pub clause_revisions: Vec<ClauseRevision>,
    pub comment: Option<String>,
    pub actor_id: String,
    pub at: String,
}

impl From<ApprovalRow> for ApprovalView {
    fn from(r: ApprovalRow) -> Self {
        ApprovalView {
            review_round: r.review_round,
            role: r.role,
            decision: r.decision,
            clause_revisions: from_json_text(&r.clause_revisions),
            comment: r.comment,
            actor_id: r.actor_id,
            at: rfc3339(r.at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Installment {
    pub seq: i32,
    /// `YYYY-MM-DD`.
    pub due_date: String,
    pub amount_cents: i64,
    /// Computed: payments applied so far.
    #[serde(default, skip_deserializing)]
    pub paid_cents: i64,
    /// Computed: `open` or `paid`.
    #[serde(default, skip_deserializing)]
    pub status: String,
}

impl From<InstallmentRow> for Installment {
    fn from(r: InstallmentRow) -> Self {
        Installment {
            seq: r.seq,
            due_date: r.due_date,
            amount_cents: r.amount_cents,
            paid_cents: r.paid_cents,
            status: r.status,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    /// 30, 60 or 90.
    pub day: i32,
    pub title: String,
    pub owner_id: String,
    /// `YYYY-MM-DD`.
    pub due_date: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContractView {
    pub id: String,
    pub number: String,
    pub title: String,
    pub opportunity_id: String,
    pub account_id: String,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub amount_cents: i64,
    pub currency: String,
    pub status: ContractStatus,
    /// The roles whose approval the current review needs.
    pub required_approvals: Vec<String>,
    /// Every decision of every review round, oldest first.
    pub approvals: Vec<ApprovalView>,
    pub signed_at: Option<String>,
    pub signatory: Option<String>,
    pub signature_ref: Option<String>,
    pub installments: Vec<Installment>,
    pub paid_cents: i64,
    pub outstanding_cents: i64,
    pub success_plan: Option<Vec<Milestone>>,
    pub live_at: Option<String>,
    pub nps_due_at: Option<String>,
    pub nps_score: Option<i32>,
    pub nps_comment: Option<String>,
    pub completed_at: Option<String>,
    pub terminated_at: Option<String>,
    pub terminated_reason: Option<String>,
    /// `YYYY-MM-DD`: the last day of the term, when it has one.
    pub end_date: Option<String>,
    /// Work orders created for this contract (the delivery order on signing).
    pub work_order_ids: Vec<String>,
    /// Values of the custom fields defined for contracts.
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
    pub created_by: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl ContractView {
    fn new(
        r: ContractRow,
        approvals: Vec<ApprovalRow>,
        installments: Vec<InstallmentRow>,
        work_orders: Vec<String>,
    ) -> Self {
        ContractView {
            status: ContractStatus::parse(&r.status).unwrap_or(ContractStatus::Draft),
            required_approvals: from_json_text(&r.required_approvals),
            approvals: approvals.into_iter().map(ApprovalView::from).collect(),
            installments: installments.into_iter().map(Installment::from).collect(),
            outstanding_cents: (r.amount_cents - r.paid_cents).max(0),
            success_plan: r.success_plan.as_deref().map(from_json_text),
            work_order_ids: work_orders,
            id: r.id,
            number: r.number,
            title: r.title,
            opportunity_id: r.opportunity_id,
            account_id: r.account_id,
            owner_id: r.owner_id,
            team_id: r.team_id,
            amount_cents: r.amount_cents,
            currency: r.currency,
            signed_at: r.signed_at.map(rfc3339),
            signatory: r.signatory,
            signature_ref: r.signature_ref,
            paid_cents: r.paid_cents,
            live_at: r.live_at.map(rfc3339),
            nps_due_at: r.nps_due_at.map(rfc3339),
            nps_score: r.nps_score,
            end_date: r.end_date,
            nps_comment: r.nps_comment,
            completed_at: r.completed_at.map(rfc3339),
            terminated_at: r.terminated_at.map(rfc3339),
            terminated_reason: r.terminated_reason,
            custom: from_json_text(&r.custom),
            created_by: r.created_by,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn snapshot(r: &ContractRow) -> Value {
    serde_json::to_value(ContractView::new(r.clone(), vec![], vec![], vec![])).unwrap_or_default()
}

fn view(conn: &mut DbConnection, r: ContractRow) -> AppResult<ContractView> {
    let approvals = contracts::approvals(conn, &r.id)?;
    let installments = contracts::installments(conn, &r.id)?;
    let wos = work_orders::for_contract(conn, &r.id)?
        .into_iter()
        .map(|w| w.id)
        .collect();
    Ok(ContractView::new(r, approvals, installments, wos))
}

fn status_of(r: &ContractRow) -> ContractStatus {
    ContractStatus::parse(&r.status).unwrap_or(ContractStatus::Draft)
}

fn moving(r: &ContractRow, to: ContractStatus) -> AppResult<()> {
    let from = status_of(r);
    from.check_move(to)
        .map_err(|allowed| AppError::invalid_transition(from.as_str(), to.as_str(), allowed))
}

/// The owner, their team's manager and leadership steer a contract.
fn may_steer(p: &Principal, r: &ContractRow) -> bool {
    match p.role {
        Role::Admin | Role::Director => true,
        Role::Manager => {
            r.team_id.is_some() && r.team_id == p.team_id || r.owner_id.as_deref() == Some(&p.id)
        }
        _ => r.owner_id.as_deref() == Some(&p.id),
    }
}

fn require(allowed: bool, what: &str) -> AppResult<()> {
    if allowed {
        Ok(())
    } else {
        Err(AppError::forbidden(what.to_string()))
    }
}

fn load(
    conn: &mut DbConnection,
    p: &Principal,
    id: &str,
    if_match: Option<i64>,
) -> AppResult<ContractRow> {
    let r = contracts::find_scoped(conn, id, &p.sales_scope())?
        .ok_or_else(|| AppError::not_found("contract"))?;
    check_version(if_match, r.version)?;
    Ok(r)
}

/// Writes a changed contract (version-checked) with its audit entry.
fn save(
    uow: &mut Uow<'_>,
    old: &ContractRow,
    mut new: ContractRow,
    action: &str,
) -> AppResult<ContractRow> {
    new.version = old.version + 1;
    new.updated_at = uow.now_ms;
    if !contracts::update(uow.conn, &new, old.version)? {
        return Err(AppError::version_mismatch(old.version + 1));
    }
    let changes = diff(&snapshot(old), &snapshot(&new), BOOKKEEPING);
    if !changes.is_empty() {
        uow.audit(ENTITY, &new.id, action, &changes);
    }
    Ok(new)
}

fn brief(r: &ContractRow) -> Value {
    json!({"id": r.id, "number": r.number, "opportunity_id": r.opportunity_id, "account_id": r.account_id,
           "amount_cents": r.amount_cents, "currency": r.currency, "status": r.status, "owner_id": r.owner_id})
}

/// Create body (also the ERP upsert body).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"opportunity_id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e5f", "number": "HT-2026-0158",
    "title": "激光焊接产线采购合同", "amount_cents": 120000000, "currency": "CNY"}))]
pub struct ContractInput {
    pub opportunity_id: String,
    /// Unique across the system.
    pub number: String,
    pub title: String,
    pub amount_cents: i64,
    pub currency: Option<String>,
    /// `YYYY-MM-DD`: the last day of the contracted term (service or maintenance period),
    /// when it has one; renewal signals look ahead to it.
    pub end_date: Option<String>,
    /// Values of the custom fields defined for contracts; strict once any is defined.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
}

/// Edit body (draft or rejected contracts only; a rejected contract returns to draft).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount_cents": 115000000, "title": "激光焊接产线采购合同（修订）"}))]
pub struct ContractPatch {
    pub number: Option<String>,
    pub title: Option<String>,
    pub amount_cents: Option<i64>,
    pub currency: Option<String>,
    pub end_date: Option<String>,
    /// Replaces `custom{}`.
    #[schema(value_type = Option<Object>)]
    pub custom: Option<Map<String, Value>>,
}

#[derive(Clone)]
struct Terms {
    number: String,
    title: String,
    amount_cents: i64,
    currency: String,
    end_date: Option<String>,
    /// `None` keeps the stored `custom{}` (an edit that does not name it).
    custom: Option<Map<String, Value>>,
}

/// The terms of a create or upsert body.
fn input_terms(i: &ContractInput) -> AppResult<Terms> {
    terms(
        i.number.clone(),
        i.title.clone(),
        i.amount_cents,
        i.currency.clone(),
        i.end_date.clone(),
        Some(i.custom.clone()),
    )
}

fn terms(
    number: String,
    title: String,
    amount: i64,
    currency: Option<String>,
    end_date: Option<String>,
    custom: Option<Map<String, Value>>,
) -> AppResult<Terms> {
    let mut c = Check::default();
    let end_date = end_date.filter(|d| {
        let ok = NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() && d.len() == 10;
        if !ok {
            c.fail("end_date", "invalid_format", "a date as YYYY-MM-DD");
        }
        ok
    });
    let t = Terms {
        number: c.required("number", Some(number), 64),
        title: c.required("title", Some(title), 200),
        amount_cents: amount,
        currency: c.currency("currency", currency),
        end_date,
        custom: c.custom_patch("custom", custom),
    };
    if amount <= 0 || amount > 10_000_000_000_000 {
        c.fail(
            "amount_cents",
            "out_of_range",
            "greater than 0 and at most 10,000,000,000,000",
        );
    }
    c.finish()?;
    Ok(t)
}

fn ensure_number_free(conn: &mut DbConnection, number: &str, id: &str) -> AppResult<()> {
    if contracts::number_taken(conn, number, id)? {
        return Err(AppError::duplicate(format!(
            "contract number {number} is already in use"
        )));
    }
    Ok(())
}

fn insert_contract(
    uow: &mut Uow<'_>,
    p: &Principal,
    opportunity_id: &str,
    t: Terms,
) -> AppResult<ContractRow> {
    let deal = opportunities::find_scoped(uow.conn, opportunity_id, &p.sales_scope())?
        .ok_or_else(|| AppError::field("opportunity_id", "not_found", "no such opportunity"))?;
    if deal.status == "lost" {
        return Err(AppError::conflict("the opportunity is lost"));
    }
    let allowed = p.role == Role::Integration || super::opportunities::may_steer(p, &deal);
    require(
        allowed,
        "only the deal's owner, their manager or a director drafts its contract",
    )?;
    ensure_number_free(uow.conn, &t.number, "")?;
    let row = ContractRow {
        id: new_id(),
        number: t.number,
        title: t.title,
        opportunity_id: deal.id,
        account_id: deal.account_id,
        owner_id: deal.owner_id,
        team_id: deal.team_id,
        amount_cents: t.amount_cents,
        currency: t.currency,
        status: ContractStatus::Draft.as_str().into(),
        review_round: 0,
        required_approvals: "[]".into(),
        signed_at: None,
        signatory: None,
        signature_ref: None,
        paid_cents: 0,
        success_plan: None,
        live_at: None,
        nps_due_at: None,
        nps_survey_sent_at: None,
        nps_score: None,
        nps_comment: None,
        nps_recorded_at: None,
        completed_at: None,
        terminated_at: None,
        terminated_reason: None,
        created_by: p.id.clone(),
        version: 1,
        created_at: uow.now_ms,
        updated_at: uow.now_ms,
        end_date: t.end_date,
        custom: to_json_text(&t.custom.unwrap_or_default()),
    };
    super::custom_fields::check_write(uow, ENTITY, &row.id, None, &row.custom)?;
    contracts::insert(uow.conn, &row)?;
    let snap = snapshot(&row);
    uow.audit_created(ENTITY, &row.id, &snap, BOOKKEEPING);
    uow.event("contract.created", ENTITY, &row.id, brief(&row));
    Ok(row)
}

fn edit_contract(
    uow: &mut Uow<'_>,
    p: &Principal,
    old: ContractRow,
    t: Terms,
) -> AppResult<ContractRow> {
    let status = status_of(&old);
    if !status.editable() {
        return Err(AppError::conflict(format!(
            "the contract is {}: its terms are read-only{}",
            status.as_str(),
            if status.is_signed() {
                " once signed; use the lifecycle endpoints"
            } else {
                " during review"
            }
        )));
    }
    require(
        p.role == Role::Integration || may_steer(p, &old),
        "only the contract's owner, their manager or a director edits it",
    )?;
    ensure_number_free(uow.conn, &t.number, &old.id)?;
    let new = ContractRow {
        number: t.number,
        title: t.title,
        amount_cents: t.amount_cents,
        currency: t.currency,
        end_date: t.end_date,
        custom: t
            .custom
            .map(|m| to_json_text(&m))
            .unwrap_or(old.custom.clone()),
        status: ContractStatus::Draft.as_str().into(),
        ..old.clone()
    };
    super::custom_fields::check_write(uow, ENTITY, &new.id, Some(&old.custom), &new.custom)?;
    let new = save(uow, &old, new, "update")?;
    uow.event("contract.updated", ENTITY, &new.id, brief(&new));
    Ok(new)
}

pub async fn create(svc: &Services, ctx: &Ctx, i: ContractInput) -> AppResult<ContractView> {
    let t = input_terms(&i)?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let row = insert_contract(uow, &p, &i.opportunity_id, t)?;
        view(uow.conn, row)
    })
    .await
}

/// Contracts for `POST /contracts/{id}/external-refs`: whoever works on contracts.
pub const LINKABLE: super::refs::Linkable = super::refs::Linkable {
    entity: ENTITY,
    writers: &[
        Role::Admin,
        Role::Director,
        Role::Manager,
        Role::Sales,
        Role::Legal,
        Role::Finance,
        Role::Integration,
    ],
    visible: |conn, p, id| load(conn, p, id, None).map(|_| ()),
};

pub async fn get(svc: &Services, ctx: &Ctx, id: String) -> AppResult<ContractView> {
    let p = ctx.principal.clone();
    svc.read(move |conn| {
        let r = load(conn, &p, &id, None)?;
        view(conn, r)
    })
    .await
}

pub async fn list(
    svc: &Services,
    ctx: &Ctx,
    f: ContractFilter,
    before: Option<String>,
    limit: i64,
) -> AppResult<super::Page<ContractView>> {
    let scope = ctx.principal.sales_scope();
    svc.read(move |conn| {
        let rows = contracts::list(conn, &f, &scope, before.as_deref(), limit + 1)?;
        Ok(super::Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            |r| ContractView::new(r, vec![], vec![], vec![]),
        ))
    })
    .await
}

pub async fn update(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    patch: ContractPatch,
) -> AppResult<ContractView> {
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id, if_match)?;
        let t = terms(
            patch.number.unwrap_or(old.number.clone()),
            patch.title.unwrap_or(old.title.clone()),
            patch.amount_cents.unwrap_or(old.amount_cents),
            Some(patch.currency.unwrap_or(old.currency.clone())),
            patch.end_date.or(old.end_date.clone()),
            patch.custom,
        )?;
        let row = edit_contract(uow, &p, old, t)?;
        view(uow.conn, row)
    })
    .await
}

/// Creates or replaces the contract known to `system` as `external_id`; `true` when created.
pub async fn upsert_by_external(
    svc: &Services,
    ctx: &Ctx,
    system: String,
    external_id: String,
    i: ContractInput,
) -> AppResult<(ContractView, bool)> {
    super::refs::validate(&system, &external_id)?;
    let t = input_terms(&i)?;
    let terms_of = move || t.clone();
    super::refs::retry_upsert(|| {
        let (p, sys, ext, t, opp) = (
            ctx.principal.clone(),
            system.clone(),
            external_id.clone(),
            terms_of(),
            i.opportunity_id.clone(),
        );
        svc.write(ctx, move |uow| match crate::store::external_refs::resolve(
            uow.conn, ENTITY, &sys, &ext,
        )? {
            Some(id) => {
                let old = load(uow.conn, &p, &id, None)?;
                if old.opportunity_id != opp {
                    return Err(AppError::field(
                        "opportunity_id",
                        "immutable",
                        "a contract stays with its opportunity",
                    ));
                }
                let row = edit_contract(uow, &p, old, t)?;
                Ok((view(uow.conn, row)?, false))
            }
            None => {
                let row = insert_contract(uow, &p, &opp, t)?;
                super::refs::link(uow.conn, ENTITY, &sys, &ext, &row.id, uow.now_ms)?;
                Ok((view(uow.conn, row)?, true))
            }
        })
    })
    .await
}

/// Sends a draft to review (owner, their manager, leadership): legal must approve, and
/// finance too when the amount reaches the configured threshold.
pub async fn submit(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
) -> AppResult<ContractView> {
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id, if_match)?;
        require(
            may_steer(&p, &old),
            "only the contract's owner or their manager submits it",
        )?;
        moving(&old, ContractStatus::InReview)?;
        let (settings, _, _) = config::current::<ContractSettings>(uow.conn)?;
        let needed =
            required_approvals(old.amount_cents, settings.finance_approval_threshold_cents);
        let new = ContractRow {
            status: ContractStatus::InReview.as_str().into(),
            review_round: old.review_round + 1,
            required_approvals: to_json_text(&needed),
            ..old.clone()
        };
        let new = save(uow, &old, new, "submit")?;
        let mut data = brief(&new);
        data["required_approvals"] = json!(needed);
        uow.event("contract.submitted", ENTITY, &id, data);
        view(uow.conn, new)
    })
    .await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"comment": "付款条件改为 30/60/10", "clause_revisions": ["price", "payment_terms"]}))]
pub struct ReviewRequest {
    /// Required when rejecting.
    pub comment: Option<String>,
    #[serde(default)]
    pub clause_revisions: Vec<ClauseRevision>,
}

/// Records a legal or finance decision on a contract in review. The contract is approved
/// once every required role of the round has approved; any rejection rejects it.
pub async fn review(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    approve: bool,
    req: ReviewRequest,
) -> AppResult<ContractView> {
    let role = match ctx.principal.role {
        Role::Legal => "legal",
        Role::Finance => "finance",
        _ => {
            return Err(AppError::forbidden(
                "contracts are reviewed by legal (and by finance above the threshold)",
            ))
        }
    };
    let mut c = Check::default();
    let comment = c.text("comment", req.comment, 2000);
    if !approve && comment.is_none() {
        c.fail("comment", "required", "say why the contract is rejected");
    }
    c.finish()?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id, if_match)?;
        let to = if approve {
            ContractStatus::Approved
        } else {
            ContractStatus::Rejected
        };
        if status_of(&old) != ContractStatus::InReview {
            moving(&old, to)?;
        }
        let needed: Vec<String> = from_json_text(&old.required_approvals);
        if !needed.iter().any(|r| r == role) {
            return Err(AppError::forbidden(format!(
                "this contract needs no {role} approval"
            )));
        }
        let trail = contracts::approvals(uow.conn, &id)?;
        if trail
            .iter()
            .any(|a| a.review_round == old.review_round && a.role == role)
        {
            return Err(AppError::conflict(format!(
                "{role} has already decided in this review round"
            )));
        }
        contracts::insert_approval(
            uow.conn,
            &ApprovalRow {
                id: new_id(),
                contract_id: id.clone(),
                review_round: old.review_round,
                role: role.into(),
                decision: if approve { "approved" } else { "rejected" }.into(),
                clause_revisions: to_json_text(&req.clause_revisions),
                comment: comment.clone(),
                actor_id: p.id.clone(),
                at: uow.now_ms,
            },
        )?;
        let approved_roles: Vec<&str> = trail
            .iter()
            .filter(|a| a.review_round == old.review_round && a.decision == "approved")
            .map(|a| a.role.as_str())
            .chain(approve.then_some(role))
            .collect();
        let complete = needed.iter().all(|r| approved_roles.contains(&r.as_str()));
        let next = match (approve, complete) {
            (false, _) => Some(ContractStatus::Rejected),
            (true, true) => Some(ContractStatus::Approved),
            (true, false) => None,
        };
        let mut new = old.clone();
        if let Some(s) = next {
            new.status = s.as_str().into();
        }
        let new = save(uow, &old, new, if approve { "approve" } else { "reject" })?;
        let mut data = brief(&new);
        data["role"] = json!(role);
        data["comment"] = json!(comment);
        data["clause_revisions"] = json!(req.clause_revisions);
        match next {
            Some(ContractStatus::Rejected) => uow.event("contract.rejected", ENTITY, &id, data),
            Some(ContractStatus::Approved) => uow.event("contract.approved", ENTITY, &id, data),
            _ => uow.event("contract.review_recorded", ENTITY, &id, data),
        }
        view(uow.conn, new)
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"signed_at": "2026-11-23T06:00:00Z", "signatory": "王建国（总经理）", "signature_ref": "e-sign:ES20261123-0042"}))]
pub struct SignRequest {
    pub signed_at: DateTime<Utc>,
    pub signatory: String,
    /// The e-signature or scan reference.
    pub signature_ref: String,
}

/// Signs an approved contract, in one transaction: the contract becomes `signed`, a
/// delivery work order is created, `contract.signed`, `invoice.requested` and
/// `delivery.created` are emitted and the deal is won. If any part fails, none happens.
pub async fn sign(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: SignRequest,
) -> AppResult<ContractView> {
    let now = svc.now().timestamp_millis();
    let mut c = Check::default();
    let signatory = c.required("signatory", Some(req.signatory), 200);
    let signature_ref = c.required("signature_ref", Some(req.signature_ref), 200);
    let signed_at = to_millis(req.signed_at);
    if signed_at > now + 300_000 {
        c.fail(
            "signed_at",
            "in_future",
            "a contract cannot be signed in the future",
        );
    }
    c.finish()?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id, if_match)?;
        require(
            may_steer(&p, &old),
            "only the contract's owner, their manager or a director signs it",
        )?;
        moving(&old, ContractStatus::Signed)?;
        let new = ContractRow {
            status: ContractStatus::Signed.as_str().into(),
            signed_at: Some(signed_at),
            signatory: Some(signatory.clone()),
            signature_ref: Some(signature_ref.clone()),
            ..old.clone()
        };
        let new = save(uow, &old, new, "sign")?;
        let (settings, _, _) = config::current::<ContractSettings>(uow.conn)?;
        let wo = super::work_orders::open_in(
            uow,
            super::work_orders::NewWorkOrder {
                type_: super::work_orders::WorkOrderType::Delivery,
                account_id: new.account_id.clone(),
                contract_id: Some(new.id.clone()),
                contact_name: None,
                contact_phone: None,
                device_sn: None,
                product_model: None,
                description: Some(format!("交付：{} ({})", new.title, new.number)),
                priority: "P3".into(),
                channel: "api".into(),
                team: settings.delivery_team_id.clone(),
                custom: Default::default(),
            },
        )?;
        let installments = contracts::installments(uow.conn, &id)?;
        let mut signed = brief(&new);
        signed["signed_at"] = json!(rfc3339(signed_at));
        signed["signatory"] = json!(signatory);
        uow.event("contract.signed", ENTITY, &id, signed);
        uow.event(
            "invoice.requested",
            ENTITY,
            &id,
            json!({"contract_id": id, "number": new.number, "account_id": new.account_id,
                   "amount_cents": new.amount_cents, "currency": new.currency,
                   "first_installment": installments.first().cloned().map(Installment::from)}),
        );
        uow.event(
            "delivery.created",
            "work_order",
            &wo.id,
            json!({"work_order_id": wo.id, "number": wo.number, "contract_id": id,
                   "account_id": wo.account_id, "team_id": wo.team_id}),
        );
        super::opportunities::win_by_contract(uow, &new.opportunity_id, &new.number)?;
        view(uow.conn, new)
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"installments": [
    {"seq": 1, "due_date": "2026-12-01", "amount_cents": 36000000},
    {"seq": 2, "due_date": "2027-03-01", "amount_cents": 72000000},
    {"seq": 3, "due_date": "2027-12-01", "amount_cents": 12000000}]}))]
pub struct InstallmentsRequest {
    pub installments: Vec<Installment>,
}

/// Replaces the installment plan: seqs 1..n, due dates not decreasing, amounts > 0 summing
/// exactly to the contract amount. Frozen once a payment is recorded.
pub async fn set_installments(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: InstallmentsRequest,
) -> AppResult<ContractView> {
    let mut c = Check::default();
    let mut planned = Vec::new();
    for (n, i) in req.installments.iter().enumerate() {
        match NaiveDate::parse_from_str(&i.due_date, "%Y-%m-%d") {
            Ok(d) => planned.push(PlannedInstallment {
                seq: i.seq,
                due_date: d,
                amount_cents: i.amount_cents,
            }),
            Err(_) => c.fail(
                &format!("installments[{n}].due_date"),
                "invalid_format",
                "a date as YYYY-MM-DD",
            ),
        }
    }
    c.finish()?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id, if_match)?;
        require(
            may_steer(&p, &old) || p.role == Role::Finance,
            "only the contract's owner, their manager, finance or a director plans installments",
        )?;
        let status = status_of(&old);
        if matches!(
            status,
            ContractStatus::Completed | ContractStatus::Terminated
        ) {
            return Err(AppError::conflict(format!(
                "the contract is {}",
                status.as_str()
            )));
        }
        if contracts::payment_count(uow.conn, &id)? > 0 {
            return Err(AppError::conflict(
                "the installment plan is frozen: payments have been recorded",
            ));
        }
        let problems = check_installments(&planned, old.amount_cents);
        if !problems.is_empty() {
            return Err(AppError::validation(
                problems
                    .into_iter()
                    .map(|(field, message)| FieldError {
                        field,
                        code: "invalid".into(),
                        message,
                    })
                    .collect(),
            ));
        }
        let before: Vec<Installment> = contracts::installments(uow.conn, &id)?
            .into_iter()
            .map(Installment::from)
            .collect();
        let rows: Vec<InstallmentRow> = planned
            .iter()
            .map(|i| InstallmentRow {
                contract_id: id.clone(),
                seq: i.seq,
                due_date: i.due_date.format("%Y-%m-%d").to_string(),
                amount_cents: i.amount_cents,
                paid_cents: 0,
                status: "open".into(),
            })
            .collect();
        contracts::replace_installments(uow.conn, &id, &rows)?;
        let after: Vec<Installment> = rows.iter().cloned().map(Installment::from).collect();
        let changes = diff(
            &json!({"installments": before}),
            &json!({"installments": after}),
            &[],
        );
        let new = save(uow, &old, old.clone(), "installments")?;
        uow.audit(ENTITY, &id, "installments", &changes);
        uow.event(
            "contract.installments_set",
            ENTITY,
            &id,
            json!({"contract_id": id, "installments": after}),
        );
        view(uow.conn, new)
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"bank_txn_id": "ICBC-20261201-000873", "amount_cents": 36000000,
    "paid_at": "2026-12-01T03:15:00Z", "installment_seq": 1}))]
pub struct PaymentRequest {
    pub bank_txn_id: Option<String>,
    pub amount_cents: i64,
    pub paid_at: DateTime<Utc>,
    /// The installment this payment settles; without it the payment settles the remaining
    /// balance.
    pub installment_seq: Option<i32>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentView {
    pub id: String,
    pub contract_id: String,
    pub bank_txn_id: String,
    pub amount_cents: i64,
    pub paid_at: String,
    pub installment_seq: Option<i32>,
    pub recorded_by: String,
    pub created_at: String,
}

impl From<PaymentRow> for PaymentView {
    fn from(r: PaymentRow) -> Self {
        PaymentView {
            id: r.id,
            contract_id: r.contract_id,
            bank_txn_id: r.bank_txn_id,
            amount_cents: r.amount_cents,
            paid_at: rfc3339(r.paid_at),
            installment_seq: r.installment_seq,
            recorded_by: r.recorded_by,
            created_at: rfc3339(r.created_at),
        }
    }
}

fn payment_refused(refusals: Vec<(&'static str, String)>, field: &str) -> AppError {
    AppError::payment_rejected(
        refusals
            .into_iter()
            .map(|(code, message)| FieldError {
                field: match code {
                    "bank_txn_missing" | "bank_txn_reused" => "bank_txn_id",
                    "paid_before_signing" => "paid_at",
                    "contract_not_signed" => "contract",
                    _ => field,
                }
                .into(),
                code: code.into(),
                message,
            })
            .collect(),
    )
}

/// Records a payment (finance, admin) after the three checks: a bank transaction id unique
/// system-wide, an amount within 0.5% of what it settles, not dated before signing; the
/// cumulative total may not exceed the amount by more than that tolerance.
pub async fn record_payment(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    req: PaymentRequest,
) -> AppResult<PaymentView> {
    require_role(&ctx.principal, &[Role::Finance, Role::Admin])?;
    let bank_txn_id = req
        .bank_txn_id
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    if bank_txn_id
        .as_ref()
        .is_some_and(|t| t.chars().count() > 100)
    {
        return Err(AppError::field(
            "bank_txn_id",
            "too_long",
            "at most 100 characters",
        ));
    }
    let p = ctx.principal.clone();
    let result = svc
        .write(ctx, move |uow| {
            let old = load(uow.conn, &p, &id, None)?;
            let mut installments = contracts::installments(uow.conn, &id)?;
            let named = match req.installment_seq {
                Some(seq) => Some(installments.iter().position(|i| i.seq == seq).ok_or_else(
                    || AppError::field("installment_seq", "not_found", "no such installment"),
                )?),
                None => None,
            };
            let reused = match &bank_txn_id {
                Some(t) => contracts::bank_txn_exists(uow.conn, t)?,
                None => false,
            };
            let ctx = PaymentContext {
                status: status_of(&old),
                amount_cents: old.amount_cents,
                paid_cents: old.paid_cents,
                signed_at: old.signed_at,
                installment_outstanding: named
                    .map(|i| installments[i].amount_cents - installments[i].paid_cents),
                bank_txn_reused: reused,
            };
            let attempt = PaymentAttempt {
                bank_txn_id: bank_txn_id.clone(),
                amount_cents: req.amount_cents,
                paid_at: to_millis(req.paid_at),
            };
            let refusals = check_payment(&ctx, &attempt);
            if !refusals.is_empty() {
                return Err(payment_refused(refusals, "amount_cents"));
            }
            let row = PaymentRow {
                id: new_id(),
                contract_id: id.clone(),
                bank_txn_id: bank_txn_id.clone().unwrap_or_default(),
                amount_cents: req.amount_cents,
                paid_at: attempt.paid_at,
                installment_seq: req.installment_seq,
                recorded_by: p.id.clone(),
                created_at: uow.now_ms,
            };
            contracts::insert_payment(uow.conn, &row)?;
            // Settle the named installment, or (for a balance payment) every open one.
            for (n, i) in installments.iter_mut().enumerate() {
                if i.status == "paid" || named.is_some_and(|k| k != n) {
                    continue;
                }
                i.paid_cents = if named.is_some() {
                    i.paid_cents + req.amount_cents
                } else {
                    i.amount_cents
                };
                if i.paid_cents >= i.amount_cents - tolerance_cents(i.amount_cents) {
                    i.status = "paid".into();
                }
                contracts::update_installment(uow.conn, i)?;
            }
            let new = ContractRow {
                paid_cents: old.paid_cents + req.amount_cents,
                ..old.clone()
            };
            let new = save(uow, &old, new, "payment")?;
            let view = PaymentView::from(row);
            uow.event(
                "payment.recorded",
                ENTITY,
                &id,
                json!({"payment": view, "contract_id": id, "paid_cents": new.paid_cents,
                       "outstanding_cents": (new.amount_cents - new.paid_cents).max(0)}),
            );
            Ok(view)
        })
        .await;
    // A concurrent post of the same bank transaction loses on the unique index.
    match result {
        Err(e) if e.code == "conflict" && e.detail.contains("bank_txn_id") => Err(payment_refused(
            vec![(
                "bank_txn_reused",
                "this bank transaction is already recorded".into(),
            )],
            "bank_txn_id",
        )),
        other => other,
    }
}

pub async fn payments(svc: &Services, ctx: &Ctx, id: String) -> AppResult<Vec<PaymentView>> {
    let p = ctx.principal.clone();
    svc.read(move |conn| {
        load(conn, &p, &id, None)?;
        Ok(contracts::payments(conn, &id)?
            .into_iter()
            .map(PaymentView::from)
            .collect())
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"milestones": [
    {"day": 30, "title": "产线安装调试完成", "owner_id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e60", "due_date": "2027-01-15"},
    {"day": 60, "title": "操作员培训与试产", "owner_id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e60", "due_date": "2027-02-15"},
    {"day": 90, "title": "量产验收", "owner_id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e60", "due_date": "2027-03-15"}]}))]
pub struct SuccessPlanRequest {
    pub milestones: Vec<Milestone>,
}

/// Sets the customer success plan (implementation, the owner, their manager, leadership):
/// milestones for days 30, 60 and 90, each with a title, an active owner and a due date.
pub async fn set_success_plan(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: SuccessPlanRequest,
) -> AppResult<ContractView> {
    let mut c = Check::default();
    let mut milestones = req.milestones;
    for (n, m) in milestones.iter_mut().enumerate() {
        if ![30, 60, 90].contains(&m.day) {
            c.fail(&format!("milestones[{n}].day"), "invalid", "30, 60 or 90");
        }
        m.title = c.required(
            &format!("milestones[{n}].title"),
            Some(m.title.clone()),
            200,
        );
        if NaiveDate::parse_from_str(&m.due_date, "%Y-%m-%d").is_err() {
            c.fail(
                &format!("milestones[{n}].due_date"),
                "invalid_format",
                "a date as YYYY-MM-DD",
            );
        }
    }
    for day in [30, 60, 90] {
        let count = milestones.iter().filter(|m| m.day == day).count();
        if count != 1 {
            c.fail(
                "milestones",
                "invalid",
                format!("exactly one milestone for day {day} (found {count})"),
            );
        }
    }
    c.finish()?;
    milestones.sort_by_key(|m| m.day);
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id, if_match)?;
        require(
            may_steer(&p, &old) || p.role == Role::Implementation,
            "the success plan is set by implementation or the contract's owner",
        )?;
        if matches!(
            status_of(&old),
            ContractStatus::Completed | ContractStatus::Terminated
        ) {
            return Err(AppError::conflict(format!(
                "the contract is {}",
                old.status
            )));
        }
        for (n, m) in milestones.iter().enumerate() {
            if !users::find(uow.conn, &m.owner_id)?.is_some_and(|u| u.active) {
                return Err(AppError::field(
                    &format!("milestones[{n}].owner_id"),
                    "not_found",
                    "no active user with this id",
                ));
            }
        }
        let new = ContractRow {
            success_plan: Some(to_json_text(&milestones)),
            ..old.clone()
        };
        let new = save(uow, &old, new, "success_plan")?;
        uow.event(
            "contract.success_plan_set",
            ENTITY,
            &id,
            json!({"contract_id": id, "milestones": milestones}),
        );
        view(uow.conn, new)
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"live_at": "2027-03-20T02:00:00Z"}))]
pub struct GoLiveRequest {
    pub live_at: DateTime<Utc>,
}

/// Marks a signed contract live (`active`, `contract.live`) and schedules the NPS survey
/// `nps_delay_secs` later. Needs the success plan.
pub async fn go_live(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: GoLiveRequest,
) -> AppResult<ContractView> {
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id, if_match)?;
        require(
            may_steer(&p, &old) || p.role == Role::Implementation,
            "go-live is recorded by implementation or the contract's owner",
        )?;
        moving(&old, ContractStatus::Active)?;
        if old.success_plan.is_none() {
            let mut e =
                AppError::unprocessable("a customer success plan is required before go-live");
            e.missing = vec![crate::error::MissingItem {
                requirement: "success_plan".into(),
                detail: "PUT /contracts/{id}/success-plan with milestones for days 30, 60 and 90"
                    .into(),
                stage: None,
            }];
            return Err(e);
        }
        let live_at = to_millis(req.live_at);
        if old.signed_at.is_some_and(|s| live_at < s) {
            return Err(AppError::field(
                "live_at",
                "before_signing",
                "go-live cannot precede signing",
            ));
        }
        let (settings, _, _) = config::current::<ContractSettings>(uow.conn)?;
        let new = ContractRow {
            status: ContractStatus::Active.as_str().into(),
            live_at: Some(live_at),
            nps_due_at: Some(live_at + settings.nps_delay_secs * 1000),
            ..old.clone()
        };
        let new = save(uow, &old, new, "go_live")?;
        let mut data = brief(&new);
        data["live_at"] = json!(rfc3339(live_at));
        data["nps_due_at"] = json!(new.nps_due_at.map(rfc3339));
        uow.event("contract.live", ENTITY, &id, data);
        view(uow.conn, new)
    })
    .await
}

/// Announces a due NPS survey once (the sweeper calls this per due contract).
pub fn announce_nps(uow: &mut Uow<'_>, id: &str) -> AppResult<()> {
    let Some(old) = contracts::find(uow.conn, id)? else {
        return Ok(());
    };
    if old.nps_survey_sent_at.is_some() || old.nps_due_at.is_none_or(|d| d > uow.now_ms) {
        return Ok(());
    }
    let new = ContractRow {
        nps_survey_sent_at: Some(uow.now_ms),
        ..old.clone()
    };
    let new = save(uow, &old, new, "nps_survey_due")?;
    uow.event(
        "nps.survey_due",
        ENTITY,
        id,
        json!({"contract_id": id, "account_id": new.account_id, "owner_id": new.owner_id,
               "live_at": new.live_at.map(rfc3339), "due_at": new.nps_due_at.map(rfc3339)}),
    );
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"score": 9, "comment": "交付及时，培训到位"}))]
pub struct NpsRequest {
    /// 0–10.
    pub score: i32,
    pub comment: Option<String>,
}

/// Records the customer's NPS answer for a live contract, once.
pub async fn record_nps(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    req: NpsRequest,
) -> AppResult<ContractView> {
    let mut c = Check::default();
    if !(0..=10).contains(&req.score) {
        c.fail("score", "out_of_range", "between 0 and 10");
    }
    let comment = c.text("comment", req.comment, 2000);
    c.finish()?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id, None)?;
        require(
            may_steer(&p, &old) || matches!(p.role, Role::Implementation | Role::Integration),
            "NPS is recorded by implementation, integrations or the contract's owner",
        )?;
        if old.live_at.is_none() {
            return Err(AppError::conflict("the contract has not gone live"));
        }
        if old.nps_recorded_at.is_some() {
            return Err(AppError::conflict("the NPS answer is already recorded"));
        }
        let new = ContractRow {
            nps_score: Some(req.score),
            nps_comment: comment.clone(),
            nps_recorded_at: Some(uow.now_ms),
            ..old.clone()
        };
        let new = save(uow, &old, new, "nps")?;
        uow.event(
            "nps.recorded",
            ENTITY,
            &id,
            json!({"contract_id": id, "account_id": new.account_id, "score": req.score, "comment": comment}),
        );
        view(uow.conn, new)
    })
    .await
}

/// Completes a live contract.
pub async fn complete(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
) -> AppResult<ContractView> {
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id, if_match)?;
        require(
            may_steer(&p, &old) || p.role == Role::Implementation,
            "only implementation or the contract's owner completes it",
        )?;
        moving(&old, ContractStatus::Completed)?;
        let new = ContractRow {
            status: ContractStatus::Completed.as_str().into(),
            completed_at: Some(uow.now_ms),
            ..old.clone()
        };
        let new = save(uow, &old, new, "complete")?;
        uow.event("contract.completed", ENTITY, &id, brief(&new));
        view(uow.conn, new)
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "客户破产清算"}))]
pub struct TerminateRequest {
    pub reason: String,
}

/// Terminates an approved, signed or live contract with a reason.
pub async fn terminate(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: TerminateRequest,
) -> AppResult<ContractView> {
    let mut c = Check::default();
    let reason = c.required("reason", Some(req.reason), 500);
    c.finish()?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id, if_match)?;
        require(
            may_steer(&p, &old),
            "only the contract's owner, their manager or a director terminates it",
        )?;
        moving(&old, ContractStatus::Terminated)?;
        let new = ContractRow {
            status: ContractStatus::Terminated.as_str().into(),
            terminated_at: Some(uow.now_ms),
            terminated_reason: Some(reason.clone()),
            ..old.clone()
        };
        let new = save(uow, &old, new, "terminate")?;
        let mut data = brief(&new);
        data["reason"] = json!(reason);
        uow.event("contract.terminated", ENTITY, &id, data);
        view(uow.conn, new)
    })
    .await
}
