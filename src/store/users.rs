//! Users.

use diesel::prelude::*;

use super::schema::users;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub display_name: String,
    pub role: String,
    pub team_id: Option<String>,
    pub manager_id: Option<String>,
    pub regions: String,
    pub industries: String,
    pub skills: String,
    pub capacity: i32,
    pub active: bool,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert(conn: &mut DbConnection, row: &UserRow) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<UserRow>> {
    concrete!(conn, c => users::table.find(id).first(c).optional())
}

pub fn find_by_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::username.eq(username))
        .first(conn)
        .optional()
}

pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

/// Active users with the admin role.
pub fn active_admins(conn: &mut DbConnection) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq("admin"))
        .filter(users::active.eq(true))
        .count()
        .get_result(conn)
}

pub fn update(conn: &mut DbConnection, row: &UserRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        users::table
            .find(&row.id)
            .filter(users::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

/// Filters of the user list.
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    pub team_id: Option<String>,
    pub role: Option<String>,
    pub active: Option<bool>,
}

/// The users of `team_id` with `role`, in id order (at most `limit`): a routing rule's
/// pool, read on every assignment, so one static statement that stays prepared (a boxed
/// [`list`] is prepared anew each time).
pub fn team_members(
    conn: &mut DbConnection,
    team_id: &str,
    role: &str,
    limit: i64,
) -> QueryResult<Vec<UserRow>> {
    users::table
        .filter(users::team_id.eq(team_id))
        .filter(users::role.eq(role))
        .order(users::id.asc())
        .limit(limit)
        .load(conn)
}

pub fn list(
    conn: &mut DbConnection,
    f: &UserFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<UserRow>> {
    let mut q = users::table
        .order(users::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(users::id.gt(a.to_string()));
    }
    if let Some(t) = &f.team_id {
        q = q.filter(users::team_id.eq(t.clone()));
    }
    if let Some(r) = &f.role {
        q = q.filter(users::role.eq(r.clone()));
    }
    if let Some(a) = f.active {
        q = q.filter(users::active.eq(a));
    }
    q.load(conn)
}
