//! Teams.

use diesel::prelude::*;

use super::schema::teams;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = teams, treat_none_as_null = true)]
pub struct TeamRow {
    pub id: String,
    pub name: String,
    pub manager_id: Option<String>,
    pub regions: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert(conn: &mut DbConnection, row: &TeamRow) -> QueryResult<()> {
    diesel::insert_into(teams::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<TeamRow>> {
    teams::table.find(id).first(conn).optional()
}

/// Writes `row` if the stored version is still `expected_version`; false when it moved on.
pub fn update(conn: &mut DbConnection, row: &TeamRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        teams::table
            .find(&row.id)
            .filter(teams::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

/// A page of teams ordered by id, after the cursor key.
pub fn list(conn: &mut DbConnection, after: Option<&str>, limit: i64) -> QueryResult<Vec<TeamRow>> {
    let mut q = teams::table
        .order(teams::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(teams::id.gt(a.to_string()));
    }
    q.load(conn)
}
