//! Events tied to their account: each event's account is resolved when it is appended, so
//! the account timeline is one indexed range scan of the event log.

use diesel::prelude::*;

use super::journal::EventRow;
use super::schema::{
    assets, contacts, contracts, events, leads, opportunities, quotes, work_orders,
};
use super::DbConnection;

/// The account an event's entity belongs to, if any.
pub fn account_of(
    conn: &mut DbConnection,
    entity: &str,
    entity_id: &str,
) -> QueryResult<Option<String>> {
    let id = entity_id.to_string();
    let found: Option<Option<String>> = match entity {
        "account" => return Ok(Some(id)),
        "lead" => leads::table
            .find(id)
            .select(leads::account_id)
            .first(conn)
            .optional()?,
        "contact" => contacts::table
            .find(id)
            .select(contacts::account_id.nullable())
            .first(conn)
            .optional()?,
        "opportunity" => opportunities::table
            .find(id)
            .select(opportunities::account_id.nullable())
            .first(conn)
            .optional()?,
        "quote" => quotes::table
            .inner_join(opportunities::table.on(opportunities::id.eq(quotes::opportunity_id)))
            .filter(quotes::id.eq(id))
            .select(opportunities::account_id.nullable())
            .first(conn)
            .optional()?,
        "contract" => contracts::table
            .find(id)
            .select(contracts::account_id.nullable())
            .first(conn)
            .optional()?,
        "work_order" => work_orders::table
            .find(id)
            .select(work_orders::account_id.nullable())
            .first(conn)
            .optional()?,
        "asset" => assets::table
            .find(id)
            .select(assets::account_id.nullable())
            .first(conn)
            .optional()?,
        _ => None,
    };
    Ok(found.flatten())
}

/// The accounts of the given leads (those found): one statement for many leads.
pub fn accounts_of_leads(
    conn: &mut DbConnection,
    ids: &[&str],
) -> QueryResult<Vec<(String, Option<String>)>> {
    leads::table
        .filter(leads::id.eq_any(ids))
        .select((leads::id, leads::account_id))
        .load(conn)
}

/// Ties the earlier events of a record to the account it now belongs to (a converted lead).
pub fn attach(
    conn: &mut DbConnection,
    entity: &str,
    entity_id: &str,
    account_id: &str,
) -> QueryResult<usize> {
    diesel::update(
        events::table
            .filter(events::entity.eq(entity))
            .filter(events::entity_id.eq(entity_id))
            .filter(events::account_id.is_null()),
    )
    .set(events::account_id.eq(account_id))
    .execute(conn)
}

/// Up to `limit` events of an account before event id `before`, newest first, optionally
/// only of some event types.
pub fn page(
    conn: &mut DbConnection,
    account_id: &str,
    before: Option<i64>,
    types: Option<&[String]>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut q = events::table
        .filter(events::account_id.eq(account_id))
        .order(events::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(events::id.lt(b));
    }
    if let Some(t) = types {
        q = q.filter(events::event_type.eq_any(t.to_vec()));
    }
    q.load(conn)
}
