//! Service routing rules and SLA policies: ordered conditions (the language of assignment
//! rules) over a work order's type, priority, channel, serial number, product model and
//! account tier. The first active match wins.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::config::{self, ConfigDoc};
use super::impact::{write_or_try, Outcomes, Written};
use super::input::{from_json_text, to_json_text, Check};
use super::{check_version, new_id, Ctx, Page, Services, Uow};
use crate::auth::require_role;
use crate::domain::audit::diff;
use crate::domain::conditions::{matches, Condition};
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult};
use crate::store::work_orders::{self as store, RoutingRuleRow, SlaPolicyRow};
use crate::store::{calendars, teams, users, DbConnection};

/// Who edits routing rules, SLA policies and the service settings.
pub const SERVICE_CONFIG_EDITORS: &[Role] = &[Role::Admin, Role::Director, Role::Manager];

/// The work-order fields conditions may name.
pub const WORK_ORDER_FIELDS: &[&str] = &[
    "type",
    "priority",
    "channel",
    "device_sn",
    "product_model",
    "account_tier",
    "account_id",
    "description",
];

fn check_conditions(c: &mut Check, conditions: &[Condition]) {
    if conditions.len() > 20 {
        c.fail("conditions", "too_many", "at most 20 conditions");
    }
    for (n, cond) in conditions.iter().enumerate() {
        if let Err(m) = cond.validate(|f| WORK_ORDER_FIELDS.contains(&f)) {
            c.fail(&format!("conditions[{n}]"), "invalid", m);
        }
    }
}

fn check_priority(c: &mut Check, priority: i32) {
    if !(0..=100_000).contains(&priority) {
        c.fail("priority", "out_of_range", "between 0 and 100000");
    }
}

/// Service settings (`GET/PUT /config/service`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"default_team_id": null, "warranty_secs": 31536000}))]
pub struct ServiceSettings {
    /// Where work orders go when no routing rule matches (none: the unrouted queue).
    pub default_team_id: Option<String>,
    /// Warranty of a unit put into the installed base by a delivery order, from its
    /// installation (default 365 days).
    #[serde(default = "default_warranty_secs")]
    pub warranty_secs: i64,
}

fn default_warranty_secs() -> i64 {
    365 * 86_400
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            default_team_id: None,
            warranty_secs: default_warranty_secs(),
        }
    }
}

impl ConfigDoc for ServiceSettings {
    const KEY: &'static str = "service";
    fn problems(&self) -> Vec<(String, String)> {
        if (0..=30 * 365 * 86_400).contains(&self.warranty_secs) {
            Vec::new()
        } else {
            vec![("warranty_secs".into(), "between 0 and thirty years".into())]
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceSettingsView {
    #[serde(flatten)]
    pub settings: ServiceSettings,
    pub version: i64,
    pub updated_at: Option<String>,
}

pub async fn settings(svc: &Services, _ctx: &Ctx) -> AppResult<ServiceSettingsView> {
    svc.read(|conn| {
        let (settings, version, at) = config::current::<ServiceSettings>(conn)?;
        Ok(ServiceSettingsView {
            settings,
            version,
            updated_at: at.map(rfc3339),
        })
    })
    .await
}

pub async fn put_settings(
    svc: &Services,
    ctx: &Ctx,
    s: ServiceSettings,
    if_match: Option<i64>,
) -> AppResult<ServiceSettingsView> {
    require_role(&ctx.principal, SERVICE_CONFIG_EDITORS)?;
    config::check(&s)?;
    svc.write(ctx, move |uow| {
        if let Some(t) = &s.default_team_id {
            if teams::find(uow.conn, t)?.is_none() {
                return Err(AppError::field(
                    "default_team_id",
                    "not_found",
                    "no such team",
                ));
            }
        }
        let version = config::save(uow, &s, if_match)?;
        Ok(ServiceSettingsView {
            settings: s,
            version,
            updated_at: Some(rfc3339(uow.now_ms)),
        })
    })
    .await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "QM-2025 → 杭州技术中心", "priority": 10, "active": true,
    "conditions": [{"field": "device_sn", "op": "prefix", "value": "QM-2025"}],
    "team_id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e70", "engineer_id": null}))]
pub struct RoutingRuleInput {
    pub name: String,
    /// Lower first.
    pub priority: i32,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub team_id: String,
    pub engineer_id: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoutingRuleView {
    pub id: String,
    pub name: String,
    pub priority: i32,
    pub active: bool,
    pub conditions: Vec<Condition>,
    pub team_id: Option<String>,
    pub engineer_id: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<RoutingRuleRow> for RoutingRuleView {
    fn from(r: RoutingRuleRow) -> Self {
        RoutingRuleView {
            conditions: from_json_text(&r.conditions),
            id: r.id,
            name: r.name,
            priority: r.priority,
            active: r.active,
            team_id: r.team_id,
            engineer_id: r.engineer_id,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "QM-2024 48 小时", "priority": 10, "active": true,
    "conditions": [{"field": "device_sn", "op": "prefix", "value": "QM-2024"}],
    "response_secs": 7200, "resolution_secs": 172800, "warn_ratio": 0.8, "calendar_id": null}))]
pub struct SlaPolicyInput {
    pub name: String,
    pub priority: i32,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Seconds (of working time with a calendar) to accept the order.
    pub response_secs: i64,
    /// Seconds (of working time with a calendar) to the customer's signature.
    pub resolution_secs: i64,
    /// Share of each window after which `work_order.sla_warning` is emitted (0–1).
    pub warn_ratio: f64,
    /// A business calendar: the clocks then count working time only.
    pub calendar_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlaPolicyView {
    pub id: String,
    pub name: String,
    pub priority: i32,
    pub active: bool,
    pub conditions: Vec<Condition>,
    pub response_secs: i64,
    pub resolution_secs: i64,
    pub warn_ratio: f64,
    pub calendar_id: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<SlaPolicyRow> for SlaPolicyView {
    fn from(r: SlaPolicyRow) -> Self {
        SlaPolicyView {
            conditions: from_json_text(&r.conditions),
            id: r.id,
            name: r.name,
            priority: r.priority,
            active: r.active,
            response_secs: r.response_secs,
            resolution_secs: r.resolution_secs,
            warn_ratio: r.warn_ratio,
            calendar_id: r.calendar_id,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn routing_row(
    conn: &mut DbConnection,
    i: RoutingRuleInput,
    base: RoutingRuleRow,
) -> AppResult<RoutingRuleRow> {
    let mut c = Check::default();
    let name = c.required("name", Some(i.name), 100);
    check_priority(&mut c, i.priority);
    check_conditions(&mut c, &i.conditions);
    c.finish()?;
    if teams::find(conn, &i.team_id)?.is_none() {
        return Err(AppError::field("team_id", "not_found", "no such team"));
    }
    if let Some(e) = &i.engineer_id {
        if !users::find(conn, e)?.is_some_and(|u| u.active && u.role == "engineer") {
            return Err(AppError::field(
                "engineer_id",
                "not_found",
                "no active engineer with this id",
            ));
        }
    }
    Ok(RoutingRuleRow {
        name,
        priority: i.priority,
        active: i.active,
        conditions: to_json_text(&i.conditions),
        team_id: Some(i.team_id),
        engineer_id: i.engineer_id,
        ..base
    })
}

fn sla_row(
    conn: &mut DbConnection,
    i: SlaPolicyInput,
    base: SlaPolicyRow,
) -> AppResult<SlaPolicyRow> {
    let mut c = Check::default();
    let name = c.required("name", Some(i.name), 100);
    check_priority(&mut c, i.priority);
    check_conditions(&mut c, &i.conditions);
    for (f, v) in [
        ("response_secs", i.response_secs),
        ("resolution_secs", i.resolution_secs),
    ] {
        if !(1..=365 * 86_400).contains(&v) {
            c.fail(f, "out_of_range", "between 1 second and one year");
        }
    }
    if !(i.warn_ratio > 0.0 && i.warn_ratio < 1.0) {
        c.fail("warn_ratio", "out_of_range", "between 0 and 1 (exclusive)");
    }
    c.finish()?;
    if let Some(cal) = &i.calendar_id {
        if calendars::find(conn, cal)?.is_none() {
            return Err(AppError::field(
                "calendar_id",
                "not_found",
                "no such calendar",
            ));
        }
    }
    Ok(SlaPolicyRow {
        name,
        priority: i.priority,
        active: i.active,
        conditions: to_json_text(&i.conditions),
        response_secs: i.response_secs,
        resolution_secs: i.resolution_secs,
        warn_ratio: i.warn_ratio,
        calendar_id: i.calendar_id,
        ..base
    })
}

fn record_change(
    uow: &mut Uow<'_>,
    entity: &str,
    id: &str,
    action: &str,
    before: Value,
    after: Value,
) {
    let changes = diff(&before, &after, &["version", "updated_at", "created_at"]);
    uow.audit(entity, id, action, &changes);
    uow.event(
        "config.changed",
        entity,
        id,
        json!({"key": entity, "id": id, "action": action, "changes": changes}),
    );
}

pub async fn create_routing_rule(
    svc: &Services,
    ctx: &Ctx,
    i: RoutingRuleInput,
    dry_run: bool,
) -> AppResult<Written<RoutingRuleView>> {
    require_role(&ctx.principal, SERVICE_CONFIG_EDITORS)?;
    write_or_try(svc, ctx, dry_run, ROUTING_TRIED_ON, move |uow| {
        let base = RoutingRuleRow {
            id: new_id(),
            name: String::new(),
            priority: 0,
            active: true,
            conditions: "[]".into(),
            team_id: None,
            engineer_id: None,
            version: 1,
            created_at: uow.now_ms,
            updated_at: uow.now_ms,
        };
        let row = routing_row(uow.conn, i, base)?;
        store::insert_routing_rule(uow.conn, &row)?;
        let v = RoutingRuleView::from(row);
        record_change(uow, "routing_rule", &v.id, "create", json!({}), json!(v));
        Ok(v)
    })
    .await
}

pub async fn replace_routing_rule(
    svc: &Services,
    ctx: &Ctx,
    (id, if_match): (String, Option<i64>),
    i: RoutingRuleInput,
    dry_run: bool,
) -> AppResult<Written<RoutingRuleView>> {
    require_role(&ctx.principal, SERVICE_CONFIG_EDITORS)?;
    write_or_try(svc, ctx, dry_run, ROUTING_TRIED_ON, move |uow| {
        let old = store::find_routing_rule(uow.conn, &id)?
            .ok_or_else(|| AppError::not_found("routing rule"))?;
        check_version(if_match, old.version)?;
        let mut row = routing_row(uow.conn, i, old.clone())?;
        row.version = old.version + 1;
        row.updated_at = uow.now_ms;
        if !store::update_routing_rule(uow.conn, &row, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let (before, v) = (RoutingRuleView::from(old), RoutingRuleView::from(row));
        record_change(uow, "routing_rule", &id, "update", json!(before), json!(v));
        Ok(v)
    })
    .await
}

pub async fn delete_routing_rule(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    dry_run: bool,
) -> AppResult<Written<()>> {
    require_role(&ctx.principal, SERVICE_CONFIG_EDITORS)?;
    write_or_try(svc, ctx, dry_run, ROUTING_TRIED_ON, move |uow| {
        let old = store::find_routing_rule(uow.conn, &id)?
            .ok_or_else(|| AppError::not_found("routing rule"))?;
        store::delete_routing_rule(uow.conn, &id)?;
        record_change(
            uow,
            "routing_rule",
            &id,
            "delete",
            json!(RoutingRuleView::from(old)),
            json!({}),
        );
        Ok(())
    })
    .await
}

pub async fn get_routing_rule(
    svc: &Services,
    _ctx: &Ctx,
    id: String,
) -> AppResult<RoutingRuleView> {
    svc.read(move |conn| {
        store::find_routing_rule(conn, &id)?
            .map(RoutingRuleView::from)
            .ok_or_else(|| AppError::not_found("routing rule"))
    })
    .await
}

pub async fn list_routing_rules(svc: &Services, _ctx: &Ctx) -> AppResult<Page<RoutingRuleView>> {
    svc.read(|conn| {
        Ok(Page {
            items: store::routing_rules(conn)?
                .into_iter()
                .map(RoutingRuleView::from)
                .collect(),
            next_cursor: None,
        })
    })
    .await
}

pub async fn create_sla_policy(
    svc: &Services,
    ctx: &Ctx,
    i: SlaPolicyInput,
    dry_run: bool,
) -> AppResult<Written<SlaPolicyView>> {
    require_role(&ctx.principal, SERVICE_CONFIG_EDITORS)?;
    write_or_try(svc, ctx, dry_run, SLA_TRIED_ON, move |uow| {
        let base = SlaPolicyRow {
            id: new_id(),
            name: String::new(),
            priority: 0,
            active: true,
            conditions: "[]".into(),
            response_secs: 0,
            resolution_secs: 0,
            warn_ratio: 0.8,
            calendar_id: None,
            version: 1,
            created_at: uow.now_ms,
            updated_at: uow.now_ms,
        };
        let row = sla_row(uow.conn, i, base)?;
        store::insert_sla_policy(uow.conn, &row)?;
        let v = SlaPolicyView::from(row);
        record_change(uow, "sla_policy", &v.id, "create", json!({}), json!(v));
        Ok(v)
    })
    .await
}

pub async fn replace_sla_policy(
    svc: &Services,
    ctx: &Ctx,
    (id, if_match): (String, Option<i64>),
    i: SlaPolicyInput,
    dry_run: bool,
) -> AppResult<Written<SlaPolicyView>> {
    require_role(&ctx.principal, SERVICE_CONFIG_EDITORS)?;
    write_or_try(svc, ctx, dry_run, SLA_TRIED_ON, move |uow| {
        let old = store::find_sla_policy(uow.conn, &id)?
            .ok_or_else(|| AppError::not_found("SLA policy"))?;
        check_version(if_match, old.version)?;
        let mut row = sla_row(uow.conn, i, old.clone())?;
        row.version = old.version + 1;
        row.updated_at = uow.now_ms;
        if !store::update_sla_policy(uow.conn, &row, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let (before, v) = (SlaPolicyView::from(old), SlaPolicyView::from(row));
        record_change(uow, "sla_policy", &id, "update", json!(before), json!(v));
        Ok(v)
    })
    .await
}

pub async fn delete_sla_policy(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    dry_run: bool,
) -> AppResult<Written<()>> {
    require_role(&ctx.principal, SERVICE_CONFIG_EDITORS)?;
    write_or_try(svc, ctx, dry_run, SLA_TRIED_ON, move |uow| {
        let old = store::find_sla_policy(uow.conn, &id)?
            .ok_or_else(|| AppError::not_found("SLA policy"))?;
        if store::sla_policy_in_use(uow.conn, &id)? {
            return Err(AppError::conflict(
                "work orders run under this policy; deactivate it instead",
            ));
        }
        store::delete_sla_policy(uow.conn, &id)?;
        record_change(
            uow,
            "sla_policy",
            &id,
            "delete",
            json!(SlaPolicyView::from(old)),
            json!({}),
        );
        Ok(())
    })
    .await
}

pub async fn get_sla_policy(svc: &Services, _ctx: &Ctx, id: String) -> AppResult<SlaPolicyView> {
    svc.read(move |conn| {
        store::find_sla_policy(conn, &id)?
            .map(SlaPolicyView::from)
            .ok_or_else(|| AppError::not_found("SLA policy"))
    })
    .await
}

pub async fn list_sla_policies(svc: &Services, _ctx: &Ctx) -> AppResult<Page<SlaPolicyView>> {
    svc.read(|conn| {
        Ok(Page {
            items: store::sla_policies(conn)?
                .into_iter()
                .map(SlaPolicyView::from)
                .collect(),
            next_cursor: None,
        })
    })
    .await
}

/// The routing decision for a work order's facts: the first active matching rule, else
/// the default team, else the unrouted queue.
pub fn route(
    conn: &mut DbConnection,
    facts: &Value,
) -> AppResult<(Option<String>, Option<String>, Value)> {
    for r in store::routing_rules(conn)?.into_iter().filter(|r| r.active) {
        let conditions: Vec<Condition> = from_json_text(&r.conditions);
        if let Some(matched) = matches(&conditions, facts) {
            let record = json!({"rule_id": r.id, "rule_name": r.name, "matched_conditions": matched,
                                "team_id": r.team_id, "engineer_id": r.engineer_id,
                                "reason": format!("routing rule {}", r.name)});
            return Ok((r.team_id, r.engineer_id, record));
        }
    }
    let (settings, _, _) = config::current::<ServiceSettings>(conn)?;
    let reason = if settings.default_team_id.is_some() {
        "no routing rule matched: default team"
    } else {
        "no routing rule matched: unrouted queue"
    };
    let record = json!({"rule_id": null, "rule_name": null, "matched_conditions": [],
                        "team_id": settings.default_team_id, "engineer_id": null, "reason": reason});
    Ok((settings.default_team_id, None, record))
}

/// The first active SLA policy matching the facts.
pub fn policy_for(conn: &mut DbConnection, facts: &Value) -> AppResult<Option<SlaPolicyRow>> {
    Ok(store::sla_policies(conn)?
        .into_iter()
        .filter(|p| p.active)
        .find(|p| {
            let conditions: Vec<Condition> = from_json_text(&p.conditions);
            matches(&conditions, facts).is_some()
        }))
}

type Probe = fn(&mut DbConnection) -> AppResult<Outcomes>;

/// What a dry run of a routing-rule change is tried on.
const ROUTING_TRIED_ON: (&str, Probe) = (
    "the 200 most recent work orders: the team and engineer routing picks",
    routing_outcomes,
);

/// What a dry run of an SLA-policy change is tried on.
const SLA_TRIED_ON: (&str, Probe) = (
    "the 200 most recent work orders: the SLA policy that applies",
    sla_outcomes,
);

fn recent_facts(conn: &mut DbConnection) -> AppResult<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for r in store::recent(conn, super::impact::RECENT)? {
        let f = super::work_orders::facts(conn, &r)?;
        out.push((r.id, f));
    }
    Ok(out)
}

/// Where routing sends each recent work order under the rules in force.
pub fn routing_outcomes(conn: &mut DbConnection) -> AppResult<Outcomes> {
    let mut out = Vec::new();
    for (id, f) in recent_facts(conn)? {
        let (team, engineer, record) = route(conn, &f)?;
        out.push((
            id,
            json!({"team_id": team, "engineer_id": engineer, "rule_id": record["rule_id"]}),
        ));
    }
    Ok(out)
}

/// The SLA policy each recent work order falls under with the policies in force.
pub fn sla_outcomes(conn: &mut DbConnection) -> AppResult<Outcomes> {
    let mut out = Vec::new();
    for (id, f) in recent_facts(conn)? {
        let policy = policy_for(conn, &f)?;
        out.push((id, json!({"sla_policy_id": policy.map(|p| p.id)})));
    }
    Ok(out)
}
