//! Retry policy: jittered exponential backoff from tens of milliseconds, honouring the delay
//! APNs (or the client) suggests, never past the invite's expiry.

use std::time::Duration;

use crate::domain::random_bytes;

/// First retry delay.
const BASE: Duration = Duration::from_millis(25);
/// Longest delay between two attempts.
const CAP: Duration = Duration::from_secs(2);

/// The delay before attempt `attempts + 1`: half to all of `BASE × 2^(attempts-1)` (capped),
/// and at least `suggested`.
pub fn delay(attempts: u32, suggested: Option<Duration>) -> Duration {
    let exp = BASE
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
        .min(CAP);
    let jitter = u16::from_le_bytes(random_bytes::<2>()) as f64 / f64::from(u16::MAX);
    let jittered = exp.mul_f64(0.5 + 0.5 * jitter);
    suggested.map_or(jittered, |s| jittered.max(s.min(CAP * 5)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_jitter_and_honours_suggestions() {
        let first = delay(1, None);
        assert!(first >= Duration::from_millis(12) && first <= BASE);
        let later = delay(4, None);
        assert!(later >= Duration::from_millis(100) && later <= Duration::from_millis(200));
        assert!(delay(30, None) <= CAP);
        assert!(delay(1, Some(Duration::from_secs(1))) >= Duration::from_secs(1));
    }
}
