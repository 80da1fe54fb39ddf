//! The Redis queue's background tasks: enqueue committed deliveries, acknowledge recorded
//! ones, move due retries back onto the stream, and sweep the outbox for deliveries that never
//! reached Redis.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Ack, DEAD_LETTERS_KEPT, GROUP, Keys, RedisQueue, Then};
use crate::clock::now_ms;
use crate::delivery::job::{DeliveryJob, jobs_from_store};
use crate::domain::DeliveryId;
use crate::store::Store;
use crate::tasks::{Tasks, sleep_unless};

/// Most jobs added to the stream in one round trip.
const ENQUEUE_BATCH: usize = 1024;
/// Most acknowledgements sent in one round trip.
pub(super) const ACK_BATCH: usize = 1024;
/// How often due retries are looked for (the first retry waits at least ~12 ms).
const MOVE_EVERY: Duration = Duration::from_millis(20);
/// How often the outbox is swept, and how many rows one sweep takes.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
const SWEEP_LIMIT: i64 = 500;

/// Moves up to ARGV[2] jobs due by ARGV[1] from the retry set KEYS[1] to the stream KEYS[2];
/// atomic, so two replicas never move the same job.
const MOVE_DUE: &str = r#"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'job', job)
  redis.call('ZREM', KEYS[1], job)
end
return #due
"#;

/// Adds what is enqueued to the stream until the service stops (what is still in its channel
/// then is added first; anything later is left to the outbox sweeper of the next start).
pub(super) async fn enqueuer(
    queue: Arc<RedisQueue>,
    store: Store,
    mut rx: mpsc::Receiver<DeliveryJob>,
    tasks: Tasks,
) {
    let stop = tasks.stopping();
    let mut jobs = Vec::with_capacity(ENQUEUE_BATCH);
    loop {
        jobs.clear();
        let taken = tokio::select! {
            biased;
            taken = rx.recv_many(&mut jobs, ENQUEUE_BATCH) => taken,
            _ = stop.cancelled() => return,
        };
        if taken == 0 {
            return;
        }
        // Jobs that waited this long (Redis was slow or down) belong to the outbox sweeper.
        let late = now_ms() - (queue.settings.sweep_after / 2).as_millis() as i64;
        jobs.retain(|j| j.invite.date_created >= late);
        if jobs.is_empty() {
            continue;
        }
        // The mark carries the time of the add: a mark written after Redis lost its data and
        // the queue was re-created is still recognised as older (see `sweep_outbox`).
        let added_at = now_ms();
        match queue.add(&jobs, queue.enqueue_budget()).await {
            Ok(()) => {
                let mut ids: Vec<DeliveryId> = jobs.iter().map(|j| j.delivery_id).collect();
                ids.sort();
                // In the background: the next batch must not wait behind the store.
                let (store, stop) = (store.clone(), stop.clone());
                tasks.spawn(async move { mark_enqueued(&store, &ids, added_at, &stop).await });
            }
            Err(e) => {
                queue
                    .metrics
                    .queue_events
                    .with_label_values(&["enqueue_failed"])
                    .inc_by(jobs.len() as u64);
                tracing::warn!(error = %e, deliveries = jobs.len(),
                    "Redis unavailable: deliveries wait in the outbox until it returns");
            }
        }
    }
}

/// Marks deliveries enqueued, retrying for a while: an unmarked row is swept into the stream a
/// second time (the reader then asks the store before sending it, see `consume`). At shutdown
/// the attempt under way is the last.
async fn mark_enqueued(store: &Store, ids: &[DeliveryId], added_at: i64, stop: &CancellationToken) {
    let mut backoff = Duration::from_millis(20);
    for attempt in 1..=8 {
        match store.mark_enqueued(ids, added_at).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, attempt, deliveries = ids.len(), "marking deliveries enqueued failed");
                if !sleep_unless(stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Sends acknowledgements in batches (see [`acknowledge`]) until the service is drained, or
/// the queue is dropped.
pub(super) async fn acknowledger(
    mut conn: ConnectionManager,
    keys: Keys,
    replica: String,
    working: super::Working,
    mut rx: mpsc::UnboundedReceiver<Ack>,
    drained: CancellationToken,
) {
    loop {
        let Some(first) = crate::tasks::next_or_drained(&mut rx, &drained).await else {
            return;
        };
        let (mut batch, mut flushes) = (Vec::new(), Vec::new());
        let mut next = Some(first);
        while let Some(ack) = next.take() {
            match ack {
                Ack::Entry {
                    entry,
                    release,
                    then,
                } => batch.push((entry, release, then)),
                Ack::Flush(done) => flushes.push(done),
            }
            if batch.len() < ACK_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            acknowledge(&mut conn, &keys, &replica, &batch).await;
            let mut working = working.lock().unwrap_or_else(|p| p.into_inner());
            for (entry, _, _) in &batch {
                if let Some(entry) = entry {
                    working.remove(entry);
                }
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Schedules retries, writes dead letters and acknowledges + deletes entries, all in one
/// MULTI so a retry is never scheduled without its entry being acknowledged or vice versa.
async fn acknowledge(
    conn: &mut ConnectionManager,
    keys: &Keys,
    replica: &str,
    batch: &[(Option<String>, Option<DeliveryId>, Then)],
) {
    let mut pipe = redis::pipe();
    pipe.atomic();
    let now = now_ms().to_string();
    for (_, _, then) in batch {
        match then {
            Then::Done => {}
            Then::Retry { job, due } => {
                pipe.cmd("ZADD")
                    .arg(&keys.retries)
                    .arg(*due)
                    .arg(job)
                    .ignore();
            }
            Then::Dead { job, reason } => {
                pipe.cmd("XADD")
                    .arg(&keys.dead)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(DEAD_LETTERS_KEPT)
                    .arg("*")
                    .arg("job")
                    .arg(job)
                    .arg("reason")
                    .arg(reason)
                    .arg("replica")
                    .arg(replica)
                    .arg("at")
                    .arg(&now)
                    .ignore();
            }
        }
    }
    let entries: Vec<&str> = batch.iter().filter_map(|(e, _, _)| e.as_deref()).collect();
    let leases: Vec<String> = batch
        .iter()
        .filter_map(|(_, id, _)| id.map(|id| format!("{}{id}", keys.lease)))
        .collect();
    if !leases.is_empty() {
        pipe.cmd("DEL").arg(&leases).ignore();
    }
    if !entries.is_empty() {
        pipe.cmd("XACK")
            .arg(&keys.stream)
            .arg(GROUP)
            .arg(&entries)
            .ignore();
        pipe.cmd("XDEL").arg(&keys.stream).arg(&entries).ignore();
    }
    let mut backoff = Duration::from_millis(50);
    for attempt in 1..=6 {
        match pipe.query_async::<()>(conn).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, attempt, entries = entries.len(), "acknowledging deliveries in Redis failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
    // Left pending: another replica claims them after the idle time, asks the store, and
    // finishes what the store says is still open.
    tracing::error!(
        entries = entries.len(),
        "giving up acknowledging deliveries; they will be claimed and checked against the store"
    );
}

pub(super) async fn move_due_retries(queue: Arc<RedisQueue>, stop: CancellationToken) {
    let script = redis::Script::new(MOVE_DUE);
    let mut conn = queue.conn.clone();
    let mut tick = tokio::time::interval(MOVE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let moved = script
            .key(&queue.keys.retries)
            .key(&queue.keys.stream)
            .arg(now_ms())
            .arg(256)
            .invoke_async::<i64>(&mut conn)
            .await;
        if let Err(e) = moved {
            tracing::debug!(error = %e, "moving due retries failed");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// After this replica re-created a lost queue: once marks still in flight then have landed
/// (the sweep delay later), unmarks every open delivery whose add predates the re-creation, so
/// the sweep takes it (an entry that did reach the new stream is then read twice; the reader
/// asks the store first).
async fn forget_late_marks(queue: &RedisQueue, store: &Store, now: i64) {
    let Some(recreated) = queue.recreated_at() else {
        return;
    };
    if now < recreated + queue.settings.sweep_after.as_millis() as i64 {
        return;
    }
    match store.forget_enqueued_before(recreated).await {
        Ok(n) => {
            queue.clear_recreated(recreated);
            if n > 0 {
                tracing::warn!(
                    deliveries = n,
                    "deliveries marked enqueued into the lost Redis queue after it was re-created will be enqueued again"
                );
            }
        }
        Err(e) => tracing::debug!(error = %e, "outbox sweep: store unavailable"),
    }
}

pub(super) async fn sweep_outbox(queue: Arc<RedisQueue>, store: Store, stop: CancellationToken) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = now_ms();
        forget_late_marks(&queue, &store, now).await;
        let before = now - queue.settings.sweep_after.as_millis() as i64;
        let taken = match store.take_unenqueued(before, now, SWEEP_LIMIT).await {
            Ok(taken) if taken.is_empty() => continue,
            Ok(taken) => taken,
            Err(e) => {
                tracing::debug!(error = %e, "outbox sweep: store unavailable");
                continue;
            }
        };
        let ids: Vec<DeliveryId> = taken.iter().map(|d| d.id).collect();
        let added = match jobs_from_store(&store, &taken).await {
            Ok(jobs) => queue
                .add(&jobs, queue.enqueue_budget())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match added {
            Ok(()) => {
                queue
                    .metrics
                    .queue_events
                    .with_label_values(&["swept"])
                    .inc_by(ids.len() as u64);
                tracing::info!(
                    deliveries = ids.len(),
                    "outbox deliveries that never reached Redis enqueued"
                );
            }
            Err(e) => {
                tracing::debug!(error = %e, "outbox sweep: enqueue failed");
                if let Err(e) = store.unmark_enqueued(&ids).await {
                    tracing::warn!(error = %e, "outbox sweep: could not unmark deliveries");
                }
            }
        }
    }
}
