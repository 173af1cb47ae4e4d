//! Lead lifecycle transitions: accept (开始跟进), manual assignment, qualify, disqualify.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::leads::LeadView;
use super::{check_version, Ctx, Services, Uow};
use crate::auth::Principal;
use crate::domain::lead::{DisqualifyReason, LeadStatus};
use crate::domain::role::Role;
use crate::domain::role::RowScope;
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult, MissingItem};
use crate::service::accounts::AccountInput;
use crate::service::contacts::ContactCreate;
use crate::store::leads::{self, LeadRow};
use crate::store::{accounts, activities, contacts, rules, users};

fn load(uow: &mut Uow<'_>, p: &Principal, id: &str, if_match: Option<i64>) -> AppResult<LeadRow> {
    let row = leads::find_scoped(uow.conn, id, &p.sales_scope())?
        .ok_or_else(|| AppError::not_found("lead"))?;
    check_version(if_match, row.version)?;
    Ok(row)
}

fn moving(row: &LeadRow, to: LeadStatus) -> AppResult<()> {
    let from = LeadStatus::parse(&row.status).unwrap_or(LeadStatus::New);
    from.check_move(to)
        .map_err(|allowed| AppError::invalid_transition(from.as_str(), to.as_str(), allowed))
}

fn commit(uow: &mut Uow<'_>, old: &LeadRow, mut new: LeadRow, action: &str) -> AppResult<LeadView> {
    if !super::routing::save(uow, old, &mut new, action)? {
        return Err(AppError::version_mismatch(old.version + 1));
    }
    let refs = super::refs::load(uow.conn, "lead", &new.id)?;
    Ok(LeadView::new(new, refs))
}

/// The owner starts working the lead: stops the claim timer, starts the first-touch timer.
pub async fn accept(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
) -> AppResult<LeadView> {
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow, &p, &id, if_match)?;
        if old.owner_id.as_deref() != Some(&p.id) {
            return Err(AppError::forbidden("only the lead's owner accepts it"));
        }
        moving(&old, LeadStatus::Working)?;
        let mut new = old.clone();
        new.status = LeadStatus::Working.as_str().into();
        new.accepted_at = Some(uow.now_ms);
        new.claim_due_at = None;
        let rule = match &old.rule_id {
            Some(r) => rules::find(uow.conn, r)?,
            None => None,
        };
        new.first_touch_due_at = match rule {
            Some(r) => Some(super::routing::rule_due(uow, &r, r.first_touch_timeout_secs)?),
            None => None,
        };
        uow.event(
            "lead.accepted",
            "lead",
            &id,
            json!({"lead_id": id, "owner_id": p.id, "first_touch_due_at": new.first_touch_due_at.map(rfc3339)}),
        );
        commit(uow, &old, new, "accept")
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"owner_id": "0193a1b2-0000-7000-8000-000000000009", "reason": "客户点名要张伟跟进"}))]
pub struct AssignRequest {
    pub owner_id: String,
    pub reason: String,
}

/// A manager (own team), director or admin hands the lead to someone by hand.
pub async fn assign(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: AssignRequest,
) -> AppResult<LeadView> {
    crate::auth::require_role(
        &ctx.principal,
        &[Role::Admin, Role::Director, Role::Manager],
    )?;
    let reason = req.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::field(
            "reason",
            "required",
            "say why (1–500 characters)",
        ));
    }
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow, &p, &id, if_match)?;
        moving(&old, LeadStatus::Assigned)?;
        let owner = users::find(uow.conn, &req.owner_id)?
            .filter(|u| u.active)
            .ok_or_else(|| AppError::field("owner_id", "not_found", "no such active user"))?;
        if p.role == Role::Manager && owner.team_id != p.team_id {
            return Err(AppError::forbidden("managers assign only to members of their own team"));
        }
        let mut new = old.clone();
        new.owner_id = Some(owner.id.clone());
        new.team_id = owner.team_id.clone();
        new.assigned_at.get_or_insert(uow.now_ms);
        new.status = LeadStatus::Assigned.as_str().into();
        new.accepted_at = None;
        new.first_touch_due_at = None;
        let rule = match &old.rule_id {
            Some(r) => rules::find(uow.conn, r)?,
            None => None,
        };
        new.claim_due_at = match rule {
            Some(r) => Some(super::routing::rule_due(uow, &r, r.claim_timeout_secs)?),
            None => None,
        };
        let record = json!({"rule_id": old.rule_id, "rule_name": null, "matched_conditions": [], "candidates": [],
                            "chosen": owner.id, "reason": format!("manual assignment by {}: {reason}", p.name),
                            "at": rfc3339(uow.now_ms)});
        new.assignment = Some(record.to_string());
        uow.event(
            "lead.assigned",
            "lead",
            &id,
            json!({"lead_id": id, "owner_id": owner.id, "team_id": new.team_id, "assignment": record, "manual": true,
                   "by": p.id, "reason": reason, "claim_due_at": new.claim_due_at.map(rfc3339)}),
        );
        commit(uow, &old, new, "assign")
    })
    .await
}

/// Qualifies a worked lead; it needs a reached `needs_discovery` activity.
pub async fn qualify(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
) -> AppResult<LeadView> {
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow, &p, &id, if_match)?;
        moving(&old, LeadStatus::Qualified)?;
        if !activities::has_reached(uow.conn, &id, "needs_discovery")? {
            let mut e = AppError::unprocessable("the lead is not ready to qualify");
            e.missing = vec![MissingItem {
                requirement: "activity:needs_discovery".into(),
                detail: "log a reached `needs_discovery` activity first".into(),
                stage: None,
            }];
            return Err(e);
        }
        let mut new = old.clone();
        new.status = LeadStatus::Qualified.as_str().into();
        uow.event(
            "lead.qualified",
            "lead",
            &id,
            json!({"lead_id": id, "owner_id": old.owner_id}),
        );
        commit(uow, &old, new, "qualify")
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "no_budget", "note": "明年再议"}))]
pub struct DisqualifyRequest {
    pub reason: DisqualifyReason,
    pub note: Option<String>,
}

pub async fn disqualify(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: DisqualifyRequest,
) -> AppResult<LeadView> {
    crate::auth::require_role(&ctx.principal, crate::auth::policy::LEAD_WRITERS)?;
    let note = req
        .note
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(AppError::field(
            "note",
            "too_long",
            "at most 2000 characters",
        ));
    }
    if req.reason == DisqualifyReason::Other && note.is_none() {
        return Err(AppError::field(
            "note",
            "required",
            "say why when the reason is `other`",
        ));
    }
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow, &p, &id, if_match)?;
        moving(&old, LeadStatus::Disqualified)?;
        let mut new = old.clone();
        new.status = LeadStatus::Disqualified.as_str().into();
        new.disqualify_reason = Some(req.reason.as_str().into());
        new.disqualify_note = note.clone();
        new.claim_due_at = None;
        uow.event(
            "lead.disqualified",
            "lead",
            &id,
            json!({"lead_id": id, "reason": req.reason.as_str(), "note": note}),
        );
        commit(uow, &old, new, "disqualify")
    })
    .await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"account_id": null, "opportunity_name": "恒锐精工激光焊接产线"}))]
pub struct ConvertRequest {
    /// Link this account instead of matching or creating one.
    pub account_id: Option<String>,
    /// Defaults to "<company> - <product interest>".
    pub opportunity_name: Option<String>,
    /// `custom{}` of the new opportunity (required opportunity custom fields go here).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub opportunity_custom: serde_json::Map<String, serde_json::Value>,
}

/// What a conversion created or linked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConvertResult {
    pub lead: LeadView,
    pub account_id: String,
    /// False when an existing account was linked (by id or company-name match).
    pub account_created: bool,
    pub contact_id: String,
    pub contact_created: bool,
    pub opportunity_id: String,
}

/// Converts a qualified lead: links or creates the account (by the given id, else the
/// company-name key), links or creates the contact (same phone or e-mail on that account),
/// and opens an opportunity at the first stage with the lead's budget.
pub async fn convert(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: ConvertRequest,
) -> AppResult<ConvertResult> {
    crate::auth::require_role(&ctx.principal, crate::auth::policy::LEAD_WRITERS)?;
    let mut c = super::input::Check::default();
    c.custom("opportunity_custom", req.opportunity_custom.clone());
    c.finish()?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow, &p, &id, if_match)?;
        moving(&old, LeadStatus::Converted)?;
        let owner = Principal { id: old.owner_id.clone().unwrap_or(p.id.clone()), ..p.clone() };
        let (account, account_created) = match &req.account_id {
            Some(a) => (
                accounts::find_scoped(uow.conn, a, &p.sales_scope())?
                    .ok_or_else(|| AppError::field("account_id", "not_found", "no such account"))?,
                false,
            ),
            None => match old.company_key.as_deref().map(|k| accounts::find_by_name_key(uow.conn, k)).transpose()?.flatten() {
                Some(a) => (a, false),
                None => {
                    let input = AccountInput {
                        name: old.company.clone().unwrap_or(old.name.clone()),
                        legal_name: None,
                        uscc: None,
                        legal_representative: None,
                        industry: old.industry.clone(),
                        province: old.province.clone(),
                        city: old.city.clone(),
                        address: None,
                        phone: None,
                        email: None,
                        website: None,
                        tier: None,
                        owner_id: old.owner_id.clone(),
                        custom: Default::default(),
                    };
                    (super::accounts::create_in(uow, &owner, input)?, true)
                }
            },
        };
        let existing = contacts::find_on_account(uow.conn, &account.id, old.phone.as_deref(), old.email.as_deref())?;
        let (contact_id, contact_created) = match existing {
            Some(c) => (c.id, false),
            None => {
                let req = ContactCreate {
                    account_id: account.id.clone(),
                    name: old.name.clone(),
                    title: old.title.clone(),
                    phone: old.phone.clone(),
                    email: old.email.clone(),
                    decision_role: None,
                    concerns: Vec::new(),
                    last_contacted_at: None,
                    custom: Default::default(),
                };
                (super::contacts::create_in(uow, &RowScope::All, req)?.id, true)
            }
        };
        let opp_name = req.opportunity_name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).unwrap_or_else(|| {
            match &old.product_interest {
                Some(pi) => format!("{} - {pi}", account.name),
                None => account.name.clone(),
            }
        });
        if opp_name.chars().count() > 200 {
            return Err(AppError::field("opportunity_name", "too_long", "at most 200 characters"));
        }
        let opp = super::opportunities::open_in(
            uow,
            super::opportunities::NewDeal {
                account_id: account.id.clone(),
                name: opp_name,
                primary_contact_id: Some(contact_id.clone()),
                amount_cents: old.budget_cents,
                currency: old.currency.clone(),
                expected_close_date: None,
                owner_id: old.owner_id.clone(),
                team_id: old.team_id.clone(),
                lead_id: Some(old.id.clone()),
                custom: req.opportunity_custom.clone(),
            },
        )?;
        let mut new = old.clone();
        new.status = LeadStatus::Converted.as_str().into();
        new.account_id = Some(account.id.clone());
        // The lead's history (intake, assignment, activities) joins the account timeline.
        crate::store::timeline::attach(uow.conn, "lead", &id, &account.id)?;
        uow.event(
            "lead.converted",
            "lead",
            &id,
            json!({"lead_id": id, "account_id": account.id, "contact_id": contact_id, "opportunity_id": opp.id}),
        );
        let lead = commit(uow, &old, new, "convert")?;
        Ok(ConvertResult { lead, account_id: account.id, account_created, contact_id, contact_created, opportunity_id: opp.id })
    })
    .await
}
