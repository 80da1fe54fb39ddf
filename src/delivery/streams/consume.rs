//! Reading the stream: new entries (XREADGROUP) and entries a quiet replica left pending
//! (XAUTOCLAIM), handed to workers within this replica's concurrency limit — a replica only
//! takes as many entries as it has free workers, so the load spreads over the replicas.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamPendingCountReply,
    StreamReadOptions, StreamReadReply,
};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::{GROUP, RedisQueue, Then, wire};
use crate::clock::now_ms;
use crate::delivery::job::DeliveryJob;
use crate::delivery::worker::Worker;
use crate::domain::DeliveryId;
use crate::store::Store;

/// Most entries read at once.
const READ_BATCH: usize = 128;
/// Longest XREADGROUP block (the reader connection's response timeout is longer).
const BLOCK: Duration = Duration::from_millis(1000);

/// Reads and processes entries until `stopped`, then waits for the pushes in flight.
pub async fn consume(
    queue: Arc<RedisQueue>,
    mut reader: ConnectionManager,
    store: Store,
    worker: Arc<Worker>,
    concurrency: usize,
    mut stopped: watch::Receiver<bool>,
) {
    let concurrency = concurrency.max(1);
    let permits = Arc::new(Semaphore::new(concurrency));
    let claim_every =
        (queue.settings.claim_idle / 4).clamp(Duration::from_millis(250), Duration::from_secs(5));
    let mut next_claim = Instant::now() + claim_every;
    let mut backoff = Duration::from_millis(100);
    loop {
        let first = tokio::select! {
            _ = stopped.changed() => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let mut held = vec![first];
        while held.len() < READ_BATCH {
            match permits.clone().try_acquire_owned() {
                Ok(p) => held.push(p),
                Err(_) => break,
            }
        }
        let result = if Instant::now() >= next_claim {
            next_claim = Instant::now() + claim_every;
            claim(&queue, &store, &worker, held.len()).await
        } else {
            let block = (next_claim - Instant::now()).min(BLOCK);
            tokio::select! {
                _ = stopped.changed() => break,
                r = read(&queue, &store, &mut reader, held.len(), block) => r,
            }
        };
        match result {
            Ok(jobs) => {
                backoff = Duration::from_millis(100);
                for mut job in jobs {
                    let Some(permit) = held.pop() else { break };
                    if let Some(entry) = &job.entry {
                        queue.working_on(entry, job.delivery_id);
                    }
                    // Held until the outcome is recorded (see `RedisQueue::after_recorded`).
                    job.slot = Some(Arc::new(permit));
                    let worker = worker.clone();
                    tokio::spawn(async move { worker.process(job).await });
                }
            }
            Err(e) if e.code() == Some("NOGROUP") => {
                tracing::warn!("the Redis queue is gone (Redis restarted without its data?)");
                if let Err(e) = queue.ensure_group(&store).await {
                    tracing::warn!(error = %e, "re-creating the Redis consumer group failed");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the Redis queue failed; retrying");
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
    let _ = permits.acquire_many(concurrency as u32).await;
}

async fn read(
    queue: &RedisQueue,
    store: &Store,
    reader: &mut ConnectionManager,
    count: usize,
    block: Duration,
) -> redis::RedisResult<Vec<DeliveryJob>> {
    let options = StreamReadOptions::default()
        .group(GROUP, &queue.consumer)
        .count(count)
        .block(block.as_millis().max(1) as usize);
    let reply: Option<StreamReadReply> = reader
        .xread_options(&[&queue.keys.stream], &[">"], &options)
        .await?;
    let mut invites = HashMap::new();
    let (mut jobs, mut stale) = (Vec::new(), Vec::new());
    // A job older than the sweep delay may have a twin (swept from the outbox, or re-added
    // after Redis lost its data) that already went out: ask the store first.
    let stale_before = now_ms() - queue.settings.sweep_after.as_millis() as i64;
    let mut seen = std::collections::HashSet::new();
    for key in reply.map(|r| r.keys).unwrap_or_default() {
        for entry in key.ids {
            match decode(queue, &entry, &mut invites) {
                // Twins read together: one is enough.
                Some(job) if !seen.insert(job.delivery_id) => {
                    (queue.ack_later(job.entry.clone(), None, Then::Done))();
                }
                Some(job) if job.invite.date_created < stale_before => stale.push(job),
                Some(job) => jobs.push(job),
                None => {}
            }
        }
    }
    // Lease first, then ask the store: a twin checked before leasing could find the delivery
    // still open, then get the lease its first sender released on recording — and send again.
    let mut mine = match lease(queue, jobs, false).await {
        Ok(jobs) => jobs,
        Err(e) => {
            // Left pending: claimed after the idle time.
            tracing::warn!(error = %e, "leasing queued deliveries failed");
            return Ok(Vec::new());
        }
    };
    if !stale.is_empty() {
        match lease(queue, stale, false).await {
            Ok(leased) => match still_open(queue, store, leased).await {
                Ok(open) => mine.extend(open),
                // Left pending: claimed (and checked) after the idle time and the lease.
                Err(e) => {
                    tracing::warn!(error = %e, "queued deliveries can't be checked against the store yet")
                }
            },
            Err(e) => tracing::warn!(error = %e, "leasing queued deliveries failed"),
        }
    }
    Ok(mine)
}

/// The jobs the store still has open, with their attempt counts brought up to date; the
/// entries of the others (recorded already, or gone) are acknowledged.
async fn still_open(
    queue: &RedisQueue,
    store: &Store,
    jobs: Vec<DeliveryJob>,
) -> Result<Vec<DeliveryJob>, String> {
    let ids: Vec<DeliveryId> = jobs.iter().map(|j| j.delivery_id).collect();
    let stored = store
        .deliveries_by_id(&ids)
        .await
        .map_err(|e| e.to_string())?;
    let stored: HashMap<DeliveryId, &crate::store::DeliveryRecord> =
        stored.iter().map(|d| (d.id, d)).collect();
    let mut open = Vec::with_capacity(jobs.len());
    for mut job in jobs {
        match stored.get(&job.delivery_id) {
            Some(d) if d.status.is_open() => {
                job.attempts = u32::try_from(d.attempts).unwrap_or(job.attempts);
                open.push(job);
            }
            _ => (queue.ack_later(job.entry.clone(), Some(job.delivery_id), Then::Done))(),
        }
    }
    Ok(open)
}

/// The jobs whose delivery lease this replica got (one pipelined round trip). Of two entries
/// for one delivery only the lease holder sends; a fresh twin is acknowledged, a `claimed` one
/// stays pending until the lease expires and it is claimed again.
async fn lease(
    queue: &RedisQueue,
    jobs: Vec<DeliveryJob>,
    claimed: bool,
) -> Result<Vec<DeliveryJob>, String> {
    if jobs.is_empty() {
        return Ok(jobs);
    }
    let mut pipe = redis::pipe();
    for job in &jobs {
        pipe.cmd("SET")
            .arg(queue.lease_key(job.delivery_id))
            .arg(&queue.consumer)
            .arg("NX")
            .arg("PX")
            .arg(queue.lease_ms());
    }
    let leased: Vec<Option<String>> = pipe
        .query_async(&mut queue.conn.clone())
        .await
        .map_err(|e| e.to_string())?;
    let mut mine = Vec::with_capacity(jobs.len());
    for (job, lease) in jobs.into_iter().zip(leased) {
        match lease {
            Some(_) => mine.push(job),
            None if claimed => {}
            None => (queue.ack_later(job.entry.clone(), None, Then::Done))(),
        }
    }
    Ok(mine)
}

/// The job in `entry`; an entry that can't be read goes to the dead-letter stream.
fn decode(
    queue: &RedisQueue,
    entry: &StreamId,
    invites: &mut HashMap<String, Arc<crate::delivery::job::InviteInfo>>,
) -> Option<DeliveryJob> {
    let json: Option<String> = entry.get("job");
    let job = json
        .as_deref()
        .and_then(|j| wire::decode(j, &entry.id, invites));
    if job.is_none() {
        tracing::error!(entry = %entry.id, "unreadable queue entry dead-lettered");
        queue
            .metrics
            .queue_events
            .with_label_values(&["dead_lettered"])
            .inc();
        let then = Then::Dead {
            job: json.unwrap_or_default(),
            reason: "unreadable job".into(),
        };
        (queue.ack_later(Some(entry.id.clone()), None, then))();
    }
    job
}

/// Takes over entries idle longer than the claim time (their replica died or hung) and
/// returns those the store says are still open. An entry whose outcome was recorded is only
/// acknowledged; one handed out too often is dead-lettered.
async fn claim(
    queue: &RedisQueue,
    store: &Store,
    worker: &Worker,
    count: usize,
) -> redis::RedisResult<Vec<DeliveryJob>> {
    let mut conn = queue.conn.clone();
    let reply: StreamAutoClaimReply = conn
        .xautoclaim_options(
            &queue.keys.stream,
            GROUP,
            &queue.consumer,
            queue.settings.claim_idle.as_millis() as u64,
            "0-0",
            StreamAutoClaimOptions::default().count(count),
        )
        .await?;
    let (Some(first), Some(last)) = (reply.claimed.first(), reply.claimed.last()) else {
        return Ok(Vec::new());
    };
    queue
        .metrics
        .queue_events
        .with_label_values(&["claimed"])
        .inc_by(reply.claimed.len() as u64);
    let pending: StreamPendingCountReply = conn
        .xpending_consumer_count(
            &queue.keys.stream,
            GROUP,
            &first.id,
            &last.id,
            reply.claimed.len(),
            &queue.consumer,
        )
        .await?;
    let handed_out: HashMap<String, usize> = pending
        .ids
        .into_iter()
        .map(|p| (p.id, p.times_delivered))
        .collect();
    let mut invites = HashMap::new();
    let jobs: Vec<DeliveryJob> = reply
        .claimed
        .iter()
        .filter_map(|e| decode(queue, e, &mut invites))
        .collect();
    // Leased before the store is asked (see `read`).
    let jobs = match lease(queue, jobs, true).await {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::warn!(error = %e, "leasing claimed deliveries failed");
            return Ok(Vec::new());
        }
    };
    let jobs = match still_open(queue, store, jobs).await {
        Ok(jobs) => jobs,
        Err(e) => {
            // Left in this replica's pending list: claimed again after the idle time.
            tracing::warn!(error = %e, "claimed deliveries can't be checked against the store yet");
            return Ok(Vec::new());
        }
    };
    let mut open = Vec::new();
    for job in jobs {
        let times = job
            .entry
            .as_ref()
            .and_then(|e| handed_out.get(e))
            .copied()
            .unwrap_or(1);
        if times > queue.settings.max_deliveries as usize {
            worker.dead_letter(&job, format!("handed out {times} times without an outcome"));
        } else {
            open.push(job);
        }
    }
    if !open.is_empty() {
        tracing::info!(
            deliveries = open.len(),
            "claimed deliveries left by another replica"
        );
    }
    Ok(open)
}
