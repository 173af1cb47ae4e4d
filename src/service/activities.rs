//! Follow-up activities on leads: structured actions with evidence, the first reached one
//! stamping `first_touch_at`, keywords raising the lead's priority.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::input::{from_json_text, to_json_text, Check};
use super::{new_id, Ctx, Page, Services};
use crate::auth::Principal;
use crate::domain::activity::{
    is_http_url, priority_keyword, Action, Channel, Evidence, EVIDENCE_REQUIRED, PRIORITY_KEYWORDS,
};
use crate::domain::lead::{DisqualifyReason, LeadStatus};
use crate::domain::role::Role;
use crate::domain::time::{rfc3339, to_millis};
use crate::error::{AppError, AppResult};
use crate::store::activities::{self, ActivityRow};
use crate::store::leads::{self, LeadRow};
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
    /// Closes the lead in the same request (disqualified with this reason).
    pub disqualify_reason: Option<DisqualifyReason>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivityView {
    pub id: String,
    pub lead_id: Option<String>,
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
}

impl From<ActivityRow> for ActivityView {
    fn from(r: ActivityRow) -> Self {
        ActivityView {
            id: r.id,
            lead_id: r.lead_id,
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
        }
    }
}

/// The owner, their manager (team scope) and leadership may log activities on a lead.
fn may_log(p: &Principal, lead: &LeadRow) -> bool {
    match p.role {
        Role::Admin | Role::Director => true,
        Role::Manager => {
            lead.team_id.is_some() && lead.team_id == p.team_id
                || lead.owner_id.as_deref() == Some(&p.id)
        }
        _ => lead.owner_id.as_deref() == Some(&p.id),
    }
}

fn validate(i: &ActivityInput, now: i64) -> AppResult<String> {
    let mut c = Check::default();
    let summary = c.required("summary", Some(i.summary.clone()), 4000);
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
    if EVIDENCE_REQUIRED.contains(&i.action) && i.evidence.is_empty() {
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

fn scoped_lead(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<LeadRow> {
    leads::find_scoped(conn, id, &ctx.principal.sales_scope())?
        .ok_or_else(|| AppError::not_found("lead"))
}

pub async fn log_on_lead(
    svc: &Services,
    ctx: &Ctx,
    lead_id: String,
    i: ActivityInput,
) -> AppResult<ActivityView> {
    let now = svc.now().timestamp_millis();
    let summary = validate(&i, now)?;
    let c = ctx.clone();
    svc.write(ctx, move |uow| {
        let old = scoped_lead(uow.conn, &c, &lead_id)?;
        if !may_log(&c.principal, &old) {
            return Err(AppError::forbidden(
                "only the owner, their manager or a director logs activities on a lead",
            ));
        }
        let status = LeadStatus::parse(&old.status).unwrap_or(LeadStatus::New);
        if status.is_closed() {
            return Err(AppError::conflict(format!(
                "the lead is {}",
                status.as_str()
            )));
        }
        if let Some(contact_id) = &i.contact_id {
            let contact =
                contacts::find_scoped(uow.conn, contact_id, &crate::domain::role::RowScope::All)?;
            if contact.is_none()
                || old.account_id.is_none()
                || contact.map(|c| c.account_id) != old.account_id
            {
                return Err(AppError::field(
                    "contact_id",
                    "not_found",
                    "not a contact of the lead's account",
                ));
            }
        }
        let flagged = priority_keyword(&summary, PRIORITY_KEYWORDS);
        let row = ActivityRow {
            id: new_id(),
            lead_id: Some(lead_id.clone()),
            opportunity_id: None,
            channel: i.channel.as_str().into(),
            action: i.action.as_str().into(),
            reached: i.reached,
            summary,
            contact_id: i.contact_id.clone(),
            next_action: i.next_action.map(|a| a.as_str().to_string()),
            next_action_due_at: i.next_action_due_at.map(to_millis),
            evidence: to_json_text(&i.evidence),
            priority_flagged: flagged.is_some(),
            created_by: c.principal.id.clone(),
            created_at: uow.now_ms,
        };
        activities::insert(uow.conn, &row)?;
        let view = ActivityView::from(row);
        let snap = serde_json::to_value(&view).unwrap_or_default();
        uow.audit(
            "activity",
            &view.id,
            "create",
            &crate::domain::audit::diff(&json!({}), &snap, &[]),
        );
        uow.event("activity.created", "lead", &lead_id, snap.clone());

        let mut new = old.clone();
        if i.reached && old.first_touch_at.is_none() {
            new.first_touch_at = Some(uow.now_ms);
        }
        if let Some(k) = flagged {
            new.priority = "high".into();
            uow.event(
                "activity.priority_flagged",
                "lead",
                &lead_id,
                json!({"activity": snap, "keyword": k, "lead_id": lead_id}),
            );
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
