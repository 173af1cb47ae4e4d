//! Changes other processes make, heard through PostgreSQL `LISTEN`/`NOTIFY`.
//!
//! A unit of work that changes what other instances keep in memory sends a notification on
//! a channel inside its transaction ([`notify`]); PostgreSQL delivers it to every listening
//! session when (and only if) the transaction commits. Each instance listens on a
//! connection of its own ([`Listener`]), outside the pools. SQLite has a single writing
//! process, so there is nothing to hear and [`notify`] does nothing.

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::time::Duration;

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
    /// The listener (re)connected and listens: notifications from here on are heard;
    /// whatever changed before may not have been.
    Listening,
    /// One or more notifications arrived.
    Notified,
    /// The connection failed: changes are not heard until [`Heard::Listening`].
    Lost,
}

/// A thread that listens on one channel with a connection of its own and reports what it
/// hears to `on`. It connects again after [`RETRY`] whenever the connection fails, and ends
/// when this handle is dropped.
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
                let mut wait = Duration::ZERO;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                    wait = POLL;
                    match conn.as_mut() {
                        None => match listen(&url, channel_name) {
                            Ok(c) => {
                                conn = Some(c);
                                on(Heard::Listening);
                            }
                            Err(e) => {
                                log::warn!("cannot listen on {channel_name}: {e}");
                                wait = RETRY;
                            }
                        },
                        Some(c) => match drain(c) {
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

fn listen(url: &str, channel_name: &str) -> diesel::ConnectionResult<PgConnection> {
    let mut conn = PgConnection::establish(url)?;
    diesel::sql_query(format!("LISTEN {channel_name}"))
        .execute(&mut conn)
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
