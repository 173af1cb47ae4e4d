//! Ids of crmflow records in other systems (ERP, MES…): one record may carry several.

use diesel::prelude::*;

use super::schema::external_refs;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = external_refs, treat_none_as_default_value = false)]
pub struct ExternalRefRow {
    pub entity: String,
    pub system: String,
    pub external_id: String,
    pub entity_id: String,
    pub created_at: i64,
}

/// The crmflow id recorded for `(entity, system, external_id)`.
pub fn resolve(
    conn: &mut DbConnection,
    entity: &str,
    system: &str,
    external_id: &str,
) -> QueryResult<Option<String>> {
    external_refs::table
        .filter(external_refs::entity.eq(entity))
        .filter(external_refs::system.eq(system))
        .filter(external_refs::external_id.eq(external_id))
        .select(external_refs::entity_id)
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, row: &ExternalRefRow) -> QueryResult<()> {
    diesel::insert_into(external_refs::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// All refs of the given records of one entity, for one page of a list.
pub fn for_entities(
    conn: &mut DbConnection,
    entity: &str,
    ids: &[String],
) -> QueryResult<Vec<ExternalRefRow>> {
    if let [id] = ids {
        // One record's (every read of one record): a static statement, prepared once.
        return concrete!(conn, c => external_refs::table
            .filter(external_refs::entity.eq(entity))
            .filter(external_refs::entity_id.eq(id))
            .order((
                external_refs::system.asc(),
                external_refs::external_id.asc(),
            ))
            .load(c));
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    external_refs::table
        .filter(external_refs::entity.eq(entity))
        .filter(external_refs::entity_id.eq_any(ids))
        .order((
            external_refs::system.asc(),
            external_refs::external_id.asc(),
        ))
        .load(conn)
}

/// Re-points the external ids of one record to another (merge).
pub fn move_refs(
    conn: &mut DbConnection,
    entity: &str,
    from: &str,
    to: &str,
) -> QueryResult<usize> {
    diesel::update(
        external_refs::table
            .filter(external_refs::entity.eq(entity))
            .filter(external_refs::entity_id.eq(from)),
    )
    .set(external_refs::entity_id.eq(to))
    .execute(conn)
}
