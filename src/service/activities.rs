//! Follow-up activities on leads and opportunities: one model and one set of rules
//! (structured actions, evidence, next action, priority keywords) for both. On a lead the
//! first reached activity stamps `first_touch_at` and an activity may close the lead; on
//! either, a priority keyword raises the record's priority.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::config::{self, ConfigDoc};
use super::input::{from_json_text, to_json_text, Check};
use super::{new_id, Ctx, Page, Services, Uow};
use crate::auth::{require_role, Principal};
use crate::domain::activity::{is_http_url, Action, ActivityRules, Channel, Evidence};
use crate::domain::lead::{DisqualifyReason, LeadStatus};
use crate::domain::role::{Role, RowScope};
use crate::domain::time::{rfc3339, to_millis};
use crate::error::{AppError, AppResult};
use crate::store::activities::{self, ActivityRow};
use crate::store::leads::{self, LeadRow};
use crate::store::opportunities::{self, OpportunityRow};
use crate::store::{contacts, DbConnection};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "channel": "phone", "action": "needs_discovery", "reached": true, "summary": "确认产线改造需求，预算批了",
    "contact_id": null, "next_action": "demo", "next_action_due_at": "2026-12-01T02:00:00Z",
    "evidence": [{"kind": "link", "url": "https://files.example.cn/需求.pdf", "name": "需求.pdf"}]
}))]
pub struct ActivityInput {
    pub channel: Channel,
    pub action: Action,
    pub reached: bool,
    pub summary: String,
    pub contact_id: Option<String>,
    /// Required (with `next_action_due_at` in the future) unless `disqualify_reason` closes the lead.
    pub next_action: Option<Action>,
    pub next_action_due_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// Closes the lead in the same request (disqualified with this reason); leads only.
    pub disqualify_reason: Option<DisqualifyReason>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivityView {
    pub id: String,
    pub lead_id: Option<String>,
    pub opportunity_id: Option<String>,
    pub channel: String,
    pub action: String,
    pub reached: bool,
    pub summary: String,
    pub contact_id: Option<String>,
    pub next_action: Option<String>,
    pub next_action_due_at: Option<String>,
    pub evidence: Vec<Evidence>,
    /// A priority keyword was found in the summary.
    pub priority_flagged: bool,
    pub created_by: String,
    pub created_at: String,
    /// When a later activity of the planned `next_action` carried it out.
    pub fulfilled_at: Option<String>,
}

impl From<ActivityRow> for ActivityView {
    fn from(r: ActivityRow) -> Self {
        ActivityView {
            id: r.id,
            lead_id: r.lead_id,
            opportunity_id: r.opportunity_id,
            channel: r.channel,
            action: r.action,
            reached: r.reached,
            summary: r.summary,
            contact_id: r.contact_id,
            next_action: r.next_action,
            next_action_due_at: r.next_action_due_at.map(rfc3339),
            evidence: from_json_text(&r.evidence),
            priority_flagged: r.priority_flagged,
            created_by: r.created_by,
            created_at: rfc3339(r.created_at),
            fulfilled_at: r.fulfilled_at.map(rfc3339),
        }
    }
}

impl ConfigDoc for ActivityRules {
    const KEY: &'static str = "activities";
    fn problems(&self) -> Vec<(String, String)> {
        self.validate()
    }
}

/// The activity rules in force with their version.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityRulesView {
    #[serde(flatten)]
    pub rules: ActivityRules,
    /// Bumped by every change (0: the built-in default is in force).
    pub version: i64,
    pub updated_at: Option<String>,
}

pub async fn rules(svc: &Services, _ctx: &Ctx) -> AppResult<ActivityRulesView> {
    svc.read(|conn| {
        let (rules, version, at) = config::current::<ActivityRules>(conn)?;
        Ok(ActivityRulesView {
            rules,
            version,
            updated_at: at.map(rfc3339),
        })
    })
    .await
}

/// Replaces the activity rules (admin, director): validated, versioned, audited.
pub async fn put_rules(
    svc: &Services,
    ctx: &Ctx,
    rules: ActivityRules,
    if_match: Option<i64>,
) -> AppResult<ActivityRulesView> {
    require_role(&ctx.principal, &[Role::Admin, Role::Director])?;
    config::check(&rules)?;
    svc.write(ctx, move |uow| {
        let version = config::save(uow, &rules, if_match)?;
        Ok(ActivityRulesView {
            rules,
            version,
            updated_at: Some(rfc3339(uow.now_ms)),
        })
    })
    .await
}

/// The record an activity is logged on, as far as the shared rules need it.
struct Subject<'a> {
    entity: &'static str,
    id: &'a str,
    owner_id: Option<&'a str>,
    team_id: Option<&'a str>,
    account_id: Option<&'a str>,
    /// Whether an activity may close the record (`disqualify_reason`).
    closable: bool,
}

/// The owner, their manager (team scope) and leadership may log activities.
fn may_log(p: &Principal, s: &Subject<'_>) -> bool {
    match p.role {
        Role::Admin | Role::Director => true,
        Role::Manager => {
            s.team_id.is_some() && s.team_id == p.team_id.as_deref()
                || s.owner_id == Some(p.id.as_str())
        }
        _ => s.owner_id == Some(p.id.as_str()),
    }
}

fn validate(
    i: &ActivityInput,
    now: i64,
    rules: &ActivityRules,
    closable: bool,
) -> AppResult<String> {
    let mut c = Check::default();
    let summary = c.required("summary", Some(i.summary.clone()), 4000);
    if i.disqualify_reason.is_some() && !closable {
        c.fail(
            "disqualify_reason",
            "not_allowed",
            "only a lead can be closed by an activity (lose a deal with POST /opportunities/{id}/lose)",
        );
    }
    if i.disqualify_reason.is_none() {
        if i.next_action.is_none() {
            c.fail(
                "next_action",
                "required",
                "say what happens next (or close the lead with disqualify_reason)",
            );
        }
        match i.next_action_due_at {
            None => c.fail(
                "next_action_due_at",
                "required",
                "when the next action is due",
            ),
            Some(t) if to_millis(t) <= now => {
                c.fail("next_action_due_at", "in_past", "must be in the future")
            }
            Some(_) => {}
        }
    }
    if rules.needs_evidence(i.action) && i.evidence.is_empty() {
        c.fail(
            "evidence",
            "required",
            format!("a `{}` activity needs evidence", i.action.as_str()),
        );
    }
    if i.evidence.len() > 20 {
        c.fail("evidence", "too_many", "at most 20 pieces of evidence");
    }
    for (n, e) in i.evidence.iter().enumerate() {
        if !is_http_url(&e.url) || e.url.len() > 2000 {
            c.fail(
                &format!("evidence[{n}].url"),
                "invalid_format",
                "an http(s) URL",
            );
        }
        if e.kind.trim().is_empty() || e.kind.len() > 30 {
            c.fail(
                &format!("evidence[{n}].kind"),
                "invalid_format",
                "1–30 characters",
            );
        }
    }
    c.finish()?;
    Ok(summary)
}

/// The rules shared by every activity (after the caller checked `may_log`): the body's
/// validity, the contact's account; writes the activity, its audit entry, `activity.created` and (on a keyword)
/// `activity.priority_flagged`. Returns the view and the keyword found.
fn record(
    uow: &mut Uow<'_>,
    p: &Principal,
    s: &Subject<'_>,
    i: &ActivityInput,
) -> AppResult<(ActivityView, Option<String>)> {
    let (rules, _, _) = config::current::<ActivityRules>(uow.conn)?;
    let summary = validate(i, uow.now_ms, &rules, s.closable)?;
    if let Some(contact_id) = &i.contact_id {
        let contact = contacts::find_scoped(uow.conn, contact_id, &RowScope::All)?;
        if s.account_id.is_none() || contact.map(|c| c.account_id).as_deref() != s.account_id {
            return Err(AppError::field(
                "contact_id",
                "not_found",
                format!("not a contact of the {}'s account", s.entity),
            ));
        }
    }
    let keyword = rules.priority_keyword(&summary);
    let on_lead = s.entity == "lead";
    let row = ActivityRow {
        id: new_id(),
        lead_id: on_lead.then(|| s.id.to_string()),
        opportunity_id: (!on_lead).then(|| s.id.to_string()),
        channel: i.channel.as_str().into(),
        action: i.action.as_str().into(),
        reached: i.reached,
        summary,
        contact_id: i.contact_id.clone(),
        next_action: i.next_action.map(|a| a.as_str().to_string()),
        next_action_due_at: i.next_action_due_at.map(to_millis),
        evidence: to_json_text(&i.evidence),
        priority_flagged: keyword.is_some(),
        created_by: p.id.clone(),
        created_at: uow.now_ms,
        fulfilled_at: None,
    };
    activities::fulfil(uow.conn, on_lead, s.id, &row.action, uow.now_ms)?;
    activities::insert(uow.conn, &row)?;
    let view = ActivityView::from(row);
    let snap = serde_json::to_value(&view).unwrap_or_default();
    uow.audit_created("activity", &view.id, &snap, &[]);
    uow.event("activity.created", s.entity, s.id, snap.clone());
    if let Some(k) = &keyword {
        let mut data = json!({"activity": snap, "keyword": k});
        data[format!("{}_id", s.entity)] = json!(s.id);
        uow.event("activity.priority_flagged", s.entity, s.id, data);
    }
    Ok((view, keyword))
}

fn scoped_lead(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<LeadRow> {
    leads::find_scoped(conn, id, &ctx.principal.sales_scope())?
        .ok_or_else(|| AppError::not_found("lead"))
}

fn scoped_opportunity(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<OpportunityRow> {
    opportunities::find_scoped(conn, id, &ctx.principal.sales_scope())?
        .ok_or_else(|| AppError::not_found("opportunity"))
}

pub async fn log_on_lead(
    svc: &Services,
    ctx: &Ctx,
    lead_id: String,
    i: ActivityInput,
) -> AppResult<ActivityView> {
    let c = ctx.clone();
    svc.write(ctx, move |uow| {
        let old = scoped_lead(uow.conn, &c, &lead_id)?;
        let status = LeadStatus::parse(&old.status).unwrap_or(LeadStatus::New);
        let subject = Subject {
            entity: "lead",
            id: &old.id,
            owner_id: old.owner_id.as_deref(),
            team_id: old.team_id.as_deref(),
            account_id: old.account_id.as_deref(),
            closable: true,
        };
        if !may_log(&c.principal, &subject) {
            return Err(AppError::forbidden(
                "only the owner, their manager or a director logs activities on a lead",
            ));
        }
        if status.is_closed() {
            return Err(AppError::conflict(format!(
                "the lead is {}",
                status.as_str()
            )));
        }
        let (view, keyword) = record(uow, &c.principal, &subject, &i)?;
        let mut new = old.clone();
        if i.reached && old.first_touch_at.is_none() {
            new.first_touch_at = Some(uow.now_ms);
        }
        if keyword.is_some() {
            new.priority = "high".into();
        }
        if let Some(reason) = i.disqualify_reason {
            new.status = LeadStatus::Disqualified.as_str().into();
            new.disqualify_reason = Some(reason.as_str().into());
            new.claim_due_at = None;
            uow.event(
                "lead.disqualified",
                "lead",
                &lead_id,
                json!({"lead_id": lead_id, "reason": reason.as_str(), "activity_id": view.id}),
            );
        }
        let changed = new.first_touch_at != old.first_touch_at
            || new.priority != old.priority
            || new.status != old.status;
        if changed && !super::routing::save(uow, &old, &mut new, "activity")? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        Ok(view)
    })
    .await
}

pub async fn log_on_opportunity(
    svc: &Services,
    ctx: &Ctx,
    opportunity_id: String,
    i: ActivityInput,
) -> AppResult<ActivityView> {
    let c = ctx.clone();
    svc.write(ctx, move |uow| {
        let old = scoped_opportunity(uow.conn, &c, &opportunity_id)?;
        let subject = Subject {
            entity: "opportunity",
            id: &old.id,
            owner_id: old.owner_id.as_deref(),
            team_id: old.team_id.as_deref(),
            account_id: Some(&old.account_id),
            closable: false,
        };
        if !may_log(&c.principal, &subject) {
            return Err(AppError::forbidden(
                "only the owner, their manager or a director logs activities on a deal",
            ));
        }
        if old.status != "open" {
            return Err(AppError::conflict(format!("the deal is {}", old.status)));
        }
        let (view, keyword) = record(uow, &c.principal, &subject, &i)?;
        if keyword.is_some() && old.priority != "high" {
            let new = OpportunityRow {
                priority: "high".into(),
                ..old.clone()
            };
            super::opportunities::save(uow, &old, new, "activity")?;
        }
        Ok(view)
    })
    .await
}

pub async fn list_for_lead(
    svc: &Services,
    ctx: &Ctx,
    lead_id: String,
    before: Option<String>,
    limit: i64,
) -> AppResult<Page<ActivityView>> {
    let c = ctx.clone();
    svc.read(move |conn| {
        scoped_lead(conn, &c, &lead_id)?;
        let rows = activities::for_lead(conn, &lead_id, before.as_deref(), limit + 1)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            ActivityView::from,
        ))
    })
    .await
}

pub async fn list_for_opportunity(
    svc: &Services,
    ctx: &Ctx,
    opportunity_id: String,
    before: Option<String>,
    limit: i64,
) -> AppResult<Page<ActivityView>> {
    let c = ctx.clone();
    svc.read(move |conn| {
        scoped_opportunity(conn, &c, &opportunity_id)?;
        let rows =
            activities::for_opportunity(conn, &opportunity_id, before.as_deref(), limit + 1)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            ActivityView::from,
        ))
    })
    .await
}
