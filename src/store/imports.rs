//! Import jobs, their progress and their refused rows.

use diesel::prelude::*;

use super::schema::{import_chunks, import_errors, imports};
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = imports, treat_none_as_default_value = false)]
pub struct ImportRow {
    pub id: String,
    pub entity: String,
    pub dry_run: bool,
    pub status: String,
    pub total: i64,
    pub processed: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub created_count: i64,
    pub updated_count: i64,
    pub principal: String,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// An import without its importing principal (what progress reads need).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = imports)]
pub struct ImportHead {
    pub id: String,
    pub entity: String,
    pub dry_run: bool,
    pub status: String,
    pub total: i64,
    pub processed: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub created_count: i64,
    pub updated_count: i64,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = import_errors, treat_none_as_default_value = false)]
pub struct ImportErrorRow {
    pub import_id: String,
    pub seq: i64,
    pub row_no: i64,
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

pub fn insert(conn: &mut DbConnection, row: &ImportRow) -> QueryResult<()> {
    diesel::insert_into(imports::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn head(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ImportHead>> {
    imports::table
        .find(id)
        .select(ImportHead::as_select())
        .first(conn)
        .optional()
}

/// Imports waiting or running, oldest first.
pub fn unfinished(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<String>> {
    imports::table
        .filter(imports::status.eq_any(["queued", "running"]))
        .order(imports::created_at.asc())
        .select(imports::id)
        .limit(limit)
        .load(conn)
}

/// Takes (or renews) the lease on an unfinished import for `owner`.
pub fn claim(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    now: i64,
    until: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        imports::table
            .find(id)
            .filter(imports::status.eq_any(["queued", "running"]))
            .filter(
                imports::lease_until
                    .is_null()
                    .or(imports::lease_until.lt(now))
                    .or(imports::lease_owner.eq(owner)),
            ),
    )
    .set((
        imports::lease_owner.eq(owner),
        imports::lease_until.eq(until),
        imports::status.eq("running"),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// The importing principal of a claimed import.
pub fn principal(conn: &mut DbConnection, id: &str) -> QueryResult<String> {
    imports::table
        .find(id)
        .select(imports::principal)
        .first(conn)
}

/// A chunk of an import's rows: `row_count` JSON Lines from row `first_row` (from 0).
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = import_chunks)]
pub struct ImportChunk {
    pub import_id: String,
    pub first_row: i64,
    pub row_count: i64,
    pub rows: String,
}

pub fn insert_chunk(conn: &mut DbConnection, chunk: &ImportChunk) -> QueryResult<()> {
    diesel::insert_into(import_chunks::table)
        .values(chunk)
        .execute(conn)
        .map(|_| ())
}

/// The chunk holding row `row` (from 0) of an import.
pub fn chunk_at(conn: &mut DbConnection, id: &str, row: i64) -> QueryResult<Option<ImportChunk>> {
    import_chunks::table
        .filter(import_chunks::import_id.eq(id))
        .filter(import_chunks::first_row.le(row))
        .order(import_chunks::first_row.desc())
        .first(conn)
        .optional()
}

/// Progress after one batch, if `owner` still holds the lease (`false` otherwise: the
/// batch must roll back).
pub struct Progress {
    pub processed: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub created: i64,
    pub updated: i64,
}

pub fn advance(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    from_processed: i64,
    p: &Progress,
    now: i64,
    lease_until: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        imports::table
            .find(id)
            .filter(imports::lease_owner.eq(owner))
            .filter(imports::processed.eq(from_processed)),
    )
    .set((
        imports::processed.eq(imports::processed + p.processed),
        imports::succeeded.eq(imports::succeeded + p.succeeded),
        imports::failed.eq(imports::failed + p.failed),
        imports::created_count.eq(imports::created_count + p.created),
        imports::updated_count.eq(imports::updated_count + p.updated),
        imports::updated_at.eq(now),
        imports::lease_until.eq(lease_until),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Marks an import finished (`completed`, or `failed` with why) and drops its rows, in
/// one transaction.
pub fn finish(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    status: &str,
    error: Option<&str>,
    now: i64,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let n = diesel::update(
            imports::table
                .find(id)
                .filter(imports::lease_owner.eq(owner)),
        )
        .set((
            imports::status.eq(status),
            imports::error.eq(error),
            imports::finished_at.eq(now),
            imports::updated_at.eq(now),
            imports::lease_owner.eq(None::<String>),
            imports::lease_until.eq(None::<i64>),
        ))
        .execute(conn)?;
        if n == 1 {
            diesel::delete(import_chunks::table.filter(import_chunks::import_id.eq(id)))
                .execute(conn)?;
        }
        Ok(n == 1)
    })
}

pub fn insert_error(conn: &mut DbConnection, row: &ImportErrorRow) -> QueryResult<()> {
    diesel::insert_into(import_errors::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn error_count(conn: &mut DbConnection, id: &str) -> QueryResult<i64> {
    import_errors::table
        .filter(import_errors::import_id.eq(id))
        .count()
        .get_result(conn)
}

/// Refused rows in row order, after the given sequence number.
pub fn errors(
    conn: &mut DbConnection,
    id: &str,
    after_seq: i64,
    limit: i64,
) -> QueryResult<Vec<ImportErrorRow>> {
    import_errors::table
        .filter(import_errors::import_id.eq(id))
        .filter(import_errors::seq.gt(after_seq))
        .order(import_errors::seq.asc())
        .limit(limit)
        .load(conn)
}
