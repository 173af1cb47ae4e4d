//! The process reports (DESIGN §1.12, §7): each computed from the records by SQL aggregates
//! (`store::reports`) within the caller's row scope, with the definitions written where the
//! fields are declared.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveTime};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Ctx, Figures, Services, Uow};
use crate::auth::Principal;
use crate::domain::activity::{Action, ActivityRules};
use crate::domain::lead::LeadStatus;
use crate::domain::pipeline::Requirement;
use crate::domain::report::{mean_secs, nearest_rank, rate, trace_density, weighted_cents};
use crate::domain::role::RowScope;
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult};
use crate::store::reports::{self as store, FieldExpr, Filters, Period};
use crate::store::work_orders::WorkOrderScope;
use crate::store::DbConnection;

/// The default period: the 30 days up to now.
pub const DEFAULT_PERIOD_SECS: i64 = 30 * 86_400;

/// A missed-deadline count above which a rep is a late responder in the digest.
pub const LATE_RESPONSES_LIMIT: i64 = 3;

/// What a report request names (times as epoch milliseconds).
#[derive(Debug, Clone, Default)]
pub struct ReportParams {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub team_id: Option<String>,
    pub owner_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodView {
    /// Inclusive start (RFC 3339); absent when the report covers all records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Exclusive end (RFC 3339).
    pub to: String,
}

fn period(svc_now: i64, p: &ReportParams, default_all: bool) -> AppResult<(Period, bool)> {
    let to = p.to.unwrap_or(svc_now);
    let all = default_all && p.from.is_none();
    let from = p.from.unwrap_or(if all {
        0
    } else {
        to - DEFAULT_PERIOD_SECS * 1000
    });
    if from >= to {
        return Err(AppError::field(
            "from",
            "invalid_range",
            "must be before `to`",
        ));
    }
    Ok((
        Period {
            from,
            to,
            now: svc_now,
        },
        all,
    ))
}

/// What a report request is cached under: the report, what the caller may see, and the
/// request's own filters and bounds (an absent `to` means "up to now", so polling
/// dashboards share one computation for the cache's time to live).
fn cache_key(report: &str, scope: &impl std::fmt::Debug, p: &ReportParams) -> String {
    format!(
        "{report}|{scope:?}|{:?}|{:?}|{:?}|{:?}",
        p.team_id, p.owner_id, p.from, p.to
    )
}

fn period_view(p: &Period, all: bool) -> PeriodView {
    PeriodView {
        from: (!all).then(|| rfc3339(p.from)),
        to: rfc3339(p.to),
    }
}

/// The sales-record scope of the caller for a report (403 for roles with none).
fn sales_filters(principal: &Principal, p: &ReportParams) -> AppResult<Filters> {
    let scope = principal.sales_scope();
    if scope == RowScope::Nothing {
        return Err(AppError::forbidden(
            "this role has no sales records to report on",
        ));
    }
    Ok(Filters {
        scope,
        team_id: p.team_id.clone(),
        owner_id: p.owner_id.clone(),
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"period": {"from": "2026-10-24T00:00:00.000Z", "to": "2026-11-23T00:00:00.000Z"},
    "leads_assigned": 412, "first_touch_count": 380, "first_touch_median_secs": 1260, "first_touch_p90_secs": 14400,
    "action_completion_24h_rate": 0.62, "action_completion_24h_leads": 398, "action_completion_24h_completed": 247,
    "claim_breaches": 37, "reassignments": 31, "escalations": 6, "first_touch_overdue": 12}))]
pub struct LeadResponseReport {
    pub period: PeriodView,
    /// Leads first assigned to a rep in the period (the population of this report).
    pub leads_assigned: i64,
    /// Of them, leads with a reached activity (first touch).
    pub first_touch_count: i64,
    /// First-touch time = first reached activity − first assignment; median by nearest
    /// rank, in seconds (null without first touches).
    pub first_touch_median_secs: Option<i64>,
    /// The 90th percentile by nearest rank, in seconds.
    pub first_touch_p90_secs: Option<i64>,
    /// Share of the leads whose 24 hours have passed that within 24 h of assignment were
    /// accepted, had a reached first touch and a reached `needs_discovery` activity.
    pub action_completion_24h_rate: Option<f64>,
    pub action_completion_24h_leads: i64,
    pub action_completion_24h_completed: i64,
    /// Claim windows that lapsed in the period (re-assigned or escalated), charged to the
    /// rep who held the lead.
    pub claim_breaches: i64,
    /// Automatic re-assignments after a lapsed claim window.
    pub reassignments: i64,
    /// Lapsed claims sent to the manager's queue after the last re-assignment.
    pub escalations: i64,
    /// Accepted leads whose first-touch deadline passed without a reached contact.
    pub first_touch_overdue: i64,
}

pub async fn lead_response(
    svc: &Services,
    ctx: &Ctx,
    p: ReportParams,
) -> AppResult<Figures<LeadResponseReport>> {
    let f = sales_filters(&ctx.principal, &p)?;
    let key = cache_key("lead-response", &f.scope, &p);
    let (per, _) = period(svc.now().timestamp_millis(), &p, false)?;
    svc.report(key, move |conn| {
        let r = store::lead_response(conn, &f, &per, nearest_rank)?;
        let secs = |ms: Option<i64>| ms.map(|v| (v as f64 / 1000.0).round() as i64);
        Ok(LeadResponseReport {
            period: period_view(&per, false),
            leads_assigned: r.assigned,
            first_touch_count: r.touched,
            first_touch_median_secs: secs(r.first_touch_median_ms),
            first_touch_p90_secs: secs(r.first_touch_p90_ms),
            action_completion_24h_rate: rate(r.completion_done, r.completion_due),
            action_completion_24h_leads: r.completion_due,
            action_completion_24h_completed: r.completion_done,
            claim_breaches: r.claim_reassigned + r.claim_escalated,
            reassignments: r.claim_reassigned,
            escalations: r.claim_escalated,
            first_touch_overdue: r.first_touch_overdue,
        })
    })
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GradeConversion {
    /// `A`–`D`, or null for unscored leads.
    pub grade: Option<String>,
    pub leads: i64,
    pub converted: i64,
    /// converted / leads of the grade.
    pub conversion_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"period": {"from": "2026-10-24T00:00:00.000Z", "to": "2026-11-23T00:00:00.000Z"},
    "total": 500, "by_status": {"new": 0, "needs_info": 20, "unassigned": 5, "assigned": 40, "working": 300,
    "qualified": 60, "converted": 50, "disqualified": 25},
    "by_source": {"trade_show": 180, "website": 220, "referral": 100}, "assigned": 475, "converted": 50,
    "conversion_rate": 0.105, "by_grade": [{"grade": "A", "leads": 80, "converted": 30, "conversion_rate": 0.375}]}))]
pub struct LeadFunnelReport {
    pub period: PeriodView,
    /// Leads created in the period (the population of this report).
    pub total: i64,
    /// Their current status (every status listed, 0 when none).
    pub by_status: BTreeMap<String, i64>,
    pub by_source: BTreeMap<String, i64>,
    /// Leads that were ever assigned to a rep.
    pub assigned: i64,
    pub converted: i64,
    /// converted / assigned.
    pub conversion_rate: Option<f64>,
    /// MQL conversion by score grade.
    pub by_grade: Vec<GradeConversion>,
}

pub async fn lead_funnel(
    svc: &Services,
    ctx: &Ctx,
    p: ReportParams,
) -> AppResult<Figures<LeadFunnelReport>> {
    let f = sales_filters(&ctx.principal, &p)?;
    let key = cache_key("lead-funnel", &f.scope, &p);
    let (per, _) = period(svc.now().timestamp_millis(), &p, false)?;
    svc.report(key, move |conn| {
        let [status, source, grade] = store::lead_funnel(conn, &f, &per)?;
        let mut by_status: BTreeMap<String, i64> = LeadStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), 0))
            .collect();
        let (mut total, mut converted, mut assigned) = (0, 0, 0);
        for r in status {
            total += r.n;
            converted += r.m;
            assigned += r.w;
            by_status.insert(r.key.unwrap_or_default(), r.n);
        }
        Ok(LeadFunnelReport {
            period: period_view(&per, false),
            total,
            by_status,
            by_source: source
                .into_iter()
                .map(|r| (r.key.unwrap_or_default(), r.n))
                .collect(),
            assigned,
            converted,
            conversion_rate: rate(converted, assigned),
            by_grade: grade
                .into_iter()
                .map(|r| GradeConversion {
                    conversion_rate: rate(r.m, r.n),
                    grade: r.key,
                    leads: r.n,
                    converted: r.m,
                })
                .collect(),
        })
    })
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"period": {"from": "2026-10-24T00:00:00.000Z", "to": "2026-11-23T00:00:00.000Z"},
    "required_action_coverage": 0.91, "required_action_leads": 400, "required_action_covered": 364,
    "key_action_timeliness_secs": 5400, "key_actions_fulfilled": 820,
    "action_chain_completeness": 0.8, "converted_leads": 50, "complete_chains": 40,
    "trace_density": 4.2, "activities": 1680, "touched_leads": 400, "open_leads": 900, "leads_per_rep": 30.0}))]
pub struct ActionsReport {
    pub period: PeriodView,
    /// Share of the leads assigned in the period (claim decided) that were accepted within
    /// their claim window (accepted, and no claim window lapsed).
    pub required_action_coverage: Option<f64>,
    pub required_action_leads: i64,
    pub required_action_covered: i64,
    /// Mean seconds from a planned `next_action_due_at` (due in the period) to the first
    /// later activity of that action on the same lead or deal; negative = early.
    pub key_action_timeliness_secs: Option<i64>,
    /// Planned actions that were carried out.
    pub key_actions_fulfilled: i64,
    /// Share of the leads created in the period and converted that went through
    /// first_contact, needs_discovery, demo and quote_submitted (on the lead or its deal).
    pub action_chain_completeness: Option<f64>,
    pub converted_leads: i64,
    pub complete_chains: i64,
    /// Activities per touched lead per 30 days: activities logged on leads in the period /
    /// leads with at least one, scaled to 30 days.
    pub trace_density: Option<f64>,
    pub activities: i64,
    pub touched_leads: i64,
    /// Open leads in reps' hands now.
    pub open_leads: i64,
    /// open_leads / reps holding them.
    pub leads_per_rep: Option<f64>,
}

pub async fn actions(
    svc: &Services,
    ctx: &Ctx,
    p: ReportParams,
) -> AppResult<Figures<ActionsReport>> {
    let f = sales_filters(&ctx.principal, &p)?;
    let key = cache_key("actions", &f.scope, &p);
    let (per, _) = period(svc.now().timestamp_millis(), &p, false)?;
    svc.report(key, move |conn| {
        let r = store::actions(conn, &f, &per)?;
        Ok(ActionsReport {
            period: period_view(&per, false),
            required_action_coverage: rate(r.coverage_met, r.coverage_due),
            required_action_leads: r.coverage_due,
            required_action_covered: r.coverage_met,
            key_action_timeliness_secs: mean_secs(r.fulfilment_delay_ms, r.fulfilled),
            key_actions_fulfilled: r.fulfilled,
            action_chain_completeness: rate(r.complete_chains, r.converted),
            converted_leads: r.converted,
            complete_chains: r.complete_chains,
            trace_density: trace_density(r.activities, r.touched_leads, per.to - per.from),
            activities: r.activities,
            touched_leads: r.touched_leads,
            open_leads: r.open_leads,
            leads_per_rep: (r.reps > 0).then(|| r.open_leads as f64 / r.reps as f64),
        })
    })
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageFigures {
    pub stage: String,
    /// Open deals in the stage now.
    pub count: i64,
    pub amount_cents: i64,
    pub weighted_cents: i64,
    /// Deals that left the stage in the period, and their mean days in it.
    pub exits: i64,
    pub mean_days_in_stage: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StalledDealView {
    pub id: String,
    pub name: String,
    pub stage: String,
    pub owner_id: Option<String>,
    pub days_in_stage: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"period": {"from": "2026-10-24T00:00:00.000Z", "to": "2026-11-23T00:00:00.000Z"},
    "weighted_forecast_cents": 3120000000_i64, "open_deals": 120,
    "by_stage": [{"stage": "needs_confirmed", "count": 40, "amount_cents": 4000000000_i64, "weighted_cents": 400000000,
                  "exits": 25, "mean_days_in_stage": 9.5}],
    "stage_changes": 210, "regressions": 12, "stage_regression_rate": 0.057,
    "stalled": [{"id": "0193a1b2-0000-7000-8000-0000000000d1", "name": "恒锐精工激光焊接产线", "stage": "quote_approval",
                 "owner_id": "0193a1b2-0000-7000-8000-000000000002", "days_in_stage": 31.2}],
    "evidence_completeness": 0.97, "gated_actions": 150, "gated_actions_with_evidence": 146,
    "forecast_at_start_cents": 900000000, "won_cents": 780000000, "won_deals": 6, "forecast_deviation": -0.133}))]
pub struct PipelineReport {
    pub period: PeriodView,
    /// Σ amount × stage probability of the open deals now.
    pub weighted_forecast_cents: i64,
    pub open_deals: i64,
    /// Per pipeline stage, in pipeline order (then any stage no longer configured).
    pub by_stage: Vec<StageFigures>,
    /// Stage moves in the period (forward and backward).
    pub stage_changes: i64,
    pub regressions: i64,
    /// regressions / stage_changes.
    pub stage_regression_rate: Option<f64>,
    /// Open deals flagged stalled, longest in stage first (at most 20).
    pub stalled: Vec<StalledDealView>,
    /// Share of the gated actions logged in the period (those a stage gate or the activity
    /// rules require evidence for) that carried evidence.
    pub evidence_completeness: Option<f64>,
    pub gated_actions: i64,
    pub gated_actions_with_evidence: i64,
    /// The weighted forecast at the start of the period of the deals expected to close in
    /// it (their stage then, today's stage probabilities).
    pub forecast_at_start_cents: i64,
    /// Amount of the deals won in the period.
    pub won_cents: i64,
    pub won_deals: i64,
    /// (won − forecast at start) / forecast at start.
    pub forecast_deviation: Option<f64>,
}

/// Actions whose evidence the pipeline report counts: those a stage gate wants with
/// evidence and those the activity rules require evidence for.
fn gated_actions(
    conn: &mut DbConnection,
    pipeline: &crate::domain::pipeline::Pipeline,
) -> AppResult<Vec<String>> {
    let (rules, _, _) = super::config::current::<ActivityRules>(conn)?;
    let mut out: Vec<String> = rules
        .evidence_required
        .iter()
        .map(|a| a.as_str().to_string())
        .collect();
    for s in &pipeline.stages {
        for r in &s.exit_requirements {
            if let Requirement::Activity {
                action,
                with_evidence: true,
            } = r
            {
                let a: &Action = action;
                if !out.iter().any(|x| x == a.as_str()) {
                    out.push(a.as_str().to_string());
                }
            }
        }
    }
    Ok(out)
}

pub async fn pipeline(
    svc: &Services,
    ctx: &Ctx,
    p: ReportParams,
) -> AppResult<Figures<PipelineReport>> {
    let f = sales_filters(&ctx.principal, &p)?;
    let key = cache_key("pipeline", &f.scope, &p);
    let (per, _) = period(svc.now().timestamp_millis(), &p, false)?;
    let tz = svc.settings.time_zone;
    svc.report(key, move |conn| {
        let pipeline = super::pipeline::current(conn)?;
        let gated = gated_actions(conn, &pipeline)?;
        let day = |ms: i64| {
            crate::domain::time::from_millis(ms)
                .with_timezone(&tz)
                .date_naive()
                .format("%Y-%m-%d")
                .to_string()
        };
        let (first, last) = (day(per.from), day(per.to - 1));
        let r = store::pipeline(conn, &f, &per, &gated, (&first, &last))?;
        let mut order: Vec<String> = pipeline.stages.iter().map(|s| s.key.clone()).collect();
        for k in r.open.iter().chain(&r.exits).filter_map(|x| x.key.clone()) {
            if !order.contains(&k) {
                order.push(k);
            }
        }
        let by_stage: Vec<StageFigures> = order
            .iter()
            .map(|k| {
                let open = r.open.iter().find(|x| x.key.as_ref() == Some(k));
                let exits = r.exits.iter().find(|x| x.key.as_ref() == Some(k));
                StageFigures {
                    stage: k.clone(),
                    count: open.map_or(0, |x| x.n),
                    amount_cents: open.map_or(0, |x| x.m),
                    weighted_cents: open.map_or(0, |x| weighted_cents(x.w)),
                    exits: exits.map_or(0, |x| x.n),
                    mean_days_in_stage: exits
                        .filter(|x| x.n > 0)
                        .map(|x| x.m as f64 / x.n as f64 / 86_400.0),
                }
            })
            .collect();
        let stage_changes: i64 = r.exits.iter().map(|x| x.n).sum();
        let regressions: i64 = r.exits.iter().map(|x| x.w).sum();
        let forecast_at_start = weighted_cents(
            r.expected_at_start
                .iter()
                .map(|x| {
                    let prob = x
                        .key
                        .as_deref()
                        .and_then(|k| pipeline.stage(k))
                        .map_or(0, |s| s.probability as i64);
                    x.m * prob
                })
                .sum(),
        );
        Ok(PipelineReport {
            period: period_view(&per, false),
            weighted_forecast_cents: weighted_cents(r.open.iter().map(|x| x.w).sum()),
            open_deals: r.open.iter().map(|x| x.n).sum(),
            by_stage,
            stage_changes,
            regressions,
            stage_regression_rate: rate(regressions, stage_changes),
            stalled: r
                .stalled
                .into_iter()
                .map(|d| StalledDealView {
                    days_in_stage: (per.now - d.stage_entered_at) as f64 / 86_400_000.0,
                    id: d.id,
                    name: d.name,
                    stage: d.stage,
                    owner_id: d.owner_id,
                })
                .collect(),
            evidence_completeness: rate(r.gated_with_evidence, r.gated),
            gated_actions: r.gated,
            gated_actions_with_evidence: r.gated_with_evidence,
            forecast_at_start_cents: forecast_at_start,
            won_cents: r.won_cents,
            won_deals: r.won,
            forecast_deviation: (forecast_at_start > 0)
                .then(|| (r.won_cents - forecast_at_start) as f64 / forecast_at_start as f64),
        })
    })
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceFigures {
    /// Work orders created in the period.
    pub created: i64,
    /// Of them, closed now.
    pub closed: i64,
    /// closed / created.
    pub closure_rate: Option<f64>,
    /// Of them (not cancelled), those with a resolution deadline whose outcome is known:
    /// resolved, or past the deadline.
    pub with_deadline: i64,
    /// Of those, resolved (customer-signed) by the resolution deadline and accepted by the
    /// response deadline.
    pub sla_met: i64,
    /// sla_met / with_deadline.
    pub sla_compliance_rate: Option<f64>,
    pub resolved: i64,
    /// Mean seconds from creation to customer sign-off, time waiting on the customer
    /// excluded.
    pub mttr_secs: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamServiceFigures {
    /// Null for orders no team took.
    pub team_id: Option<String>,
    #[serde(flatten)]
    pub figures: ServiceFigures,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"period": {"from": "2026-10-24T00:00:00.000Z", "to": "2026-11-23T00:00:00.000Z"},
    "created": 120, "closed": 100, "closure_rate": 0.833, "with_deadline": 110, "sla_met": 99,
    "sla_compliance_rate": 0.9, "resolved": 104, "mttr_secs": 93600,
    "by_team": [{"team_id": "0193a1b2-0000-7000-8000-0000000000e1", "created": 120, "closed": 100, "closure_rate": 0.833,
                 "with_deadline": 110, "sla_met": 99, "sla_compliance_rate": 0.9, "resolved": 104, "mttr_secs": 93600}]}))]
pub struct ServiceReport {
    pub period: PeriodView,
    #[serde(flatten)]
    pub figures: ServiceFigures,
    pub by_team: Vec<TeamServiceFigures>,
}

fn service_figures(rows: &[&store::ServiceRow]) -> ServiceFigures {
    let sum = |f: fn(&store::ServiceRow) -> i64| rows.iter().map(|r| f(r)).sum::<i64>();
    let (created, closed) = (sum(|r| r.created), sum(|r| r.closed));
    let (with_deadline, met) = (sum(|r| r.with_deadline), sum(|r| r.met));
    let (resolved, ms) = (sum(|r| r.resolved), sum(|r| r.resolution_ms));
    ServiceFigures {
        created,
        closed,
        closure_rate: rate(closed, created),
        with_deadline,
        sla_met: met,
        sla_compliance_rate: rate(met, with_deadline),
        resolved,
        mttr_secs: mean_secs(ms, resolved),
    }
}

pub async fn service(
    svc: &Services,
    ctx: &Ctx,
    p: ReportParams,
) -> AppResult<Figures<ServiceReport>> {
    let scope = super::work_orders::scope_of(&ctx.principal);
    let key = cache_key("service", &scope, &p);
    if matches!(scope, WorkOrderScope::Nothing) {
        return Err(AppError::forbidden(
            "this role has no work orders to report on",
        ));
    }
    let (per, _) = period(svc.now().timestamp_millis(), &p, false)?;
    svc.report(key, move |conn| {
        let rows = store::service(
            conn,
            &scope,
            p.team_id.as_deref(),
            p.owner_id.as_deref(),
            &per,
        )?;
        Ok(ServiceReport {
            period: period_view(&per, false),
            figures: service_figures(&rows.iter().collect::<Vec<_>>()),
            by_team: rows
                .iter()
                .map(|r| TeamServiceFigures {
                    team_id: r.team_id.clone(),
                    figures: service_figures(&[r]),
                })
                .collect(),
        })
    })
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"period": {"to": "2026-11-23T00:00:00.000Z"}, "duplicate_leads": 42, "duplicate_accounts": 3,
    "records": {"lead": 5000, "account": 800, "contact": 2100},
    "field_completeness": {"lead": {"phone": 0.93, "email": 0.41, "company": 0.98, "custom.region": 0.6},
                           "account": {"uscc": 0.7}, "contact": {"title": 0.8}}}))]
pub struct DataHealthReport {
    pub period: PeriodView,
    /// Leads flagged as suspected duplicates and not merged.
    pub duplicate_leads: i64,
    /// Accounts with the company-name key of an earlier account, not merged.
    pub duplicate_accounts: i64,
    /// Live records counted per entity.
    pub records: BTreeMap<String, i64>,
    /// Per entity and field: the share of records with the field filled in (custom fields
    /// as `custom.<key>`).
    pub field_completeness: BTreeMap<String, BTreeMap<String, Option<f64>>>,
}

const COMPLETENESS_FIELDS: [(&str, &[&str]); 3] = [
    (
        "lead",
        &[
            "company",
            "phone",
            "email",
            "title",
            "province",
            "city",
            "industry",
            "product_interest",
            "budget_cents",
        ],
    ),
    (
        "account",
        &[
            "legal_name",
            "uscc",
            "industry",
            "province",
            "city",
            "address",
            "phone",
            "owner_id",
        ],
    ),
    ("contact", &["title", "phone", "email", "decision_role"]),
];

/// Records created in the period when `from` is given; all live records otherwise.
pub async fn data_health(
    svc: &Services,
    ctx: &Ctx,
    p: ReportParams,
) -> AppResult<Figures<DataHealthReport>> {
    let f = sales_filters(&ctx.principal, &p)?;
    let key = cache_key("data-health", &f.scope, &p);
    let (per, all) = period(svc.now().timestamp_millis(), &p, true)?;
    svc.report(key, move |conn| {
        let window = (!all || p.to.is_some()).then_some(&per);
        let (duplicate_leads, duplicate_accounts) = store::duplicates(conn, &f, window)?;
        let (mut records, mut field_completeness) = (BTreeMap::new(), BTreeMap::new());
        for (entity, columns) in COMPLETENESS_FIELDS {
            let custom: Vec<String> = crate::store::custom_fields::list(conn, Some(entity))?
                .into_iter()
                .map(|d| d.field_key)
                .collect();
            let mut exprs: Vec<FieldExpr<'_>> =
                columns.iter().map(|c| FieldExpr::Column(c)).collect();
            exprs.extend(custom.iter().map(|k| FieldExpr::Custom(k)));
            let (total, filled) = store::completeness(conn, entity, &exprs, &f, window)?;
            let names = columns
                .iter()
                .map(|c| c.to_string())
                .chain(custom.iter().map(|k| format!("custom.{k}")));
            field_completeness.insert(
                entity.to_string(),
                names
                    .zip(filled)
                    .map(|(n, c)| (n, rate(c, total)))
                    .collect(),
            );
            records.insert(entity.to_string(), total);
        }
        Ok(DataHealthReport {
            period: period_view(&per, all && p.to.is_none()),
            duplicate_leads,
            duplicate_accounts,
            records,
            field_completeness,
        })
    })
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StalledLeadView {
    pub lead_id: String,
    pub name: String,
    pub company: Option<String>,
    pub owner_id: Option<String>,
    pub status: String,
    /// The last activity, else the assignment.
    pub last_activity_at: String,
    pub idle_secs: i64,
    pub activities: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LateResponderView {
    pub owner_id: String,
    pub display_name: Option<String>,
    /// Missed lead deadlines in the period (lapsed claims and overdue first touches).
    pub late_responses: i64,
    pub claim_lapses: i64,
    pub first_touch_overdue: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"period": {"from": "2026-11-22T00:30:00.000Z", "to": "2026-11-23T00:30:00.000Z"},
    "stalled_top10": [{"lead_id": "0193a1b2-0000-7000-8000-00000000a001", "name": "陈明", "company": "恒锐精工",
        "owner_id": "0193a1b2-0000-7000-8000-000000000002", "status": "working",
        "last_activity_at": "2026-11-02T03:00:00.000Z", "idle_secs": 1805400, "activities": 2}],
    "late_responders": [{"owner_id": "0193a1b2-0000-7000-8000-000000000002", "display_name": "张三",
        "late_responses": 5, "claim_lapses": 4, "first_touch_overdue": 1}]}))]
pub struct LeadHealthReport {
    pub period: PeriodView,
    /// Open leads in reps' hands longest since their last activity (or assignment).
    pub stalled_top10: Vec<StalledLeadView>,
    /// Reps with more than 3 missed lead deadlines in the period.
    pub late_responders: Vec<LateResponderView>,
}

fn lead_health_in(
    conn: &mut DbConnection,
    f: &Filters,
    per: &Period,
) -> AppResult<LeadHealthReport> {
    let (stalled, late) = store::lead_health(conn, f, per, LATE_RESPONSES_LIMIT)?;
    Ok(LeadHealthReport {
        period: period_view(per, false),
        stalled_top10: stalled
            .into_iter()
            .map(|s| StalledLeadView {
                idle_secs: (per.now - s.last_at) / 1000,
                last_activity_at: rfc3339(s.last_at),
                lead_id: s.id,
                name: s.name,
                company: s.company,
                owner_id: s.owner_id,
                status: s.status,
                activities: s.activities,
            })
            .collect(),
        late_responders: late
            .into_iter()
            .map(|l| LateResponderView {
                first_touch_overdue: l.late - l.claim_lapses,
                owner_id: l.owner_id,
                display_name: l.display_name,
                late_responses: l.late,
                claim_lapses: l.claim_lapses,
            })
            .collect(),
    })
}

/// Stalled leads now and late responders in the period (default: the last 24 hours).
pub async fn lead_health_daily(
    svc: &Services,
    ctx: &Ctx,
    mut p: ReportParams,
) -> AppResult<Figures<LeadHealthReport>> {
    let f = sales_filters(&ctx.principal, &p)?;
    let key = cache_key("lead-health-daily", &f.scope, &p);
    let now = svc.now().timestamp_millis();
    if p.from.is_none() {
        p.from = Some(p.to.unwrap_or(now) - 86_400_000);
    }
    let (per, _) = period(now, &p, false)?;
    svc.report(key, move |conn| lead_health_in(conn, &f, &per))
        .await
}

/// One team's digest of `day`: its lead-health report, computed before the write that
/// sends it.
pub struct Digest {
    team_id: String,
    team_name: String,
    day: String,
    report: LeadHealthReport,
}

/// The digests of today (local day of the digest zone) that are due at `now` and not yet
/// sent: each team's lead-health report of the day before the digest time. Computed here,
/// on a read connection, so that the write which sends them ([`send_digests`]) holds the
/// writer only for the claims and the events: computed inside it, the reports stalled every
/// other write for 100–165 ms on SQLite.
pub fn due_digests(
    conn: &mut DbConnection,
    now: chrono::DateTime<chrono::Utc>,
    tz: chrono_tz::Tz,
    at: NaiveTime,
) -> AppResult<Vec<Digest>> {
    let Some((day, due)) = crate::domain::report::digest_due(now, &tz, at) else {
        return Ok(Vec::new());
    };
    let per = Period {
        from: (due - Duration::days(1)).timestamp_millis(),
        to: due.timestamp_millis(),
        now: now.timestamp_millis(),
    };
    let mut due_now = Vec::new();
    for team in crate::store::teams::all(conn)? {
        if crate::store::teams::digest_sent(conn, &team.id, &day)? {
            continue;
        }
        let f = Filters {
            scope: RowScope::Team(team.id.clone()),
            team_id: None,
            owner_id: None,
        };
        due_now.push(Digest {
            report: lead_health_in(conn, &f, &per)?,
            team_id: team.id,
            team_name: team.name,
            day: day.clone(),
        });
    }
    Ok(due_now)
}

/// Emits `report.lead_health_daily` for each of `digests` not sent meanwhile;
/// `digest_runs` makes it once per team and day across restarts and instances. Returns how
/// many were sent.
pub fn send_digests(
    uow: &mut Uow<'_>,
    tz: chrono_tz::Tz,
    digests: Vec<Digest>,
) -> AppResult<usize> {
    if digests.is_empty() {
        return Ok(0);
    }
    uow.serialize()?;
    let mut sent = 0;
    for d in digests {
        if !crate::store::teams::claim_digest(uow.conn, &d.team_id, &d.day, uow.now_ms)? {
            continue;
        }
        uow.event(
            "report.lead_health_daily",
            "team",
            &d.team_id,
            json!({"team_id": d.team_id, "team_name": d.team_name, "day": d.day, "time_zone": tz.name(),
                   "report": d.report}),
        );
        sent += 1;
    }
    Ok(sent)
}
