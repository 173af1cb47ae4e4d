//! The lead engine: score and quality gate, rule-based assignment with its reasons, and the
//! SLA timers (claim → re-assign → escalate; first-touch overdue). Everything here runs
//! inside a caller's unit of work.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::input::{from_json_text, to_json_text};
use super::Uow;
use crate::domain::assignment::{pick, CandidateReport, Pick, PickInput, Rep, Strategy};
use crate::domain::audit::diff;
use crate::domain::conditions::{matches, Condition};
use crate::domain::lead::LeadStatus;
use crate::domain::time::rfc3339;
use crate::error::AppResult;
use crate::store::leads::{self, LeadRow};
use crate::store::rules::{self, RuleRow};
use crate::store::users::{self, UserRow};
use crate::store::DbConnection;

const DAY_MS: i64 = 86_400_000;

/// Why a lead went to whom: stored on the lead as `assignment` and answered by simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AssignmentRecord {
    pub rule_id: Option<String>,
    pub rule_name: Option<String>,
    pub matched_conditions: Vec<Condition>,
    pub candidates: Vec<CandidateReport>,
    /// The rep picked; null when the lead went to the unassigned queue.
    pub chosen: Option<String>,
    pub reason: String,
    pub at: String,
}

/// The decision of the rules for one lead.
pub struct Decision {
    pub rule: Option<RuleRow>,
    pub matched: Vec<Condition>,
    pub pick: Option<Pick>,
}

impl Decision {
    pub fn record(&self, now: i64) -> AssignmentRecord {
        AssignmentRecord {
            rule_id: self.rule.as_ref().map(|r| r.id.clone()),
            rule_name: self.rule.as_ref().map(|r| r.name.clone()),
            matched_conditions: self.matched.clone(),
            candidates: self
                .pick
                .as_ref()
                .map(|p| p.candidates.clone())
                .unwrap_or_default(),
            chosen: self.pick.as_ref().and_then(|p| p.chosen.clone()),
            reason: match (&self.rule, &self.pick) {
                (None, _) => "no assignment rule matched: unassigned queue".into(),
                (Some(_), Some(p)) if p.chosen.is_none() => {
                    format!("{}: unassigned queue of the rule's team", p.reason)
                }
                (Some(_), Some(p)) => p.reason.clone(),
                (Some(_), None) => "no candidate".into(),
            },
            at: rfc3339(now),
        }
    }
}

/// The JSON facts of a lead that scoring and conditions read.
pub fn facts(row: &LeadRow) -> Value {
    json!({
        "name": row.name, "company": row.company, "phone": row.phone, "email": row.email, "title": row.title,
        "province": row.province, "city": row.city, "industry": row.industry, "source": row.source,
        "product_interest": row.product_interest, "budget_cents": row.budget_cents, "currency": row.currency,
        "notes": row.notes, "grade": row.grade, "score": row.score, "email_domain": row.email_domain,
        "custom": serde_json::from_str::<Value>(&row.custom).unwrap_or(json!({})),
    })
}

fn strategy_of(rule: &RuleRow) -> Strategy {
    serde_json::from_value(Value::String(rule.strategy.clone())).unwrap_or(Strategy::RoundRobin)
}

/// The reps of a rule's pool with their open leads and, for the top-performers strategy,
/// their conversions in the last 90 days.
fn pool_reps(conn: &mut DbConnection, rule: &RuleRow, now: i64) -> AppResult<Vec<Rep>> {
    let listed: Vec<String> = from_json_text(&rule.user_ids);
    let mut members: Vec<UserRow> = Vec::new();
    if let Some(team) = &rule.team_id {
        members.extend(users::team_members(conn, team, "sales", 1000)?);
    }
    for id in &listed {
        if !members.iter().any(|m| &m.id == id) {
            if let Some(u) = users::find(conn, id)? {
                members.push(u);
            }
        }
    }
    let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
    let open = leads::open_counts(conn, &ids)?;
    // Only the top-performers strategy ranks by conversions; the others never read them.
    let perf = if strategy_of(rule) == Strategy::TopPerformers {
        leads::conversions_since(conn, &ids, now - 90 * DAY_MS)?
    } else {
        Vec::new()
    };
    let count = |list: &[(Option<String>, i64)], id: &str| {
        list.iter()
            .find(|(o, _)| o.as_deref() == Some(id))
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    Ok(members
        .into_iter()
        .map(|u| Rep {
            open: count(&open, &u.id),
            performance: count(&perf, &u.id),
            active: u.active,
            capacity: u.capacity,
            skills: from_json_text(&u.skills),
            industries: from_json_text(&u.industries),
            regions: from_json_text(&u.regions),
            id: u.id,
        })
        .collect())
}

/// Picks within one rule.
fn pick_in_rule(
    conn: &mut DbConnection,
    rule: &RuleRow,
    lead: &Value,
    excluded: &[String],
    now: i64,
) -> AppResult<Pick> {
    let reps = pool_reps(conn, rule, now)?;
    Ok(pick(&PickInput {
        strategy: strategy_of(rule),
        reps: &reps,
        excluded,
        max_load_ratio: rule.max_load_ratio,
        top_n: rule.top_n.map(|n| n as usize),
        rr_cursor: rule.rr_cursor.as_deref(),
        lead,
    }))
}

/// The first active rule (in evaluation order) whose conditions all hold for a lead, with
/// the conditions it matched.
fn first_match<'r>(rules: &'r [RuleRow], lead: &Value) -> Option<(&'r RuleRow, Vec<Condition>)> {
    rules.iter().filter(|r| r.active).find_map(|rule| {
        let conditions: Vec<Condition> = from_json_text(&rule.conditions);
        matches(&conditions, lead).map(|matched| (rule, matched))
    })
}

/// Evaluates the active rules in order: the first whose conditions all hold decides.
pub fn decide(
    conn: &mut DbConnection,
    lead: &Value,
    excluded: &[String],
    now: i64,
) -> AppResult<Decision> {
    let all = rules::all(conn)?;
    match first_match(&all, lead) {
        Some((rule, matched)) => {
            let p = pick_in_rule(conn, rule, lead, excluded, now)?;
            Ok(Decision {
                rule: Some(rule.clone()),
                matched,
                pick: Some(p),
            })
        }
        None => Ok(Decision {
            rule: None,
            matched: Vec::new(),
            pick: None,
        }),
    }
}

/// Scores a lead with the model in force (fields only; no status change).
pub fn apply_score(
    uow: &mut Uow<'_>,
    row: &mut LeadRow,
) -> AppResult<crate::domain::scoring::Score> {
    let kept = uow.scoring_model()?;
    let (model, version) = &*kept;
    let s = model.score(&facts(row));
    row.score = Some(s.score);
    row.grade = Some(s.grade.clone());
    row.score_breakdown = to_json_text(&s.breakdown);
    row.score_version = *version;
    row.missing_fields = to_json_text(&s.missing);
    Ok(s)
}

/// Puts a lead in a rep's hands (or in the queue) per a decision; returns the event data.
fn apply_decision(uow: &mut Uow<'_>, row: &mut LeadRow, d: &Decision) -> AppResult<Option<String>> {
    let record = d.record(uow.now_ms);
    row.assignment = Some(to_json_text(&record));
    row.rule_id = d.rule.as_ref().map(|r| r.id.clone());
    row.accepted_at = None;
    row.first_touch_due_at = None;
    match (&d.rule, &record.chosen) {
        (Some(rule), Some(user_id)) => {
            let owner = users::find(uow.conn, user_id)?;
            row.owner_id = Some(user_id.clone());
            row.team_id = owner.and_then(|u| u.team_id).or(rule.team_id.clone());
            row.assigned_at.get_or_insert(uow.now_ms);
            row.status = LeadStatus::Assigned.as_str().into();
            row.claim_due_at = Some(rule_due(uow, rule, rule.claim_timeout_secs)?);
            if strategy_of(rule) == Strategy::RoundRobin {
                // The rule row is shared by every assignment: queue behind the journal
                // first, as creates do, so that the two never wait on each other.
                uow.serialize()?;
                rules::set_cursor(uow.conn, &rule.id, user_id)?;
            }
            Ok(Some(user_id.clone()))
        }
        (rule, _) => {
            row.owner_id = None;
            row.team_id = rule.as_ref().and_then(|r| r.team_id.clone());
            row.status = LeadStatus::Unassigned.as_str().into();
            row.claim_due_at = None;
            Ok(None)
        }
    }
}

/// When `secs` of the rule's clock (its business calendar, else wall time) have passed.
pub fn rule_due(uow: &mut Uow<'_>, rule: &RuleRow, secs: i64) -> AppResult<i64> {
    let calendar = match &rule.calendar_id {
        Some(id) => super::calendars::load(uow.conn, id)?,
        None => None,
    };
    Ok(crate::domain::calendar::due(calendar.as_ref(), uow.now, secs).timestamp_millis())
}

/// Runs the quality gate and, when admitted, the assignment rules on a lead that has no
/// owner yet. Emits `lead.needs_info` (when the lead enters the gate) or `lead.assigned`.
pub fn route(uow: &mut Uow<'_>, row: &mut LeadRow) -> AppResult<()> {
    let score = apply_score(uow, row)?;
    route_scored(uow, row, score)
}

/// [`route`] for a lead `apply_score` has just scored.
pub fn route_scored(
    uow: &mut Uow<'_>,
    row: &mut LeadRow,
    score: crate::domain::scoring::Score,
) -> AppResult<()> {
    if !score.admitted {
        let entering = row.status != LeadStatus::NeedsInfo.as_str();
        row.status = LeadStatus::NeedsInfo.as_str().into();
        if !entering {
            return Ok(());
        }
        uow.event(
            "lead.needs_info",
            "lead",
            &row.id,
            json!({"lead_id": row.id, "score": score.score, "threshold_missed": true, "missing": score.missing}),
        );
        return Ok(());
    }
    let d = decide(uow.conn, &facts(row), &[], uow.now_ms)?;
    if let Some(owner) = apply_decision(uow, row, &d)? {
        uow.event(
            "lead.assigned",
            "lead",
            &row.id,
            json!({"lead_id": row.id, "owner_id": owner, "team_id": row.team_id, "assignment": d.record(uow.now_ms),
                   "claim_due_at": row.claim_due_at.map(rfc3339)}),
        );
    }
    Ok(())
}

/// Writes a lead changed by the engine, with its audit entry; false when it moved on.
pub fn save(uow: &mut Uow<'_>, old: &LeadRow, new: &mut LeadRow, action: &str) -> AppResult<bool> {
    new.version = old.version + 1;
    new.updated_at = uow.now_ms;
    if !leads::update(uow.conn, new, old.version)? {
        return Ok(false);
    }
    let view = |r: &LeadRow| {
        serde_json::to_value(super::leads::LeadView::new(r.clone(), Vec::new())).unwrap_or_default()
    };
    let changes = diff(
        &view(old),
        &view(new),
        &["version", "updated_at", "external_refs"],
    );
    uow.audit("lead", &new.id, action, &changes);
    Ok(true)
}

/// The supervisor of a rep (their manager, else their team's manager).
fn supervisor_of(conn: &mut DbConnection, user_id: Option<&str>) -> AppResult<Option<String>> {
    let Some(id) = user_id else { return Ok(None) };
    let Some(u) = users::find(conn, id)? else {
        return Ok(None);
    };
    if u.manager_id.is_some() {
        return Ok(u.manager_id);
    }
    match u.team_id {
        Some(t) => Ok(crate::store::teams::find(conn, &t)?.and_then(|t| t.manager_id)),
        None => Ok(None),
    }
}

/// A lead whose claim window lapsed: to another candidate of the same rule (never one who
/// let it lapse), or after `max_reassignments` to the team manager's queue. Does nothing
/// when the lead is no longer overdue (another instance or the owner got there first).
pub fn claim_lapsed(uow: &mut Uow<'_>, id: &str) -> AppResult<()> {
    // Before any row lock: a re-assignment moves the rule's cursor (see `apply_decision`).
    uow.serialize()?;
    let Some(old) = leads::find(uow.conn, id)? else {
        return Ok(());
    };
    if old.status != "assigned" || old.claim_due_at.is_none_or(|d| d > uow.now_ms) {
        return Ok(());
    }
    let mut new = old.clone();
    let mut lapsed: Vec<String> = from_json_text(&old.lapsed_by);
    if let Some(o) = &old.owner_id {
        if !lapsed.contains(o) {
            lapsed.push(o.clone());
        }
    }
    new.lapsed_by = to_json_text(&lapsed);
    let supervisor = supervisor_of(uow.conn, old.owner_id.as_deref())?;
    let rule = match &old.rule_id {
        Some(r) => rules::find(uow.conn, r)?,
        None => None,
    };
    let pick = match &rule {
        Some(r) if old.reassign_count < r.max_reassignments => Some(pick_in_rule(
            uow.conn,
            r,
            &facts(&old),
            &lapsed,
            uow.now_ms,
        )?),
        _ => None,
    };
    match (rule, pick) {
        (Some(rule), Some(p)) if p.chosen.is_some() => {
            let d = Decision {
                matched: from_json_text(&rule.conditions),
                rule: Some(rule),
                pick: Some(p),
            };
            let to = apply_decision(uow, &mut new, &d)?;
            new.reassign_count = old.reassign_count + 1;
            if save(uow, &old, &mut new, "reassign")? {
                lapse(uow, &old, "claim", "reassigned")?;
                uow.event(
                    "lead.reassigned",
                    "lead",
                    id,
                    json!({"lead_id": id, "from": old.owner_id, "to": to, "supervisor_id": supervisor,
                           "reassign_count": new.reassign_count, "reason": "claim timeout", "assignment": d.record(uow.now_ms)}),
                );
            }
        }
        (rule, _) => {
            let team_id = rule
                .as_ref()
                .and_then(|r| r.team_id.clone())
                .or(old.team_id.clone());
            let manager_id = match &team_id {
                Some(t) => crate::store::teams::find(uow.conn, t)?.and_then(|t| t.manager_id),
                None => None,
            };
            new.owner_id = None;
            new.team_id = team_id.clone();
            new.status = LeadStatus::Unassigned.as_str().into();
            new.claim_due_at = None;
            new.escalated_at = Some(uow.now_ms);
            if save(uow, &old, &mut new, "escalate")? {
                lapse(uow, &old, "claim", "escalated")?;
                uow.event(
                    "lead.escalated",
                    "lead",
                    id,
                    json!({"lead_id": id, "from": old.owner_id, "team_id": team_id, "manager_id": manager_id,
                           "supervisor_id": supervisor, "reassign_count": old.reassign_count, "reason": "claim timeout"}),
                );
            }
        }
    }
    Ok(())
}

/// Records a missed deadline against the rep who held the lead.
fn lapse(uow: &mut Uow<'_>, old: &LeadRow, kind: &str, outcome: &str) -> AppResult<()> {
    Ok(leads::record_lapse(
        uow.conn,
        &leads::LapseRow {
            id: super::new_id(),
            lead_id: &old.id,
            kind,
            outcome,
            owner_id: old.owner_id.as_deref(),
            team_id: old.team_id.as_deref(),
            at: uow.now_ms,
        },
    )?)
}

/// Reports once that an accepted lead has had no reached contact by its deadline.
pub fn first_touch_lapsed(uow: &mut Uow<'_>, id: &str) -> AppResult<()> {
    let Some(old) = leads::find(uow.conn, id)? else {
        return Ok(());
    };
    let due = old.first_touch_due_at.is_some_and(|d| d <= uow.now_ms);
    if old.status != "working"
        || old.first_touch_at.is_some()
        || old.first_touch_overdue_at.is_some()
        || !due
    {
        return Ok(());
    }
    let mut new = old.clone();
    new.first_touch_overdue_at = Some(uow.now_ms);
    let supervisor = supervisor_of(uow.conn, old.owner_id.as_deref())?;
    if save(uow, &old, &mut new, "first_touch_overdue")? {
        lapse(uow, &old, "first_touch", "overdue")?;
        uow.event(
            "lead.first_touch_overdue",
            "lead",
            id,
            json!({"lead_id": id, "owner_id": old.owner_id, "supervisor_id": supervisor,
                   "first_touch_due_at": old.first_touch_due_at.map(rfc3339)}),
        );
    }
    Ok(())
}

/// Rescores one open lead with the model in force; true when it changed.
pub fn rescore(uow: &mut Uow<'_>, id: &str) -> AppResult<bool> {
    let Some(old) = leads::find(uow.conn, id)? else {
        return Ok(false);
    };
    let mut new = old.clone();
    apply_score(uow, &mut new)?;
    save(uow, &old, &mut new, "rescore")
}

/// What a change of the assignment rules is tried on (`?dry_run=true`).
pub const RULE_BASIS: &str = "the 200 most recent leads: the assignment rule that matches";

/// The assignment rule each recent lead matches under the rules in force.
pub fn rule_outcomes(conn: &mut DbConnection) -> AppResult<super::impact::Outcomes> {
    let all = rules::all(conn)?;
    Ok(leads::recent(conn, super::impact::RECENT)?
        .iter()
        .map(|l| {
            let outcome = match first_match(&all, &facts(l)) {
                Some((r, _)) => json!({"rule_id": r.id, "rule_name": r.name, "team_id": r.team_id}),
                None => json!({"rule_id": null}),
            };
            (l.id.clone(), outcome)
        })
        .collect())
}
