//! Where deliveries wait for a worker. The embedded queue is an in-process channel fed after
//! the invite's transaction commits, with timers for delayed retries; what it holds is also in
//! the store's outbox, so a restart resumes it. The Redis queue ([`super::streams`]) shares
//! one stream between replicas.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::domain::DeliveryId;
use tokio::sync::mpsc;

use super::job::DeliveryJob;
use super::streams::RedisQueue;

/// Deliveries the embedded queue holds (queued, in flight or waiting for a retry).
pub type Held = Arc<Mutex<HashSet<DeliveryId>>>;

/// Run once a delivery's outcome is in the store.
pub type OnWritten = Box<dyn FnOnce() + Send>;

/// The queue backends.
#[derive(Clone)]
pub enum Queue {
    /// In-process: one channel, drained by this process's workers, and the deliveries handed
    /// to it that have no final outcome yet.
    Embedded(mpsc::UnboundedSender<DeliveryJob>, Held),
    /// A Redis Stream shared by every replica.
    Redis(Arc<RedisQueue>),
}

impl Queue {
    /// An embedded queue and the receiving end its workers read.
    pub fn embedded() -> (Self, mpsc::UnboundedReceiver<DeliveryJob>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Queue::Embedded(tx, Held::default()), rx)
    }

    /// Hands deliveries to the workers now.
    pub fn enqueue(&self, jobs: Vec<DeliveryJob>) {
        match self {
            Queue::Embedded(tx, held) => {
                let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
                for job in jobs {
                    held.insert(job.delivery_id);
                    // A closed channel means shutdown: the job stays open in the outbox.
                    let _ = tx.send(job);
                }
            }
            Queue::Redis(q) => q.enqueue(jobs),
        }
    }

    /// What to do once `job`'s outcome is recorded: nothing more, or another attempt after
    /// `retry`. The embedded queue arms its retry timer at once (a crash loses only the timer:
    /// the delivery is still open in the outbox) and lets go of a finished delivery once its
    /// outcome is written; the Redis queue schedules the retry and acknowledges the stream
    /// entry only after the outcome is in the store.
    pub fn after_recorded(&self, job: &DeliveryJob, retry: Option<Duration>) -> Option<OnWritten> {
        match self {
            Queue::Embedded(tx, held) => {
                match retry {
                    Some(delay) => {
                        let (tx, job) = (tx.clone(), job.clone());
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = tx.send(job);
                        });
                        None
                    }
                    // Let go of it only once its final outcome is in the store.
                    None => {
                        let (held, id) = (held.clone(), job.delivery_id);
                        Some(Box::new(move || {
                            held.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                        }))
                    }
                }
            }
            Queue::Redis(q) => Some(q.after_recorded(job, retry)),
        }
    }

    /// Embedded: whether this process's queue holds delivery `id` (always true for Redis,
    /// whose sweeper works from the outbox instead).
    pub fn holds(&self, id: DeliveryId) -> bool {
        match self {
            Queue::Embedded(_, held) => {
                held.lock().unwrap_or_else(|p| p.into_inner()).contains(&id)
            }
            Queue::Redis(_) => true,
        }
    }

    /// Waits until acknowledgements queued so far reached Redis (no-op when embedded).
    pub async fn flush(&self) {
        if let Queue::Redis(q) = self {
            q.flush().await;
        }
    }
}
