//! Use cases. Each public function here is one use case: it checks permissions, runs one
//! database transaction on the blocking pool, and writes the record, its audit entries and
//! its events together (through [`Uow`]).

pub mod accounts;
pub mod activities;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod calendars;
pub mod config;
pub mod contacts;
pub mod contracts;
pub mod custom_fields;
pub mod dedup;
pub mod events;
pub mod group_commit;
pub mod impact;
pub mod imports;
pub mod input;
mod later;
pub mod lead_flow;
pub mod leads;
pub mod lookup;
pub mod opportunities;
pub mod org;
pub mod pipeline;
pub mod quotes;
pub mod refs;
pub mod renewal;
pub mod reports;
pub mod routing;
pub mod rules;
pub mod scoring;
pub mod service_rules;
pub mod timeline;
pub mod webhook_delivery;
pub mod webhooks;
pub mod work_orders;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::auth::jwt::JwtKeys;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::audit::Change;
use crate::error::{AppError, AppResult};
use crate::store::journal::{AuditDraft, NewEvent};
use crate::store::{Db, DbConnection};

/// Everything a use case needs besides its input.
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    pub jwt: JwtKeys,
    /// Failed-login counters of this instance.
    pub login_throttle: Arc<crate::auth::throttle::LoginThrottle>,
    /// Report computations running at once on this instance.
    pub report_slots: ReportSlots,
    /// Reports computed in the last `CRMFLOW_REPORT_CACHE_SECS` on this instance.
    pub report_cache: ReportCache,
    /// Callers resolved recently (see [`crate::auth::callers`]).
    pub callers: Arc<crate::auth::callers::CallerCache>,
    /// PostgreSQL: hears other instances' changes to users and keys while any clone lives.
    pub callers_listener: Option<Arc<crate::store::listen::Listener>>,
    /// The writes waiting for a group commit (see [`group_commit`]).
    pub write_groups: Arc<group_commit::WriteGroups>,
}

/// Recently computed reports, by request (see [`Services::report`]). Dashboards ask for
/// the same figures over and over (every manager's front end polls its team's report); a
/// report scans a period's records, so within the time to live the figures are served as
/// computed, and a request for figures being computed waits for them instead of computing
/// them again. Figures past half their time to live are computed anew in the background
/// while the request is answered with them, so a report asked for steadily never makes a
/// request wait. A report's `period.to` says when its figures were taken.
#[derive(Clone)]
pub struct ReportCache {
    ttl: std::time::Duration,
    entries: Arc<std::sync::Mutex<HashMap<String, CacheEntry>>>,
}

type CacheEntry = Arc<CacheSlot>;

/// One request's last figures.
#[derive(Default)]
struct CacheSlot {
    /// Locked while the figures are computed for a request that waits for them.
    figures: tokio::sync::Mutex<Option<CachedReport>>,
    /// Whether newer figures are being computed in the background.
    refreshing: std::sync::atomic::AtomicBool,
}

struct CachedReport {
    at: std::time::Instant,
    /// The [`Figures`] of the report's type.
    value: Arc<dyn std::any::Any + Send + Sync>,
}

/// A report's figures as computed once, shared by every request the cache answers with
/// them; their JSON document is written on first use and then served as written.
pub struct Figures<T> {
    value: Arc<T>,
    json: Arc<std::sync::OnceLock<Result<bytes::Bytes, String>>>,
}

impl<T> Clone for Figures<T> {
    fn clone(&self) -> Self {
        Figures {
            value: self.value.clone(),
            json: self.json.clone(),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Figures<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T> std::ops::Deref for Figures<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> Figures<T> {
    fn new(value: T) -> Figures<T> {
        Figures {
            value: Arc::new(value),
            json: Arc::default(),
        }
    }
}

impl<T: serde::Serialize> Figures<T> {
    /// The figures as a JSON document (written once per computation).
    pub fn json(&self) -> AppResult<bytes::Bytes> {
        self.json
            .get_or_init(|| {
                serde_json::to_vec(&*self.value)
                    .map(bytes::Bytes::from)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(AppError::internal)
    }
}

/// Distinct requests kept before stale entries are dropped.
const REPORT_CACHE_KEYS: usize = 512;

impl ReportCache {
    /// `ttl` zero: every request computes its report.
    pub fn new(ttl: std::time::Duration) -> ReportCache {
        ReportCache {
            ttl,
            entries: Arc::default(),
        }
    }

    fn fresh(&self, c: &CachedReport) -> bool {
        c.at.elapsed() < self.ttl
    }

    /// Past half the time to live: time to compute newer figures while these still serve.
    fn due(&self, c: &CachedReport) -> bool {
        c.at.elapsed() >= self.ttl / 2
    }

    fn entry(&self, key: String) -> CacheEntry {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= REPORT_CACHE_KEYS && !entries.contains_key(&key) {
            entries.retain(|_, e| {
                Arc::strong_count(e) > 1
                    || e.figures
                        .try_lock()
                        .map(|c| c.as_ref().is_some_and(|c| self.fresh(c)))
                        .unwrap_or(true)
            });
        }
        entries.entry(key).or_default().clone()
    }
}

/// Bounds how many reports run at once. A report scans a period's records for seconds on
/// a large data set; unbounded, a burst of dashboard loads held every pooled connection
/// and the sweeper, webhooks and ordinary requests timed out waiting for one (503s in the
/// benchmark). Waiting requests queue in arrival order.
#[derive(Clone)]
pub struct ReportSlots {
    slots: Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
}

impl ReportSlots {
    pub fn new(concurrency: usize, wait: std::time::Duration) -> ReportSlots {
        ReportSlots {
            slots: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            wait,
        }
    }

    /// A slot, held until the permit is dropped; 503 `unavailable` after the wait.
    pub async fn acquire(&self) -> AppResult<tokio::sync::OwnedSemaphorePermit> {
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) | Err(_) => Err(AppError::unavailable(
                "too many reports are being computed; retry shortly",
            )),
        }
    }
}

/// Who asks, and under which request id (carried into audit entries).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub principal: Principal,
    pub request_id: String,
    /// Which client sent the request: `api_key:<name>`, else `user_agent:<User-Agent>`,
    /// else `user:<username>`; `import:<username>` for import rows (groups the dry run of a
    /// custom-field change).
    pub client: String,
}

/// The open transaction of one use case, collecting its audit entries and events.
pub struct Uow<'c> {
    pub conn: &'c mut DbConnection,
    pub now: DateTime<Utc>,
    pub now_ms: i64,
    /// The company's time zone (calendar days).
    pub tz: chrono_tz::Tz,
    actor_id: String,
    request_id: String,
    /// The client of the request (see [`Ctx::client`]); the actor for the system's work.
    pub client: String,
    audits: Vec<AuditDraft>,
    events: Vec<NewEvent>,
    /// The chain's last hash, read when this transaction took the journal head (see
    /// [`Uow::serialize`]); `None` until it does.
    head: Option<String>,
    /// Reads kept for the rest of the unit of work (see [`Uow::for_batch`]).
    kept: Option<KeptReads>,
    /// Records' creations whose JSON the helper thread is building (see [`Uow::created`]).
    later: Option<later::Later>,
}

/// Configuration a unit of work reads once and keeps (see [`Uow::for_batch`]).
#[derive(Default)]
struct KeptReads {
    scoring: Option<Arc<(crate::domain::scoring::ScoringModel, i64)>>,
    custom_rules: HashMap<String, Arc<Vec<crate::domain::custom_field::FieldRule>>>,
}

impl<'c> Uow<'c> {
    /// A unit of work on `conn` (already in a transaction) at `now`, attributed to
    /// `actor_id` (also its client until told otherwise).
    fn new(
        conn: &'c mut DbConnection,
        (now, tz): (DateTime<Utc>, chrono_tz::Tz),
        actor_id: String,
        request_id: String,
    ) -> Uow<'c> {
        Uow {
            conn,
            now,
            now_ms: now.timestamp_millis(),
            tz,
            client: actor_id.clone(),
            actor_id,
            request_id,
            audits: Vec::new(),
            events: Vec::new(),
            head: None,
            kept: None,
            later: None,
        }
    }

    /// Starts the next write of a group (see [`group_commit`]) at `at` for `actor_id`: what
    /// the previous one kept or deferred is gone (each settled its own).
    fn begin(
        &mut self,
        (now, tz): (DateTime<Utc>, chrono_tz::Tz),
        actor_id: String,
        request_id: String,
    ) {
        self.now = now;
        self.now_ms = now.timestamp_millis();
        self.tz = tz;
        self.client = actor_id.clone();
        self.actor_id = actor_id;
        self.request_id = request_id;
        self.kept = None;
        self.later = None;
    }

    /// Runs one write's use case `f`, then completes what it recorded: the JSON built off
    /// the writer, and the accounts of its events (as its writes leave them).
    fn job<T>(&mut self, f: impl FnOnce(&mut Uow<'_>) -> AppResult<T>) -> AppResult<T> {
        let mark = self.events.len();
        let out = f(self)?;
        self.settle()?;
        resolve_accounts(self.conn, &mut self.events[mark..])?;
        Ok(out)
    }

    /// Appends the audit entries and events of the unit of work's writes (in the
    /// transaction, before its commit).
    fn finish(&mut self) -> AppResult<()> {
        crate::store::journal::append(self.conn, self.head.as_deref(), &self.audits, &self.events)?;
        if self.changes_callers() {
            crate::store::listen::notify(self.conn, crate::store::listen::CALLERS)?;
        }
        Ok(())
    }

    /// Marks this unit of work as a batch of records (an import batch, whose rows change
    /// neither the scoring model nor the custom fields). From here on those are read once
    /// and kept instead of once per record, and each record's creation has its JSON built
    /// on a helper thread (see [`Uow::created`]) while the batch goes on.
    pub fn for_batch(&mut self) {
        self.kept.get_or_insert_with(KeptReads::default);
        self.later.get_or_insert_with(later::Later::new);
    }

    /// Records a record's creation: its audit entry (every field of the snapshot that
    /// `snap` builds, but those in `ignore`, from null) and its `event_type` event (the
    /// snapshot) placed before the events recorded since `mark`. In a batch (see
    /// [`Uow::for_batch`]) `snap` runs on the helper thread.
    pub fn created(
        &mut self,
        mark: usize,
        event_type: &str,
        (entity, entity_id): (&str, &str),
        ignore: &'static [&'static str],
        snap: impl FnOnce() -> Value + Send + 'static,
    ) {
        let Some(later) = self.later.as_mut() else {
            let s = snap();
            self.audit_created(entity, entity_id, &s, ignore);
            self.event_before(mark, event_type, entity, entity_id, s);
            return;
        };
        let ticket = later.defer(ignore, snap);
        self.push_audit(entity, entity_id, "create", ticket.clone());
        debug_assert!(crate::domain::events::EVENT_TYPES.contains(&event_type));
        let placeholder = NewEvent {
            event_type: event_type.into(),
            occurred_at: self.now_ms,
            entity: entity.into(),
            entity_id: entity_id.into(),
            data: ticket,
            account_id: None,
        };
        self.events.insert(mark.min(self.events.len()), placeholder);
    }

    /// Puts the text the helper thread built in place of every placeholder still recorded
    /// (those of rows rolled back are gone; their results are dropped).
    fn settle(&mut self) -> AppResult<()> {
        match self.later.take() {
            Some(later) => later.settle(&mut self.audits, &mut self.events),
            None => Ok(()),
        }
    }

    /// The scoring model in force and its version.
    pub fn scoring_model(&mut self) -> AppResult<Arc<(crate::domain::scoring::ScoringModel, i64)>> {
        if let Some(m) = self.kept.as_ref().and_then(|k| k.scoring.clone()) {
            return Ok(m);
        }
        let m = Arc::new(scoring::current(self.conn)?);
        if let Some(k) = self.kept.as_mut() {
            k.scoring = Some(m.clone());
        }
        Ok(m)
    }

    /// The rules of `entity`'s custom fields.
    pub fn custom_rules(
        &mut self,
        entity: &str,
    ) -> AppResult<Arc<Vec<crate::domain::custom_field::FieldRule>>> {
        if let Some(r) = self.kept.as_ref().and_then(|k| k.custom_rules.get(entity)) {
            return Ok(r.clone());
        }
        let r = Arc::new(custom_fields::rules_for(self.conn, entity)?);
        if let Some(k) = self.kept.as_mut() {
            k.custom_rules.insert(entity.to_string(), r.clone());
        }
        Ok(r)
    }

    /// Who the changes are attributed to.
    pub fn actor(&self) -> &str {
        &self.actor_id
    }

    /// Records an audit entry for a change of `entity` `entity_id`.
    pub fn audit(&mut self, entity: &str, entity_id: &str, action: &str, changes: &[Change]) {
        let changes = serde_json::to_string(changes).unwrap_or_else(|_| "[]".into());
        self.push_audit(entity, entity_id, action, changes);
    }

    /// Records the audit entry of a record's creation: every field of its snapshot `snap`
    /// but those in `ignore`, from null.
    pub fn audit_created(&mut self, entity: &str, entity_id: &str, snap: &Value, ignore: &[&str]) {
        self.push_audit(
            entity,
            entity_id,
            "create",
            crate::domain::audit::created_changes_json(snap, ignore),
        );
    }

    fn push_audit(&mut self, entity: &str, entity_id: &str, action: &str, changes: String) {
        self.audits.push(AuditDraft {
            id: new_id(),
            entity: entity.into(),
            entity_id: entity_id.into(),
            action: action.into(),
            actor_id: self.actor_id.clone(),
            at: self.now_ms,
            changes,
            request_id: self.request_id.clone(),
        });
    }

    /// Whether this unit of work writes a user or an API key (what a caller is resolved
    /// from; see [`crate::auth::callers`]). Every such change is audited.
    fn changes_callers(&self) -> bool {
        self.audits
            .iter()
            .any(|a| matches!(a.entity.as_str(), "user" | "api_key"))
    }

    /// Queues this transaction behind every other writer from here on (see
    /// `store::journal::lock_head`); a statement the first time only (a lead create that
    /// assigns round-robin asks twice).
    pub fn serialize(&mut self) -> AppResult<()> {
        if self.head.is_none() {
            self.head = Some(crate::store::journal::lock_head(self.conn)?);
        }
        Ok(())
    }

    /// Runs `f` in a savepoint: when it fails, its database writes, audit entries and
    /// events are undone and the unit of work carries on (one row of an import).
    pub fn savepoint<T>(&mut self, f: impl FnOnce(&mut Uow<'_>) -> AppResult<T>) -> AppResult<T> {
        use diesel::connection::{Connection, TransactionManager};
        type Tm = <DbConnection as Connection>::TransactionManager;
        let (audits, events, held) = (self.audits.len(), self.events.len(), self.head.is_some());
        Tm::begin_transaction(self.conn)?;
        match f(self) {
            Ok(v) => {
                Tm::commit_transaction(self.conn)?;
                Ok(v)
            }
            Err(e) => {
                Tm::rollback_transaction(self.conn)?;
                self.audits.truncate(audits);
                self.events.truncate(events);
                // PostgreSQL drops a row lock taken inside a savepoint rolled back.
                if !held {
                    self.head = None;
                }
                Err(e)
            }
        }
    }

    /// A position in this unit of work's events, for [`Uow::event_before`].
    pub fn events_mark(&self) -> usize {
        self.events.len()
    }

    /// Records an event placed before those recorded since `mark` (so that, say,
    /// `lead.created` precedes the `lead.assigned` decided while creating it).
    pub fn event_before(
        &mut self,
        mark: usize,
        event_type: &str,
        entity: &str,
        entity_id: &str,
        data: Value,
    ) {
        self.event(event_type, entity, entity_id, data);
        let e = self.events.pop().expect("just pushed");
        self.events.insert(mark.min(self.events.len()), e);
    }

    /// Records an event of `event_type` about `entity` `entity_id`.
    pub fn event(&mut self, event_type: &str, entity: &str, entity_id: &str, data: Value) {
        debug_assert!(
            crate::domain::events::EVENT_TYPES.contains(&event_type),
            "{event_type}"
        );
        let account_id = account_in(&data);
        self.events.push(NewEvent {
            event_type: event_type.into(),
            occurred_at: self.now_ms,
            entity: entity.into(),
            entity_id: entity_id.into(),
            data: data.to_string(),
            account_id,
        });
    }
}

/// The account an event's payload names.
fn account_in(data: &Value) -> Option<String> {
    data.get("account_id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A new UUIDv7 id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn join_error(e: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("blocking task failed: {e}"))
}

impl Services {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Runs `f` with a read connection on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.db.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let mut conn = db.read_conn()?;
            f(&mut conn)
        })
        .await
        .map_err(join_error)?
    }

    /// The report `key` names (report, row scope, filters, requested period): as computed
    /// within the cache's time to live, else computed by `f` with a read connection once
    /// a report slot is free. One computation per key at a time; figures past half their
    /// time to live are answered and computed anew by `f` in the background.
    pub async fn report<T, F>(&self, key: String, f: F) -> AppResult<Figures<T>>
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T> + Send + 'static,
        T: Send + Sync + 'static,
    {
        let cache = &self.report_cache;
        if cache.ttl.is_zero() {
            return self.compute_report(f).await.map(Figures::new);
        }
        let entry = cache.entry(key);
        let mut cached = tokio::time::timeout(self.report_slots.wait, entry.figures.lock())
            .await
            .map_err(|_| {
                AppError::unavailable("this report is still being computed; retry shortly")
            })?;
        if let Some((hit, due)) = cached
            .as_ref()
            .filter(|c| cache.fresh(c))
            .and_then(|c| Some((c.value.downcast_ref::<Figures<T>>()?.clone(), cache.due(c))))
        {
            drop(cached);
            if due
                && !entry
                    .refreshing
                    .swap(true, std::sync::atomic::Ordering::AcqRel)
            {
                self.refresh_report(entry, f);
            }
            return Ok(hit);
        }
        let figures = Figures::new(self.compute_report(f).await?);
        *cached = Some(CachedReport {
            at: std::time::Instant::now(),
            value: Arc::new(figures.clone()),
        });
        Ok(figures)
    }

    /// Computes `entry`'s figures anew on a spawned task; the figures in place keep
    /// serving until the new ones are in (and still do if computing them fails).
    fn refresh_report<T, F>(&self, entry: CacheEntry, f: F)
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T> + Send + 'static,
        T: Send + Sync + 'static,
    {
        let svc = self.clone();
        tokio::spawn(async move {
            match svc.compute_report(f).await {
                Ok(value) => {
                    *entry.figures.lock().await = Some(CachedReport {
                        at: std::time::Instant::now(),
                        value: Arc::new(Figures::new(value)),
                    });
                }
                Err(e) => log::warn!("a report's figures were not refreshed: {e}"),
            }
            entry
                .refreshing
                .store(false, std::sync::atomic::Ordering::Release);
        });
    }

    /// Runs the report query `f` in a report slot. The slot goes with the query onto the
    /// blocking pool: a caller that gives up (a client that disconnects) does not stop the
    /// query, so its slot is free only when the query has ended.
    async fn compute_report<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let slot = self.report_slots.acquire().await?;
        self.read(move |conn| {
            let _slot = slot;
            f(conn)
        })
        .await
    }

    /// Runs `f` with the write connection on the blocking pool, outside any use-case
    /// transaction (bookkeeping that writes no audit entry, such as idempotency keys).
    pub async fn db_write<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.db.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let mut conn = db.write_conn()?;
            f(&mut conn)
        })
        .await
        .map_err(join_error)?
    }

    /// Runs `f` in a write transaction on the blocking pool, then appends its audit entries
    /// and events in the same transaction. Nothing is stored when `f` fails. On SQLite the
    /// transaction may hold concurrent writes too, each in a savepoint of its own (see
    /// [`group_commit`]).
    pub async fn write<T, F>(&self, ctx: &Ctx, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut Uow<'_>) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let client = ctx.client.clone();
        self.write_as(
            ctx.principal.id.clone(),
            ctx.request_id.clone(),
            move |uow| {
                uow.client = client;
                f(uow)
            },
        )
        .await
    }

    /// Runs `f` as [`Services::write`] would, then rolls everything back: the answer of a
    /// `?dry_run=true` request. Nothing is stored, audited or announced.
    pub async fn dry_run<T, F>(&self, ctx: &Ctx, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut Uow<'_>) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        use diesel::connection::{Connection, TransactionManager};
        type Tm = <DbConnection as Connection>::TransactionManager;
        let db = self.db.clone();
        let (now, tz) = (self.now(), self.settings.time_zone);
        let (actor_id, request_id, client) = (
            ctx.principal.id.clone(),
            ctx.request_id.clone(),
            ctx.client.clone(),
        );
        actix_web::rt::task::spawn_blocking(move || {
            let mut conn = db.write_conn()?;
            let conn: &mut DbConnection = &mut conn;
            Tm::begin_transaction(conn)?;
            let out = {
                let mut uow = Uow::new(&mut *conn, (now, tz), actor_id, request_id);
                uow.client = client;
                f(&mut uow)
            };
            Tm::rollback_transaction(conn)?;
            out
        })
        .await
        .map_err(join_error)?
    }

    /// [`Services::write`] for the system itself (jobs, bootstrap): `actor_id` names it.
    /// On SQLite the write joins the group commit ([`group_commit`]); on PostgreSQL it runs
    /// in a transaction of its own.
    pub async fn write_as<T, F>(&self, actor_id: String, request_id: String, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut Uow<'_>) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let at = (self.now(), self.settings.time_zone);
        let (job, answer) = group_commit::Job::new(at, actor_id, request_id, f);
        let (groups, db, callers) = (
            self.write_groups.clone(),
            self.db.clone(),
            self.callers.clone(),
        );
        if db.backend() == crate::store::Backend::Postgres {
            actix_web::rt::task::spawn_blocking(move || groups.run_alone(&db, &callers, job))
                .await
                .map_err(join_error)?;
        } else if groups.submit(job) {
            // Not awaited: this write's answer comes with its group's, while the task may
            // go on to run the groups queued meanwhile.
            drop(actix_web::rt::task::spawn_blocking(move || {
                groups.lead(&db, &callers)
            }));
        }
        group_commit::answer_of(answer.await.ok())
    }
}

/// The synchronous core of [`Services::write`] for one write on its own (the CLI and demo
/// loader).
pub fn run_in_transaction<T>(
    conn: &mut DbConnection,
    at: (DateTime<Utc>, chrono_tz::Tz),
    actor_id: String,
    request_id: String,
    f: impl FnOnce(&mut Uow<'_>) -> AppResult<T>,
) -> AppResult<T> {
    use diesel::Connection;
    conn.transaction::<T, AppError, _>(|conn| {
        let mut uow = Uow::new(conn, at, actor_id, request_id);
        let out = uow.job(f)?;
        uow.finish()?;
        Ok(out)
    })
}

/// Ties each event whose payload names no account to the account of its entity (as the
/// transaction leaves it), for the account timeline.
fn resolve_accounts(conn: &mut DbConnection, events: &mut [NewEvent]) -> AppResult<()> {
    // An import's batch holds a thousand events or more: looked up by key, not by scanning.
    let mut known: std::collections::HashMap<(String, String), Option<String>> =
        std::collections::HashMap::new();
    // Its leads are read together, a statement per few hundred instead of one each (on
    // PostgreSQL a round trip each, while the journal head is held).
    let mut leads: Vec<&str> = events
        .iter()
        .filter(|e| e.account_id.is_none() && e.entity == "lead")
        .map(|e| e.entity_id.as_str())
        .collect();
    leads.sort_unstable();
    leads.dedup();
    if leads.len() > 1 {
        for chunk in leads.chunks(LEAD_ACCOUNTS_PER_READ) {
            for id in chunk {
                known.insert(("lead".to_string(), id.to_string()), None);
            }
            for (id, account) in crate::store::timeline::accounts_of_leads(conn, chunk)? {
                known.insert(("lead".to_string(), id), account);
            }
        }
    }
    for e in events.iter_mut().filter(|e| e.account_id.is_none()) {
        let key = (e.entity.clone(), e.entity_id.clone());
        e.account_id = match known.get(&key) {
            Some(a) => a.clone(),
            None => {
                let a = crate::store::timeline::account_of(conn, &e.entity, &e.entity_id)?;
                known.insert(key, a.clone());
                a
            }
        };
    }
    Ok(())
}

/// Leads whose accounts [`resolve_accounts`] reads in one statement.
const LEAD_ACCOUNTS_PER_READ: usize = 500;

/// Checks an `If-Match` version against the stored one.
pub fn check_version(expected: Option<i64>, current: i64) -> AppResult<()> {
    match expected {
        Some(v) if v != current => Err(AppError::version_mismatch(current)),
        _ => Ok(()),
    }
}

/// One page of a list and the cursor of the next (absent on the last page).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says there is more.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: i64,
        key: impl Fn(&R) -> String,
        view: impl FnMut(R) -> T,
    ) -> Page<T> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| crate::domain::cursor::encode(&key(r)))
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{CachedReport, Figures, ReportCache, ReportSlots, REPORT_CACHE_KEYS};

    #[test]
    fn figures_are_written_as_json_once_for_every_request_they_answer() {
        let figures = Figures::new(serde_json::json!({"count": 3, "stage": "报价"}));
        let first = figures.clone().json().unwrap();
        let again = figures.json().unwrap();
        assert_eq!(
            std::str::from_utf8(&first).unwrap(),
            r#"{"count":3,"stage":"报价"}"#
        );
        assert_eq!(
            first.as_ptr(),
            again.as_ptr(),
            "the same bytes, not written again"
        );
        assert_eq!(figures["count"], 3);
    }

    #[tokio::test]
    async fn a_full_report_cache_drops_stale_requests_but_not_one_in_use() {
        let cache = ReportCache::new(Duration::from_millis(1));
        for i in 0..REPORT_CACHE_KEYS {
            *cache.entry(format!("k{i}")).figures.lock().await = Some(CachedReport {
                at: Instant::now(),
                value: Arc::new(i),
            });
        }
        let in_use = cache.entry("k0".into());
        tokio::time::sleep(Duration::from_millis(5)).await;
        cache.entry("new".into());
        let mut keys: Vec<String> = cache.entries.lock().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["k0", "new"]);
        drop(in_use);
    }

    #[tokio::test]
    async fn a_report_waits_for_a_free_slot_then_is_refused() {
        let slots = ReportSlots::new(1, Duration::from_millis(30));
        let held = slots.acquire().await.unwrap();
        let refused = slots.acquire().await.unwrap_err();
        assert_eq!(refused.status.as_u16(), 503);
        assert_eq!(refused.code, "unavailable");
        assert_eq!(refused.retry_after_secs, Some(1));
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire().await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(held);
        assert!(
            waiting.await.unwrap().is_ok(),
            "a slot given back goes to the waiting report"
        );
    }
}
