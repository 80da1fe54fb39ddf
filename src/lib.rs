//! pushgate: a self-hosted push relay for VoIP calling apps.
//!
//! Crate map (the README's "Architecture" section draws the data flow):
//! - [`cli`]: the `pushgate` command line (thin `main` calls [`cli::main`]).
//! - [`config`]: layered configuration (defaults → TOML → `PUSHGATE_*`), validated at load.
//! - [`domain`]: parsed types: SIDs, identities, device tokens, and the states, environments,
//!   platforms and delivery ids everything past the store edge uses.
//! - [`invites`]: the invites service — place, read, wait, accept, reject, cancel, expire, prune ended
//!   ones — and status callbacks; [`registrations`]: the registrations service.
//! - [`credentials`]: push credentials: parsing and validation (PEM, .p12, .p8), sealing, rotation.
//! - [`auth`]: API keys (HTTP Basic), Twilio-format access tokens, bridge tokens.
//! - [`secrets`]: the master key and envelope encryption of secrets at rest.
//! - [`store`]: repositories over SQLite or PostgreSQL; rows decode into domain types here.
//! - [`delivery`]: queues (embedded, Redis Streams) behind one consumer interface, the worker,
//!   per-platform senders (APNs), retries, outcome recording.
//! - [`apns`], [`mock_apns`]: the APNs client (outcomes classified there) and its simulator.
//! - [`fcm`], [`mock_fcm`]: the FCM HTTP v1 client: OAuth2 access tokens (shared through Redis
//!   when scaled out), data messages, outcomes classified there; and the simulator of FCM
//!   and Google's OAuth token endpoint.
//! - [`events`]: invite changes to event streams, callbacks and (with Redis) other replicas.
//! - [`twilio`]: Twilio interop: the Call Notification webhook (body, signature, links to
//!   Twilio accounts, the service relaying it); its HTTP shapes are in [`http`].
//! - [`http`]: the axum API: handlers parse, call a service, render; errors mapped once.
//! - [`console`]: the operator console at `/console`: server-rendered pages over the same
//!   services, sessions in the store, CSRF tokens, embedded assets under a strict CSP.
//! - [`metrics`], [`observe`]: the per-gateway metrics registry and its store-derived gauges.
//! - [`bench`]: `pushgate bench`, the end-to-end load generator.
//! - [`tasks`]: the tracker of every background task, and the stop signals shutdown sends.
//! - [`redis_conn`], [`telemetry`], [`clock`]: Redis connections, logging, time helpers.

pub mod apns;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod credentials;
pub mod delivery;
pub mod domain;
pub mod events;
pub mod fcm;
pub mod http;
pub mod invites;
pub mod metrics;
pub mod mock_apns;
pub mod mock_fcm;
pub mod observe;
pub mod redis_conn;
pub mod registrations;
pub mod secrets;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod twilio;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::AppState;
use crate::store::Store;

/// Connections the private metrics listener keeps open at most (Prometheus needs one or two).
const METRICS_MAX_CONNECTIONS: usize = 64;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Delivery(#[from] delivery::EngineError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Starts what serves requests on a migrated store: the delivery engine (resuming the outbox),
/// the call lifecycle (the expiry sweeper, the retention pruner) and the status callback
/// dispatcher. Their background tasks share one [`tasks::Tasks`], which
/// [`delivery::Engine::shutdown`] waits for.
pub async fn start_services(
    config: Config,
    store: Store,
    master_key: secrets::MasterKey,
) -> Result<AppState, RunError> {
    let master_key = Arc::new(master_key);
    // This gateway's own registry: another gateway in the same process counts apart.
    let metrics = metrics::Metrics::new();
    credentials::limit::configure(
        config.max_concurrent_credential_validations,
        std::time::Duration::from_millis(config.credential_validation_wait_ms),
    );
    let tasks = tasks::Tasks::new();
    let (mut events, callback_queue) = events::Events::new(metrics.clone());
    let redis = match &config.redis_url {
        Some(url) => {
            let conn = redis_conn::connect(url)
                .await
                .map_err(delivery::EngineError::from)?;
            events.relay_through_redis(
                events::relay::Relay {
                    client: redis::Client::open(url.as_str())
                        .map_err(delivery::EngineError::from)?,
                    conn: conn.clone(),
                    channel: format!("{}invite-events", config.redis_key_prefix),
                    origin: redis_conn::replica_name(),
                },
                &tasks,
            );
            Some(conn)
        }
        None => None,
    };
    let engine = delivery::Engine::start(
        store.clone(),
        master_key.clone(),
        &config,
        events,
        redis.clone(),
        metrics.clone(),
        tasks.clone(),
    )
    .await?;
    let invites = invites::Invites::new(store.clone(), engine.clone(), &config, metrics.clone());
    // Ends due invites (after a restart, or another replica's, too) in batches.
    invites.spawn_expiry();
    if let Some(keep) = config.invite_retention() {
        invites.spawn_pruner(keep);
    }
    // Behind an Arc: the state is cloned for every request.
    let registrations = Arc::new(registrations::Registrations::new(
        store.clone(),
        config.max_registrations_per_identity,
        metrics.clone(),
    ));
    invites::callbacks::start(
        store.clone(),
        master_key.clone(),
        callback_queue,
        engine.events().clone(),
        &config,
        metrics.clone(),
        &tasks,
    );
    let keys = Arc::new(auth::key_cache::KeyCache::new(
        store.clone(),
        master_key.clone(),
        std::time::Duration::from_secs(config.api_key_cache_seconds),
        metrics.clone(),
    ));
    let auth_failures = Arc::new(auth::failures::FailureLimiter::new(
        config.auth_failures_per_minute,
        metrics.clone(),
    ));
    let event_streams = http::stream_caps::EventStreams::new(AppState::event_stream_caps(&config));
    let twilio_links = twilio::TwilioLinks::new(store.clone(), master_key.clone());
    let twilio_webhook = twilio::Webhook::new(twilio_links.clone(), invites.clone());
    Ok(AppState::new(http::Services {
        twilio_links,
        twilio_webhook,
        event_streams,
        keys,
        auth_failures,
        store,
        master_key,
        config: Arc::new(config),
        engine,
        invites,
        registrations,
        stopping: Arc::new(tokio::sync::watch::channel(false).0),
        metrics,
    }))
}

/// Opens the store (applying migrations) and serves the API on `listener` until `shutdown`
/// resolves; then drains (see [`http::server`]) and returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let master_key = config.master_key()?;
    let store = Store::open(&config).await?;
    store.migrate().await?;
    let state = start_services(config, store.clone(), master_key).await?;
    let engine = state.engine.clone();
    tracing::info!(addr = %listener.local_addr()?, store = ?store.kind(), "pushgate listening");
    let stop = state.stopping.clone();
    let stopped = stop.subscribe();
    let signal = tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let limits = http::server::Limits::from_config(&state.config);
    let metrics_server = match state.config.metrics_listen {
        Some(addr) => {
            let metrics_listener = TcpListener::bind(addr).await?;
            tracing::info!(addr = %metrics_listener.local_addr()?, "metrics listening");
            let metrics_limits = http::server::Limits {
                max_connections: limits.max_connections.min(METRICS_MAX_CONNECTIONS),
                ..limits
            };
            Some(tokio::spawn(http::server::serve(
                metrics_listener,
                http::metrics_router(state.metrics.clone()),
                metrics_limits,
                stopped.clone(),
                "metrics",
            )))
        }
        None => None,
    };
    // Store-derived gauges hold real values from the first scrape.
    observe::refresh(&state).await;
    let refresher = observe::spawn_refresher(state.clone(), stopped.clone());
    http::server::serve(listener, http::router(state), limits, stopped, "api").await;
    if let Some(server) = metrics_server {
        let _ = server.await;
    }
    refresher.abort();
    signal.abort();
    engine.shutdown().await;
    store.close().await;
    tracing::info!("pushgate stopped");
    Ok(())
}
