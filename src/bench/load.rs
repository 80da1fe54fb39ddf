//! The load: `POST /v1/invites` over HTTP/1.1 with HTTP Basic, either open loop (sends
//! scheduled at fixed intervals from the start by a pacer thread, never waiting for a
//! response, so a slow gateway can't hide its latency by slowing the load — no coordinated
//! omission) or closed loop (a fixed number of invites in flight, as fast as possible).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, header};

use super::collector::Collector;
use super::followup::FollowUpDriver;
use super::http_client::{self, HttpClient, REQUEST_TIMEOUT};

/// What each invite goes to and how it authenticates.
pub struct InviteLoad {
    pub http: HttpClient,
    /// `http://host:port/v1/invites` of each replica; invite `i` goes to `urls[i % len]`
    /// (round robin, as a load balancer in front of the replicas would).
    pub urls: Vec<String>,
    /// `Basic …` of the API key.
    pub auth: HeaderValue,
    /// Invite `i` calls `<identity_prefix><i % identities>`.
    pub identity_prefix: String,
    pub identities: u64,
    pub collector: Arc<Collector>,
    /// The invites' `ttl` (seconds).
    pub ttl: u32,
    /// Told of each 202, to end the call as the mix says (`None`: calls never end).
    pub follow_ups: Option<Arc<FollowUpDriver>>,
    in_flight: AtomicU64,
}

#[derive(serde::Deserialize)]
struct Accepted {
    devices: u64,
}

impl InviteLoad {
    /// A load with nothing in flight yet, of invites with the gateway's default ttl that
    /// never end (see [`Self::with_endings`]).
    pub fn new(
        http: HttpClient,
        urls: Vec<String>,
        auth: HeaderValue,
        identity_prefix: String,
        identities: u64,
        collector: Arc<Collector>,
    ) -> Self {
        assert!(!urls.is_empty(), "at least one gateway URL");
        InviteLoad {
            http,
            urls,
            auth,
            identity_prefix,
            identities: identities.max(1),
            collector,
            ttl: crate::invites::DEFAULT_TTL,
            follow_ups: None,
            in_flight: AtomicU64::new(0),
        }
    }

    /// Invites with this `ttl`, ended by `follow_ups` (when some).
    pub fn with_endings(mut self, ttl: u32, follow_ups: Option<Arc<FollowUpDriver>>) -> Self {
        self.ttl = ttl;
        self.follow_ups = follow_ups;
        self
    }

    /// Sends invite `seq`, scheduled `scheduled` µs after the epoch, and records the answer.
    async fn send(&self, seq: u64, scheduled: u64) {
        let c = &self.collector;
        c.record_lag(scheduled, c.offset(Instant::now()));
        if c.in_window(scheduled) {
            c.invites_sent.fetch_add(1, Ordering::Relaxed);
        }
        let call_sid = c.call_sid(seq, scheduled);
        let body = format!(
            r#"{{"to":"{}{}","from":"client:bench","call_sid":"{call_sid}","ttl":{}}}"#,
            self.identity_prefix,
            seq % self.identities,
            self.ttl
        );
        let headers = [
            (header::AUTHORIZATION, self.auth.clone()),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ];
        let url = &self.urls[(seq % self.urls.len() as u64) as usize];
        let answer = self
            .http
            .request(Method::POST, url, &headers, Bytes::from(body))
            .await;
        match answer {
            Ok((202, body)) => {
                let devices = serde_json::from_slice::<Accepted>(&body).map_or(0, |a| a.devices);
                c.record_accepted(scheduled, c.offset(Instant::now()), devices);
                if let Some(f) = &self.follow_ups {
                    f.on_accepted(seq, scheduled, &call_sid);
                }
            }
            Ok((status, body)) => c.error(http_client::refused(status, &body)),
            Err(kind) => c.error(kind),
        }
    }

    /// Waits until every invite sent so far has its answer (bounded by the request timeout).
    async fn settle(&self) {
        let deadline = Instant::now() + REQUEST_TIMEOUT + Duration::from_secs(1);
        while self.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Open loop: invite `i` is due at `i / rate` seconds after the epoch, until `until` after
/// it. A pacer thread sleeps (with the OS's sub-millisecond precision, not the runtime's
/// millisecond timer) until each due time and hands the send to the runtime; when it falls
/// behind it sends at once, and the lag is recorded. Returns once every answer is in.
pub async fn open_loop(load: Arc<InviteLoad>, rate: f64, until: Duration) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Handle::current();
    let pacer_load = load.clone();
    tokio::task::spawn_blocking(move || {
        let load = pacer_load;
        let interval_ns = 1e9 / rate;
        let end = load.collector.epoch + until;
        for seq in 0u64.. {
            let due =
                load.collector.epoch + Duration::from_nanos((seq as f64 * interval_ns) as u64);
            if due >= end {
                break;
            }
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let scheduled = load.collector.offset(due);
            load.in_flight.fetch_add(1, Ordering::AcqRel);
            let task_load = load.clone();
            runtime.spawn(async move {
                task_load.send(seq, scheduled).await;
                task_load.in_flight.fetch_sub(1, Ordering::AcqRel);
            });
        }
    })
    .await?;
    load.settle().await;
    Ok(())
}

/// Closed loop: `concurrency` senders, each sending its next invite as soon as the previous
/// one is answered, until `until` after the epoch.
pub async fn closed_loop(load: Arc<InviteLoad>, concurrency: usize, until: Duration) {
    let next = Arc::new(AtomicU64::new(0));
    let end = load.collector.offset(load.collector.epoch + until);
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (load, next) = (load.clone(), next.clone());
        senders.spawn(async move {
            loop {
                let now = load.collector.offset(Instant::now());
                if now >= end {
                    break;
                }
                let seq = next.fetch_add(1, Ordering::Relaxed);
                load.send(seq, now).await;
            }
        });
    }
    while senders.join_next().await.is_some() {}
}
