//! Leads.

use diesel::prelude::*;

use super::schema::leads;
use super::scope::{like_pattern, team_members};
use super::DbConnection;
use crate::domain::role::RowScope;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = leads, treat_none_as_null = true)]
pub struct LeadRow {
    pub id: String,
    pub name: String,
    pub company: Option<String>,
    pub company_key: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub email_domain: Option<String>,
    pub title: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub industry: Option<String>,
    pub source: String,
    pub product_interest: Option<String>,
    pub budget_cents: Option<i64>,
    pub currency: String,
    pub notes: Option<String>,
    pub custom: String,
    pub status: String,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub account_id: Option<String>,
    pub score: Option<i32>,
    pub grade: Option<String>,
    pub score_breakdown: String,
    pub assignment: Option<String>,
    pub claim_due_at: Option<i64>,
    pub first_touch_due_at: Option<i64>,
    pub accepted_at: Option<i64>,
    pub first_touch_at: Option<i64>,
    pub reassign_count: i32,
    pub possible_duplicate: bool,
    pub duplicate_candidates: String,
    pub priority: String,
    pub created_by: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

pub fn insert(conn: &mut DbConnection, row: &LeadRow) -> QueryResult<()> {
    diesel::insert_into(leads::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update(conn: &mut DbConnection, row: &LeadRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        leads::table
            .find(&row.id)
            .filter(leads::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

type Boxed<'a> = leads::BoxedQuery<'a, super::MultiBackend>;

/// Restricts a query to the live leads `scope` may see.
pub fn scoped<'a>(q: Boxed<'a>, scope: &RowScope) -> Boxed<'a> {
    let q = q.filter(leads::deleted_at.is_null());
    match scope {
        RowScope::All => q,
        RowScope::Own(u) => q.filter(leads::owner_id.eq(u.clone())),
        RowScope::Team(t) => q.filter(
            leads::team_id
                .eq(t.clone())
                .or(leads::owner_id.eq_any(team_members(t))),
        ),
        RowScope::Nothing => q.filter(leads::id.is_null()),
    }
}

pub fn find_scoped(
    conn: &mut DbConnection,
    id: &str,
    scope: &RowScope,
) -> QueryResult<Option<LeadRow>> {
    scoped(
        leads::table
            .filter(leads::id.eq(id.to_string()))
            .into_boxed(),
        scope,
    )
    .first(conn)
    .optional()
}

#[derive(Debug, Default, Clone)]
pub struct LeadFilter {
    pub status: Option<String>,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub source: Option<String>,
    pub grade: Option<String>,
    pub updated_since: Option<i64>,
    pub q: Option<String>,
}

/// A page of leads in scope, newest first, before the cursor key.
pub fn list(
    conn: &mut DbConnection,
    f: &LeadFilter,
    scope: &RowScope,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<LeadRow>> {
    let mut q = scoped(
        leads::table
            .order(leads::id.desc())
            .limit(limit)
            .into_boxed(),
        scope,
    );
    if let Some(b) = before {
        q = q.filter(leads::id.lt(b.to_string()));
    }
    if let Some(v) = &f.status {
        q = q.filter(leads::status.eq(v.clone()));
    }
    if let Some(v) = &f.owner_id {
        q = q.filter(leads::owner_id.eq(v.clone()));
    }
    if let Some(v) = &f.team_id {
        q = q.filter(leads::team_id.eq(v.clone()));
    }
    if let Some(v) = &f.source {
        q = q.filter(leads::source.eq(v.clone()));
    }
    if let Some(v) = &f.grade {
        q = q.filter(leads::grade.eq(v.clone()));
    }
    if let Some(v) = f.updated_since {
        q = q.filter(leads::updated_at.ge(v));
    }
    if let Some(text) = &f.q {
        let p = like_pattern(text);
        q = q.filter(
            leads::name
                .like(p.clone())
                .escape('\\')
                .or(leads::company.like(p.clone()).escape('\\'))
                .or(leads::phone.like(p.clone()).escape('\\'))
                .or(leads::email.like(p).escape('\\')),
        );
    }
    q.load(conn)
}
