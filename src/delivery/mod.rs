//! Delivery: from an accepted invite to the provider and back. Deliveries (one per
//! registration) wait in a queue — in process (`embedded`) or a Redis Stream shared by the
//! replicas ([`streams`]) — behind one [`Producer`]/[`Consumer`] seam; one consumer loop
//! (`consumer`) hands each [`Delivery`] (a job and its [`Acker`]) to the [`Worker`] with
//! bounded concurrency; the worker sends through the platform's [`PushSender`] (APNs:
//! per-credential [`Clients`]), acts on the classified outcome, and the [`Recorder`] writes
//! outcomes in batches, then acknowledges them to their queue and announces
//! [`InviteChange`]s. Embedded, open deliveries of the outbox are resumed at start-up. A sweeper
//! removes registrations unused for `registration_ttl_days` (`upkeep`). Every task is tracked
//! by the service's [`Tasks`].

mod apns_sender;
mod clients;
mod consumer;
mod embedded;
mod fcm_clients;
mod fcm_sender;
mod job;
mod payload;
mod queue;
mod recorder;
mod retry;
mod sender;
pub mod streams;
mod upkeep;
mod verdict;
mod worker;

pub use apns_sender::{ApnsSender, DirectApnsSender};
pub use clients::{ClientError, Clients, Entry};
pub use fcm_clients::{FcmCredentials, FcmEntry};
pub use fcm_sender::{FcmSender, call_message};
pub use job::{DeliveryJob, InviteInfo, Relayed};
pub use payload::{apns_payload, call_fields, call_payload, params_query};
pub use queue::{Acker, Acknowledge, Consumer, Delivery, OnWritten, Producer, Settle};
pub use recorder::Recorder;
pub use sender::{PushSender, Senders, Sent};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::auth::bridge_token::BridgeTokens;
use crate::clock::now_ms;
use crate::config::Config;
use crate::events::{Events, InviteChange};
use crate::metrics::Metrics;
use crate::secrets::MasterKey;
use crate::store::{Store, StoreError};
use crate::tasks::Tasks;
use embedded::EmbeddedQueue;
use worker::Worker;

/// Open deliveries read per page when the embedded queue resumes the outbox at start.
const RESUME_PAGE: usize = 1_000;

/// The running delivery machinery of this process.
pub struct Engine {
    queue: Arc<dyn Producer>,
    recorder: Recorder,
    events: Events,
    clients: Arc<Clients>,
    fcm: Arc<FcmCredentials>,
    bridge: BridgeTokens,
    tasks: Tasks,
    /// The consumer loop: done once it took nothing more and its deliveries were settled.
    consumer: Mutex<Option<JoinHandle<()>>>,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("APNs configuration: {0}")]
    Apns(#[from] crate::apns::ApnsError),
    #[error("FCM configuration: {0}")]
    Fcm(#[from] crate::fcm::FcmError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl Engine {
    /// Starts the consumer loop, the recorder and the sweeper, every task tracked by `tasks`
    /// (see [`Engine::shutdown`]). Embedded, it resumes the outbox's open deliveries; given
    /// `redis` (the shared connection), it joins the replicas' Redis queue. What it does is
    /// counted in `metrics`.
    pub async fn start(
        store: Store,
        master: Arc<MasterKey>,
        config: &Config,
        events: Events,
        redis: Option<redis::aio::ConnectionManager>,
        metrics: Metrics,
        tasks: Tasks,
    ) -> Result<Arc<Self>, EngineError> {
        let recorder = Recorder::start(store.clone(), events.clone(), metrics.clone(), &tasks);
        let clients = Arc::new(Clients::new(
            store.clone(),
            master.clone(),
            config.apns()?,
            redis
                .clone()
                .map(|conn| (conn, config.redis_key_prefix.clone())),
        ));
        let bridge = BridgeTokens::new(&master);
        let apns = ApnsSender::new(clients.clone(), bridge.clone(), metrics.clone());
        let fcm_credentials = Arc::new(FcmCredentials::new(
            crate::fcm::FcmClient::new(config.fcm()?)?,
            store.clone(),
            master.clone(),
            redis
                .clone()
                .map(|conn| (conn, config.redis_key_prefix.clone())),
            metrics.clone(),
        ));
        let fcm = FcmSender::new(fcm_credentials.clone(), bridge.clone(), metrics.clone());
        let worker = Arc::new(Worker {
            senders: Senders::new(Arc::new(apns), Arc::new(fcm)),
            recorder: recorder.clone(),
            metrics: metrics.clone(),
        });
        let process = move |delivery: Delivery| {
            let worker = worker.clone();
            async move { worker.process(delivery).await }
        };
        let concurrency = config.delivery_concurrency as usize;
        let (queue, consumer, embedded): (Arc<dyn Producer>, _, _) = match &redis {
            Some(conn) => {
                let queue = streams::RedisQueue::start(
                    conn.clone(),
                    &config.redis_key_prefix,
                    streams::Settings::from(config),
                    store.clone(),
                    &tasks,
                    metrics.clone(),
                )
                .await?;
                // Blocking reads get a connection of their own.
                let url = config.redis_url.as_deref().unwrap_or_default();
                let reader = crate::redis_conn::connect(url).await?;
                let consumer = streams::RedisConsumer::new(queue.clone(), reader, store.clone());
                let run = consumer::run(consumer, process, concurrency, tasks.clone());
                (queue as Arc<dyn Producer>, tasks.spawn(run), None)
            }
            None => {
                let (queue, consumer) = EmbeddedQueue::new(tasks.clone());
                let run = consumer::run(consumer, process, concurrency, tasks.clone());
                (Arc::new(queue.clone()) as _, tasks.spawn(run), Some(queue))
            }
        };
        let ttl = Duration::from_secs(u64::from(config.registration_ttl_days) * 86_400);
        tasks.spawn(upkeep::sweep(store.clone(), ttl, tasks.stopping(), metrics));
        let engine = Arc::new(Self {
            queue,
            recorder,
            events,
            clients,
            fcm: fcm_credentials,
            bridge,
            tasks: tasks.clone(),
            consumer: Mutex::new(Some(consumer)),
        });
        if let Some(embedded) = embedded {
            Self::resume(&store, &embedded).await?;
            let after = Duration::from_millis(config.queue_sweep_after_ms);
            tasks.spawn(upkeep::adopt_orphans(
                store.clone(),
                embedded,
                after,
                tasks.stopping(),
            ));
        }
        Ok(engine)
    }

    /// Queues the outbox's open deliveries, oldest first, a page at a time and only as many
    /// as the queue has room for (the orphan sweep takes up the rest as room frees up).
    async fn resume(store: &Store, queue: &EmbeddedQueue) -> Result<(), StoreError> {
        let (mut from, mut resumed) = (None, 0usize);
        loop {
            let limit = queue.room().min(RESUME_PAGE);
            if limit == 0 {
                break;
            }
            let page = store
                .open_deliveries_page(i64::MAX, from, limit as i64)
                .await?;
            let full = page.len() == limit;
            from = page.last().map(|last| (last.date_updated, last.id));
            let jobs = job::jobs_from_store(store, &page).await?;
            resumed += jobs.len();
            queue.enqueue(jobs);
            if !full {
                break;
            }
        }
        if resumed > 0 {
            tracing::info!(deliveries = resumed, "resuming open deliveries");
        }
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

    /// The FCM client and per-credential access-token sources.
    pub fn fcm(&self) -> &FcmCredentials {
        &self.fcm
    }

    /// Forgets what this process built from credential `sid` (after a rotation or deletion).
    pub fn invalidate_credential(&self, sid: &str) {
        self.clients.invalidate(sid);
        self.fcm.invalidate(sid);
    }

    /// The bridge token signer.
    pub fn bridge(&self) -> &BridgeTokens {
        &self.bridge
    }

    /// The service's tracked tasks: spawn background work here so shutdown waits for it.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// Stops taking deliveries, lets in-flight pushes finish and writes their outcomes, then
    /// waits for every tracked task (timers and pollers end at once). What was still queued
    /// stays open in the outbox and is resumed at the next start.
    pub async fn shutdown(&self) {
        self.tasks.stop();
        let consumer = self
            .consumer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(consumer) = consumer {
            let _ = consumer.await;
        }
        self.recorder.flush().await;
        self.queue.flush().await;
        self.tasks.finish().await;
        tracing::info!(at = now_ms(), "delivery engine stopped");
    }
}
