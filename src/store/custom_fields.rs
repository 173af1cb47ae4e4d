//! Custom-field definitions, the log of custom values written by each client, and a keyset
//! walk over the stored `custom{}` of each entity (for the dry run of a change).

use diesel::prelude::*;

use super::schema::{
    accounts, contacts, contracts, custom_fields, custom_writes, leads, opportunities, work_orders,
};
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = custom_fields, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct CustomFieldRow {
    pub id: String,
    pub entity: String,
    pub field_key: String,
    pub label: String,
    pub field_type: String,
    pub required: bool,
    /// JSON list of strings (enum fields).
    pub options: String,
    pub description: Option<String>,
    pub version: i64,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert(conn: &mut DbConnection, row: &CustomFieldRow) -> QueryResult<()> {
    diesel::insert_into(custom_fields::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<CustomFieldRow>> {
    custom_fields::table
        .find(id)
        .select(CustomFieldRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_key(
    conn: &mut DbConnection,
    entity: &str,
    key: &str,
) -> QueryResult<Option<CustomFieldRow>> {
    custom_fields::table
        .filter(custom_fields::entity.eq(entity))
        .filter(custom_fields::field_key.eq(key))
        .select(CustomFieldRow::as_select())
        .first(conn)
        .optional()
}

/// Definitions of one entity, or of all when `entity` is `None`, by entity then key.
pub fn list(conn: &mut DbConnection, entity: Option<&str>) -> QueryResult<Vec<CustomFieldRow>> {
    // Two static statements rather than one boxed query: every write reads one entity's
    // definitions, and a static statement stays prepared.
    macro_rules! all {
        () => {
            custom_fields::table
                .select(CustomFieldRow::as_select())
                .order((custom_fields::entity, custom_fields::field_key))
        };
    }
    match entity {
        Some(e) => concrete!(conn, c => all!().filter(custom_fields::entity.eq(e)).load(c)),
        None => all!().load(conn),
    }
}

/// Writes a changed definition if it is still at `expected_version`.
pub fn update(
    conn: &mut DbConnection,
    row: &CustomFieldRow,
    expected_version: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        custom_fields::table
            .find(&row.id)
            .filter(custom_fields::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn delete(conn: &mut DbConnection, id: &str, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::delete(
        custom_fields::table
            .find(id)
            .filter(custom_fields::version.eq(expected_version)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = custom_writes, treat_none_as_default_value = false)]
pub struct NewCustomWrite<'a> {
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub op: &'a str,
    pub client: &'a str,
    pub custom: &'a str,
    pub at: i64,
}

pub fn log_write(conn: &mut DbConnection, w: &NewCustomWrite<'_>) -> QueryResult<()> {
    concrete!(conn, c => diesel::insert_into(custom_writes::table).values(w).execute(c)).map(|_| ())
}

/// One logged write: (seq, op, client, custom JSON).
pub type LoggedWrite = (i64, String, String, String);

/// Logged writes of `entity` at or after `since`, after `after_seq`, in order.
pub fn writes_since(
    conn: &mut DbConnection,
    entity: &str,
    since: i64,
    after_seq: i64,
    limit: i64,
) -> QueryResult<Vec<LoggedWrite>> {
    custom_writes::table
        .filter(custom_writes::entity.eq(entity))
        .filter(custom_writes::at.ge(since))
        .filter(custom_writes::seq.gt(after_seq))
        .order(custom_writes::seq)
        .limit(limit)
        .select((
            custom_writes::seq,
            custom_writes::op,
            custom_writes::client,
            custom_writes::custom,
        ))
        .load(conn)
}

/// Forgets logged writes older than `before`.
pub fn purge_writes(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(custom_writes::table.filter(custom_writes::at.lt(before))).execute(conn)
}

/// The next `limit` live records of `entity` after id `after`: (id, custom JSON).
pub fn records_after(
    conn: &mut DbConnection,
    entity: &str,
    after: &str,
    limit: i64,
) -> QueryResult<Vec<(String, String)>> {
    macro_rules! walk {
        ($t:ident, $live:expr) => {
            $t::table
                .filter($t::id.gt(after))
                .filter($live)
                .order($t::id)
                .limit(limit)
                .select(($t::id, $t::custom))
                .load(conn)
        };
    }
    match entity {
        "lead" => walk!(
            leads,
            leads::deleted_at
                .is_null()
                .and(leads::merged_into.is_null())
        ),
        "account" => walk!(accounts, accounts::deleted_at.is_null()),
        "contact" => walk!(contacts, contacts::deleted_at.is_null()),
        "opportunity" => walk!(opportunities, opportunities::deleted_at.is_null()),
        "contract" => walk!(contracts, contracts::id.is_not_null()),
        "work_order" => walk!(work_orders, work_orders::deleted_at.is_null()),
        _ => Ok(Vec::new()),
    }
}
