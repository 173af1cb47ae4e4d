//! Assignment rules.

use diesel::prelude::*;

use super::schema::assignment_rules;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = assignment_rules, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct RuleRow {
    pub id: String,
    pub name: String,
    pub priority: i32,
    pub active: bool,
    pub conditions: String,
    pub team_id: Option<String>,
    pub user_ids: String,
    pub strategy: String,
    pub top_n: Option<i32>,
    pub max_load_ratio: Option<f64>,
    pub claim_timeout_secs: i64,
    pub first_touch_timeout_secs: i64,
    pub max_reassignments: i32,
    pub calendar_id: Option<String>,
    pub rr_cursor: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

pub fn insert(conn: &mut DbConnection, row: &RuleRow) -> QueryResult<()> {
    diesel::insert_into(assignment_rules::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update(conn: &mut DbConnection, row: &RuleRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        assignment_rules::table
            .find(&row.id)
            .filter(assignment_rules::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<RuleRow>> {
    assignment_rules::table
        .find(id)
        .filter(assignment_rules::deleted_at.is_null())
        .first(conn)
        .optional()
}

/// Live rules in evaluation order (lower priority first, then oldest).
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<RuleRow>> {
    concrete!(conn, c => assignment_rules::table
        .filter(assignment_rules::deleted_at.is_null())
        .order((assignment_rules::priority.asc(), assignment_rules::id.asc()))
        .load(c))
}

/// Remembers who round robin served last (only the rule's own cursor column changes).
pub fn set_cursor(conn: &mut DbConnection, id: &str, user_id: &str) -> QueryResult<()> {
    diesel::update(assignment_rules::table.find(id))
        .set(assignment_rules::rr_cursor.eq(Some(user_id)))
        .execute(conn)
        .map(|_| ())
}
