//! What the benchmark measures while it runs: the invite→push latency of every push the
//! simulator's tap reports, the invite→202 latency of every response, and counts and errors.
//!
//! Matching pushes to invites needs no lookup: each invite's call SID carries the run's tag,
//! the invite's sequence number and its scheduled send time (µs after the run's epoch), and
//! the simulator passes the call SID back as `apns-collapse-id` (the FCM simulator's log, as
//! the message's `twi_call_sid`). Pushes are also counted per platform ([`PlatformCounts`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::series::PerSecond;
use crate::domain::Platform;
use crate::mock_apns::TapEvent;

/// Latencies are recorded in microseconds, up to a minute, with 3 significant digits.
pub(super) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds")
}

/// The shared measurement state of one run.
pub struct Collector {
    /// Tag (8 hex digits) in this run's call SIDs; other pushes are ignored.
    tag: String,
    /// Time zero of the run; call SIDs carry send times relative to it.
    pub epoch: Instant,
    /// Measurement window, µs after `epoch` (warm-up before it, drain after it).
    window: (u64, u64),
    push_latency: Mutex<Histogram<u64>>,
    response_latency: Mutex<Histogram<u64>>,
    schedule_lag: Mutex<Histogram<u64>>,
    /// Largest invite→push latency (µs) of invites sent in each second of the window.
    max_by_second: Mutex<Vec<u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Pushes of this run answered 200, over the whole run.
    pub pushes_total: AtomicU64,
    /// Pushes of this run answered 200 whose receive time falls in the window.
    pub pushes_in_window: AtomicU64,
    /// Invites sent (scheduled in the window).
    pub invites_sent: AtomicU64,
    /// Invites answered 202 (scheduled in the window).
    pub invites_accepted: AtomicU64,
    /// Pushes expected: the sum of `devices` over every 202 of the run.
    pub pushes_expected: AtomicU64,
    /// Pushes received (200) in each second of the window.
    pub pushes_by_second: PerSecond,
    /// 202s of the invites scheduled in each second of the window.
    pub invites_by_second: PerSecond,
    /// Follow-up requests (accept, reject, cancel) sent in each second of the window.
    pub follow_ups_by_second: PerSecond,
    /// APNs, then FCM.
    platforms: [PlatformCounts; 2],
}

/// One platform's pushes of this run answered 200.
pub struct PlatformCounts {
    /// Over the whole run.
    pub total: AtomicU64,
    /// Received in the window.
    pub in_window: AtomicU64,
    /// Invite→push latency of the invites sent in the window.
    latency: Mutex<Histogram<u64>>,
}

impl PlatformCounts {
    fn new() -> Self {
        PlatformCounts {
            total: AtomicU64::new(0),
            in_window: AtomicU64::new(0),
            latency: Mutex::new(histogram()),
        }
    }

    /// The latency summary.
    pub fn latency(&self) -> Percentiles {
        Percentiles::of(&lock(&self.latency))
    }
}

/// Histogram summary in milliseconds.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

impl Percentiles {
    pub(super) fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Collector {
    /// A collector whose window starts `warmup` after now and lasts `duration`.
    pub fn new(warmup: Duration, duration: Duration) -> Self {
        let tag = hex::encode(crate::domain::random_bytes::<4>());
        let start = warmup.as_micros() as u64;
        let seconds = duration.as_secs_f64().ceil() as usize;
        Collector {
            tag,
            epoch: Instant::now(),
            window: (start, start + duration.as_micros() as u64),
            push_latency: Mutex::new(histogram()),
            response_latency: Mutex::new(histogram()),
            schedule_lag: Mutex::new(histogram()),
            max_by_second: Mutex::new(vec![0; seconds]),
            errors: Mutex::new(BTreeMap::new()),
            pushes_total: AtomicU64::new(0),
            pushes_in_window: AtomicU64::new(0),
            invites_sent: AtomicU64::new(0),
            invites_accepted: AtomicU64::new(0),
            pushes_expected: AtomicU64::new(0),
            pushes_by_second: PerSecond::new(seconds),
            invites_by_second: PerSecond::new(seconds),
            follow_ups_by_second: PerSecond::new(seconds),
            platforms: [PlatformCounts::new(), PlatformCounts::new()],
        }
    }

    /// The counts of `platform`'s pushes.
    pub fn platform(&self, platform: Platform) -> &PlatformCounts {
        match platform {
            Platform::Apns => &self.platforms[0],
            Platform::Fcm => &self.platforms[1],
        }
    }

    /// µs from the epoch to `t`.
    pub fn offset(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// The instant `offset_us` after the epoch.
    #[cfg(test)]
    fn at(&self, offset_us: u64) -> Instant {
        self.epoch + Duration::from_micros(offset_us)
    }

    /// Whether a send scheduled at `offset_us` is measured (not warm-up).
    pub fn in_window(&self, offset_us: u64) -> bool {
        (self.window.0..self.window.1).contains(&offset_us)
    }

    /// The second of the window `offset_us` falls in, if it does.
    pub fn second_of(&self, offset_us: u64) -> Option<usize> {
        self.in_window(offset_us)
            .then(|| ((offset_us - self.window.0) / 1_000_000) as usize)
    }

    /// The call SID of invite `seq` scheduled at `offset_us`: `CA` + tag + seq + offset.
    pub fn call_sid(&self, seq: u64, offset_us: u64) -> String {
        format!(
            "CA{}{:012x}{:012x}",
            self.tag,
            seq & 0xffff_ffff_ffff,
            offset_us & 0xffff_ffff_ffff
        )
    }

    /// The scheduled send time (µs) in one of this run's call SIDs.
    pub fn sent_at(&self, call_sid: &str) -> Option<u64> {
        if call_sid.len() != 34 || !call_sid.starts_with("CA") || call_sid[2..10] != self.tag {
            return None;
        }
        u64::from_str_radix(&call_sid[22..34], 16).ok()
    }

    /// The sequence number in one of this run's call SIDs.
    pub fn seq_of(&self, call_sid: &str) -> Option<u64> {
        self.sent_at(call_sid)?;
        u64::from_str_radix(&call_sid[10..22], 16).ok()
    }

    /// Counts one error of `kind`.
    pub fn error(&self, kind: impl Into<String>) {
        self.errors_of(kind, 1);
    }

    /// Counts `n` errors of `kind`.
    pub fn errors_of(&self, kind: impl Into<String>, n: u64) {
        *lock(&self.errors).entry(kind.into()).or_default() += n;
    }

    /// The simulator's tap: one push arrived. Returns the invite's sequence number when it
    /// is a push of this run answered 200 (a phone could act on it).
    pub fn observe_push(&self, e: &TapEvent<'_>) -> Option<u64> {
        let error = || format!("apns_{}", e.reason.unwrap_or("reset"));
        self.observe(Platform::Apns, e.collapse_id, e.received, e.status, error)
    }

    /// The FCM simulator's log: one send of `call_sid` arrived at `received`, answered
    /// `status` (0: reset or dropped); `error` names a failure. As [`Self::observe_push`].
    pub fn observe_fcm_push(
        &self,
        call_sid: Option<&str>,
        received: Instant,
        status: u16,
        error: impl FnOnce() -> String,
    ) -> Option<u64> {
        self.observe(Platform::Fcm, call_sid, received, status, error)
    }

    fn observe(
        &self,
        platform: Platform,
        call_sid: Option<&str>,
        received: Instant,
        status: u16,
        error: impl FnOnce() -> String,
    ) -> Option<u64> {
        let sent = call_sid.and_then(|c| self.sent_at(c))?;
        if status != 200 {
            self.error(error());
            return None;
        }
        let counts = self.platform(platform);
        self.pushes_total.fetch_add(1, Ordering::Relaxed);
        counts.total.fetch_add(1, Ordering::Relaxed);
        let received = self.offset(received);
        if self.in_window(received) {
            self.pushes_in_window.fetch_add(1, Ordering::Relaxed);
            counts.in_window.fetch_add(1, Ordering::Relaxed);
            self.pushes_by_second.add(self.second_of(received));
        }
        if self.in_window(sent) {
            let latency = received.saturating_sub(sent).max(1);
            let _ = lock(&self.push_latency).record(latency);
            let _ = lock(&counts.latency).record(latency);
            let second = ((sent - self.window.0) / 1_000_000) as usize;
            if let Some(max) = lock(&self.max_by_second).get_mut(second) {
                *max = (*max).max(latency);
            }
        }
        call_sid.and_then(|c| self.seq_of(c))
    }

    /// The largest invite→push latency (ms) of the invites sent in each second of the window:
    /// shows whether the tail comes from steady queueing or from a few stalls.
    pub fn max_by_second(&self) -> Vec<f64> {
        lock(&self.max_by_second)
            .iter()
            .map(|us| (*us as f64 / 10.0).round() / 100.0)
            .collect()
    }

    /// A send scheduled at `scheduled` (µs) went out at `actual` (µs).
    pub fn record_lag(&self, scheduled: u64, actual: u64) {
        if self.in_window(scheduled) {
            let _ = lock(&self.schedule_lag).record(actual.saturating_sub(scheduled).max(1));
        }
    }

    /// The invite scheduled at `scheduled` (µs) was answered 202 at `answered` (µs) and
    /// targets `devices` devices.
    pub fn record_accepted(&self, scheduled: u64, answered: u64, devices: u64) {
        self.pushes_expected.fetch_add(devices, Ordering::Relaxed);
        if self.in_window(scheduled) {
            self.invites_accepted.fetch_add(1, Ordering::Relaxed);
            self.invites_by_second.add(self.second_of(scheduled));
            let latency = answered.saturating_sub(scheduled).max(1);
            let _ = lock(&self.response_latency).record(latency);
        }
    }

    /// (invite→push, invite→202, schedule lag) summaries.
    pub fn latencies(&self) -> (Percentiles, Percentiles, Percentiles) {
        (
            Percentiles::of(&lock(&self.push_latency)),
            Percentiles::of(&lock(&self.response_latency)),
            Percentiles::of(&lock(&self.schedule_lag)),
        )
    }

    /// Errors by kind so far.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        lock(&self.errors).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_sids_carry_the_send_time_and_parse_back() {
        let c = Collector::new(Duration::from_secs(1), Duration::from_secs(2));
        let sid = c.call_sid(7, 1_234_567);
        assert_eq!(sid.len(), 34);
        assert!(crate::domain::CallSid::parse(&sid).is_ok(), "{sid}");
        assert_eq!(c.sent_at(&sid), Some(1_234_567));
        assert_eq!(c.seq_of(&sid), Some(7));
        let other = Collector::new(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(
            other.sent_at(&sid),
            None,
            "another run's pushes are ignored"
        );
    }

    #[test]
    fn only_pushes_of_measured_invites_count_toward_latency() {
        let c = Collector::new(Duration::from_secs(1), Duration::from_secs(1));
        let push = |sid: String, at_us: u64| {
            c.observe_push(&TapEvent {
                received: c.at(at_us),
                collapse_id: Some(&sid),
                apns_id: None,
                status: 200,
                reason: None,
                payload: None,
            })
        };
        push(c.call_sid(0, 500_000), 502_000); // warm-up
        push(c.call_sid(1, 1_500_000), 1_503_000);
        let (latency, _, _) = c.latencies();
        assert_eq!(latency.count, 1);
        assert!((latency.p50 - 3.0).abs() < 0.01, "{latency:?}");
        assert_eq!(c.pushes_total.load(Ordering::Relaxed), 2);
        assert_eq!(c.pushes_in_window.load(Ordering::Relaxed), 1);
        assert_eq!(c.pushes_by_second.values(), vec![1]);
    }
}
