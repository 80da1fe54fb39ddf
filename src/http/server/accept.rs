//! Backing off after accept errors: running out of file descriptors (`EMFILE`, `ENFILE`) or
//! memory makes `accept` fail at once, again and again; retrying without a pause would spin a
//! core and flood the log. We wait 10 ms, doubling to 1 s, and log at most every 5 s.

use std::time::Duration;

use tokio::time::Instant;

const FIRST: Duration = Duration::from_millis(10);
const MOST: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(5);

/// The state of a run of failed accepts.
#[derive(Default)]
pub struct Backoff {
    delay: Option<Duration>,
    last_log: Option<Instant>,
    suppressed: u64,
}

impl Backoff {
    /// An accept failed: log (rate-limited) and wait before the next attempt.
    pub async fn failed(&mut self, listener: &'static str, error: &std::io::Error) {
        // The peer gave up between its handshake and our accept: nothing to wait for.
        if matches!(
            error.kind(),
            std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
        ) {
            return;
        }
        let delay = self.next_delay();
        let now = Instant::now();
        if self.last_log.is_none_or(|at| now - at >= LOG_EVERY) {
            tracing::warn!(listener, error = %error, retry_in_ms = delay.as_millis() as u64,
                suppressed = self.suppressed, "accept failed");
            self.last_log = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
        tokio::time::sleep(delay).await;
    }

    /// The pause before the next attempt: 10 ms, doubling to 1 s.
    fn next_delay(&mut self) -> Duration {
        let delay = self.delay.map_or(FIRST, |d| (d * 2).min(MOST));
        self.delay = Some(delay);
        delay
    }

    /// An accept succeeded: the next failure starts from the shortest pause again.
    pub fn succeeded(&mut self) {
        self.delay = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_a_second_and_reset_on_success() {
        let mut b = Backoff::default();
        let pauses: Vec<u128> = (0..9).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.next_delay(), FIRST);
    }
}
