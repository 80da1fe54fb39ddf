//! The SQLite writer thread: it runs the write jobs queued for it several to a transaction.
//!
//! The jobs that queue up while one transaction runs — a group of invites, a batch of
//! delivery outcomes, call endings, an expiry sweep — are taken together into the next one:
//! one `BEGIN IMMEDIATE` … `COMMIT` (one append of the dirty pages to the WAL) for all of
//! them, and no hand-off between threads from one job to the next. A job that fails gets its error and the others are run again without it, in a
//! new transaction, so one caller's error never rolls back another's write. Every result is
//! sent only once the commit is known.
//!
//! The thread holds the store's writer gate for each transaction, so the sqlx writers
//! ([`Store::begin_write`](super::Store)) take turns with it instead of contending on
//! SQLite's lock (whose busy handler sleeps).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;

/// The store's writer gate (`Store::writer`).
pub(super) type Gate = Arc<tokio::sync::Mutex<()>>;

/// Most jobs in one transaction (each may itself be a batch of hundreds of rows).
const BATCH_MAX: usize = 32;

/// Why a job has no result: the writer thread is gone, or the job panicked.
pub(super) const CRASHED: &str = "the SQLite writer thread stopped or the job panicked";

/// What the writer thread runs.
pub(super) enum Job {
    /// Part of a write transaction.
    Write(Box<dyn WriteJob>),
    /// Runs alone, outside any transaction (a checkpoint).
    Alone(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// One caller's write: run inside a transaction, then told whether it committed.
pub(super) trait WriteJob: Send {
    /// Runs the job's statements; `false` means its changes must be rolled back. A job may
    /// be run again, in a new transaction, when another one of its batch failed.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Sends the caller its result: `committed` is the transaction's fate.
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

/// A [`WriteJob`] returning `T` to a waiting caller.
pub(super) struct Pending<T, F> {
    job: F,
    value: Option<Result<T, StoreError>>,
    done: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Pending<T, F> {
    pub(super) fn new(job: F, done: oneshot::Sender<Result<T, StoreError>>) -> Self {
        Self {
            job,
            value: None,
            done,
        }
    }
}

impl<T, F> WriteJob for Pending<T, F>
where
    T: Send,
    F: FnMut(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        self.value = None;
        let value = (self.job)(conn);
        let ok = value.is_ok();
        self.value = Some(value);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        let result = match (self.value, committed) {
            // The job's own error stands, whatever became of the others.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(_)), Err(e)) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            // It panicked.
            (None, _) => Err(StoreError::unavailable(CRASHED)),
        };
        let _ = self.done.send(result);
    }
}

/// What the writer thread has done since it started (read for the metrics).
#[derive(Debug, Default)]
pub(super) struct WriterStats {
    transactions: AtomicU64,
    jobs: AtomicU64,
    busy_nanos: AtomicU64,
}

/// A reading of [`WriterStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WriterTotals {
    pub transactions: u64,
    pub jobs: u64,
    /// Seconds spent in transactions (from `BEGIN` to the last job told its result).
    pub busy_seconds: f64,
}

impl WriterStats {
    fn note(&self, jobs: usize, since: Instant) {
        let nanos = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.jobs.fetch_add(jobs as u64, Ordering::Relaxed);
        self.busy_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(super) fn totals(&self) -> WriterTotals {
        WriterTotals {
            transactions: self.transactions.load(Ordering::Relaxed),
            jobs: self.jobs.load(Ordering::Relaxed),
            busy_seconds: self.busy_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// The writer thread's loop, until every sender of `jobs` is dropped; what it does is
/// counted in `stats`.
pub(super) fn run(
    mut conn: Connection,
    jobs: mpsc::Receiver<Job>,
    gate: Gate,
    stats: Arc<WriterStats>,
) {
    let mut next: Option<Job> = None;
    loop {
        let first = match next.take().map_or_else(|| jobs.recv().ok(), Some) {
            Some(job) => job,
            None => return,
        };
        let mut batch = match first {
            Job::Alone(job) => {
                // A panic drops the job's reply (its caller sees it gone); the thread goes on.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn)));
                roll_back_open(&conn);
                continue;
            }
            Job::Write(job) => vec![job],
        };
        let turn = gate.blocking_lock();
        // What queued while the gate was busy joins this transaction too.
        while batch.len() < BATCH_MAX {
            match jobs.try_recv() {
                Ok(Job::Write(job)) => batch.push(job),
                Ok(alone) => {
                    next = Some(alone);
                    break;
                }
                Err(_) => break,
            }
        }
        let (count, started) = (batch.len(), Instant::now());
        transaction(&conn, batch);
        stats.note(count, started);
        drop(turn);
    }
}

/// Runs `batch` in one transaction and tells each job how it ended. A job that fails is
/// told its error, and the transaction is rolled back and run again without it. (Not a
/// savepoint per job: that build did 3,802 invites/s closed loop against 5,000–5,200 without
/// sharing and 6,014 this way; see bench/README.md.)
fn transaction(conn: &Connection, mut batch: Vec<Box<dyn WriteJob>>) {
    'again: while !batch.is_empty() {
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            return finish_all(batch, &e);
        }
        for i in 0..batch.len() {
            let ran = std::panic::catch_unwind(AssertUnwindSafe(|| batch[i].run(conn)));
            if !matches!(ran, Ok(true)) {
                roll_back_open(conn);
                batch.remove(i).finish(Ok(()));
                continue 'again;
            }
        }
        match conn.execute_batch("COMMIT") {
            Ok(()) => {
                for job in batch {
                    job.finish(Ok(()));
                }
            }
            Err(e) => {
                roll_back_open(conn);
                finish_all(batch, &e);
            }
        }
        return;
    }
}

/// Tells every job of `batch` that its transaction failed with `e`.
fn finish_all(batch: Vec<Box<dyn WriteJob>>, e: &rusqlite::Error) {
    for job in batch {
        job.finish(Err(StoreError::from(copy(e))));
    }
}

/// A copy of `e` for one more caller (rusqlite's errors aren't `Clone`).
fn copy(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

/// Rolls back a transaction left open (by a failed statement or a panic).
fn roll_back_open(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}
