//! The engine's periodic upkeep: the sweep of unused registrations, and (embedded) adopting
//! open deliveries the queue never got.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::embedded::EmbeddedQueue;
use super::job;
use super::queue::Producer;
use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::store::Store;

/// How often unused registrations are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Open deliveries read per tick of [`adopt_orphans`]: the read is bounded however many are
/// open (a store that falls behind recording outcomes has many); the next tick reads on.
const ORPHAN_PAGE: i64 = 1_000;

/// Embedded: every half `after`, takes up open deliveries written more than `after` ago that
/// this process's queue does not hold — an invite whose commit reported an error although
/// PostgreSQL had written it (the connection broke during COMMIT), which would otherwise wait
/// for the next start, or one left in the outbox while the queue was full. Each tick reads one page of [`ORPHAN_PAGE`], going on where the last
/// one stopped, and starts over after the last page.
pub async fn adopt_orphans(
    store: Store,
    queue: EmbeddedQueue,
    after: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval((after / 2).max(Duration::from_millis(500)));
    tick.tick().await; // `resume` just ran
    let mut from = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        // A full queue takes nothing: no read until there is room.
        let limit = ORPHAN_PAGE.min(queue.room() as i64);
        if limit == 0 {
            continue;
        }
        let before = now_ms() - after.as_millis() as i64;
        let Ok(page) = store.open_deliveries_page(before, from, limit).await else {
            continue;
        };
        from = match page.last() {
            Some(last) if page.len() as i64 == limit => Some((last.date_updated, last.id)),
            _ => None,
        };
        let candidates: Vec<_> = page
            .into_iter()
            .filter(|d| !queue.holds(d.id))
            .map(|d| d.id)
            .collect();
        if candidates.is_empty() {
            continue;
        }
        // Read again, now that they are known not held: a delivery whose outcome was written
        // after the page was read was let go of only once written, so this read sees it
        // closed (taking the page's copy sent such a delivery twice).
        let Ok(now) = store.deliveries_by_id(&candidates).await else {
            continue;
        };
        let orphans: Vec<_> = now.into_iter().filter(|d| d.status.is_open()).collect();
        if orphans.is_empty() {
            continue;
        }
        match job::jobs_from_store(&store, &orphans).await {
            Ok(jobs) => {
                tracing::warn!(
                    deliveries = jobs.len(),
                    "open deliveries this process did not hold (left while its queue was full, or \
                     written despite an error): sending them"
                );
                queue.enqueue(jobs);
            }
            Err(e) => tracing::debug!(error = %e, "adopting open deliveries failed"),
        }
    }
}

/// Every hour, retires registrations unused for `ttl`.
pub async fn sweep(store: Store, ttl: Duration, stop: CancellationToken, metrics: Metrics) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {
                let cutoff = now_ms() - ttl.as_millis() as i64;
                match store.sweep_unused_registrations(cutoff).await {
                    Ok(0) => {}
                    Ok(n) => {
                        metrics
                            .registration_changes
                            .with_label_values(&["retired_unused"])
                            .inc_by(n);
                        tracing::info!(registrations = n, reason = "unused", "registrations swept");
                    }
                    Err(e) => tracing::warn!(error = %e, "registration sweep failed"),
                }
            }
        }
    }
}
