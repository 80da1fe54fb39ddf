//! The embedded queue: an in-process channel fed after the invite's transaction commits, with
//! timers for delayed retries. What it holds is also open in the store's outbox, so a restart
//! resumes it (and [`super::adopt_orphans`] takes up what was written but never handed over).
//!
//! Bounded: it holds at most [`MAX_HELD`] deliveries (queued, in flight or waiting for a
//! retry). Beyond that, new deliveries stay open in the outbox only — the orphan sweep takes
//! them up once there is room — so a provider slower than the invites coming in fills the
//! database, not the process's memory. A delivery's worker slot is kept until its outcome is
//! written, so the outcome writer never holds more than the worker slots' outcomes either.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::job::DeliveryJob;
use super::queue::{Acker, Acknowledge, Consumer, Delivery, OnWritten, Producer, Settle};
use crate::domain::DeliveryId;
use crate::tasks::{Tasks, sleep_unless};

/// Most deliveries the queue holds at once (each is a job of about a kilobyte and, while it
/// waits for a retry, a timer).
pub const MAX_HELD: usize = 65_536;

/// Deliveries the embedded queue holds (queued, in flight or waiting for a retry).
type Held = Arc<Mutex<HashSet<DeliveryId>>>;

/// The producer side (cheap to clone).
#[derive(Clone)]
pub struct EmbeddedQueue {
    tx: mpsc::UnboundedSender<DeliveryJob>,
    held: Held,
    /// Most deliveries held ([`MAX_HELD`], smaller in tests).
    capacity: usize,
    /// Whether the last enqueue left deliveries in the outbox for want of room.
    spilling: Arc<AtomicBool>,
    tasks: Tasks,
}

/// The consumer side: the channel's receiving end.
pub struct EmbeddedConsumer {
    rx: mpsc::UnboundedReceiver<DeliveryJob>,
    queue: EmbeddedQueue,
}

impl EmbeddedQueue {
    /// A queue whose retry timers are tracked by `tasks` (and end when it stops), and its
    /// consumer.
    pub fn new(tasks: Tasks) -> (Self, EmbeddedConsumer) {
        Self::with_capacity(tasks, MAX_HELD)
    }

    /// A queue holding at most `capacity` deliveries, and its consumer.
    pub fn with_capacity(tasks: Tasks, capacity: usize) -> (Self, EmbeddedConsumer) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Self {
            tx,
            held: Held::default(),
            capacity: capacity.max(1),
            spilling: Arc::default(),
            tasks,
        };
        let consumer = EmbeddedConsumer {
            rx,
            queue: queue.clone(),
        };
        (queue, consumer)
    }

    /// Whether this process's queue holds delivery `id`.
    pub fn holds(&self, id: DeliveryId) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }

    /// How many more deliveries the queue can take now.
    pub fn room(&self) -> usize {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner()).len();
        self.capacity.saturating_sub(held)
    }
}

impl Producer for EmbeddedQueue {
    /// Takes each job unless it is already held (the orphan sweep and the invite's own
    /// enqueue may race for it) or the queue is full (it then stays open in the outbox).
    fn enqueue(&self, jobs: Vec<DeliveryJob>) {
        let mut left = 0usize;
        {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            for job in jobs {
                if held.len() >= self.capacity {
                    left += 1;
                    continue;
                }
                if held.insert(job.delivery_id) {
                    // A closed channel means shutdown: the job stays open in the outbox.
                    let _ = self.tx.send(job);
                }
            }
        }
        let was = self.spilling.swap(left > 0, Ordering::Relaxed);
        if left > 0 && !was {
            tracing::warn!(
                capacity = self.capacity,
                left,
                "the delivery queue is full: new deliveries stay in the outbox until there is room"
            );
        } else if left == 0 && was {
            tracing::info!("the delivery queue has room again");
        }
    }
}

impl Consumer for EmbeddedConsumer {
    async fn next(&mut self, max: usize, stop: &CancellationToken) -> Option<Vec<Delivery>> {
        let first = tokio::select! {
            biased;
            _ = stop.cancelled() => return None,
            job = self.rx.recv() => job?,
        };
        let mut jobs = vec![first];
        while jobs.len() < max {
            match self.rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        Some(
            jobs.into_iter()
                .map(|job| Delivery {
                    job,
                    acker: Acker::new(EmbeddedAcker(self.queue.clone())),
                })
                .collect(),
        )
    }
}

/// Settles an embedded delivery: a retry timer is armed at once (a crash loses only the timer:
/// the delivery is still open in the outbox); a finished delivery is let go of once its
/// outcome is written.
struct EmbeddedAcker(EmbeddedQueue);

impl Acknowledge for EmbeddedAcker {
    /// The slot is kept until the outcome is written: a store slower than the pushes slows
    /// the workers down instead of queueing outcomes without bound.
    fn keeps_slot_until_written(&self) -> bool {
        true
    }

    fn settle(self: Box<Self>, job: &DeliveryJob, how: Settle) -> Option<OnWritten> {
        let queue = self.0;
        match how {
            Settle::Retry(delay) => {
                let (tx, job) = (queue.tx.clone(), job.clone());
                let stop = queue.tasks.stopping();
                // Cut short at shutdown: the delivery stays open in the outbox.
                queue.tasks.spawn(async move {
                    if sleep_unless(&stop, delay).await {
                        let _ = tx.send(job);
                    }
                });
                None
            }
            // Nothing keeps dead letters in process: the failed outcome is in the store.
            // Let go of when written — or when the recorder gives up on the outcome (drops
            // this without running it): the delivery is still open in the outbox, and the
            // orphan sweep sends it again.
            Settle::Done | Settle::DeadLetter(_) => {
                let release = Release {
                    held: queue.held,
                    id: job.delivery_id,
                };
                Some(Box::new(move || drop(release)))
            }
        }
    }
}

/// Lets go of a held delivery when dropped.
struct Release {
    held: Held,
    id: DeliveryId,
}

impl Drop for Release {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::delivery::job::test_job;

    #[tokio::test]
    async fn retries_come_back_after_their_delay_and_done_lets_go() {
        let tasks = Tasks::new();
        let (queue, mut consumer) = EmbeddedQueue::new(tasks.clone());
        let job = test_job();
        let id = job.delivery_id;
        queue.enqueue(vec![job]);
        let stop = tasks.stopping();
        let mut got = consumer.next(8, &stop).await.unwrap();
        assert_eq!(got.len(), 1);
        let Delivery { job, acker } = got.remove(0);
        let started = tokio::time::Instant::now();
        assert!(acker.retry(&job, Duration::from_millis(50)).is_none());
        assert!(queue.holds(id), "held while waiting for its retry");
        let mut again = consumer.next(8, &stop).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        let Delivery { job, acker } = again.remove(0);
        assert_eq!(job.delivery_id, id);
        let written = acker.done(&job).expect("let go of once written");
        assert!(queue.holds(id), "held until its outcome is written");
        written();
        assert!(!queue.holds(id));
    }

    #[tokio::test]
    async fn retry_timers_end_at_shutdown() {
        let tasks = Tasks::new();
        let (queue, mut consumer) = EmbeddedQueue::new(tasks.clone());
        queue.enqueue(vec![test_job()]);
        let stop = tasks.stopping();
        let Delivery { job, acker } = consumer.next(1, &stop).await.unwrap().remove(0);
        acker.retry(&job, Duration::from_secs(3600));
        assert_eq!(tasks.running(), 1, "the retry timer is tracked");
        tokio::time::timeout(Duration::from_secs(5), tasks.finish())
            .await
            .expect("the timer did not hold up shutdown");
        assert!(consumer.next(1, &stop).await.is_none());
    }

    #[tokio::test]
    async fn a_full_queue_leaves_deliveries_in_the_outbox_until_there_is_room() {
        let tasks = Tasks::new();
        let (queue, mut consumer) = EmbeddedQueue::with_capacity(tasks.clone(), 2);
        let (a, b, c) = (test_job(), test_job(), test_job());
        let late = c.clone();
        queue.enqueue(vec![a, b, c]);
        assert_eq!(queue.room(), 0);
        assert!(!queue.holds(late.delivery_id), "left in the outbox");
        let stop = tasks.stopping();
        let mut got = consumer.next(8, &stop).await.unwrap();
        assert_eq!(got.len(), 2, "only what fits was queued");
        queue.enqueue(vec![late.clone()]);
        assert!(!queue.holds(late.delivery_id), "still full");
        let Delivery { job, acker } = got.remove(0);
        acker.done(&job).expect("let go of once written")();
        assert_eq!(queue.room(), 1);
        queue.enqueue(vec![late.clone()]);
        let again = consumer.next(8, &stop).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].job.delivery_id, late.delivery_id);
    }

    #[tokio::test]
    async fn a_delivery_already_held_is_not_queued_twice() {
        let tasks = Tasks::new();
        let (queue, mut consumer) = EmbeddedQueue::new(tasks.clone());
        let job = test_job();
        queue.enqueue(vec![job.clone()]);
        queue.enqueue(vec![job.clone()]);
        let stop = tasks.stopping();
        assert_eq!(consumer.next(8, &stop).await.unwrap().len(), 1);
        let second = tokio::time::timeout(Duration::from_millis(50), consumer.next(8, &stop)).await;
        assert!(second.is_err(), "the twin was not queued");
    }

    #[tokio::test]
    async fn an_outcome_given_up_on_lets_go_of_its_delivery_for_the_orphan_sweep() {
        let tasks = Tasks::new();
        let (queue, mut consumer) = EmbeddedQueue::new(tasks.clone());
        let job = test_job();
        let id = job.delivery_id;
        queue.enqueue(vec![job]);
        let Delivery { job, acker } = consumer.next(1, &tasks.stopping()).await.unwrap().remove(0);
        let written = acker.done(&job).expect("let go of once written");
        drop(written);
        assert!(!queue.holds(id), "not held: the sweep may take it up again");
    }

    #[test]
    fn its_slots_are_kept_until_the_outcome_is_written() {
        let (queue, _consumer) = EmbeddedQueue::new(Tasks::new());
        assert!(EmbeddedAcker(queue).keeps_slot_until_written());
    }
}
