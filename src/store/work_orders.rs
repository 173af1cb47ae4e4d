//! Work orders, routing rules and SLA policies.

use diesel::prelude::*;

use super::schema::{routing_rules, sla_policies, work_orders};
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = work_orders, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct WorkOrderRow {
    pub id: String,
    pub number: String,
    pub type_: String,
    pub status: String,
    pub account_id: String,
    pub contract_id: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub device_sn: Option<String>,
    pub product_model: Option<String>,
    pub description: Option<String>,
    pub priority: String,
    pub channel: String,
    pub team_id: Option<String>,
    pub engineer_id: Option<String>,
    /// JSON: the routing decision (rule, reason).
    pub routing: String,
    pub sla_policy_id: Option<String>,
    pub response_due_at: Option<i64>,
    pub response_warn_at: Option<i64>,
    pub resolution_due_at: Option<i64>,
    pub resolution_warn_at: Option<i64>,
    pub response_warned_at: Option<i64>,
    pub response_breached_at: Option<i64>,
    pub resolution_warned_at: Option<i64>,
    pub resolution_breached_at: Option<i64>,
    pub accepted_at: Option<i64>,
    /// When the customer signed (the resolution).
    pub resolved_at: Option<i64>,
    /// Set while waiting on the customer.
    pub paused_at: Option<i64>,
    /// The status to return to after waiting on the customer.
    pub paused_from: Option<String>,
    pub paused_secs: i64,
    /// JSON object: what each step recorded and when.
    pub step_data: String,
    pub cancel_reason: Option<String>,
    pub created_by: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    /// The installed unit `device_sn` names, when it is in the installed base.
    pub asset_id: Option<String>,
    /// `device_sn` is set but names no known asset.
    pub unknown_asset: bool,
    /// Whether the asset's warranty covered the order's creation day.
    pub in_warranty: Option<bool>,
    pub custom: String,
}

pub fn insert(conn: &mut DbConnection, row: &WorkOrderRow) -> QueryResult<()> {
    diesel::insert_into(work_orders::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update(
    conn: &mut DbConnection,
    row: &WorkOrderRow,
    expected_version: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        work_orders::table
            .find(&row.id)
            .filter(work_orders::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<WorkOrderRow>> {
    work_orders::table
        .find(id)
        .filter(work_orders::deleted_at.is_null())
        .first(conn)
        .optional()
}

pub fn for_contract(conn: &mut DbConnection, contract_id: &str) -> QueryResult<Vec<WorkOrderRow>> {
    work_orders::table
        .filter(work_orders::contract_id.eq(contract_id.to_string()))
        .filter(work_orders::deleted_at.is_null())
        .order(work_orders::id.asc())
        .load(conn)
}

/// Who sees which work orders.
#[derive(Debug, Clone)]
pub enum WorkOrderScope {
    All,
    /// An engineer: assigned to them, or to their team.
    Engineer {
        user_id: String,
        team_id: Option<String>,
    },
    Nothing,
}

#[derive(Debug, Default, Clone)]
pub struct WorkOrderFilter {
    pub status: Option<String>,
    pub type_: Option<String>,
    pub team_id: Option<String>,
    pub engineer_id: Option<String>,
    pub account_id: Option<String>,
    pub device_sn: Option<String>,
}

/// A page of work orders in scope, newest first, before the cursor key.
pub fn list(
    conn: &mut DbConnection,
    f: &WorkOrderFilter,
    scope: &WorkOrderScope,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<WorkOrderRow>> {
    let mut q = work_orders::table
        .filter(work_orders::deleted_at.is_null())
        .order(work_orders::id.desc())
        .limit(limit)
        .into_boxed();
    q = match scope {
        WorkOrderScope::All => q,
        WorkOrderScope::Engineer { user_id, team_id } => match team_id {
            Some(t) => q.filter(
                work_orders::engineer_id
                    .eq(user_id.clone())
                    .or(work_orders::team_id.eq(t.clone())),
            ),
            None => q.filter(work_orders::engineer_id.eq(user_id.clone())),
        },
        WorkOrderScope::Nothing => q.filter(work_orders::id.is_null()),
    };
    if let Some(b) = before {
        q = q.filter(work_orders::id.lt(b.to_string()));
    }
    if let Some(v) = &f.status {
        q = q.filter(work_orders::status.eq(v.clone()));
    }
    if let Some(v) = &f.type_ {
        q = q.filter(work_orders::type_.eq(v.clone()));
    }
    if let Some(v) = &f.team_id {
        q = q.filter(work_orders::team_id.eq(v.clone()));
    }
    if let Some(v) = &f.engineer_id {
        q = q.filter(work_orders::engineer_id.eq(v.clone()));
    }
    if let Some(v) = &f.account_id {
        q = q.filter(work_orders::account_id.eq(v.clone()));
    }
    if let Some(v) = &f.device_sn {
        q = q.filter(work_orders::device_sn.eq(v.clone()));
    }
    q.load(conn)
}

/// Which SLA clock a sweep looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaClock {
    ResponseWarning,
    ResponseBreach,
    ResolutionWarning,
    ResolutionBreach,
}

/// Open work orders whose `clock` has come due and has not been reported.
pub fn sla_due(
    conn: &mut DbConnection,
    clock: SlaClock,
    now: i64,
    limit: i64,
) -> QueryResult<Vec<String>> {
    let q = work_orders::table
        .filter(work_orders::deleted_at.is_null())
        .filter(work_orders::status.ne_all(["closed", "cancelled"]))
        .select(work_orders::id)
        .limit(limit)
        .into_boxed();
    let q = match clock {
        SlaClock::ResponseWarning => q
            .filter(work_orders::response_warn_at.le(now))
            .filter(work_orders::response_warned_at.is_null())
            .filter(work_orders::accepted_at.is_null()),
        SlaClock::ResponseBreach => q
            .filter(work_orders::response_due_at.le(now))
            .filter(work_orders::response_breached_at.is_null())
            .filter(work_orders::accepted_at.is_null()),
        SlaClock::ResolutionWarning => q
            .filter(work_orders::resolution_warn_at.le(now))
            .filter(work_orders::resolution_warned_at.is_null())
            .filter(work_orders::resolved_at.is_null())
            .filter(work_orders::paused_at.is_null()),
        SlaClock::ResolutionBreach => q
            .filter(work_orders::resolution_due_at.le(now))
            .filter(work_orders::resolution_breached_at.is_null())
            .filter(work_orders::resolved_at.is_null())
            .filter(work_orders::paused_at.is_null()),
    };
    q.load(conn)
}

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = routing_rules, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct RoutingRuleRow {
    pub id: String,
    pub name: String,
    pub priority: i32,
    pub active: bool,
    pub conditions: String,
    pub team_id: Option<String>,
    pub engineer_id: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = sla_policies, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct SlaPolicyRow {
    pub id: String,
    pub name: String,
    pub priority: i32,
    pub active: bool,
    pub conditions: String,
    pub response_secs: i64,
    pub resolution_secs: i64,
    pub warn_ratio: f64,
    pub calendar_id: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert_routing_rule(conn: &mut DbConnection, row: &RoutingRuleRow) -> QueryResult<()> {
    diesel::insert_into(routing_rules::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update_routing_rule(
    conn: &mut DbConnection,
    row: &RoutingRuleRow,
    expected: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        routing_rules::table
            .find(&row.id)
            .filter(routing_rules::version.eq(expected)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn delete_routing_rule(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    Ok(diesel::delete(routing_rules::table.find(id)).execute(conn)? == 1)
}

pub fn find_routing_rule(conn: &mut DbConnection, id: &str) -> QueryResult<Option<RoutingRuleRow>> {
    routing_rules::table.find(id).first(conn).optional()
}

/// All routing rules in evaluation order (lower priority first, then id).
pub fn routing_rules(conn: &mut DbConnection) -> QueryResult<Vec<RoutingRuleRow>> {
    routing_rules::table
        .order((routing_rules::priority.asc(), routing_rules::id.asc()))
        .load(conn)
}

pub fn insert_sla_policy(conn: &mut DbConnection, row: &SlaPolicyRow) -> QueryResult<()> {
    diesel::insert_into(sla_policies::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update_sla_policy(
    conn: &mut DbConnection,
    row: &SlaPolicyRow,
    expected: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        sla_policies::table
            .find(&row.id)
            .filter(sla_policies::version.eq(expected)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn delete_sla_policy(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    Ok(diesel::delete(sla_policies::table.find(id)).execute(conn)? == 1)
}

pub fn find_sla_policy(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SlaPolicyRow>> {
    sla_policies::table.find(id).first(conn).optional()
}

/// All SLA policies in evaluation order (lower priority first, then id).
pub fn sla_policies(conn: &mut DbConnection) -> QueryResult<Vec<SlaPolicyRow>> {
    sla_policies::table
        .order((sla_policies::priority.asc(), sla_policies::id.asc()))
        .load(conn)
}

/// Whether any work order runs under this SLA policy.
pub fn sla_policy_in_use(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    let n: i64 = work_orders::table
        .filter(work_orders::sla_policy_id.eq(id.to_string()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The `n` most recently created live work orders, newest first.
pub fn recent(conn: &mut DbConnection, n: i64) -> QueryResult<Vec<WorkOrderRow>> {
    work_orders::table
        .filter(work_orders::deleted_at.is_null())
        .order((work_orders::created_at.desc(), work_orders::id.desc()))
        .limit(n)
        .load(conn)
}
