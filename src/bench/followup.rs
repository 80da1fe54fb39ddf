//! The calls' endings, driven through the gateway's API as the phones and the backend would
//! (the [`Mix`] decides each invite's [`Outcome`] from its sequence number):
//! - answered / rejected: the first push of the invite to reach the simulator (one device,
//!   whatever the fan-out) is answered `--ring-ms` after it arrived, with
//!   `POST /v1/invites/{sid}/accept` or `/reject` and the push's `twi_bridge_token` as
//!   `Authorization: Bearer`; the other devices do nothing;
//! - canceled: `--ring-ms` after the 202, `POST /v1/invites/{sid}/cancel` with the API key;
//! - expired: nothing; the gateway expires the invite after its ttl.
//!
//! Each request is a task of its own, tracked so the run waits for it, and bounded
//! ([`MAX_IN_FLIGHT`], ring included): a gateway too slow to answer makes the bench count
//! `<kind>_not_sent_busy`, not hold unbounded tasks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderValue, Method, header};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use super::collector::{self, Collector, Percentiles};
use super::http_client::{self, HttpClient, REQUEST_TIMEOUT};
use super::mix::{Mix, Outcome};
use super::steady::{FollowUp, FollowUps};

/// Follow-up tasks alive at once (waiting out their ring or their answer).
pub const MAX_IN_FLIGHT: usize = 10_000;

/// A follow-up request's kind.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Accept,
    Reject,
    Cancel,
}

impl Kind {
    /// The path segment, and the prefix of its error kinds.
    fn name(self) -> &'static str {
        match self {
            Kind::Accept => "accept",
            Kind::Reject => "reject",
            Kind::Cancel => "cancel",
        }
    }
}

/// Counts of one kind, for the invites scheduled in the window.
struct Counts {
    sent: AtomicU64,
    ok: AtomicU64,
    conflict: AtomicU64,
    latency: Mutex<Histogram<u64>>,
}

impl Counts {
    fn new() -> Self {
        Counts {
            sent: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            conflict: AtomicU64::new(0),
            latency: Mutex::new(collector::histogram()),
        }
    }

    fn report(&self) -> FollowUp {
        FollowUp {
            sent: self.sent.load(Ordering::Relaxed),
            ok: self.ok.load(Ordering::Relaxed),
            conflict: self.conflict.load(Ordering::Relaxed),
            latency_ms: Percentiles::of(&collector::lock(&self.latency)),
        }
    }
}

/// The push's fields a phone needs to answer it.
#[derive(serde::Deserialize)]
struct Push {
    twi_call_sid: String,
    twi_bridge_token: String,
}

/// Sends the follow-ups of one run.
pub struct FollowUpDriver {
    http: HttpClient,
    /// `http://host:port` of each replica; invite `i`'s follow-up goes where it went.
    bases: Vec<String>,
    /// `Basic …` of the API key (cancel).
    basic: HeaderValue,
    mix: Mix,
    ring: Duration,
    collector: Arc<Collector>,
    counts: [Counts; 3],
    left_to_expire: AtomicU64,
    unfinished: AtomicBool,
    /// Bit `seq` set once a device acted on invite `seq`'s push.
    acted: Mutex<Vec<u64>>,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    runtime: Handle,
}

impl FollowUpDriver {
    /// A driver sending to `bases` on the current runtime.
    pub fn new(
        http: HttpClient,
        bases: Vec<String>,
        basic: HeaderValue,
        (mix, ring): (Mix, Duration),
        collector: Arc<Collector>,
    ) -> Self {
        assert!(!bases.is_empty(), "at least one gateway URL");
        FollowUpDriver {
            http,
            bases,
            basic,
            mix,
            ring,
            collector,
            counts: [Counts::new(), Counts::new(), Counts::new()],
            left_to_expire: AtomicU64::new(0),
            unfinished: AtomicBool::new(false),
            acted: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            tracker: TaskTracker::new(),
            runtime: Handle::current(),
        }
    }

    /// Invite `seq`, scheduled at `scheduled` (µs), was answered 202: the backend's part.
    pub fn on_accepted(self: &Arc<Self>, seq: u64, scheduled: u64, call_sid: &str) {
        match self.mix.outcome(seq) {
            Outcome::Canceled => self.spawn(
                Kind::Cancel,
                (seq, scheduled),
                call_sid.to_owned(),
                self.basic.clone(),
                Instant::now() + self.ring,
            ),
            Outcome::Expired if self.collector.in_window(scheduled) => {
                self.left_to_expire.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// A push of invite `seq` arrived at `received` with `payload`: the phone's part.
    pub fn on_push(self: &Arc<Self>, seq: u64, received: Instant, payload: Option<&[u8]>) {
        let kind = match self.mix.outcome(seq) {
            Outcome::Answered => Kind::Accept,
            Outcome::Rejected => Kind::Reject,
            _ => return,
        };
        if !self.first_push(seq) {
            return;
        }
        let push = payload.and_then(|p| serde_json::from_slice::<Push>(p).ok());
        let Some(push) = push else {
            self.collector
                .error(format!("{}_no_bridge_token", kind.name()));
            return;
        };
        let Some(scheduled) = self.collector.sent_at(&push.twi_call_sid) else {
            self.collector
                .error(format!("{}_bad_call_sid", kind.name()));
            return;
        };
        let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {}", push.twi_bridge_token)) else {
            self.collector
                .error(format!("{}_no_bridge_token", kind.name()));
            return;
        };
        self.spawn(
            kind,
            (seq, scheduled),
            push.twi_call_sid,
            bearer,
            received + self.ring,
        );
    }

    /// Whether this is the first push of `seq` seen (later ones, other devices, do nothing).
    fn first_push(&self, seq: u64) -> bool {
        let mut bits = collector::lock(&self.acted);
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        let first = bits[word] & bit == 0;
        bits[word] |= bit;
        first
    }

    /// Sends `kind` for invite `(seq, scheduled)` at `at`, in a task of its own.
    fn spawn(
        self: &Arc<Self>,
        kind: Kind,
        (seq, scheduled): (u64, u64),
        call_sid: String,
        auth: HeaderValue,
        at: Instant,
    ) {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.collector
                .error(format!("{}_not_sent_busy", kind.name()));
            return;
        };
        let driver = self.clone();
        self.tracker.spawn_on(
            async move {
                tokio::time::sleep_until(at.into()).await;
                driver.send(kind, (seq, scheduled), &call_sid, auth).await;
                drop(permit);
            },
            &self.runtime,
        );
    }

    async fn send(&self, kind: Kind, (seq, scheduled): (u64, u64), sid: &str, auth: HeaderValue) {
        let c = &self.collector;
        let base = &self.bases[(seq % self.bases.len() as u64) as usize];
        let url = format!("{base}/v1/invites/{sid}/{}", kind.name());
        let start = Instant::now();
        c.follow_ups_by_second.add(c.second_of(c.offset(start)));
        let measured = c.in_window(scheduled);
        let counts = &self.counts[kind as usize];
        if measured {
            counts.sent.fetch_add(1, Ordering::Relaxed);
        }
        let headers = [(header::AUTHORIZATION, auth)];
        let answer = self
            .http
            .request(Method::POST, &url, &headers, Bytes::new())
            .await;
        match answer {
            Ok((200, _)) if measured => {
                counts.ok.fetch_add(1, Ordering::Relaxed);
                let us = start.elapsed().as_micros() as u64;
                let _ = collector::lock(&counts.latency).record(us.max(1));
            }
            Ok((409, _)) if measured => {
                counts.conflict.fetch_add(1, Ordering::Relaxed);
            }
            Ok((200 | 409, _)) => {}
            Ok((status, body)) => {
                c.error(format!(
                    "{}_{}",
                    kind.name(),
                    http_client::refused(status, &body)
                ));
            }
            Err(failure) => c.error(format!("{}_{failure}", kind.name())),
        }
    }

    /// Waits for every follow-up spawned so far (and any spawned meanwhile), up to a ring
    /// and a request's timeout.
    pub async fn finish(&self) {
        self.tracker.close();
        let budget = self.ring + REQUEST_TIMEOUT + Duration::from_secs(1);
        if tokio::time::timeout(budget, self.tracker.wait())
            .await
            .is_err()
        {
            self.unfinished.store(true, Ordering::Relaxed);
        }
    }

    /// The counts so far.
    pub fn report(&self) -> FollowUps {
        let [accept, reject, cancel] = &self.counts;
        FollowUps {
            accept: accept.report(),
            reject: reject.report(),
            cancel: cancel.report(),
            left_to_expire: self.left_to_expire.load(Ordering::Relaxed),
            unfinished: self.unfinished.load(Ordering::Relaxed),
        }
    }
}
