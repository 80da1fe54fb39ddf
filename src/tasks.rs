//! Tracked background tasks and the two-step stop they share. Every task the service spawns
//! for its own work (delivery, call lifecycle, callbacks, the Redis relay) is spawned here, so
//! shutdown can wait for all of them instead of leaving some to be killed mid-write:
//! 1. *stopping*: nothing new is taken; timers and pollers return; in-flight pushes finish.
//! 2. *drained*: once the outcomes of those pushes are written, the writers (outcome
//!    recorder, Redis acknowledger, relay publisher) empty their channels and return.
//!
//! Then [`Tasks::finish`] waits for every tracked task.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The tracker and stop signals of one running service (cheap to clone: all clones share them).
#[derive(Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    stopping: CancellationToken,
    drained: CancellationToken,
}

impl Tasks {
    /// A fresh tracker, not stopping.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `task`, tracked: [`Tasks::finish`] waits for it.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Cancelled when shutdown begins: stop taking work, end timers and pollers.
    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// Cancelled once in-flight work is drained and its outcomes are queued for writing:
    /// writers empty their channels and return.
    pub fn drained(&self) -> CancellationToken {
        self.drained.clone()
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// Begins shutdown (step 1).
    pub fn stop(&self) {
        self.stopping.cancel();
    }

    /// Ends shutdown: signals step 2 (implies step 1) and waits for every tracked task.
    pub async fn finish(&self) {
        self.stopping.cancel();
        self.drained.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// How many tracked tasks are still running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }
}

/// Sleeps for `delay` unless `stop` is cancelled first; true when the whole delay passed.
pub async fn sleep_unless(stop: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// The next message of a draining loop: `None` once the channel is closed or `drained` is
/// cancelled (the loops that write or publish batches stop taking input then).
pub async fn next_or_drained<T>(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>,
    drained: &CancellationToken,
) -> Option<T> {
    tokio::select! {
        biased;
        first = rx.recv() => first,
        _ = drained.cancelled() => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn finish_waits_for_work_in_flight_and_ends_timers() {
        let tasks = Tasks::new();
        let written = Arc::new(AtomicBool::new(false));
        let w = written.clone();
        tasks.spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            w.store(true, Ordering::SeqCst);
        });
        let stop = tasks.stopping();
        let timer =
            tasks.spawn(async move { sleep_unless(&stop, Duration::from_secs(3600)).await });
        let started = std::time::Instant::now();
        tasks.finish().await;
        assert!(
            written.load(Ordering::SeqCst),
            "the in-flight task finished"
        );
        assert!(!timer.await.unwrap(), "the timer was cut short");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(tasks.running(), 0);
    }
}
