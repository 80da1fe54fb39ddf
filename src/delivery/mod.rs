//! Delivery: from an accepted invite to APNs and back. Deliveries (one per registration) wait
//! in a [`Queue`]; workers send them through per-credential APNs [`Clients`] with bounded
//! concurrency; the [`Worker`] acts on each classified outcome; the [`Recorder`] writes outcomes
//! in batches and announces [`InviteChange`]s. Embedded, open deliveries of the outbox are
//! resumed at start-up; with Redis ([`streams`]) the replicas share one stream instead. A
//! sweeper removes registrations unused for `registration_ttl_days`.

mod clients;
mod job;
mod payload;
mod queue;
mod recorder;
mod retry;
pub mod streams;
mod worker;

pub use clients::{ClientError, Clients, Entry};
pub use job::{DeliveryJob, InviteInfo};
pub use payload::{call_payload, params_query};
pub use queue::{OnWritten, Queue};
pub use recorder::Recorder;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::auth::bridge_token::BridgeTokens;
use crate::clock::now_ms;
use crate::config::Config;
use crate::events::{Events, InviteChange};
use crate::metrics::Metrics;
use crate::secrets::MasterKey;
use crate::store::{Store, StoreError};
use worker::Worker;

/// How often unused registrations are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// The running delivery machinery of this process.
pub struct Engine {
    queue: Queue,
    recorder: Recorder,
    events: Events,
    clients: Arc<Clients>,
    bridge: BridgeTokens,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("APNs configuration: {0}")]
    Apns(#[from] crate::apns::ApnsError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl Engine {
    /// Starts workers, the recorder and the sweeper. Embedded, it resumes the outbox's open
    /// deliveries; given `redis` (the shared connection), it joins the replicas' Redis queue.
    /// What it does is counted in `metrics`.
    pub async fn start(
        store: Store,
        master: Arc<MasterKey>,
        config: &Config,
        events: Events,
        redis: Option<redis::aio::ConnectionManager>,
        metrics: Metrics,
    ) -> Result<Arc<Self>, EngineError> {
        let (recorder, recorder_task) =
            Recorder::start(store.clone(), events.clone(), metrics.clone());
        let clients = Arc::new(Clients::new(
            store.clone(),
            master.clone(),
            config.apns()?,
            redis
                .clone()
                .map(|conn| (conn, config.redis_key_prefix.clone())),
        ));
        let bridge = BridgeTokens::new(&master);
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let (queue, embedded) = match &redis {
            Some(conn) => {
                let (queue, queue_tasks) = streams::RedisQueue::start(
                    conn.clone(),
                    &config.redis_key_prefix,
                    streams::Settings::from(config),
                    store.clone(),
                    stopped.clone(),
                    metrics.clone(),
                )
                .await?;
                tasks.extend(queue_tasks);
                (Queue::Redis(queue), None)
            }
            None => {
                let (queue, jobs) = Queue::embedded();
                (queue, Some(jobs))
            }
        };
        let worker = Arc::new(Worker {
            clients: clients.clone(),
            recorder: recorder.clone(),
            queue: queue.clone(),
            bridge: bridge.clone(),
            metrics: metrics.clone(),
        });
        let concurrency = config.delivery_concurrency as usize;
        let dispatch = match (embedded, &queue) {
            (Some(jobs), _) => tokio::spawn(dispatch(jobs, worker, concurrency, stopped.clone())),
            (None, Queue::Redis(q)) => {
                // Blocking reads get a connection of their own.
                let url = config.redis_url.as_deref().unwrap_or_default();
                let reader = crate::redis_conn::connect(url).await?;
                tokio::spawn(streams::consume(
                    q.clone(),
                    reader,
                    store.clone(),
                    worker,
                    concurrency,
                    stopped.clone(),
                ))
            }
            (None, Queue::Embedded(..)) => unreachable!("an embedded queue has its receiver"),
        };
        let ttl = Duration::from_secs(u64::from(config.registration_ttl_days) * 86_400);
        let sweeper = tokio::spawn(sweep(store.clone(), ttl, stopped, metrics));
        tasks.splice(0..0, [dispatch, sweeper, recorder_task]);
        let engine = Arc::new(Self {
            queue,
            recorder,
            events,
            clients,
            bridge,
            stop,
            tasks: Mutex::new(tasks),
        });
        if redis.is_none() {
            engine.resume(&store).await?;
            let after = Duration::from_millis(config.queue_sweep_after_ms);
            let task = tokio::spawn(adopt_orphans(
                store.clone(),
                engine.queue.clone(),
                after,
                engine.stop.subscribe(),
            ));
            engine
                .tasks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(task);
        }
        Ok(engine)
    }

    async fn resume(&self, store: &Store) -> Result<(), StoreError> {
        let open = store.open_deliveries().await?;
        if open.is_empty() {
            return Ok(());
        }
        let jobs = job::jobs_from_store(store, &open).await?;
        tracing::info!(deliveries = jobs.len(), "resuming open deliveries");
        self.queue.enqueue(jobs);
        Ok(())
    }

    /// Hands freshly committed deliveries to the workers.
    pub fn enqueue(&self, jobs: Vec<DeliveryJob>) {
        self.queue.enqueue(jobs);
    }

    /// Invite changes from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<InviteChange> {
        self.events.subscribe()
    }

    /// Where invite changes are published.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The per-credential APNs clients.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// The bridge token signer.
    pub fn bridge(&self) -> &BridgeTokens {
        &self.bridge
    }

    /// Stops taking deliveries, lets in-flight pushes finish, and writes their outcomes.
    /// What was still queued stays open in the outbox and is resumed at the next start.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        let mut tasks = tasks.into_iter();
        if let Some(dispatch) = tasks.next() {
            let _ = dispatch.await;
        }
        self.recorder.flush().await;
        self.queue.flush().await;
        tracing::info!(at = now_ms(), "delivery engine stopped");
    }
}

async fn dispatch(
    mut jobs: mpsc::UnboundedReceiver<DeliveryJob>,
    worker: Arc<Worker>,
    concurrency: usize,
    mut stopped: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut running = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => break,
            Some(_) = running.join_next(), if !running.is_empty() => {}
            job = jobs.recv() => {
                let Some(job) = job else { break };
                let Ok(permit) = permits.clone().acquire_owned().await else { break };
                let worker = worker.clone();
                running.spawn(async move {
                    worker.process(job).await;
                    drop(permit);
                });
            }
        }
    }
    while running.join_next().await.is_some() {}
}

/// Embedded: every half `after`, takes up open deliveries written more than `after` ago that
/// this process's queue does not hold — an invite whose commit reported an error although
/// PostgreSQL had written it (the connection broke during COMMIT), which would otherwise wait
/// for the next start.
async fn adopt_orphans(
    store: Store,
    queue: Queue,
    after: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval((after / 2).max(Duration::from_millis(500)));
    tick.tick().await; // `resume` just ran
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tick.tick() => {}
        }
        let Ok(open) = store.open_deliveries().await else {
            continue;
        };
        let before = now_ms() - after.as_millis() as i64;
        let orphans: Vec<_> = open
            .into_iter()
            .filter(|d| d.date_updated < before)
            .filter(|d| !queue.holds(d.id))
            .collect();
        if orphans.is_empty() {
            continue;
        }
        match job::jobs_from_store(&store, &orphans).await {
            Ok(jobs) => {
                tracing::warn!(
                    deliveries = jobs.len(),
                    "open deliveries this process never queued (written despite an error?): sending them"
                );
                queue.enqueue(jobs);
            }
            Err(e) => tracing::debug!(error = %e, "adopting open deliveries failed"),
        }
    }
}

async fn sweep(store: Store, ttl: Duration, mut stopped: watch::Receiver<bool>, metrics: Metrics) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = every.tick() => {
                let cutoff = now_ms() - ttl.as_millis() as i64;
                match store.sweep_unused_registrations(cutoff).await {
                    Ok(0) => {}
                    Ok(n) => {
                        metrics
                            .registration_changes
                            .with_label_values(&["retired_unused"])
                            .inc_by(n);
                        tracing::info!(registrations = n, reason = "unused", "registrations swept");
                    }
                    Err(e) => tracing::warn!(error = %e, "registration sweep failed"),
                }
            }
        }
    }
}
