//! Changes other processes make, heard through PostgreSQL `LISTEN`/`NOTIFY`.
//!
//! A unit of work that changes what other instances keep in memory sends a notification on
//! a channel inside its transaction ([`notify`]); PostgreSQL delivers it to every listening
//! session when (and only if) the transaction commits. Each instance listens on a
//! connection of its own ([`Listener`]), outside the pools. SQLite has a single writing
//! process, so there is nothing to hear and [`notify`] does nothing.

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

use super::DbConnection;
use crate::error::{AppError, AppResult};

/// Channel of changes to users and API keys (what a request's caller is resolved from).
pub const CALLERS: &str = "crmflow_callers";

/// How often the listener looks for notifications that arrived. libpq offers no blocking
/// wait through diesel, so this bounds how long another instance acts on a change it has
/// not heard of yet.
pub const POLL: Duration = Duration::from_millis(10);

/// How long the listener waits before connecting again after losing its connection.
pub const RETRY: Duration = Duration::from_secs(1);

/// How often the listener checks its connection with a query. Closing a connection shows
/// at the next look for notifications; a connection cut silently (a network partition, no
/// FIN) shows only when the check does not come back.
pub const CHECK: Duration = Duration::from_secs(1);

/// How long a [`Heard::Listening`] vouches that changes are heard: three checks.
pub const VOUCHES_FOR: Duration = Duration::from_secs(3);

/// Sends a notification on `channel`, delivered when the current transaction commits.
pub fn notify(conn: &mut DbConnection, channel: &str) -> diesel::QueryResult<()> {
    match conn {
        DbConnection::Postgresql(c) => diesel::sql_query("SELECT pg_notify($1, '')")
            .bind::<diesel::sql_types::Text, _>(channel)
            .execute(c)
            .map(drop),
        DbConnection::Sqlite(_) => Ok(()),
    }
}

/// What the listener tells its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// The listener listens, on connecting and after each check of its connection:
    /// notifications are heard for [`VOUCHES_FOR`] from now (whatever changed before it
    /// connected may not have been).
    Listening,
    /// One or more notifications arrived.
    Notified,
    /// The connection failed: changes are not heard until [`Heard::Listening`].
    Lost,
}

/// A thread that listens on one channel with a connection of its own and reports what it
/// hears to `on`. It checks the connection every [`CHECK`], connects again after [`RETRY`]
/// whenever the connection fails, and ends when this handle is dropped.
pub struct Listener {
    _stop: Sender<()>,
}

impl Listener {
    pub fn spawn(
        url: &str,
        channel_name: &'static str,
        on: impl Fn(Heard) + Send + 'static,
    ) -> AppResult<Listener> {
        let (stop, stopped) = channel::<()>();
        let url = url.to_string();
        std::thread::Builder::new()
            .name(format!("listen-{channel_name}"))
            .spawn(move || {
                let mut conn: Option<PgConnection> = None;
                let mut checked = Instant::now();
                let mut wait = Duration::ZERO;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                    wait = POLL;
                    match conn.as_mut() {
                        None => match listen(&url, channel_name) {
                            Ok(c) => {
                                conn = Some(c);
                                checked = Instant::now();
                                on(Heard::Listening);
                            }
                            Err(e) => {
                                log::warn!("cannot listen on {channel_name}: {e}");
                                wait = RETRY;
                            }
                        },
                        Some(c) => match drain(c).and_then(|n| {
                            if checked.elapsed() >= CHECK {
                                diesel::sql_query("SELECT 1").execute(c)?;
                                checked = Instant::now();
                                on(Heard::Listening);
                            }
                            Ok(n)
                        }) {
                            Ok(0) => {}
                            Ok(_) => on(Heard::Notified),
                            Err(e) => {
                                log::warn!("stopped listening on {channel_name}: {e}");
                                conn = None;
                                on(Heard::Lost);
                                wait = RETRY;
                            }
                        },
                    }
                }
            })
            .map_err(|e| AppError::internal(format!("cannot start the listener: {e}")))?;
        Ok(Listener { _stop: stop })
    }
}

/// `application_name` of a listener's session (how it shows in `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "crmflow listener";

fn listen(url: &str, channel_name: &str) -> diesel::ConnectionResult<PgConnection> {
    use diesel::connection::SimpleConnection;
    let mut conn = PgConnection::establish(url)?;
    conn.batch_execute(&format!(
        "SET application_name = '{APPLICATION_NAME}'; LISTEN {channel_name}"
    ))
    .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
    Ok(conn)
}

/// Takes every notification that has arrived; how many. Fails once the connection is gone.
fn drain(conn: &mut PgConnection) -> diesel::QueryResult<usize> {
    let mut n = 0;
    for heard in conn.notifications_iter() {
        heard?;
        n += 1;
    }
    Ok(n)
}
