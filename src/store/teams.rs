//! Teams.

use diesel::prelude::*;

use super::schema::teams;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = teams, treat_none_as_null = true, treat_none_as_default_value = false)]
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

/// Every team, by id.
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<TeamRow>> {
    teams::table.order(teams::id.asc()).load(conn)
}

/// Marks the team's digest of `day` as sent; false when it already was. Callers hold the
/// journal lock (`Uow::serialize`), so two instances cannot both claim it.
pub fn claim_digest(
    conn: &mut DbConnection,
    team_id: &str,
    day: &str,
    now: i64,
) -> QueryResult<bool> {
    use super::schema::digest_runs;
    if digest_sent(conn, team_id, day)? {
        return Ok(false);
    }
    diesel::insert_into(digest_runs::table)
        .values((
            digest_runs::team_id.eq(team_id),
            digest_runs::day.eq(day),
            digest_runs::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Whether the team's digest of `day` was sent.
pub fn digest_sent(conn: &mut DbConnection, team_id: &str, day: &str) -> QueryResult<bool> {
    use super::schema::digest_runs;
    let sent: i64 = digest_runs::table
        .filter(digest_runs::team_id.eq(team_id))
        .filter(digest_runs::day.eq(day))
        .count()
        .get_result(conn)?;
    Ok(sent > 0)
}

/// Teams whose digest of `day` has not been sent.
pub fn digests_pending(conn: &mut DbConnection, day: &str) -> QueryResult<i64> {
    use super::schema::digest_runs;
    let sent: i64 = digest_runs::table
        .filter(digest_runs::day.eq(day))
        .count()
        .get_result(conn)?;
    let teams: i64 = teams::table.count().get_result(conn)?;
    Ok(teams - sent)
}
