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

impl AuditDraft {
    fn link(&self) -> Link<'_> {
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
/// each other, such as duplicate checks of concurrent creates. Answers the chain's last
/// hash, which stays put while the lock is held: [`append`] then needs no read of its own.
pub fn lock_head(conn: &mut DbConnection) -> QueryResult<String> {
    concrete!(conn, c => diesel::update(journal_head::table.find(1))
        .set(journal_head::appends.eq(journal_head::appends))
        .returning(journal_head::last_hash)
        .get_result(c))
}

/// Appends audit entries (hash-chained) and events. Taking the head's row lock first
/// ([`lock_head`], unless `head` says this transaction holds it already) makes concurrent
/// appenders queue here on PostgreSQL: the chain stays linear and event ids commit in
/// order. On PostgreSQL everything after the lock is one statement ([`PgAppend`]), so the
/// lock is held for one round trip and the commit, however many entries there are.
pub fn append(
    conn: &mut DbConnection,
    head: Option<&str>,
    audits: &[AuditDraft],
    new_events: &[NewEvent],
) -> QueryResult<()> {
    if audits.is_empty() && new_events.is_empty() {
        return Ok(());
    }
    let mut prev = match head {
        Some(h) => h.to_string(),
        None => lock_head(conn)?,
    };
    let mut chained = Vec::with_capacity(audits.len());
    for a in audits {
        let hash = link_hash(&prev, &a.link());
        chained.push((a, std::mem::replace(&mut prev, hash)));
    }
    let n = (audits.len() + new_events.len()) as i64;
    match conn {
        DbConnection::Postgresql(c) => PgAppend::new(&chained, new_events, n, &prev)
            .execute(c)
            .map(|_| ()),
        DbConnection::Sqlite(c) => {
            for (i, (a, prev_hash)) in chained.iter().enumerate() {
                let hash = chained.get(i + 1).map_or(&prev, |(_, h)| h);
                let values = (
                    audit_log::id.eq(&a.id),
                    audit_log::entity.eq(&a.entity),
                    audit_log::entity_id.eq(&a.entity_id),
                    audit_log::action.eq(&a.action),
                    audit_log::actor_id.eq(&a.actor_id),
                    audit_log::at.eq(a.at),
                    audit_log::changes.eq(&a.changes),
                    audit_log::request_id.eq(&a.request_id),
                    audit_log::prev_hash.eq(prev_hash),
                    audit_log::hash.eq(hash),
                );
                diesel::insert_into(audit_log::table)
                    .values(values)
                    .execute(c)?;
            }
            for e in new_events {
                diesel::insert_into(events::table).values(e).execute(c)?;
            }
            diesel::update(journal_head::table.find(1))
                .set((
                    journal_head::appends.eq(journal_head::appends + n),
                    journal_head::last_hash.eq(&prev),
                ))
                .execute(c)
                .map(|_| ())
        }
    }
}

/// The whole of an append after the head's lock, as one PostgreSQL statement: the audit
/// entries and the events inserted from arrays (in their order, so sequence numbers and
/// event ids follow it) and the head moved to the last hash. A type of its own so that
/// diesel keeps it prepared (its text never changes).
struct PgAppend<'a> {
    audit: [Vec<&'a str>; 9],
    audit_at: Vec<i64>,
    event: [Vec<&'a str>; 4],
    event_at: Vec<i64>,
    event_account: Vec<Option<&'a str>>,
    appended: i64,
    last_hash: &'a str,
}

impl<'a> PgAppend<'a> {
    /// `chained`: each entry with the hash before it; `last_hash`: the hash after the last.
    fn new(
        chained: &'a [(&'a AuditDraft, String)],
        new_events: &'a [NewEvent],
        appended: i64,
        last_hash: &'a str,
    ) -> PgAppend<'a> {
        let mut audit: [Vec<&str>; 9] = Default::default();
        for (i, (a, prev_hash)) in chained.iter().enumerate() {
            let hash = chained.get(i + 1).map_or(last_hash, |(_, h)| h);
            let fields = [
                &a.id,
                &a.entity,
                &a.entity_id,
                &a.action,
                &a.actor_id,
                &a.changes,
                &a.request_id,
            ];
            for (column, v) in audit.iter_mut().zip(fields) {
                column.push(v.as_str());
            }
            audit[7].push(prev_hash);
            audit[8].push(hash);
        }
        let mut event: [Vec<&str>; 4] = Default::default();
        for e in new_events {
            for (column, v) in
                event
                    .iter_mut()
                    .zip([&e.event_type, &e.entity, &e.entity_id, &e.data])
            {
                column.push(v.as_str());
            }
        }
        PgAppend {
            audit,
            audit_at: chained.iter().map(|(a, _)| a.at).collect(),
            event,
            event_at: new_events.iter().map(|e| e.occurred_at).collect(),
            event_account: new_events.iter().map(|e| e.account_id.as_deref()).collect(),
            appended,
            last_hash,
        }
    }
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for PgAppend<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Nullable, Text};
        let [id, entity, entity_id, action, actor_id, changes, request_id, prev_hash, hash] =
            &self.audit;
        out.push_sql(
            "WITH a AS (INSERT INTO audit_log (id, entity, entity_id, action, actor_id, at, \
             changes, request_id, prev_hash, hash) SELECT id, entity, entity_id, action, \
             actor_id, at, changes, request_id, prev_hash, hash FROM unnest(",
        );
        for column in [id, entity, entity_id, action, actor_id] {
            out.push_bind_param::<Array<Text>, _>(column)?;
            out.push_sql(", ");
        }
        out.push_bind_param::<Array<BigInt>, _>(&self.audit_at)?;
        for column in [changes, request_id, prev_hash, hash] {
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(column)?;
        }
        out.push_sql(
            ") WITH ORDINALITY AS x(id, entity, entity_id, action, actor_id, at, changes, \
             request_id, prev_hash, hash, n) ORDER BY n), \
             e AS (INSERT INTO events (event_type, occurred_at, entity, entity_id, data, \
             account_id) SELECT event_type, occurred_at, entity, entity_id, data, account_id \
             FROM unnest(",
        );
        let [event_type, e_entity, e_entity_id, data] = &self.event;
        out.push_bind_param::<Array<Text>, _>(event_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.event_at)?;
        for column in [e_entity, e_entity_id, data] {
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(column)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.event_account)?;
        out.push_sql(
            ") WITH ORDINALITY AS y(event_type, occurred_at, entity, entity_id, data, \
             account_id, n) ORDER BY n) \
             UPDATE journal_head SET appends = appends + ",
        );
        out.push_bind_param::<BigInt, _>(&self.appended)?;
        out.push_sql(", last_hash = ");
        out.push_bind_param::<Text, _>(&self.last_hash)?;
        out.push_sql(" WHERE id = 1");
        Ok(())
    }
}

impl diesel::query_builder::QueryId for PgAppend<'_> {
    type QueryId = PgAppend<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl RunQueryDsl<diesel::PgConnection> for PgAppend<'_> {}

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
