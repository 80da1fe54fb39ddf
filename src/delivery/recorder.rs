//! The outcome writer: workers hand it delivery outcomes; it writes whatever has piled up in
//! one transaction (so the store is not the bottleneck), then tells listeners which invites
//! changed.
//!
//! Bounded by the worker slots: on either queue a delivery keeps its slot until its outcome
//! is written (see [`super::queue::Acknowledge::keeps_slot_until_written`]), so at most
//! `delivery_concurrency` outcomes (and their credential rejections) wait here; a store slower
//! than the pushes slows the workers down, and the deliveries wait in the queue (the outbox or
//! the Redis stream), not in memory.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::queue::OnWritten;
use crate::clock::now_ms;
use crate::domain::InviteStatus;
use crate::events::{Events, InviteChange};
use crate::metrics::Metrics;
use crate::store::{CredentialRejection, DeliveryUpdate, Store};
use crate::tasks::Tasks;

/// Most outcomes written in one transaction.
const MAX_BATCH: usize = 512;
/// Attempts to write a batch before giving up on it (about a minute: a database restart fits).
/// Its deliveries, still open in the store, are then let go of and sent again: taken up by the
/// orphan sweep (embedded), or their stream entries, never acknowledged, claimed (Redis).
const WRITE_ATTEMPTS: u32 = 36;

enum Record {
    Delivery(Box<DeliveryUpdate>, Option<OnWritten>),
    Rejection(CredentialRejection),
    Flush(oneshot::Sender<()>),
}

/// Handle to the writer task.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Record>,
}

impl Recorder {
    /// Starts the writer, counting what batches did in `metrics`, tracked by `tasks`; it runs
    /// until every handle is dropped, or until `tasks` is drained and nothing is left to write.
    pub fn start(store: Store, changes: Events, metrics: Metrics, tasks: &Tasks) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.spawn(write_loop(store, rx, changes, metrics, tasks.drained()));
        Self { tx }
    }

    /// Queues a delivery outcome for writing; `then` runs once it is written.
    pub fn delivery(&self, update: DeliveryUpdate, then: Option<OnWritten>) {
        let _ = self.tx.send(Record::Delivery(Box::new(update), then));
    }

    /// Queues a credential rejection for writing.
    pub fn rejection(&self, rejection: CredentialRejection) {
        let _ = self.tx.send(Record::Rejection(rejection));
    }

    /// Waits until everything queued so far is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Record::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Record>,
    changes: Events,
    metrics: Metrics,
    drained: CancellationToken,
) {
    loop {
        let Some(first) = crate::tasks::next_or_drained(&mut rx, &drained).await else {
            return;
        };
        let (mut updates, mut rejections, mut flushes) = (Vec::new(), Vec::new(), Vec::new());
        let mut written: Vec<OnWritten> = Vec::new();
        let mut next = Some(first);
        while let Some(record) = next.take() {
            match record {
                Record::Delivery(u, then) => {
                    updates.push(*u);
                    written.extend(then);
                }
                Record::Rejection(r) => rejections.push(r),
                Record::Flush(done) => flushes.push(done),
            }
            if updates.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        // Rows in one order everywhere, so replicas' batches (and the Redis queue's enqueue
        // marks) never deadlock on PostgreSQL; the sort is stable, so two outcomes of one
        // delivery stay in the order they happened.
        updates.sort_by_key(|u| u.id);
        if (!updates.is_empty() || !rejections.is_empty())
            && write(&store, &updates, &rejections, &changes, &metrics).await
        {
            for then in written {
                then();
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

async fn write(
    store: &Store,
    updates: &[DeliveryUpdate],
    rejections: &[CredentialRejection],
    changes: &Events,
    metrics: &Metrics,
) -> bool {
    let mut backoff = Duration::from_millis(50);
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.record_deliveries(updates, rejections, now_ms()).await {
            Ok(result) => {
                count(metrics, updates, &result);
                for sid in &result.retired {
                    tracing::info!(registration = %sid, reason = "apns_unregistered", "registration retired");
                }
                for sid in &result.kept {
                    tracing::info!(registration = %sid,
                        "registration kept: re-registered after APNs reported its token dead");
                }
                let changed_by_sid: std::collections::HashMap<&str, _> =
                    result.invites.iter().map(|c| (c.sid.as_str(), c)).collect();
                let mut seen = std::collections::HashSet::new();
                for u in updates {
                    if seen.insert(u.invite_sid.as_str()) {
                        let changed = changed_by_sid.get(u.invite_sid.as_str()).copied();
                        changes.publish(InviteChange {
                            invite_sid: u.invite_sid.clone(),
                            status: changed.map(|c| c.status),
                            callback: changed.and_then(|c| c.status_callback.clone()),
                        });
                    }
                }
                return true;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, outcomes = updates.len(), "recording outcomes failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
    tracing::error!(
        outcomes = updates.len(),
        "giving up recording outcomes; their deliveries will be sent again (taken up by the \
         orphan sweep, or claimed from the Redis stream)"
    );
    false
}

/// Counts what a recorded batch did to invites and registrations.
fn count(m: &Metrics, updates: &[DeliveryUpdate], result: &crate::store::BatchResult) {
    for change in &result.invites {
        let (sid, status) = (&change.sid, change.status);
        if matches!(status, InviteStatus::Failed | InviteStatus::Expired) {
            m.invites_finished
                .with_label_values(&[status.as_str()])
                .inc();
        }
        // The store moved the invite to `delivered` in this batch: its first accepted push is
        // among these outcomes. Observed once per invite, whichever replica recorded it.
        if status == InviteStatus::Delivered
            && let Some((first, created)) = updates
                .iter()
                .filter(|u| u.invite_sid == *sid)
                .filter_map(|u| u.accepted_at.map(|at| (at, u.invite_created)))
                .min()
        {
            m.invite_first_push
                .observe((first - created).max(0) as f64 / 1000.0);
        }
    }
    let changes = &m.registration_changes;
    changes
        .with_label_values(&["retired_apns"])
        .inc_by(result.retired.len() as u64);
    changes
        .with_label_values(&["kept_refreshed_after_410"])
        .inc_by(result.kept.len() as u64);
    let invalid = updates
        .iter()
        .filter(|u| {
            matches!(
                u.effect,
                Some(crate::store::RegistrationEffect::Invalid { .. })
            )
        })
        .count();
    changes
        .with_label_values(&["invalidated"])
        .inc_by(invalid as u64);
}
