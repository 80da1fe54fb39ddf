//! The per-platform part of the [`Report`](super::Report) (runs with `--android-share`):
//! each platform's pushes answered 200 and their invite→push latency, with their rows of
//! the human table. Errors are already per platform by kind (`apns_…`, `fcm_…`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::collector::{Collector, Percentiles};
use super::steady::row;
use crate::domain::Platform;

/// One platform's pushes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlatformPushes {
    /// Received (200) in the window.
    pub in_window: u64,
    pub per_second: f64,
    /// Received (200) over the whole run.
    pub received_total: u64,
    /// Invite sent (scheduled) → the simulator received the push (FCM: ms resolution).
    pub latency_ms: Percentiles,
}

/// Both platforms' pushes, keyed `apn` and `fcm`; empty (left out of the JSON) when the run
/// had no Android devices.
pub(super) fn by_platform(
    collector: &Collector,
    android_share: f64,
    window_secs: f64,
) -> BTreeMap<String, PlatformPushes> {
    use std::sync::atomic::Ordering::Relaxed;
    if android_share <= 0.0 {
        return BTreeMap::new();
    }
    [Platform::Apns, Platform::Fcm]
        .into_iter()
        .map(|p| {
            let c = collector.platform(p);
            let in_window = c.in_window.load(Relaxed);
            let pushes = PlatformPushes {
                in_window,
                per_second: in_window as f64 / window_secs,
                received_total: c.total.load(Relaxed),
                latency_ms: c.latency(),
            };
            (p.as_str().to_owned(), pushes)
        })
        .collect()
}

/// The table rows: pushes/s and latency of each platform.
pub(super) fn rows(out: &mut String, platforms: &BTreeMap<String, PlatformPushes>) {
    for (name, p) in platforms {
        let l = &p.latency_ms;
        row(
            out,
            &format!("  {name} pushes/s"),
            format!(
                "{:.1}  ({} in window, {} in all); invite→push ms p50 {:.2}  p99 {:.2}  \
                 max {:.2}",
                p.per_second, p.in_window, p.received_total, l.p50, l.p99, l.max
            ),
        );
    }
}
