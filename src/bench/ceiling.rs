//! The ceiling: how many pushes per second the simulator accepts on this machine when
//! pushgate's own APNs sender — the worker's [`PushSender`] code over one [`ApnsClient`] —
//! loads it directly (no HTTP API, no store, no queue), so the gateway's throughput can be
//! stated as a fraction of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::apns::{ApnsAuth, ApnsClient, ApnsConfig};
use crate::auth::bridge_token::BridgeTokens;
use crate::delivery::{DeliveryJob, DirectApnsSender, PushSender};
use crate::domain::{DeliveryId, Identity};
use crate::metrics::Metrics;
use crate::secrets::MasterKey;

/// Senders pushing at once (each waits for its answer before the next push).
pub const CONCURRENCY: usize = 256;
/// Sent before counting starts (connections open, TLS handshakes done).
const WARMUP: Duration = Duration::from_millis(500);

/// The ceiling measurement's result.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ceiling {
    /// Pushes the simulator accepted per second.
    pub pushes_per_second: f64,
    /// Measured seconds (after a 0.5 s warm-up).
    pub duration_s: f64,
    /// Concurrent senders.
    pub concurrency: usize,
    /// HTTP/2 connections the client used.
    pub connections: usize,
    /// Pushes not accepted.
    pub failures: u64,
}

/// The job every sender pushes: an invite's push to one production token, valid for an hour.
fn job() -> DeliveryJob {
    DeliveryJob::standalone(
        Identity::trusted("bench-0".to_owned()),
        "client:bench",
        3_600_000,
    )
}

/// Loads the simulator at `url` (trusting `ca_pem`) for `duration` with a client
/// authenticated by `cert_pem`/`key_pem`.
pub async fn measure(
    url: &str,
    ca_pem: &str,
    cert_pem: String,
    key_pem: SecretString,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Ceiling> {
    let config = ApnsConfig {
        connections_per_environment: connections.max(1),
        ..ApnsConfig::default()
    }
    .with_url_for_both(url)
    .with_extra_root_pem(ca_pem.as_bytes().to_vec());
    let auth = ApnsAuth::Certificate {
        cert_chain_pem: cert_pem,
        private_key_pem: key_pem,
    };
    let client = ApnsClient::new(config, auth)?;
    let bridge = BridgeTokens::new(&MasterKey::generate());
    let sender = Arc::new(DirectApnsSender::new(
        client,
        "com.example.bench.voip",
        bridge,
        Metrics::new(),
    ));
    let start = Instant::now();
    let (from, until) = (start + WARMUP, start + WARMUP + duration);
    let accepted = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let sender = sender.clone();
        let (accepted, failures) = (accepted.clone(), failures.clone());
        senders.spawn(async move {
            let mut job = job();
            while Instant::now() < until {
                job.delivery_id = DeliveryId::generate();
                let sent = sender.send(&job).await;
                let ok = sent.is_ok_and(|s| s.verdict.is_accepted());
                let done = Instant::now();
                if done >= from && done < until {
                    let counter = if ok { &accepted } else { &failures };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while senders.join_next().await.is_some() {}
    Ok(Ceiling {
        pushes_per_second: accepted.load(Ordering::Relaxed) as f64 / duration.as_secs_f64(),
        duration_s: duration.as_secs_f64(),
        concurrency: CONCURRENCY,
        connections: connections.max(1),
        failures: failures.load(Ordering::Relaxed),
    })
}
