//! Named counters for human-readable document numbers (`Q-2026-000001`, `WO-2026-000123`).

use diesel::prelude::*;

use super::schema::sequences;
use super::DbConnection;

/// The next value of the named sequence (1 for a new one). The increment holds the row's
/// write lock until the transaction ends, so concurrent writers get distinct values; a
/// concurrent first use loses the insert race on the primary key and then increments.
pub fn next(conn: &mut DbConnection, name: &str) -> QueryResult<i64> {
    let bump = |conn: &mut DbConnection| {
        diesel::update(sequences::table.find(name))
            .set(sequences::value.eq(sequences::value + 1))
            .execute(conn)
    };
    if bump(conn)? == 0 {
        // In a savepoint: on PostgreSQL a failed statement would abort the whole transaction.
        let fresh = conn.transaction(|c| {
            diesel::insert_into(sequences::table)
                .values((sequences::name.eq(name), sequences::value.eq(1_i64)))
                .execute(c)
        });
        match fresh {
            Ok(_) => return Ok(1),
            Err(e) if super::is_unique_violation(&e) => {
                bump(conn)?;
            }
            Err(e) => return Err(e),
        }
    }
    sequences::table
        .find(name)
        .select(sequences::value)
        .first(conn)
}
