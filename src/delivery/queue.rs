//! Where deliveries wait for a worker. The embedded queue is an in-process channel fed after
//! the invite's transaction commits, with timers for delayed retries; what it holds is also in
//! the store's outbox, so a restart resumes it. (A Redis Streams backend for several replicas
//! slots in here.)

use std::time::Duration;

use tokio::sync::mpsc;

use super::job::DeliveryJob;

/// The queue backends.
#[derive(Clone)]
pub enum Queue {
    /// In-process: one channel, drained by this process's workers.
    Embedded(mpsc::UnboundedSender<DeliveryJob>),
}

impl Queue {
    /// An embedded queue and the receiving end its workers read.
    pub fn embedded() -> (Self, mpsc::UnboundedReceiver<DeliveryJob>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Queue::Embedded(tx), rx)
    }

    /// Hands deliveries to the workers now.
    pub fn enqueue(&self, jobs: impl IntoIterator<Item = DeliveryJob>) {
        match self {
            Queue::Embedded(tx) => {
                for job in jobs {
                    // A closed channel means shutdown: the job stays open in the outbox.
                    let _ = tx.send(job);
                }
            }
        }
    }

    /// Hands a delivery back to the workers after `delay`.
    pub fn retry_after(&self, job: DeliveryJob, delay: Duration) {
        match self {
            Queue::Embedded(tx) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = tx.send(job);
                });
            }
        }
    }
}
