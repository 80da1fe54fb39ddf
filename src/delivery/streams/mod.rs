//! The Redis queue: deliveries shared by every replica through one Redis Stream and one
//! consumer group, so each delivery is handled by exactly one replica at a time — unlike a
//! broadcast queue where every replica rings every phone.
//!
//! Redis keys (prefix configurable, default `pushgate:`; with Redis Cluster use a hash tag
//! such as `{pushgate}:` so the keys share a slot):
//! - `<prefix>deliveries` — Stream of jobs (field `job`: JSON with everything the push needs).
//!   Consumer group `pushgate`; each replica reads as consumer `<host>-<pid>-<random>`
//!   (consumers idle for an hour with nothing pending are removed from the group). An entry
//!   is acknowledged and deleted (XACK + XDEL) only after its outcome is recorded in the store.
//!   Entries idle longer than `queue_claim_idle_ms` in a replica's pending list (it died) are
//!   taken over by another (XAUTOCLAIM); before sending a claimed entry again the store is
//!   asked, so one whose outcome was recorded is only acknowledged.
//! - `<prefix>deliveries:retry` — Sorted set of jobs waiting for another attempt (score: due
//!   time, epoch ms). A replica moves due jobs back onto the stream (one Lua script: each job
//!   moves once). Written in the same MULTI as the acknowledgement of the failed attempt.
//! - `<prefix>deliveries:lease:<delivery id>` — set (NX, expiring a little before the claim
//!   idle time, renewed with the heartbeat) by the replica about to send a delivery, deleted
//!   with the acknowledgement. A delivery can have twin entries (swept from the outbox while its
//!   first entry was delayed, re-added after Redis lost its data, claimed from a slow
//!   replica): only the lease holder sends; a fresh twin is acknowledged, a claimed one waits
//!   for the lease to expire. Entries older than the sweep delay, and claimed ones, are also
//!   checked against the store first (one whose outcome is recorded is only acknowledged).
//! - `<prefix>deliveries:dead` — Stream of dead letters (fields `job`, `reason`, `replica`,
//!   `at`), capped near 10,000 entries: jobs that could not be read, or were handed out
//!   `queue_max_deliveries` times without an outcome (recorded as failed in the store).
//! - `<prefix>invite-events` — see [`crate::events::relay`]; `<prefix>apns-token:…` — see
//!   [`crate::apns::shared_token`].
//!
//! The store stays the source of truth (the outbox): an invite's deliveries are committed
//! first, then added to the stream and marked `enqueued_at`. Rows still unmarked after
//! `queue_sweep_after_ms` (Redis was down, or the replica died in between) are added by a
//! sweeper; if Redis comes back empty (restarted without persistence), every open delivery is
//! unmarked and swept again. So no accepted invite depends on Redis being up at that instant.
//!
//! Behind the queue seam ([`crate::delivery::Producer`], [`crate::delivery::Consumer`]):
//! [`RedisQueue`] is the producer; [`RedisConsumer`] reads, claims, leases and checks entries
//! against the store before handing them out; each comes with an acker that acknowledges it
//! only once its outcome is recorded, and keeps the worker slot it holds until then, so a
//! replica never has more pushes sent-but-unrecorded than slots.

mod acker;
mod consume;
mod liveness;
mod tasks;
#[cfg(test)]
mod tests;
mod wire;

pub use consume::RedisConsumer;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use super::job::DeliveryJob;
use super::queue::{OnWritten, Producer};
use crate::clock::now_ms;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::tasks::Tasks;

/// The consumer group every replica reads in.
const GROUP: &str = "pushgate";
/// Dead letters kept (approximately).
const DEAD_LETTERS_KEPT: usize = 10_000;

/// The queue's Redis keys.
#[derive(Debug, Clone)]
pub struct Keys {
    pub stream: String,
    pub retries: String,
    pub dead: String,
    pub lease: String,
}

impl Keys {
    /// The keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            stream: format!("{prefix}deliveries"),
            retries: format!("{prefix}deliveries:retry"),
            dead: format!("{prefix}deliveries:dead"),
            lease: format!("{prefix}deliveries:lease:"),
        }
    }
}

/// Timing and limits, from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub claim_idle: Duration,
    pub max_deliveries: u32,
    pub sweep_after: Duration,
    /// Most committed deliveries waiting for the enqueuer ([`ENQUEUE_BACKLOG`]).
    pub enqueue_backlog: usize,
}

impl From<&Config> for Settings {
    fn from(c: &Config) -> Self {
        Self {
            claim_idle: Duration::from_millis(c.queue_claim_idle_ms),
            max_deliveries: c.queue_max_deliveries,
            sweep_after: Duration::from_millis(c.queue_sweep_after_ms),
            enqueue_backlog: ENQUEUE_BACKLOG,
        }
    }
}

/// What happens to a stream entry once its job's outcome is recorded.
enum Then {
    Done,
    Retry { job: String, due: i64 },
    Dead { job: String, reason: String },
}

enum Ack {
    /// `release`: the delivery whose lease (if any) ends with this acknowledgement.
    Entry {
        entry: Option<String>,
        release: Option<crate::domain::DeliveryId>,
        then: Then,
    },
    Flush(oneshot::Sender<()>),
}

type Working = Arc<
    std::sync::Mutex<
        std::collections::HashMap<String, (crate::domain::DeliveryId, std::time::Instant)>,
    >,
>;

/// Most committed deliveries waiting for the enqueuer (a job is about a kilobyte).
pub const ENQUEUE_BACKLOG: usize = 65_536;

/// The Redis queue of this replica.
pub struct RedisQueue {
    conn: ConnectionManager,
    keys: Keys,
    consumer: String,
    settings: Settings,
    /// Committed deliveries for the enqueuer, at most [`Settings::enqueue_backlog`].
    enqueue: mpsc::Sender<DeliveryJob>,
    /// Whether the last enqueue left deliveries to the outbox sweeper for want of room.
    deferring: std::sync::atomic::AtomicBool,
    acks: mpsc::UnboundedSender<Ack>,
    /// Entries this replica is working on (taken, not yet acknowledged) and since when: kept
    /// from looking idle by a heartbeat, so only a dead (or stalled) replica's entries are
    /// claimed.
    working: Working,
    /// When this replica last re-created a lost queue (epoch ms), until the sweeper has
    /// unmarked the deliveries whose marks landed after that.
    recreated: std::sync::Mutex<Option<i64>>,
    /// Where queue events are counted.
    metrics: Metrics,
}

impl RedisQueue {
    fn recreated_at(&self) -> Option<i64> {
        *self.recreated.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The group was just created: unmarks every open delivery (marks still being written are
    /// caught by the sweeper later, see `tasks::forget_late_marks`).
    async fn note_recreated(&self, store: &Store) -> Result<u64, crate::store::StoreError> {
        *self.recreated.lock().unwrap_or_else(|e| e.into_inner()) = Some(now_ms());
        store.forget_enqueued().await
    }

    fn clear_recreated(&self, at: i64) {
        let mut recreated = self.recreated.lock().unwrap_or_else(|e| e.into_inner());
        if *recreated == Some(at) {
            *recreated = None;
        }
    }

    /// Makes sure the consumer group exists and starts the enqueuer, the acknowledger, the
    /// heartbeat, the retry mover and the outbox sweeper, tracked by `tasks` (they stop when
    /// it is stopping; the acknowledger once it is drained). Queue events are counted in
    /// `metrics`.
    pub async fn start(
        conn: ConnectionManager,
        prefix: &str,
        settings: Settings,
        store: Store,
        tasks: &Tasks,
        metrics: Metrics,
    ) -> Result<Arc<Self>, redis::RedisError> {
        let (enqueue, enqueue_rx) = mpsc::channel(settings.enqueue_backlog.max(1));
        let (acks, acks_rx) = mpsc::unbounded_channel();
        let queue = Arc::new(Self {
            conn,
            keys: Keys::new(prefix),
            consumer: crate::redis_conn::replica_name(),
            settings,
            enqueue,
            deferring: Default::default(),
            acks,
            working: Arc::default(),
            recreated: std::sync::Mutex::default(),
            metrics,
        });
        queue.ensure_group(&store).await?;
        let stop = tasks.stopping();
        tasks.spawn(tasks::enqueuer(
            queue.clone(),
            store.clone(),
            enqueue_rx,
            tasks.clone(),
        ));
        tasks.spawn(tasks::acknowledger(
            queue.conn.clone(),
            queue.keys.clone(),
            queue.consumer.clone(),
            queue.working.clone(),
            acks_rx,
            tasks.drained(),
        ));
        tasks.spawn(liveness::heartbeat(queue.clone(), stop.clone()));
        tasks.spawn(liveness::forget_gone_consumers(queue.clone(), stop.clone()));
        tasks.spawn(tasks::move_due_retries(queue.clone(), stop.clone()));
        tasks.spawn(tasks::sweep_outbox(queue.clone(), store, stop));
        Ok(queue)
    }

    fn ack_later(
        &self,
        entry: Option<String>,
        release: Option<crate::domain::DeliveryId>,
        then: Then,
    ) -> OnWritten {
        let acks = self.acks.clone();
        Box::new(move || {
            let _ = acks.send(Ack::Entry {
                entry,
                release,
                then,
            });
        })
    }

    /// Notes that this replica works on `entry` (delivery `id`) until it is acknowledged.
    fn working_on(&self, entry: &str, id: crate::domain::DeliveryId) {
        self.working
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.to_owned(), (id, std::time::Instant::now()));
    }

    /// The lease key of delivery `id`.
    fn lease_key(&self, id: crate::domain::DeliveryId) -> String {
        format!("{}{id}", self.keys.lease)
    }

    /// How long a lease lasts unless renewed: a little under the claim idle time, so by the
    /// time a dead replica's entry may be claimed its leases have expired.
    fn lease_ms(&self) -> u64 {
        (self.settings.claim_idle.as_millis() as u64) * 9 / 10
    }

    /// Adds jobs to the stream in one round trip, giving up after `within` (a command still
    /// waiting for a reconnection is then never sent, so it can't race the outbox sweeper).
    async fn add(&self, jobs: &[DeliveryJob], within: Duration) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        for job in jobs {
            pipe.cmd("XADD")
                .arg(&self.keys.stream)
                .arg("*")
                .arg("job")
                .arg(wire::encode(job))
                .ignore();
        }
        let mut conn = self.conn.clone();
        match tokio::time::timeout(within, pipe.query_async::<()>(&mut conn)).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "Redis did not answer in time",
            )
            .into()),
        }
    }

    /// How long an enqueue may take: well within the sweep delay, so a late enqueue and the
    /// sweeper never both add one delivery.
    fn enqueue_budget(&self) -> Duration {
        self.settings.sweep_after / 4
    }

    /// Creates the consumer group (and the stream) unless it exists. Creating it means Redis
    /// had no queue — first start, or Redis lost its data — so every open delivery in the
    /// outbox is unmarked for the sweeper to enqueue again.
    async fn ensure_group(&self, store: &Store) -> redis::RedisResult<()> {
        let created = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.keys.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async::<()>(&mut self.conn.clone())
            .await;
        match created {
            Ok(()) => match self.note_recreated(store).await {
                Ok(0) => Ok(()),
                Ok(n) => {
                    tracing::warn!(
                        deliveries = n,
                        "the Redis queue was empty (Redis lost its data?): open deliveries will be enqueued again from the outbox"
                    );
                    Ok(())
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not unmark open deliveries after Redis lost the queue");
                    Ok(())
                }
            },
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Producer for RedisQueue {
    /// Adds freshly committed deliveries to the stream (in the background: a Redis outage
    /// leaves them to the outbox sweeper and never delays the API). Beyond
    /// [`Settings::enqueue_backlog`] waiting, they are left to the sweeper at once (counted as
    /// `enqueue_deferred`), so a slow Redis fills the outbox, not this process's memory.
    fn enqueue(&self, jobs: Vec<DeliveryJob>) {
        let mut deferred = 0u64;
        for job in jobs {
            match self.enqueue.try_send(job) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => deferred += 1,
                // Shutdown: the rest is the next start's sweeper's.
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
        if deferred > 0 {
            self.metrics
                .queue_events
                .with_label_values(&["enqueue_deferred"])
                .inc_by(deferred);
        }
        let was = self
            .deferring
            .swap(deferred > 0, std::sync::atomic::Ordering::Relaxed);
        if deferred > 0 && !was {
            tracing::warn!(
                backlog = self.settings.enqueue_backlog,
                "Redis is behind: new deliveries wait in the outbox for the sweeper"
            );
        }
    }

    /// Waits until every acknowledgement queued so far was sent to Redis (or given up).
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (done, wait) = oneshot::channel();
            if self.acks.send(Ack::Flush(done)).is_ok() {
                let _ = wait.await;
            }
        })
    }
}
