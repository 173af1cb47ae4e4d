//! Stored responses for `Idempotency-Key` replays.

use diesel::prelude::*;

use super::schema::idempotency_keys;
use super::DbConnection;

#[derive(Debug, Clone, Queryable)]
pub struct IdempotencyRow {
    pub principal: String,
    pub idem_key: String,
    pub request_hash: String,
    pub status: Option<i32>,
    pub response: Option<String>,
    pub created_at: i64,
}

pub fn find(
    conn: &mut DbConnection,
    principal: &str,
    key: &str,
    not_before: i64,
) -> QueryResult<Option<IdempotencyRow>> {
    idempotency_keys::table
        .find((principal, key))
        .filter(idempotency_keys::created_at.ge(not_before))
        .first(conn)
        .optional()
}

/// Claims a key for a request in flight; fails with a unique violation when it is taken.
pub fn claim(
    conn: &mut DbConnection,
    principal: &str,
    key: &str,
    request_hash: &str,
    at: i64,
) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::principal.eq(principal),
            idempotency_keys::idem_key.eq(key),
            idempotency_keys::request_hash.eq(request_hash),
            idempotency_keys::created_at.eq(at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Stores the response of the request that claimed the key.
pub fn complete(
    conn: &mut DbConnection,
    principal: &str,
    key: &str,
    status: i32,
    response: &str,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((principal, key)))
        .set((
            idempotency_keys::status.eq(Some(status)),
            idempotency_keys::response.eq(Some(response)),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Frees a key whose request failed on the server side, so that a retry runs again.
pub fn release(conn: &mut DbConnection, principal: &str, key: &str) -> QueryResult<()> {
    diesel::delete(idempotency_keys::table.find((principal, key)))
        .execute(conn)
        .map(|_| ())
}

/// Deletes keys older than `before` (expired replays and abandoned claims).
pub fn purge(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before)))
        .execute(conn)
}

/// Removes an expired entry of one key so that the key can be used afresh.
pub fn purge_key(
    conn: &mut DbConnection,
    principal: &str,
    key: &str,
    before: i64,
) -> QueryResult<()> {
    diesel::delete(
        idempotency_keys::table
            .find((principal, key))
            .filter(idempotency_keys::created_at.lt(before)),
    )
    .execute(conn)
    .map(|_| ())
}
