//! The embedded queue: an in-process channel fed after the invite's transaction commits, with
//! timers for delayed retries. What it holds is also open in the store's outbox, so a restart
//! resumes it (and [`super::adopt_orphans`] takes up what was written but never handed over).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::job::DeliveryJob;
use super::queue::{Acker, Acknowledge, Consumer, Delivery, OnWritten, Producer, Settle};
use crate::domain::DeliveryId;
use crate::tasks::{Tasks, sleep_unless};

/// Deliveries the embedded queue holds (queued, in flight or waiting for a retry).
type Held = Arc<Mutex<HashSet<DeliveryId>>>;

/// The producer side (cheap to clone).
#[derive(Clone)]
pub struct EmbeddedQueue {
    tx: mpsc::UnboundedSender<DeliveryJob>,
    held: Held,
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
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Self {
            tx,
            held: Held::default(),
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
}

impl Producer for EmbeddedQueue {
    fn enqueue(&self, jobs: Vec<DeliveryJob>) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for job in jobs {
            held.insert(job.delivery_id);
            // A closed channel means shutdown: the job stays open in the outbox.
            let _ = self.tx.send(job);
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
            Settle::Done | Settle::DeadLetter(_) => {
                let (held, id) = (queue.held, job.delivery_id);
                Some(Box::new(move || {
                    held.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                }))
            }
        }
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
}
