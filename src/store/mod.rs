//! Persistence: the one connection type over PostgreSQL and SQLite, the pools, the embedded
//! migrations, and one repository module per table group. Everything here is synchronous
//! diesel; callers run it on the blocking pool (see `service::Services`).

/// Runs a diesel query on the backend connection behind a [`DbConnection`]:
/// `concrete!(conn, c => query.execute(c))`. Diesel's multi-backend connection renders a
/// query's SQL again on every execution, cached statement or not (twice for a write: once
/// for the cache, once to bind); the statements on the hot paths (a lead create or import
/// row, a lead read, the token check) go straight to their backend instead.
macro_rules! concrete {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::DbConnection::Postgresql($c) => $body,
            $crate::store::DbConnection::Sqlite($c) => $body,
        }
    };
}

pub mod accounts;
pub mod activities;
pub mod api_keys;
pub mod assets;
pub mod calendars;
pub mod config;
pub mod contacts;
pub mod contracts;
pub mod custom_fields;
pub mod external_refs;
pub mod idempotency;
pub mod imports;
pub mod journal;
pub mod leads;
pub mod listen;
pub mod lookup;
pub mod opportunities;
pub mod quotes;
pub mod reports;
pub mod rules;
pub mod schema;
pub mod scope;
pub mod sequences;
pub mod teams;
pub mod timeline;
pub mod users;
pub mod webhooks;
pub mod work_orders;

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::r2d2::{
    ConnectionManager, CustomizeConnection, ManageConnection, Pool, PooledConnection,
};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::{AppError, AppResult};

/// One connection type for both backends; the database URL picks the variant.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = Pool<Manager>;
pub type PooledConn = PooledConnection<Manager>;

/// How long a PostgreSQL connection that answered its liveness check is handed out without
/// another. Checking it at every checkout (r2d2's `test_on_check_out`) cost a round trip per
/// request: `GET /leads/{id}` on PostgreSQL 10,581–11,844 → 12,637–13,488 req/s (four runs
/// each, 2,000 leads, `wrk -t2 -c16`). A connection lost within this time (PostgreSQL
/// restarted) fails its request with 503 `unavailable`, as any request caught by the outage
/// does, and is checked at its next checkout after this time.
const LIVENESS_CHECK_EVERY: Duration = Duration::from_secs(1);

/// A pooled connection and when it last answered a liveness check.
pub struct Conn {
    conn: DbConnection,
    checked: Instant,
}

impl std::ops::Deref for Conn {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// diesel's connection manager, with the liveness check at checkout run at most once per
/// [`LIVENESS_CHECK_EVERY`] for each connection.
#[derive(Debug)]
pub struct Manager(ConnectionManager<DbConnection>);

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Conn, Self::Error> {
        Ok(Conn {
            conn: self.0.connect()?,
            checked: Instant::now(),
        })
    }

    fn is_valid(&self, c: &mut Conn) -> Result<(), Self::Error> {
        if c.checked.elapsed() >= LIVENESS_CHECK_EVERY {
            self.0.is_valid(&mut c.conn)?;
            c.checked = Instant::now();
        }
        Ok(())
    }

    fn has_broken(&self, c: &mut Conn) -> bool {
        self.0.has_broken(&mut c.conn)
    }
}

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub size: u32,
    pub connect_timeout: Duration,
    pub busy_timeout_ms: u32,
}

/// The database handle: a read pool and a write pool. On SQLite the write pool holds a
/// single connection so that writers queue in the process instead of contending for the
/// file lock (DESIGN §8); on PostgreSQL both are the same pool.
#[derive(Clone)]
pub struct Db {
    read: DbPool,
    write: DbPool,
    backend: Backend,
    /// SQLite: checkpoints the write-ahead log off the write path while this handle (any
    /// clone) lives.
    _checkpointer: Option<std::sync::Arc<Checkpointer>>,
}

/// How often the SQLite checkpointer copies committed pages from the write-ahead log into
/// the database file while writes come in, and how far it backs off while none do.
const CHECKPOINT_BUSY: Duration = Duration::from_millis(20);
const CHECKPOINT_IDLE: Duration = Duration::from_millis(200);

/// WAL pages after which the SQLite writer checkpoints by itself (about 16 MB). Under
/// steady writes the checkpointer never finds the whole log copied (the writer keeps
/// appending), and SQLite starts a log over only once it is; at this size the writer
/// copies what is left (little: the checkpointer has copied the rest) and the log starts
/// over. At 20,000 pages the file grew to 80 MB for 3 % more creates per second.
const WRITER_CHECKPOINT_PAGES: u32 = 4_000;

/// A thread with its own SQLite connection that runs a passive checkpoint every
/// [`CHECKPOINT_BUSY`] while the log grows. Left to the default (every 1,000 WAL pages),
/// the checkpoint ran inside the commit of whichever write crossed that size, on the single
/// write connection, so every writer queued behind it waited for the copy. A passive
/// checkpoint from another connection does not stop the writer, but the longer the log it
/// copies, the longer the stall writers still see (p99 of SQLite writes under 16
/// connections: 17–22 ms checkpointing every 20 ms, 23–26 ms every 50 ms, 42–49 ms every
/// 250 ms, 49–62 ms every second), hence small and frequent. The thread ends when the last
/// clone of the [`Db`] is dropped.
struct Checkpointer {
    _stop: std::sync::mpsc::Sender<()>,
}

/// What `PRAGMA wal_checkpoint` answers.
#[derive(diesel::QueryableByName, PartialEq)]
struct CheckpointState {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
    /// Frames in the log.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    /// Of them, frames copied into the database file.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

impl Checkpointer {
    fn spawn(path: &str) -> AppResult<Checkpointer> {
        use diesel::{Connection, RunQueryDsl};
        let open_error = |e: &dyn std::fmt::Display| {
            AppError::unavailable(format!("cannot open database {path} to checkpoint: {e}"))
        };
        let mut conn = SqliteConnection::establish(path).map_err(|e| open_error(&e))?;
        conn.batch_execute("PRAGMA busy_timeout = 1000")
            .map_err(|e| open_error(&e))?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let (mut wait, mut last) = (CHECKPOINT_IDLE, None);
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(wait)
                {
                    match diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
                        .get_result::<CheckpointState>(&mut conn)
                    {
                        Ok(state) => {
                            // The log unchanged since the last pass: no writes, back off.
                            wait = if last.as_ref() == Some(&state) {
                                (wait * 2).min(CHECKPOINT_IDLE)
                            } else {
                                CHECKPOINT_BUSY
                            };
                            last = Some(state);
                        }
                        Err(e) => log::warn!("WAL checkpoint failed: {e}"),
                    }
                }
            })
            .map_err(|e| open_error(&e))?;
        Ok(Checkpointer { _stop: stop })
    }
}

/// SQLite connection settings. The page cache stays at SQLite's default 2 MiB per
/// connection: in WAL mode a connection drops its cache whenever another one has committed,
/// so under writes a larger cache is rarely warm, while its size also bounds how much each
/// report sort keeps in memory (8 MiB × 9 connections showed up in the peak RSS). The write
/// connection leaves checkpoints to the [`Checkpointer`].
#[derive(Debug)]
struct SqlitePragmas {
    busy_timeout_ms: u32,
    writer: bool,
}

impl CustomizeConnection<Conn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA busy_timeout = {}; PRAGMA cache_size = -2000;",
            self.busy_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)?;
        if self.writer {
            conn.batch_execute(&format!(
                "PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}"
            ))
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// PostgreSQL session settings.
/// - No JIT: crmflow's queries are short and indexed; for the report aggregates the
///   planner's cost estimates switch JIT compilation on, and compiling took ~600 ms of a
///   700 ms query in the report benchmark.
/// - Random page reads priced for SSDs (1.1, default 4): at the default the planner read a
///   rep's newest leads by walking the primary key backwards and filtering (15 ms, 13,624
///   rows skipped at 100,000 leads) instead of the owner/status index (0.36 ms).
#[derive(Debug)]
struct PgSession;

impl CustomizeConnection<Conn, diesel::r2d2::Error> for PgSession {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("SET jit = off; SET random_page_cost = 1.1")
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

impl Db {
    /// Opens the pools for `url` (`postgres://…` → PostgreSQL, anything else → SQLite file).
    pub fn connect(url: &str, opts: &PoolOptions) -> AppResult<Db> {
        let backend = Backend::of_url(url);
        let build =
            |target: &str, size: u32, min_idle: Option<u32>, writer: bool| -> AppResult<DbPool> {
                let manager = Manager(ConnectionManager::new(target));
                let mut builder = Pool::builder()
                    .max_size(size)
                    .min_idle(min_idle)
                    .connection_timeout(opts.connect_timeout)
                    .test_on_check_out(backend == Backend::Postgres);
                builder = match backend {
                    Backend::Sqlite => builder.connection_customizer(Box::new(SqlitePragmas {
                        busy_timeout_ms: opts.busy_timeout_ms,
                        writer,
                    })),
                    Backend::Postgres => builder.connection_customizer(Box::new(PgSession)),
                };
                builder.build(manager).map_err(|e| {
                    AppError::unavailable(format!("cannot open database {target}: {e}"))
                })
            };
        match backend {
            Backend::Postgres => {
                let pool = build(url, opts.size, Some(1), true)?;
                Ok(Db {
                    read: pool.clone(),
                    write: pool,
                    backend,
                    _checkpointer: None,
                })
            }
            Backend::Sqlite => {
                let path = sqlite_path(url);
                // The writer first: it creates the file and switches it to WAL.
                let write = build(path, 1, Some(1), true)?;
                let read = build(path, opts.size.max(1), Some(1), false)?;
                Ok(Db {
                    read,
                    write,
                    backend,
                    _checkpointer: Some(std::sync::Arc::new(Checkpointer::spawn(path)?)),
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn read_conn(&self) -> AppResult<PooledConn> {
        Ok(self.read.get()?)
    }

    pub fn write_conn(&self) -> AppResult<PooledConn> {
        Ok(self.write.get()?)
    }

    /// Pool gauges for `/metrics`: (connections, idle) of the read and write pools.
    pub fn pool_state(&self) -> [(&'static str, u32, u32); 2] {
        let r = self.read.state();
        let w = self.write.state();
        [
            ("read", r.connections, r.idle_connections),
            ("write", w.connections, w.idle_connections),
        ]
    }
}

fn migration_error(e: Box<dyn std::error::Error + Send + Sync>) -> AppError {
    AppError::internal(format!("migration failed: {e}"))
}

/// Applies the embedded migrations of the connection's backend; returns how many ran.
pub fn run_migrations(conn: &mut DbConnection) -> AppResult<usize> {
    let applied = match conn {
        DbConnection::Postgresql(c) => c
            .run_pending_migrations(PG_MIGRATIONS)
            .map_err(migration_error)?
            .len(),
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(migration_error)?
            .len(),
    };
    Ok(applied)
}

/// True when every embedded migration has been applied.
pub fn migrations_current(conn: &mut DbConnection) -> AppResult<bool> {
    let pending = match conn {
        DbConnection::Postgresql(c) => c
            .has_pending_migration(PG_MIGRATIONS)
            .map_err(migration_error)?,
        DbConnection::Sqlite(c) => c
            .has_pending_migration(SQLITE_MIGRATIONS)
            .map_err(migration_error)?,
    };
    Ok(!pending)
}

/// True when `e` is a unique-constraint violation (used to turn races into clean answers).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Epoch milliseconds, the storage form of every instant.
pub type Millis = i64;
