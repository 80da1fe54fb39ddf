//! Failed authentications per client address, in fixed one-minute windows: past
//! `auth_failures_per_minute` failures, further failures from that address answer 429 (code
//! 20429, `Retry-After` = the rest of the window) instead of 401. Only failures are counted
//! and only failures are turned away, so a client that authenticates is never slowed, even
//! behind an address an attacker shares.
//!
//! IPv6 clients are counted per /64 (one host can hold a whole /64). The map of addresses is
//! bounded: expired windows are pruned when it is full, and past that new addresses are not
//! tracked (logged) rather than letting memory grow.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

/// Length of one counting window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most client addresses tracked at once.
const MAX_ADDRESSES: usize = 100_000;

/// A failure was over the limit: refuse it with 429 and this `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

/// The per-address failure counter.
pub struct FailureLimiter {
    per_window: u32,
    metrics: Metrics,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    /// Allows `per_minute` failures per address per window (0: no limit); every failure is
    /// counted in `metrics`.
    pub fn new(per_minute: u32, metrics: Metrics) -> Self {
        Self {
            per_window: per_minute,
            metrics,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failed authentication from `client` (when known) at `now`; `Err` if it is
    /// over the limit.
    pub fn failed(&self, client: Option<IpAddr>, now: Instant) -> Result<(), Limited> {
        let outcome = self.count(client, now);
        let label = if outcome.is_ok() {
            "refused"
        } else {
            "limited"
        };
        self.metrics.auth_failures.with_label_values(&[label]).inc();
        outcome
    }

    fn count(&self, client: Option<IpAddr>, now: Instant) -> Result<(), Limited> {
        let Some(client) = client.filter(|_| self.per_window > 0) else {
            return Ok(());
        };
        let key = bucket(client);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if !windows.contains_key(&key) && windows.len() >= MAX_ADDRESSES {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if windows.len() >= MAX_ADDRESSES {
                tracing::warn!(
                    "failed-authentication limiter is tracking its maximum of addresses; \
                     not counting a new one"
                );
                return Ok(());
            }
        }
        let (start, count) = windows.entry(key).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        *count = count.saturating_add(1);
        if *count > self.per_window {
            let left = WINDOW.saturating_sub(now.duration_since(*start));
            return Err(Limited {
                retry_after: left.max(Duration::from_secs(1)),
            });
        }
        Ok(())
    }
}

/// The address a client is counted under: itself for IPv4, its /64 for IPv6 (an IPv4-mapped
/// IPv6 address counts as its IPv4 address).
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_failure_after_the_limit_is_limited_until_the_window_ends() {
        let limiter = FailureLimiter::new(3, Metrics::new());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.failed(ip("192.0.2.1"), t0).is_ok());
        }
        let limited = limiter.failed(ip("192.0.2.1"), t0 + Duration::from_secs(20));
        assert_eq!(
            limited,
            Err(Limited {
                retry_after: Duration::from_secs(40)
            })
        );
        assert!(
            limiter.failed(ip("192.0.2.2"), t0).is_ok(),
            "another address"
        );
        assert!(
            limiter.failed(None, t0).is_ok(),
            "unknown address: no limit"
        );
        assert!(
            limiter.failed(ip("192.0.2.1"), t0 + WINDOW).is_ok(),
            "new window"
        );
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let limiter = FailureLimiter::new(1, Metrics::new());
        let t0 = Instant::now();
        assert!(limiter.failed(ip("2001:db8:1:2::1"), t0).is_ok());
        assert!(limiter.failed(ip("2001:db8:1:2::ffff"), t0).is_err());
        assert!(limiter.failed(ip("2001:db8:1:3::1"), t0).is_ok());
        assert!(limiter.failed(ip("198.51.100.7"), t0).is_ok());
        assert!(limiter.failed(ip("::ffff:198.51.100.7"), t0).is_err());
    }

    #[test]
    fn zero_disables_the_limit() {
        let limiter = FailureLimiter::new(0, Metrics::new());
        for _ in 0..100 {
            assert!(limiter.failed(ip("192.0.2.1"), Instant::now()).is_ok());
        }
    }
}
