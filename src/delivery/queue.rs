//! The queue seam. A backend has a producer side ([`Producer::enqueue`], after the invite's
//! transaction commits) and a consumer side ([`Consumer::next`]) that yields [`Delivery`]s: a
//! job with its [`Acker`], which tells the backend how the job ended once its outcome is
//! recorded. The worker only ever sees a `Delivery`, so it does not know which queue fed it.
//! Backends: [`super::embedded`] (in-process) and [`super::streams`] (Redis Streams, shared by
//! every replica); [`super::consumer`] runs the one consumer loop over either.

use std::future::Future;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::job::DeliveryJob;

/// Run once a delivery's outcome is in the store.
pub type OnWritten = Box<dyn FnOnce() + Send>;

/// A job handed to this process, and how to tell its queue what became of it.
pub struct Delivery {
    pub job: DeliveryJob,
    pub acker: Acker,
}

/// How a delivery ends as far as its queue is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// The outcome is final (or recorded as such): let go of the job.
    Done,
    /// Another attempt after this delay.
    Retry(Duration),
    /// Give up on the job and keep it as a dead letter, with this reason.
    DeadLetter(String),
}

/// A queue backend's side of one delivery.
pub trait Acknowledge: Send {
    /// Settles the delivery of `job` (as it is after this attempt). Returns what to run once
    /// the outcome is written; a backend may also act at once (the embedded queue arms its
    /// retry timer immediately).
    fn settle(self: Box<Self>, job: &DeliveryJob, how: Settle) -> Option<OnWritten>;

    /// Whether the worker slot the delivery holds is kept until its outcome is written (both
    /// backends do: a process never has more pushes sent-but-unrecorded than slots, so the
    /// outcome writer's queue is bounded), rather than released when the worker is done.
    fn keeps_slot_until_written(&self) -> bool {
        false
    }
}

/// The acknowledger of one delivery: settle it exactly once, with [`Acker::done`],
/// [`Acker::retry`] or [`Acker::dead_letter`], and hand what it returns to the recorder.
/// Dropped unsettled (a worker that panicked), the backend recovers the job its own way.
pub struct Acker {
    inner: Box<dyn Acknowledge>,
    give_up: Option<String>,
    slot: Option<OwnedSemaphorePermit>,
}

impl Acker {
    /// The acker of a backend.
    pub fn new(inner: impl Acknowledge + 'static) -> Self {
        Self {
            inner: Box::new(inner),
            give_up: None,
            slot: None,
        }
    }

    /// This delivery must be dead-lettered instead of sent (its queue handed it out too
    /// often without an outcome).
    pub fn with_give_up(mut self, reason: String) -> Self {
        self.give_up = Some(reason);
        self
    }

    /// Why the queue wants this delivery dead-lettered instead of sent, if it does.
    pub fn give_up(&self) -> Option<&str> {
        self.give_up.as_deref()
    }

    /// Holds a worker slot until the delivery is settled (or written, see
    /// [`Acknowledge::keeps_slot_until_written`]).
    pub fn hold(&mut self, slot: OwnedSemaphorePermit) {
        self.slot = Some(slot);
    }

    /// The outcome is final.
    pub fn done(self, job: &DeliveryJob) -> Option<OnWritten> {
        self.settle(job, Settle::Done)
    }

    /// Another attempt after `delay`.
    pub fn retry(self, job: &DeliveryJob, delay: Duration) -> Option<OnWritten> {
        self.settle(job, Settle::Retry(delay))
    }

    /// Moves the job to the dead letters.
    pub fn dead_letter(self, job: &DeliveryJob, reason: String) -> Option<OnWritten> {
        self.settle(job, Settle::DeadLetter(reason))
    }

    fn settle(self, job: &DeliveryJob, how: Settle) -> Option<OnWritten> {
        let keep = self.inner.keeps_slot_until_written();
        let then = self.inner.settle(job, how);
        match self.slot {
            Some(slot) if keep => Some(Box::new(move || {
                if let Some(then) = then {
                    then();
                }
                drop(slot);
            })),
            _ => then,
        }
    }
}

/// The producer side of a queue.
pub trait Producer: Send + Sync {
    /// Hands freshly committed deliveries to the workers (never blocks the caller: a backend
    /// that can't take them now leaves them in the outbox).
    fn enqueue(&self, jobs: Vec<DeliveryJob>);

    /// Waits until acknowledgements queued so far reached the backend.
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// The consumer side of a queue.
pub trait Consumer: Send + 'static {
    /// Up to `max` deliveries for this process. Waits for work, but may return none (a read
    /// that failed, twins already handled); returns `None` once `stop` is cancelled or the
    /// queue is closed.
    fn next(
        &mut self,
        max: usize,
        stop: &CancellationToken,
    ) -> impl Future<Output = Option<Vec<Delivery>>> + Send;
}
