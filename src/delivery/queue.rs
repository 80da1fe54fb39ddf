//! Where deliveries wait for a worker. The embedded queue is an in-process channel fed after
//! the invite's transaction commits, with timers for delayed retries; what it holds is also in
//! the store's outbox, so a restart resumes it. The Redis queue ([`super::streams`]) shares
//! one stream between replicas.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::job::DeliveryJob;
use super::streams::RedisQueue;

/// Run once a delivery's outcome is in the store.
pub type OnWritten = Box<dyn FnOnce() + Send>;

/// The queue backends.
#[derive(Clone)]
pub enum Queue {
    /// In-process: one channel, drained by this process's workers.
    Embedded(mpsc::UnboundedSender<DeliveryJob>),
    /// A Redis Stream shared by every replica.
    Redis(Arc<RedisQueue>),
}

impl Queue {
    /// An embedded queue and the receiving end its workers read.
    pub fn embedded() -> (Self, mpsc::UnboundedReceiver<DeliveryJob>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Queue::Embedded(tx), rx)
    }

    /// Hands deliveries to the workers now.
    pub fn enqueue(&self, jobs: Vec<DeliveryJob>) {
        match self {
            Queue::Embedded(tx) => {
                for job in jobs {
                    // A closed channel means shutdown: the job stays open in the outbox.
                    let _ = tx.send(job);
                }
            }
            Queue::Redis(q) => q.enqueue(jobs),
        }
    }

    /// What to do once `job`'s outcome is recorded: nothing more, or another attempt after
    /// `retry`. The embedded queue arms its retry timer at once (a crash loses only the timer:
    /// the delivery is still open in the outbox); the Redis queue schedules the retry and
    /// acknowledges the stream entry only after the outcome is in the store.
    pub fn after_recorded(&self, job: &DeliveryJob, retry: Option<Duration>) -> Option<OnWritten> {
        match self {
            Queue::Embedded(tx) => {
                if let Some(delay) = retry {
                    let (tx, job) = (tx.clone(), job.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = tx.send(job);
                    });
                }
                None
            }
            Queue::Redis(q) => Some(q.after_recorded(job, retry)),
        }
    }

    /// Waits until acknowledgements queued so far reached Redis (no-op when embedded).
    pub async fn flush(&self) {
        if let Queue::Redis(q) = self {
            q.flush().await;
        }
    }
}
