//! How many credential validations run at once in this process.
//!
//! Validation is CPU work on blocking threads (parsing keys, `.p12` key derivation): without
//! a bound, concurrent uploads would each take one of tokio's up-to-512 blocking threads and
//! starve everything else. Uploads queue for a slot (`max_concurrent_credential_validations`)
//! for at most `credential_validation_wait_ms`, then are refused as busy (HTTP 503, code
//! 21148, `Retry-After`). One limit per process: [`configure`] sets it when the server starts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Seconds a refused upload is told to wait before trying again.
pub const RETRY_AFTER_SECS: u64 = 1;

#[derive(Clone)]
struct Limit {
    permits: Arc<Semaphore>,
    wait: Duration,
}

static LIMIT: Mutex<Option<Limit>> = Mutex::new(None);

/// Sets this process's limit: `max` validations at once, waiting at most `wait` for a slot.
pub fn configure(max: u32, wait: Duration) {
    let limit = Limit {
        permits: Arc::new(Semaphore::new(max.max(1) as usize)),
        wait,
    };
    *LIMIT.lock().unwrap_or_else(|p| p.into_inner()) = Some(limit);
}

fn current() -> Limit {
    LIMIT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(|| {
            let defaults = crate::config::Config::default();
            Limit {
                permits: Arc::new(Semaphore::new(
                    defaults.max_concurrent_credential_validations as usize,
                )),
                wait: Duration::from_millis(defaults.credential_validation_wait_ms),
            }
        })
        .clone()
}

/// A validation slot, held while one validation runs; `None` if none freed up in time.
pub(crate) async fn acquire() -> Option<OwnedSemaphorePermit> {
    let limit = current();
    tokio::time::timeout(limit.wait, limit.permits.acquire_owned())
        .await
        .ok()?
        .ok()
}
