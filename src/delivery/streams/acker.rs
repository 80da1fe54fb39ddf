//! Settling a delivery read from the stream: once its outcome is recorded, its entry is
//! acknowledged and deleted, its lease released, and — in the same MULTI — its next attempt
//! scheduled or its dead letter written. The worker slot it holds is kept until then.

use std::sync::Arc;

use crate::domain::DeliveryId;

use super::{RedisQueue, Then, wire};
use crate::clock::now_ms;
use crate::delivery::job::DeliveryJob;
use crate::delivery::queue::{Acker, Acknowledge, OnWritten, Settle};

/// The acknowledger of stream entry `entry` (delivery `id`).
pub(super) struct RedisAcker {
    queue: Arc<RedisQueue>,
    entry: String,
    id: DeliveryId,
}

impl RedisAcker {
    /// The acker of `entry`, which this replica now works on (kept from looking idle by the
    /// heartbeat until it is acknowledged).
    pub(super) fn taken(queue: &Arc<RedisQueue>, entry: String, id: DeliveryId) -> Acker {
        queue.working_on(&entry, id);
        Acker::new(Self {
            queue: queue.clone(),
            entry,
            id,
        })
    }
}

impl Acknowledge for RedisAcker {
    fn settle(self: Box<Self>, job: &DeliveryJob, how: Settle) -> Option<OnWritten> {
        let then = match how {
            Settle::Done => Then::Done,
            Settle::Retry(delay) => Then::Retry {
                job: wire::encode(job),
                due: now_ms() + delay.as_millis() as i64,
            },
            Settle::DeadLetter(reason) => {
                self.queue
                    .metrics
                    .queue_events
                    .with_label_values(&["dead_lettered"])
                    .inc();
                Then::Dead {
                    job: wire::encode(job),
                    reason,
                }
            }
        };
        Some(self.queue.ack_later(Some(self.entry), Some(self.id), then))
    }

    fn keeps_slot_until_written(&self) -> bool {
        true
    }
}
