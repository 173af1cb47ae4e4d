//! Opportunities and their stage history.

use diesel::prelude::*;

use super::schema::{opportunities, opportunity_stages};
use super::scope::team_members;
use super::DbConnection;
use crate::domain::role::RowScope;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = opportunities, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct OpportunityRow {
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
    pub stage: String,
    pub probability: i32,
    pub status: String,
    pub stage_entered_at: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub lost_reason: Option<String>,
    pub competitor: Option<String>,
    /// Flagged by the sweeper once per stage entry; cleared by the next stage change.
    pub stalled: bool,
    pub priority: String,
    pub closed_at: Option<i64>,
    pub created_by: String,
    pub deleted_at: Option<i64>,
    /// Backward stage moves so far.
    pub regression_count: i32,
    pub custom: String,
}

/// One stage change (or the initial stage) of a deal.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = opportunity_stages, treat_none_as_default_value = false)]
pub struct StageChangeRow {
    pub id: String,
    pub opportunity_id: String,
    pub from_stage: Option<String>,
    pub to_stage: String,
    /// `initial`, `forward` or `backward`.
    pub direction: String,
    pub reason: Option<String>,
    pub from_entered_at: Option<i64>,
    pub secs_in_stage: Option<i64>,
    pub actor_id: String,
    pub at: i64,
}

pub fn insert(conn: &mut DbConnection, row: &OpportunityRow) -> QueryResult<()> {
    diesel::insert_into(opportunities::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Writes the row if its stored version is still `expected_version`.
pub fn update(
    conn: &mut DbConnection,
    row: &OpportunityRow,
    expected_version: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        opportunities::table
            .find(&row.id)
            .filter(opportunities::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<OpportunityRow>> {
    opportunities::table
        .find(id)
        .filter(opportunities::deleted_at.is_null())
        .first(conn)
        .optional()
}

type Boxed<'a> = opportunities::BoxedQuery<'a, super::MultiBackend>;

/// Restricts a query to the live opportunities `scope` may see.
pub fn scoped<'a>(q: Boxed<'a>, scope: &RowScope) -> Boxed<'a> {
    let q = q.filter(opportunities::deleted_at.is_null());
    match scope {
        RowScope::All => q,
        RowScope::Own(u) => q.filter(opportunities::owner_id.eq(u.clone())),
        RowScope::Team(t) => q.filter(
            opportunities::team_id
                .eq(t.clone())
                .or(opportunities::owner_id.eq_any(team_members(t))),
        ),
        RowScope::Nothing => q.filter(opportunities::id.is_null()),
    }
}

pub fn find_scoped(
    conn: &mut DbConnection,
    id: &str,
    scope: &RowScope,
) -> QueryResult<Option<OpportunityRow>> {
    scoped(
        opportunities::table
            .filter(opportunities::id.eq(id.to_string()))
            .into_boxed(),
        scope,
    )
    .first(conn)
    .optional()
}

#[derive(Debug, Default, Clone)]
pub struct OpportunityFilter {
    pub status: Option<String>,
    pub stage: Option<String>,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub account_id: Option<String>,
    pub stalled: Option<bool>,
    pub updated_since: Option<i64>,
}

/// A page of opportunities in scope, newest first, before the cursor key.
pub fn list(
    conn: &mut DbConnection,
    f: &OpportunityFilter,
    scope: &RowScope,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<OpportunityRow>> {
    let mut q = scoped(
        opportunities::table
            .order(opportunities::id.desc())
            .limit(limit)
            .into_boxed(),
        scope,
    );
    if let Some(b) = before {
        q = q.filter(opportunities::id.lt(b.to_string()));
    }
    if let Some(v) = &f.status {
        q = q.filter(opportunities::status.eq(v.clone()));
    }
    if let Some(v) = &f.stage {
        q = q.filter(opportunities::stage.eq(v.clone()));
    }
    if let Some(v) = &f.owner_id {
        q = q.filter(opportunities::owner_id.eq(v.clone()));
    }
    if let Some(v) = &f.team_id {
        q = q.filter(opportunities::team_id.eq(v.clone()));
    }
    if let Some(v) = &f.account_id {
        q = q.filter(opportunities::account_id.eq(v.clone()));
    }
    if let Some(v) = f.stalled {
        q = q.filter(opportunities::stalled.eq(v));
    }
    if let Some(v) = f.updated_since {
        q = q.filter(opportunities::updated_at.ge(v));
    }
    q.load(conn)
}

/// The open deals in scope whose expected close date (`YYYY-MM-DD`, compared as text) lies
/// in `[from, to]` when given; deals without a date are included only when no range is.
pub fn open_in_scope(
    conn: &mut DbConnection,
    scope: &RowScope,
    from: Option<&str>,
    to: Option<&str>,
) -> QueryResult<Vec<OpportunityRow>> {
    let mut q = scoped(
        opportunities::table
            .filter(opportunities::status.eq("open"))
            .into_boxed(),
        scope,
    );
    if let Some(v) = from {
        q = q.filter(opportunities::expected_close_date.ge(v.to_string()));
    }
    if let Some(v) = to {
        q = q.filter(opportunities::expected_close_date.le(v.to_string()));
    }
    q.load(conn)
}

/// Open deals in `stage`, not yet flagged, that entered it before `entered_before`.
pub fn stall_candidates(
    conn: &mut DbConnection,
    stage: &str,
    entered_before: i64,
    limit: i64,
) -> QueryResult<Vec<String>> {
    opportunities::table
        .filter(opportunities::status.eq("open"))
        .filter(opportunities::stalled.eq(false))
        .filter(opportunities::stage.eq(stage.to_string()))
        .filter(opportunities::stage_entered_at.lt(entered_before))
        .filter(opportunities::deleted_at.is_null())
        .select(opportunities::id)
        .order(opportunities::stage_entered_at.asc())
        .limit(limit)
        .load(conn)
}

/// Open deals per stage (to refuse removing a stage that still holds deals).
pub fn open_per_stage(conn: &mut DbConnection) -> QueryResult<Vec<(String, i64)>> {
    opportunities::table
        .filter(opportunities::status.eq("open"))
        .filter(opportunities::deleted_at.is_null())
        .group_by(opportunities::stage)
        .select((opportunities::stage, diesel::dsl::count_star()))
        .load(conn)
}

/// Sets the probability of the open deals in `stage` (after a pipeline change).
pub fn set_probability(
    conn: &mut DbConnection,
    stage: &str,
    probability: i32,
) -> QueryResult<usize> {
    diesel::update(
        opportunities::table
            .filter(opportunities::status.eq("open"))
            .filter(opportunities::stage.eq(stage.to_string()))
            .filter(opportunities::probability.ne(probability)),
    )
    .set(opportunities::probability.eq(probability))
    .execute(conn)
}

pub fn insert_stage_change(conn: &mut DbConnection, row: &StageChangeRow) -> QueryResult<()> {
    diesel::insert_into(opportunity_stages::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// A deal's stage history, oldest first, after the cursor key.
pub fn stage_history(
    conn: &mut DbConnection,
    opportunity_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<StageChangeRow>> {
    let mut q = opportunity_stages::table
        .filter(opportunity_stages::opportunity_id.eq(opportunity_id.to_string()))
        .order(opportunity_stages::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(opportunity_stages::id.gt(a.to_string()));
    }
    q.load(conn)
}

/// Mean seconds deals spent in each stage before leaving it (in either direction).
pub fn mean_secs_in_stage(conn: &mut DbConnection) -> QueryResult<Vec<(String, f64)>> {
    let rows: Vec<(Option<String>, i64, i64)> = opportunity_stages::table
        .filter(opportunity_stages::from_stage.is_not_null())
        .filter(opportunity_stages::secs_in_stage.is_not_null())
        .group_by(opportunity_stages::from_stage)
        .select((
            opportunity_stages::from_stage,
            diesel::dsl::count_star(),
            // SUM over BIGINT is NUMERIC on PostgreSQL: cast back for one type on both backends.
            diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(SUM(secs_in_stage) AS BIGINT)"),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(stage, n, sum)| Some((stage?, sum as f64 / n.max(1) as f64)))
        .collect())
}

/// Every open deal: (id, stage, probability), by id.
pub fn open_probabilities(conn: &mut DbConnection) -> QueryResult<Vec<(String, String, i32)>> {
    opportunities::table
        .filter(opportunities::status.eq("open"))
        .filter(opportunities::deleted_at.is_null())
        .order(opportunities::id)
        .select((
            opportunities::id,
            opportunities::stage,
            opportunities::probability,
        ))
        .load(conn)
}
