//! The JSON of a batch's creations, built off the writer thread (see
//! [`super::Uow::created`]): a created record's snapshot, its audit changes and its event
//! text are built on a helper thread while the batch's writer goes on with the next row;
//! the audit entry and the event hold a placeholder until the batch settles.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::OnceLock;

use serde_json::Value;

use crate::error::{AppError, AppResult};
use crate::store::journal::{AuditDraft, NewEvent};

type Job = Box<dyn FnOnce() + Send>;

/// Jobs go to the helper thread in groups this large: waking it for each one cost the
/// writer more than the job itself.
const GROUP: usize = 64;

/// How a placeholder starts (no JSON text starts with a NUL).
const TICKET: &str = "\u{0}later:";

static WORKER: OnceLock<Sender<Job>> = OnceLock::new();

/// Hands `job` to the helper thread (started on first use). A job that panics is dropped
/// with its result sender, which [`Later::settle`] reports as a lost result; the thread
/// carries on. `Err(job)` when the thread cannot take it: the caller runs it itself.
fn submit(job: Job) -> Result<(), Job> {
    let worker = WORKER.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("crmflow-json".into())
            .spawn(move || {
                for job in rx {
                    let _ = catch_unwind(AssertUnwindSafe(job));
                }
            });
        if let Err(e) = spawned {
            log::warn!("no JSON helper thread ({e}): batches build their JSON inline");
        }
        tx
    });
    worker.send(job).map_err(|e| e.0)
}

/// What the helper thread built for one creation.
struct Built {
    ticket: String,
    changes: String,
    data: String,
    account_id: Option<String>,
}

/// The creations one unit of work handed to the helper thread.
pub struct Later {
    tx: Sender<Built>,
    rx: Receiver<Built>,
    sent: usize,
    group: Vec<Job>,
}

impl Later {
    pub fn new() -> Later {
        let (tx, rx) = channel();
        Later {
            tx,
            rx,
            sent: 0,
            group: Vec::with_capacity(GROUP),
        }
    }

    /// Queues the building of one creation's texts: the snapshot `snap` builds, the audit
    /// changes from it (every field but those in `ignore`, from null) and the account it
    /// names. Returns the placeholder to record meanwhile.
    pub fn defer(
        &mut self,
        ignore: &'static [&'static str],
        snap: impl FnOnce() -> Value + Send + 'static,
    ) -> String {
        let ticket = format!("{TICKET}{}", self.sent);
        self.sent += 1;
        let (tx, t) = (self.tx.clone(), ticket.clone());
        self.group.push(Box::new(move || {
            let s = snap();
            let _ = tx.send(Built {
                ticket: t,
                changes: crate::domain::audit::created_changes_json(&s, ignore),
                account_id: super::account_in(&s),
                data: s.to_string(),
            });
        }));
        if self.group.len() == GROUP {
            self.flush();
        }
        ticket
    }

    /// Hands the grouped jobs over (or runs them here when the helper cannot take them).
    fn flush(&mut self) {
        if self.group.is_empty() {
            return;
        }
        let jobs = std::mem::take(&mut self.group);
        let run: Job = Box::new(move || jobs.into_iter().for_each(|job| job()));
        if let Err(run) = submit(run) {
            run();
        }
    }

    /// Waits for every queued creation and puts its texts in place of the placeholders
    /// still recorded (those of rows rolled back are gone; their results are dropped).
    pub fn settle(mut self, audits: &mut [AuditDraft], events: &mut [NewEvent]) -> AppResult<()> {
        self.flush();
        let Later { tx, rx, sent, .. } = self;
        drop(tx);
        let lost = || AppError::internal("the JSON of a batched record was not built");
        let mut built: HashMap<String, Built> = HashMap::with_capacity(sent);
        for _ in 0..sent {
            let b = rx.recv().map_err(|_| lost())?;
            built.insert(b.ticket.clone(), b);
        }
        for a in audits.iter_mut().filter(|a| a.changes.starts_with(TICKET)) {
            let b = built.get_mut(&a.changes).ok_or_else(lost)?;
            a.changes = std::mem::take(&mut b.changes);
        }
        for e in events.iter_mut().filter(|e| e.data.starts_with(TICKET)) {
            let b = built.remove(&e.data).ok_or_else(lost)?;
            e.data = b.data;
            e.account_id = b.account_id;
        }
        Ok(())
    }
}
