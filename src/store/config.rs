//! Runtime configuration entries (scoring model, …): versioned JSON documents by key.

use diesel::prelude::*;

use super::schema::config_entries;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = config_entries, treat_none_as_default_value = false)]
pub struct ConfigRow {
    pub key: String,
    pub value: String,
    pub version: i64,
    pub updated_by: String,
    pub updated_at: i64,
}

pub fn find(conn: &mut DbConnection, key: &str) -> QueryResult<Option<ConfigRow>> {
    concrete!(conn, c => config_entries::table.find(key).first(c).optional())
}

/// Writes a new version of an entry if the stored one is still `expected_version` (0 = none
/// yet); false when another writer got there first.
pub fn save(conn: &mut DbConnection, row: &ConfigRow, expected_version: i64) -> QueryResult<bool> {
    if expected_version == 0 {
        return match diesel::insert_into(config_entries::table)
            .values(row)
            .execute(conn)
        {
            Ok(_) => Ok(true),
            Err(e) if super::is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        };
    }
    let n = diesel::update(
        config_entries::table
            .find(&row.key)
            .filter(config_entries::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}
