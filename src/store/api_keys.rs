//! API keys: only the SHA-256 of the token is stored.

use diesel::prelude::*;

use super::schema::api_keys;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = api_keys, treat_none_as_default_value = false)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub token_hash: String,
    pub token_prefix: String,
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

pub fn insert(conn: &mut DbConnection, row: &ApiKeyRow) -> QueryResult<()> {
    diesel::insert_into(api_keys::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The live (not revoked) key with this token hash.
pub fn find_active_by_hash(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<ApiKeyRow>> {
    concrete!(conn, c => api_keys::table
        .filter(api_keys::token_hash.eq(hash))
        .filter(api_keys::revoked_at.is_null())
        .first(c)
        .optional())
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ApiKeyRow>> {
    api_keys::table.find(id).first(conn).optional()
}

pub fn list(
    conn: &mut DbConnection,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<ApiKeyRow>> {
    let mut q = api_keys::table
        .order(api_keys::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(api_keys::id.gt(a.to_string()));
    }
    q.load(conn)
}

/// Marks a key revoked; false when it was already revoked or does not exist.
pub fn revoke(conn: &mut DbConnection, id: &str, at: i64) -> QueryResult<bool> {
    let n = diesel::update(
        api_keys::table
            .find(id)
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(Some(at)))
    .execute(conn)?;
    Ok(n == 1)
}
