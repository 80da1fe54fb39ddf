//! Retention of ended calls: a background task deletes invites that ended more than
//! `invite_retention_hours` ago, with their deliveries, so the database does not grow
//! forever. Small batches, each its own short transaction (`store/retention.rs`), with a pause
//! between them so the hot path (SQLite's single writer above all) never waits long; at most
//! [`MAX_BATCHES_PER_RUN`] batches a run, the rest left for the next. With several replicas
//! any of them may prune: the deletes are idempotent.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Invites;
use crate::clock::now_ms;
use crate::config::StoreKind;
use crate::store::{Pruned, StoreError};

/// How often ended invites past the retention are looked for.
const RETENTION_EVERY: Duration = Duration::from_secs(60);
/// The first run, this long after start (out of the way of the start-up's own work).
const FIRST_RUN_AFTER: Duration = Duration::from_secs(5);
/// Invites deleted per transaction on PostgreSQL (row locks only; ~90 ms for 1,000 invites
/// and their deliveries on a loaded 2-vCPU VM).
const PRUNE_BATCH_POSTGRES: i64 = 1_000;
/// Invites deleted per transaction on SQLite, whose one write lock the hot path waits for:
/// 1,000 invites with 3 deliveries each held it ~60 ms warm (400 ms cold) on a loaded 2-vCPU
/// VM, 250 about 15 ms.
const PRUNE_BATCH_SQLITE: i64 = 200;
/// Batches per run at most: a backlog (retention just turned on, or shortened) is worked
/// off over several runs.
const MAX_BATCHES_PER_RUN: u32 = 100;
/// The pause between two batches, leaving the writer to the hot path.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

impl Invites {
    /// Deletes ended invites last changed before `cutoff` (epoch milliseconds) and their
    /// deliveries, a batch (200 on SQLite, 1,000 on PostgreSQL) at a time, until none is left, [`MAX_BATCHES_PER_RUN`]
    /// batches are done, or the service stops. Counts the invites in
    /// `pushgate_invites_pruned_total` and logs the run's total when anything was deleted.
    pub async fn prune_ended(&self, cutoff: i64) -> Result<Pruned, StoreError> {
        self.prune_batches(cutoff, self.prune_batch(), &self.engine.tasks().stopping())
            .await
    }

    /// Invites per prune transaction on this store.
    fn prune_batch(&self) -> i64 {
        match self.store.kind() {
            StoreKind::Sqlite => PRUNE_BATCH_SQLITE,
            StoreKind::Postgres => PRUNE_BATCH_POSTGRES,
        }
    }

    /// [`prune_ended`](Self::prune_ended) with batches of `batch` invites, stopping early
    /// when `stop` is cancelled.
    async fn prune_batches(
        &self,
        cutoff: i64,
        batch: i64,
        stop: &CancellationToken,
    ) -> Result<Pruned, StoreError> {
        let mut total = Pruned::default();
        let mut result = Ok(());
        for n in 0..MAX_BATCHES_PER_RUN {
            if n > 0 && !crate::tasks::sleep_unless(stop, BETWEEN_BATCHES).await {
                break;
            }
            match self.store.prune_ended_invites(cutoff, batch).await {
                Ok(pruned) => {
                    self.metrics.invites_pruned.inc_by(pruned.invites);
                    total += pruned;
                    if pruned.invites < batch as u64 {
                        break;
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if total.invites > 0 {
            tracing::info!(
                invites = total.invites,
                deliveries = total.deliveries,
                cutoff_ms = cutoff,
                "pruned ended invites past the retention"
            );
        }
        result.map(|()| total)
    }

    /// Starts the pruner: the first run shortly after start, then one every
    /// [`RETENTION_EVERY`], each deleting what ended more than `keep` ago. Stops when the
    /// service stops or is dropped.
    pub fn spawn_pruner(self: &Arc<Self>, keep: Duration) {
        let invites = Arc::downgrade(self);
        let stop = self.engine.tasks().stopping();
        let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        self.engine.tasks().spawn(async move {
            let mut wait = FIRST_RUN_AFTER;
            while crate::tasks::sleep_unless(&stop, wait).await {
                wait = RETENTION_EVERY;
                let Some(invites) = invites.upgrade() else {
                    return;
                };
                let cutoff = now_ms().saturating_sub(keep_ms);
                let batch = invites.prune_batch();
                if let Err(e) = invites.prune_batches(cutoff, batch, &stop).await {
                    tracing::warn!(error = %e, "pruning ended invites failed; retrying next run");
                }
            }
        });
    }
}
