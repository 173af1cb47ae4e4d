//! The audit chain and the event outbox, appended together at the end of every writing
//! transaction.

use diesel::prelude::*;

use super::schema::{audit_log, events, journal_head};
use super::DbConnection;
use crate::domain::audit::{link_hash, Link};

/// An audit entry before it is chained.
#[derive(Debug, Clone)]
pub struct AuditDraft {
    pub id: String,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub actor_id: String,
    pub at: i64,
    pub changes: String,
    pub request_id: String,
}

#[derive(Debug, Clone, Queryable)]
pub struct AuditRow {
    pub seq: i64,
    pub id: String,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub actor_id: String,
    pub at: i64,
    pub changes: String,
    pub request_id: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    pub fn link(&self) -> Link<'_> {
        Link {
            id: &self.id,
            entity: &self.entity,
            entity_id: &self.entity_id,
            action: &self.action,
            actor_id: &self.actor_id,
            at: self.at,
            changes: &self.changes,
            request_id: &self.request_id,
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub struct NewEvent {
    pub event_type: String,
    pub occurred_at: i64,
    pub entity: String,
    pub entity_id: String,
    pub data: String,
    /// The account the event is about (the account timeline).
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, Queryable)]
pub struct EventRow {
    pub id: i64,
    pub event_type: String,
    pub occurred_at: i64,
    pub entity: String,
    pub entity_id: String,
    pub data: String,
    /// The account the event is about (the account timeline).
    pub account_id: Option<String>,
}

/// Takes the journal head's row lock now (PostgreSQL), so that this transaction sees every
/// write committed by the transactions queued before it: used by use cases that must see
/// each other, such as duplicate checks of concurrent creates.
pub fn lock_head(conn: &mut DbConnection) -> QueryResult<()> {
    concrete!(conn, c => diesel::update(journal_head::table.find(1))
        .set(journal_head::appends.eq(journal_head::appends))
        .execute(c))
    .map(|_| ())
}

/// Appends audit entries (hash-chained) and events. Updating the head row first takes its
/// row lock on PostgreSQL, so concurrent appenders queue here: the chain stays linear and
/// event ids commit in order. The update returns the chain's last hash (one round trip
/// fewer under that lock than reading it after).
pub fn append(
    conn: &mut DbConnection,
    audits: &[AuditDraft],
    new_events: &[NewEvent],
) -> QueryResult<()> {
    if audits.is_empty() && new_events.is_empty() {
        return Ok(());
    }
    let n = (audits.len() + new_events.len()) as i64;
    let mut prev: String = concrete!(conn, c => diesel::update(journal_head::table.find(1))
        .set(journal_head::appends.eq(journal_head::appends + n))
        .returning(journal_head::last_hash)
        .get_result(c))?;
    for a in audits {
        let link = Link {
            id: &a.id,
            entity: &a.entity,
            entity_id: &a.entity_id,
            action: &a.action,
            actor_id: &a.actor_id,
            at: a.at,
            changes: &a.changes,
            request_id: &a.request_id,
        };
        let hash = link_hash(&prev, &link);
        let values = (
            audit_log::id.eq(&a.id),
            audit_log::entity.eq(&a.entity),
            audit_log::entity_id.eq(&a.entity_id),
            audit_log::action.eq(&a.action),
            audit_log::actor_id.eq(&a.actor_id),
            audit_log::at.eq(a.at),
            audit_log::changes.eq(&a.changes),
            audit_log::request_id.eq(&a.request_id),
            audit_log::prev_hash.eq(&prev),
            audit_log::hash.eq(&hash),
        );
        concrete!(conn, c => diesel::insert_into(audit_log::table).values(values).execute(c))?;
        prev = hash;
    }
    for e in new_events {
        concrete!(conn, c => diesel::insert_into(events::table).values(e).execute(c))?;
    }
    if !audits.is_empty() {
        concrete!(conn, c => diesel::update(journal_head::table.find(1))
            .set(journal_head::last_hash.eq(&prev))
            .execute(c))?;
    }
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    /// Any of these entity ids (a lead and the leads merged into it).
    pub entity_ids: Option<Vec<String>>,
    pub actor_id: Option<String>,
    pub since: Option<i64>,
}

/// A page of audit entries in chain order after the given sequence number.
pub fn list_audit(
    conn: &mut DbConnection,
    f: &AuditFilter,
    after_seq: i64,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    let mut q = audit_log::table
        .filter(audit_log::seq.gt(after_seq))
        .order(audit_log::seq.asc())
        .limit(limit)
        .into_boxed();
    if let Some(v) = &f.entity {
        q = q.filter(audit_log::entity.eq(v.clone()));
    }
    if let Some(v) = &f.entity_id {
        q = q.filter(audit_log::entity_id.eq(v.clone()));
    }
    if let Some(v) = &f.entity_ids {
        q = q.filter(audit_log::entity_id.eq_any(v.clone()));
    }
    if let Some(v) = &f.actor_id {
        q = q.filter(audit_log::actor_id.eq(v.clone()));
    }
    if let Some(v) = f.since {
        q = q.filter(audit_log::at.ge(v));
    }
    q.load(conn)
}

/// A page of events after `after`, optionally only of the given types.
pub fn list_events(
    conn: &mut DbConnection,
    after: i64,
    types: Option<&[&str]>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut q = events::table
        .filter(events::id.gt(after))
        .order(events::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(t) = types {
        q = q
            .filter(events::event_type.eq_any(t.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
    }
    q.load(conn)
}
