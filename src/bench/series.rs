//! Per-second series of the measured window (how many invites were accepted, pushes
//! received and follow-ups sent in each second) and the **stalls**: seconds whose largest
//! invite→push latency passed [`STALL_MS`]. A steady state shows flat series and no stalls;
//! a periodic job on the gateway (expiry sweeps, retention, a store checkpoint) shows as a
//! spike or a stall at its period.

use std::sync::atomic::{AtomicU64, Ordering};

/// A second whose largest invite→push latency is above this (ms) is a stall.
pub const STALL_MS: f64 = 100.0;

/// One count per second of the window, updated from any task.
pub struct PerSecond(Vec<AtomicU64>);

impl PerSecond {
    /// `seconds` zeros.
    pub fn new(seconds: usize) -> Self {
        PerSecond((0..seconds).map(|_| AtomicU64::new(0)).collect())
    }

    /// Counts one in `second` (ignored outside the window).
    pub fn add(&self, second: Option<usize>) {
        if let Some(n) = second.and_then(|s| self.0.get(s)) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts, second by second.
    pub fn values(&self) -> Vec<u64> {
        self.0.iter().map(|n| n.load(Ordering::Relaxed)).collect()
    }
}

/// A second of the window whose largest invite→push latency exceeded [`STALL_MS`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stall {
    /// Seconds after the window's start (0-based: the first measured second is 0).
    pub second: usize,
    pub max_ms: f64,
}

/// The stalls among the per-second maxima `max_ms_by_second`.
pub fn stalls(max_ms_by_second: &[f64]) -> Vec<Stall> {
    max_ms_by_second
        .iter()
        .enumerate()
        .filter(|&(_, &ms)| ms > STALL_MS)
        .map(|(second, &max_ms)| Stall { second, max_ms })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_a_second_above_the_threshold() {
        let by_second = [3.2, 100.0, 100.01, 0.0, 250.5, 99.9];
        assert_eq!(
            stalls(&by_second),
            vec![
                Stall {
                    second: 2,
                    max_ms: 100.01
                },
                Stall {
                    second: 4,
                    max_ms: 250.5
                },
            ],
            "exactly {STALL_MS} ms is not a stall"
        );
        assert!(stalls(&[]).is_empty());
    }

    #[test]
    fn counts_land_in_their_second_and_outside_is_ignored() {
        let s = PerSecond::new(3);
        s.add(Some(0));
        s.add(Some(2));
        s.add(Some(2));
        s.add(Some(3));
        s.add(None);
        assert_eq!(s.values(), vec![1, 0, 2]);
    }
}
