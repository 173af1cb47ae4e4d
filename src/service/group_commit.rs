//! Group commit of write use cases on SQLite. Every write appends to the one audit chain,
//! and SQLite has the one write connection, so writes run one after another there; run in
//! a transaction each, every write paid a whole commit (the log writes of every page it
//! touched) while the others waited for the connection.
//!
//! Here a write is queued, and the writer that finds no group running runs the queue: up
//! to [`MAX_GROUP`] writes in one transaction, each in its own savepoint, one append of
//! their audit entries and events, one commit, then every write's answer. A write that
//! fails is rolled back to its savepoint alone; the others commit. A lone write runs as
//! before, without a savepoint. Under no load a group is one write and adds nothing but
//! the queue.
//!
//! On PostgreSQL each write keeps a transaction of its own ([`WriteGroups::run_alone`]),
//! run concurrently on the pool. Most writes there run their statements side by side and
//! queue only for the journal append; grouped, they ran one after another on one
//! connection and did fewer per second (creates, which queue on the journal head early,
//! did more). Two groups at once could deadlock: a group holding the journal head (taken
//! early by a create) waiting for a row the other group had locked while that one waited
//! for the head, which would fail all the writes of a group.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::Uow;
use crate::auth::callers::CallerCache;
use crate::error::{AppError, AppResult};
use crate::store::Db;

/// Writes committed together at most (a group's writes wait for its commit).
pub const MAX_GROUP: usize = 32;

type Answer = AppResult<Box<dyn Any + Send>>;
type Work = Box<dyn FnOnce(&mut Uow<'_>) -> Answer + Send>;

/// One queued write: its use case and whom it is done for, and where its answer goes.
pub struct Job {
    at: (DateTime<Utc>, chrono_tz::Tz),
    actor_id: String,
    request_id: String,
    work: Work,
    answer: oneshot::Sender<Answer>,
}

impl Job {
    /// The write `f`, and the receiver of its answer.
    pub fn new<T, F>(
        at: (DateTime<Utc>, chrono_tz::Tz),
        actor_id: String,
        request_id: String,
        f: F,
    ) -> (Job, oneshot::Receiver<Answer>)
    where
        F: FnOnce(&mut Uow<'_>) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, rx) = oneshot::channel();
        let work: Work = Box::new(move |uow| f(uow).map(|v| Box::new(v) as Box<dyn Any + Send>));
        let job = Job {
            at,
            actor_id,
            request_id,
            work,
            answer,
        };
        (job, rx)
    }
}

/// Unwraps the answer of a write made by [`Job::new`] with `T`.
pub fn answer_of<T: 'static>(answer: Option<Answer>) -> AppResult<T> {
    let value = answer.ok_or_else(|| AppError::internal("the write's group was lost"))??;
    value
        .downcast::<T>()
        .map(|v| *v)
        .map_err(|_| AppError::internal("a write answered another type"))
}

/// The write queue and its groups' counts (for `/metrics`).
#[derive(Default)]
pub struct WriteGroups {
    state: Mutex<Queue>,
    groups: AtomicU64,
    writes: AtomicU64,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// A writer is running groups.
    running: bool,
}

impl WriteGroups {
    /// Groups committed (or rolled back) so far, and the writes they held.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.groups.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The lock guards a queue only (no job runs under it): a panic cannot leave it torn.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job`. True when the caller is to run groups ([`WriteGroups::lead`]).
    pub fn submit(&self, job: Job) -> bool {
        let mut q = self.queue();
        q.jobs.push_back(job);
        !std::mem::replace(&mut q.running, true)
    }

    /// Runs `job` in a transaction of its own (blocking), counted as a group of one.
    pub fn run_alone(&self, db: &Db, callers: &CallerCache, job: Job) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(1, Ordering::Relaxed);
        run_group(db, callers, vec![job]);
    }

    /// Runs groups of the queued writes on `db` until the queue is empty (blocking).
    pub fn lead(&self, db: &Db, callers: &CallerCache) {
        loop {
            let group: Vec<Job> = {
                let mut q = self.queue();
                if q.jobs.is_empty() {
                    q.running = false;
                    return;
                }
                let n = q.jobs.len().min(MAX_GROUP);
                q.jobs.drain(..n).collect()
            };
            self.groups.fetch_add(1, Ordering::Relaxed);
            self.writes.fetch_add(group.len() as u64, Ordering::Relaxed);
            // A panic outside the writes' own (a failed append, say) loses this group's
            // answers, which their callers see as an error, but not the queue.
            let _ = catch_unwind(AssertUnwindSafe(|| run_group(db, callers, group)));
        }
    }
}

/// One group: its writes in one transaction, then their answers.
fn run_group(db: &Db, callers: &CallerCache, group: Vec<Job>) {
    use diesel::Connection;
    let mut conn = match db.write_conn() {
        Ok(c) => c,
        Err(e) => {
            for job in group {
                let _ = job.answer.send(Err(e.clone()));
            }
            return;
        }
    };
    let alone = group.len() == 1;
    let mut answers: Vec<(oneshot::Sender<Answer>, Answer)> = Vec::with_capacity(group.len());
    let mut changes_callers = false;
    let done = conn.transaction::<(), AppError, _>(|conn| {
        let first = &group[0];
        let mut uow = Uow::new(
            conn,
            first.at,
            first.actor_id.clone(),
            first.request_id.clone(),
        );
        for job in group {
            uow.begin(job.at, job.actor_id, job.request_id);
            let work = job.work;
            let run = |u: &mut Uow<'_>| {
                catch_unwind(AssertUnwindSafe(|| u.job(work)))
                    .unwrap_or_else(|_| Err(AppError::internal("the write panicked")))
            };
            let out = if alone {
                run(&mut uow)
            } else {
                uow.savepoint(run)
            };
            let rolled_back = alone && out.is_err();
            answers.push((job.answer, out));
            if rolled_back {
                return Err(AppError::internal("the write failed"));
            }
        }
        uow.finish()?;
        changes_callers = uow.changes_callers();
        Ok(())
    });
    // Here, on the blocking pool, so that the callers are forgotten even when the request
    // that committed is dropped before its response.
    if done.is_ok() && changes_callers {
        callers.forget_all();
    }
    match done {
        Ok(()) => {
            for (answer, out) in answers {
                let _ = answer.send(out);
            }
        }
        // A lone write's own error rolled the transaction back: it is its answer.
        Err(e) => {
            for (answer, out) in answers {
                let _ = answer.send(Err(match out {
                    Err(own) if alone => own,
                    _ => e.clone(),
                }));
            }
        }
    }
}
