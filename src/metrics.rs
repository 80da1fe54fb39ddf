//! Every Prometheus metric family pushgate exports, defined in this one place, and the
//! [`Metrics`] handle that carries them. Each gateway ([`crate::start_services`]) creates its
//! own handle — its own registry — and gives a clone to every part that records, so two
//! gateways in one process keep their own counts. Label values are bounded: routes are
//! templates, APNs reasons come from Apple's list, credentials are SIDs — never a device token
//! or an identity. Every family is exported from the first scrape (`known.rs`).

mod known;

use std::ops::Deref;
use std::sync::Arc;

use prometheus::{
    Counter, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Buckets for push latencies: fine enough to see single milliseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// One gateway's metrics: a cheap-to-clone handle to its own registry and families (reached
/// through `Deref`, e.g. `metrics.callbacks`).
#[derive(Clone)]
pub struct Metrics(Arc<Families>);

impl Metrics {
    /// A fresh registry with every family registered and its zero series primed.
    pub fn new() -> Self {
        Self(Arc::new(Families::new()))
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for Metrics {
    type Target = Families;

    fn deref(&self) -> &Families {
        &self.0
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// The metric families of one registry.
pub struct Families {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub invites_accepted: IntCounter,
    pub invites_finished: IntCounterVec,
    pub invite_first_push: Histogram,
    /// Ended invites deleted by the retention pruner (`invite_retention_hours`).
    pub invites_pruned: IntCounter,
    pub apns_requests: IntCounterVec,
    pub apns_duration: HistogramVec,
    pub apns_retries: IntCounterVec,
    pub apns_connections: IntGaugeVec,
    pub apns_in_flight: IntGauge,
    /// FCM `messages:send` answers by HTTP status and FCM error code.
    pub fcm_requests: IntCounterVec,
    pub fcm_duration: HistogramVec,
    /// FCM pushes scheduled for another attempt, by cause.
    pub fcm_retries: IntCounterVec,
    /// OAuth 2.0 access-token exchanges for FCM, by result.
    pub fcm_token_exchanges: IntCounterVec,
    pub registrations: IntGaugeVec,
    pub registration_changes: IntCounterVec,
    pub credential_not_after: GaugeVec,
    pub credential_health: IntGaugeVec,
    /// Credentials per health state (every state exported, zero included).
    pub credentials: IntGaugeVec,
    pub token_rejections: IntCounterVec,
    pub queue_depth: IntGauge,
    pub queue_oldest_age: Gauge,
    /// SQLite only: the write-ahead log file's size (bounded; see README, Configuration).
    pub sqlite_wal_bytes: IntGauge,
    /// SQLite only: the writer thread's transactions, the write jobs they carried, and the
    /// seconds it spent in them (its utilisation; see README, Metrics).
    pub sqlite_transactions: IntCounter,
    pub sqlite_write_jobs: IntCounter,
    pub sqlite_writer_busy: Counter,
    /// Redis queue events: `claimed` (taken over from an idle replica), `dead_lettered`,
    /// `swept` (enqueued from the outbox after missing Redis), `enqueue_failed`,
    /// `enqueue_deferred` (left to the sweeper: the enqueue backlog was full).
    pub queue_events: IntCounterVec,
    /// Status callbacks by result: `sent`, `retried`, `failed`, `refused` (target address
    /// not allowed), `dropped` (more were waiting than their bounds allow).
    pub callbacks: IntCounterVec,
    /// API key store reads by the key cache: `found` or `absent`.
    pub api_key_lookups: IntCounterVec,
    /// Failed authentications (API key or access token) by outcome: `refused` (401) or
    /// `limited` (429, the client address is over `auth_failures_per_minute`).
    pub auth_failures: IntCounterVec,
    /// Twilio call notifications by result (`twilio::webhook`'s outcomes, a closed set).
    pub twilio_notifications: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels))
}

fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let m = metric.expect("valid metric");
    registry
        .register(Box::new(m.clone()))
        .expect("unique metric");
    m
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    register(registry, HistogramVec::new(opts, labels))
}

fn int_gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(registry, IntGaugeVec::new(Opts::new(name, help), labels))
}

impl Families {
    fn new() -> Self {
        let r = Registry::new();
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("process collector");
        let invites_accepted = register(
            &r,
            IntCounter::new(
                "pushgate_invites_accepted_total",
                "Invites accepted (202) by the API.",
            ),
        );
        let invites_pruned = register(
            &r,
            IntCounter::new(
                "pushgate_invites_pruned_total",
                "Ended invites deleted, with their deliveries, after invite_retention_hours.",
            ),
        );
        let invite_first_push = register(
            &r,
            Histogram::with_opts(
                HistogramOpts::new(
                    "pushgate_invite_first_push_seconds",
                    "Time from an invite's acceptance to APNs accepting its first push.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            ),
        );
        let apns_in_flight = register(
            &r,
            IntGauge::new(
                "pushgate_apns_streams_in_flight",
                "APNs requests (HTTP/2 streams) in flight.",
            ),
        );
        let queue_depth = register(
            &r,
            IntGauge::new(
                "pushgate_queue_depth",
                "Deliveries waiting to be sent or retried.",
            ),
        );
        let queue_oldest_age = register(
            &r,
            Gauge::new(
                "pushgate_queue_oldest_age_seconds",
                "Age of the oldest delivery waiting to be sent or retried.",
            ),
        );
        let credential_not_after = register(
            &r,
            GaugeVec::new(
                Opts::new(
                    "pushgate_credential_not_after_timestamp_seconds",
                    "When each credential's certificate expires (Unix time).",
                ),
                &["credential", "bundle_id"],
            ),
        );
        let build_info = register(
            &r,
            IntGaugeVec::new(
                Opts::new(
                    "pushgate_build_info",
                    "Always 1; the version label names the running build.",
                ),
                &["version"],
            ),
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let metrics = Self {
            http_requests: counter(
                &r,
                "pushgate_http_requests_total",
                "HTTP requests by route template, method and status.",
                &["route", "method", "status"],
            ),
            http_duration: histogram(
                &r,
                "pushgate_http_request_duration_seconds",
                "HTTP request duration by route template.",
                &["route"],
            ),
            invites_accepted,
            invites_finished: counter(
                &r,
                "pushgate_invites_finished_total",
                "Invites that reached a final state, by state.",
                &["status"],
            ),
            invite_first_push,
            invites_pruned,
            apns_requests: counter(
                &r,
                "pushgate_apns_requests_total",
                "APNs responses by environment, HTTP status and reason.",
                &["environment", "status", "reason"],
            ),
            apns_duration: histogram(
                &r,
                "pushgate_apns_request_duration_seconds",
                "APNs request latency by environment.",
                &["environment"],
            ),
            apns_retries: counter(
                &r,
                "pushgate_apns_retries_total",
                "Pushes scheduled for another attempt, by cause.",
                &["cause"],
            ),
            apns_connections: int_gauge(
                &r,
                "pushgate_apns_connections",
                "Open APNs connections per credential and environment.",
                &["credential", "environment"],
            ),
            apns_in_flight,
            fcm_requests: counter(
                &r,
                "pushgate_fcm_requests_total",
                "FCM messages:send responses by HTTP status and FCM error code.",
                &["status", "error"],
            ),
            fcm_duration: histogram(
                &r,
                "pushgate_fcm_request_duration_seconds",
                "FCM messages:send latency.",
                &[],
            ),
            fcm_retries: counter(
                &r,
                "pushgate_fcm_retries_total",
                "FCM pushes scheduled for another attempt, by cause.",
                &["cause"],
            ),
            fcm_token_exchanges: counter(
                &r,
                "pushgate_fcm_token_exchanges_total",
                "OAuth 2.0 access-token exchanges for FCM service accounts, by result.",
                &["result"],
            ),
            registrations: int_gauge(
                &r,
                "pushgate_registrations",
                "Registrations by platform (apns, fcm), environment and state.",
                &["platform", "environment", "state"],
            ),
            registration_changes: counter(
                &r,
                "pushgate_registration_changes_total",
                "Registrations registered, refreshed, moved, unregistered, retired or invalidated, by reason.",
                &["change"],
            ),
            credential_not_after,
            credential_health: int_gauge(
                &r,
                "pushgate_credential_health",
                "1 for each credential's current health state.",
                &["credential", "bundle_id", "state"],
            ),
            credentials: int_gauge(
                &r,
                "pushgate_credentials",
                "Push credentials by health state.",
                &["state"],
            ),
            token_rejections: counter(
                &r,
                "pushgate_access_token_rejections_total",
                "Access tokens refused, by Twilio error code.",
                &["code"],
            ),
            queue_depth,
            queue_oldest_age,
            sqlite_wal_bytes: register(
                &r,
                IntGauge::new(
                    "pushgate_sqlite_wal_bytes",
                    "Size of the SQLite write-ahead log file (SQLite stores only).",
                ),
            ),
            sqlite_transactions: register(
                &r,
                IntCounter::new(
                    "pushgate_sqlite_write_transactions_total",
                    "Transactions committed or rolled back by the SQLite writer thread (SQLite stores only).",
                ),
            ),
            sqlite_write_jobs: register(
                &r,
                IntCounter::new(
                    "pushgate_sqlite_write_jobs_total",
                    "Write jobs (invite groups, outcome batches, call ends, sweeps) run in those transactions.",
                ),
            ),
            sqlite_writer_busy: register(
                &r,
                Counter::new(
                    "pushgate_sqlite_writer_busy_seconds_total",
                    "Time the SQLite writer thread spent in transactions: near 1 per second, the embedded store is the limit.",
                ),
            ),
            queue_events: counter(
                &r,
                "pushgate_queue_events_total",
                "Redis queue deliveries claimed from idle replicas, dead-lettered, swept from the outbox, not enqueued, or left to the outbox sweeper.",
                &["event"],
            ),
            callbacks: counter(
                &r,
                "pushgate_status_callbacks_total",
                "Status callback deliveries by result.",
                &["result"],
            ),
            api_key_lookups: counter(
                &r,
                "pushgate_api_key_lookups_total",
                "API keys read from the store (cache misses), by whether the key was found active.",
                &["result"],
            ),
            auth_failures: counter(
                &r,
                "pushgate_auth_failures_total",
                "Failed authentications, by outcome (refused, or limited per client address).",
                &["outcome"],
            ),
            twilio_notifications: counter(
                &r,
                "pushgate_twilio_notifications_total",
                "Twilio Call Notification webhook requests, by result.",
                &["result"],
            ),
            registry: r,
        };
        metrics.prime();
        metrics
    }

    /// The text exposition format of every family.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        let mut text = String::from_utf8(out).unwrap_or_default();
        self.describe_empty(&mut text);
        text
    }
}
