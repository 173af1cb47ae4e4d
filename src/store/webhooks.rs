//! Webhook subscriptions, the delivery queue (one row per event and subscription), the
//! attempt log, and change-feed retention.

use diesel::prelude::*;

use super::journal::EventRow;
use super::schema::{
    accounts, contracts, events, leads, opportunities, quotes, users, webhook_attempts,
    webhook_deliveries, webhooks, work_orders,
};
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = webhooks, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct WebhookRow {
    pub id: String,
    pub url: String,
    pub secret: String,
    /// JSON array of patterns.
    pub event_types: String,
    pub format: String,
    pub active: bool,
    pub description: Option<String>,
    pub event_cursor: i64,
    pub failing_since: Option<i64>,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub created_by: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = webhook_deliveries, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct DeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub event_id: i64,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub round_failures: i32,
    pub next_attempt_at: i64,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = webhook_attempts, treat_none_as_default_value = false)]
pub struct AttemptRow {
    pub id: String,
    pub delivery_id: String,
    pub attempt: i32,
    pub at: i64,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

pub fn insert(conn: &mut DbConnection, row: &WebhookRow) -> QueryResult<()> {
    diesel::insert_into(webhooks::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Saves the editable state of a subscription if its version is still `expected_version`
/// (the delivery lease columns are the worker's and stay as they are).
pub fn update(
    conn: &mut DbConnection,
    row: &WebhookRow,
    expected_version: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        webhooks::table
            .find(&row.id)
            .filter(webhooks::version.eq(expected_version)),
    )
    .set((
        webhooks::url.eq(&row.url),
        webhooks::secret.eq(&row.secret),
        webhooks::event_types.eq(&row.event_types),
        webhooks::format.eq(&row.format),
        webhooks::active.eq(row.active),
        webhooks::description.eq(&row.description),
        webhooks::event_cursor.eq(row.event_cursor),
        webhooks::failing_since.eq(row.failing_since),
        webhooks::disabled_at.eq(row.disabled_at),
        webhooks::disabled_reason.eq(&row.disabled_reason),
        webhooks::version.eq(row.version),
        webhooks::updated_at.eq(row.updated_at),
        webhooks::deleted_at.eq(row.deleted_at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<WebhookRow>> {
    webhooks::table
        .find(id)
        .filter(webhooks::deleted_at.is_null())
        .first(conn)
        .optional()
}

/// Subscriptions newest first, before the cursor id.
pub fn list(
    conn: &mut DbConnection,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<WebhookRow>> {
    let mut q = webhooks::table
        .filter(webhooks::deleted_at.is_null())
        .order(webhooks::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(webhooks::id.lt(b.to_string()));
    }
    q.load(conn)
}

/// Subscriptions the worker serves.
pub fn active(conn: &mut DbConnection) -> QueryResult<Vec<WebhookRow>> {
    webhooks::table
        .filter(webhooks::deleted_at.is_null())
        .filter(webhooks::active.eq(true))
        .order(webhooks::id.asc())
        .load(conn)
}

/// The newest event id (0 when there is none).
pub fn head_event_id(conn: &mut DbConnection) -> QueryResult<i64> {
    events::table
        .select(diesel::dsl::max(events::id))
        .first::<Option<i64>>(conn)
        .map(|v| v.unwrap_or(0))
}

pub fn event(conn: &mut DbConnection, id: i64) -> QueryResult<Option<EventRow>> {
    events::table.find(id).first(conn).optional()
}

/// Moves a live subscription's fan-out cursor from `from` to `to`; `false` when another
/// instance moved it first or the subscription was stopped or deleted meanwhile (the
/// fan-out's transaction then rolls back, so a deleted subscription gains no deliveries).
pub fn advance_cursor(conn: &mut DbConnection, id: &str, from: i64, to: i64) -> QueryResult<bool> {
    let n = diesel::update(
        webhooks::table
            .find(id)
            .filter(webhooks::event_cursor.eq(from))
            .filter(webhooks::active.eq(true))
            .filter(webhooks::deleted_at.is_null()),
    )
    .set(webhooks::event_cursor.eq(to))
    .execute(conn)?;
    Ok(n == 1)
}

/// Takes (or renews) the delivery lease of a subscription for `owner` until `until`;
/// `false` when another instance holds a live lease or the subscription stopped.
pub fn claim(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    now: i64,
    until: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        webhooks::table
            .find(id)
            .filter(webhooks::active.eq(true))
            .filter(webhooks::deleted_at.is_null())
            .filter(
                webhooks::lease_until
                    .is_null()
                    .or(webhooks::lease_until.lt(now))
                    .or(webhooks::lease_owner.eq(owner)),
            ),
    )
    .set((
        webhooks::lease_owner.eq(owner),
        webhooks::lease_until.eq(until),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn release(conn: &mut DbConnection, id: &str, owner: &str) -> QueryResult<()> {
    diesel::update(
        webhooks::table
            .find(id)
            .filter(webhooks::lease_owner.eq(owner)),
    )
    .set((
        webhooks::lease_owner.eq(None::<String>),
        webhooks::lease_until.eq(None::<i64>),
    ))
    .execute(conn)
    .map(|_| ())
}

/// Takes the subscription's row lock for the rest of the transaction (PostgreSQL): whoever
/// changes a subscription and its deliveries locks the subscription first.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::update(webhooks::table.find(id))
        .set(webhooks::id.eq(webhooks::id))
        .execute(conn)
        .map(|_| ())
}

/// Records the outcome of an attempt on the subscription: a success clears the failure
/// clock, a failure starts it (if not running).
pub fn note_outcome(conn: &mut DbConnection, id: &str, ok: bool, now: i64) -> QueryResult<()> {
    if ok {
        diesel::update(webhooks::table.find(id))
            .set(webhooks::failing_since.eq(None::<i64>))
            .execute(conn)?;
    } else {
        diesel::update(
            webhooks::table
                .find(id)
                .filter(webhooks::failing_since.is_null()),
        )
        .set(webhooks::failing_since.eq(now))
        .execute(conn)?;
    }
    Ok(())
}

pub fn insert_delivery(conn: &mut DbConnection, row: &DeliveryRow) -> QueryResult<()> {
    diesel::insert_into(webhook_deliveries::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Writes a delivery that was read with status `from`; `false` when its status changed
/// meanwhile (a deleted subscription gave it up while an attempt was in flight).
pub fn update_delivery(
    conn: &mut DbConnection,
    row: &DeliveryRow,
    from: &str,
) -> QueryResult<bool> {
    let n = diesel::update(
        webhook_deliveries::table
            .find(&row.id)
            .filter(webhook_deliveries::status.eq(from)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find_delivery(conn: &mut DbConnection, id: &str) -> QueryResult<Option<DeliveryRow>> {
    webhook_deliveries::table.find(id).first(conn).optional()
}

/// Subscriptions with a waiting delivery due by `now` (the worker claims only these, so an
/// idle system writes nothing).
pub fn with_due_deliveries(conn: &mut DbConnection, now: i64) -> QueryResult<Vec<String>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::status.eq("pending"))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .select(webhook_deliveries::webhook_id)
        .distinct()
        .load(conn)
}

/// The oldest waiting delivery of a subscription: deliveries go out in event order, one at
/// a time, so this one blocks the rest until it is delivered or fails for good.
pub fn head(conn: &mut DbConnection, webhook_id: &str) -> QueryResult<Option<DeliveryRow>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .filter(webhook_deliveries::status.eq("pending"))
        .order((
            webhook_deliveries::event_id.asc(),
            webhook_deliveries::id.asc(),
        ))
        .first(conn)
        .optional()
}

/// A subscription's deliveries newest first.
pub fn list_deliveries(
    conn: &mut DbConnection,
    webhook_id: &str,
    status: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    let mut q = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(webhook_deliveries::status.eq(s.to_string()));
    }
    if let Some(b) = before {
        q = q.filter(webhook_deliveries::id.lt(b.to_string()));
    }
    q.load(conn)
}

/// Gives up every waiting delivery of a subscription (it was deleted); answers how many.
pub fn fail_pending(
    conn: &mut DbConnection,
    webhook_id: &str,
    why: &str,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq(webhook_id))
            .filter(webhook_deliveries::status.eq("pending")),
    )
    .set((
        webhook_deliveries::status.eq("failed"),
        webhook_deliveries::last_error.eq(why),
        webhook_deliveries::updated_at.eq(now),
    ))
    .execute(conn)
}

pub fn insert_attempt(conn: &mut DbConnection, row: &AttemptRow) -> QueryResult<()> {
    diesel::insert_into(webhook_attempts::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The attempts of these deliveries, in attempt order.
pub fn attempts_of(
    conn: &mut DbConnection,
    delivery_ids: &[String],
) -> QueryResult<Vec<AttemptRow>> {
    webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(delivery_ids))
        .order((
            webhook_attempts::delivery_id.asc(),
            webhook_attempts::attempt.asc(),
        ))
        .load(conn)
}

/// Display names of these users.
pub fn user_names(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<(String, String)>> {
    users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::display_name))
        .load(conn)
}

/// How a chat message names a record: a lead by name and company, a contract or work
/// order by number, and so on.
pub fn label(conn: &mut DbConnection, entity: &str, id: &str) -> QueryResult<Option<String>> {
    Ok(match entity {
        "lead" => leads::table
            .find(id)
            .select((leads::name, leads::company))
            .first::<(String, Option<String>)>(conn)
            .optional()?
            .map(|(n, c)| match c {
                Some(c) => format!("{n} · {c}"),
                None => n,
            }),
        "account" => accounts::table
            .find(id)
            .select(accounts::name)
            .first(conn)
            .optional()?,
        "opportunity" => opportunities::table
            .find(id)
            .select(opportunities::name)
            .first(conn)
            .optional()?,
        "quote" => quotes::table
            .find(id)
            .select(quotes::number)
            .first(conn)
            .optional()?,
        "contract" => contracts::table
            .find(id)
            .select(contracts::number)
            .first(conn)
            .optional()?,
        "work_order" => work_orders::table
            .find(id)
            .select(work_orders::number)
            .first(conn)
            .optional()?,
        _ => None,
    })
}

/// Deletes up to `limit` change-feed events older than `before_ms` that no account
/// timeline keeps, no subscription still has to fan out and no waiting delivery needs;
/// answers how many went.
pub fn expire_events(conn: &mut DbConnection, before_ms: i64, limit: i64) -> QueryResult<usize> {
    // A disabled subscription does not hold events back: on re-enabling it resumes from
    // the oldest event still kept.
    let fanned_out: Option<i64> = webhooks::table
        .filter(webhooks::deleted_at.is_null())
        .filter(webhooks::active.eq(true))
        .select(diesel::dsl::min(webhooks::event_cursor))
        .first(conn)?;
    let waiting: Option<i64> = webhook_deliveries::table
        .filter(webhook_deliveries::status.eq("pending"))
        .select(diesel::dsl::min(webhook_deliveries::event_id))
        .first(conn)?;
    let mut bound = i64::MAX;
    if let Some(c) = fanned_out {
        bound = bound.min(c);
    }
    if let Some(w) = waiting {
        bound = bound.min(w - 1);
    }
    let ids: Vec<i64> = events::table
        .filter(events::account_id.is_null())
        .filter(events::id.le(bound))
        .filter(events::occurred_at.lt(before_ms))
        .order(events::id.asc())
        .select(events::id)
        .limit(limit)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(events::table.filter(events::id.eq_any(&ids))).execute(conn)
}

/// Deletes up to `limit` finished deliveries (and their attempts) last touched before
/// `before_ms`.
pub fn expire_deliveries(
    conn: &mut DbConnection,
    before_ms: i64,
    limit: i64,
) -> QueryResult<usize> {
    let ids: Vec<String> = webhook_deliveries::table
        .filter(webhook_deliveries::updated_at.lt(before_ms))
        .filter(webhook_deliveries::status.ne("pending"))
        .select(webhook_deliveries::id)
        .limit(limit)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(&ids)))
        .execute(conn)?;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
        .execute(conn)
}
