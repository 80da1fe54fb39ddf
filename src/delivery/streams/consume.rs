//! Reading the stream, as the Redis queue's [`Consumer`]: new entries (XREADGROUP) and entries
//! a quiet replica left pending (XAUTOCLAIM), no more than the consumer loop has free worker
//! slots — a replica only takes as many entries as it has free workers, so the load spreads
//! over the replicas. Every entry is leased before the store is asked about it, and handed
//! out with a [`RedisAcker`] that acknowledges it once its outcome is recorded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamPendingCountReply,
    StreamReadOptions, StreamReadReply,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::acker::RedisAcker;
use super::{GROUP, RedisQueue, Then, wire};
use crate::clock::now_ms;
use crate::delivery::job::DeliveryJob;
use crate::delivery::queue::{Consumer, Delivery};
use crate::domain::DeliveryId;
use crate::store::Store;

/// Longest XREADGROUP block (the reader connection's response timeout is longer).
const BLOCK: Duration = Duration::from_millis(1000);

/// A job and the stream entry it was read from.
struct Taken {
    entry: String,
    job: DeliveryJob,
    /// Set when the entry was handed out too often: dead-letter it instead of sending.
    give_up: Option<String>,
}

/// The consumer side of the Redis queue.
pub struct RedisConsumer {
    queue: Arc<RedisQueue>,
    /// Blocking reads get a connection of their own.
    reader: ConnectionManager,
    store: Store,
    claim_every: Duration,
    next_claim: Instant,
    /// Where the next XAUTOCLAIM scan of the pending list starts: each call examines at most
    /// ten times its count, so a scan always restarted at `0-0` could stay behind a block of
    /// entries other replicas hold and never reach a dead replica's later ones.
    claim_from: String,
    backoff: Duration,
}

impl RedisConsumer {
    /// Reads `queue` through `reader`, checking doubtful entries against `store`.
    pub fn new(queue: Arc<RedisQueue>, reader: ConnectionManager, store: Store) -> Self {
        let claim_every = (queue.settings.claim_idle / 4)
            .clamp(Duration::from_millis(250), Duration::from_secs(5));
        Self {
            queue,
            reader,
            store,
            claim_every,
            next_claim: Instant::now() + claim_every,
            claim_from: "0-0".into(),
            backoff: Duration::from_millis(100),
        }
    }
}

impl Consumer for RedisConsumer {
    async fn next(&mut self, max: usize, stop: &CancellationToken) -> Option<Vec<Delivery>> {
        let (queue, store) = (&self.queue, &self.store);
        let result = if Instant::now() >= self.next_claim {
            self.next_claim = Instant::now() + self.claim_every;
            let result = claim(queue, store, max, &self.claim_from).await;
            if let Ok((_, next)) = &result {
                // Mid-scan: go on at once; back at the start: wait for the next round.
                if next != "0-0" {
                    self.next_claim = Instant::now();
                }
                self.claim_from.clone_from(next);
            }
            result.map(|(taken, _)| taken)
        } else {
            let block = (self.next_claim - Instant::now()).min(BLOCK);
            tokio::select! {
                _ = stop.cancelled() => return None,
                r = read(queue, store, &mut self.reader, max, block) => r,
            }
        };
        match result {
            Ok(taken) => {
                self.backoff = Duration::from_millis(100);
                let deliveries = taken.into_iter().map(|t| {
                    let acker = RedisAcker::taken(queue, t.entry, t.job.delivery_id);
                    let acker = match t.give_up {
                        Some(reason) => acker.with_give_up(reason),
                        None => acker,
                    };
                    Delivery { job: t.job, acker }
                });
                Some(deliveries.collect())
            }
            Err(e) if e.code() == Some("NOGROUP") => {
                tracing::warn!("the Redis queue is gone (Redis restarted without its data?)");
                if let Err(e) = queue.ensure_group(store).await {
                    tracing::warn!(error = %e, "re-creating the Redis consumer group failed");
                }
                Some(Vec::new())
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the Redis queue failed; retrying");
                if !crate::tasks::sleep_unless(stop, self.backoff).await {
                    return None;
                }
                self.backoff = (self.backoff * 2).min(Duration::from_secs(2));
                Some(Vec::new())
            }
        }
    }
}

async fn read(
    queue: &RedisQueue,
    store: &Store,
    reader: &mut ConnectionManager,
    count: usize,
    block: Duration,
) -> redis::RedisResult<Vec<Taken>> {
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
                Some(t) if !seen.insert(t.job.delivery_id) => {
                    (queue.ack_later(Some(t.entry), None, Then::Done))();
                }
                Some(t) if t.job.invite.date_created < stale_before => stale.push(t),
                Some(t) => jobs.push(t),
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
    jobs: Vec<Taken>,
) -> Result<Vec<Taken>, String> {
    let ids: Vec<DeliveryId> = jobs.iter().map(|t| t.job.delivery_id).collect();
    let stored = store
        .deliveries_by_id(&ids)
        .await
        .map_err(|e| e.to_string())?;
    let stored: HashMap<DeliveryId, &crate::store::DeliveryRecord> =
        stored.iter().map(|d| (d.id, d)).collect();
    let mut open = Vec::with_capacity(jobs.len());
    for mut t in jobs {
        match stored.get(&t.job.delivery_id) {
            Some(d) if d.status.is_open() => {
                t.job.attempts = u32::try_from(d.attempts).unwrap_or(t.job.attempts);
                open.push(t);
            }
            _ => (queue.ack_later(Some(t.entry), Some(t.job.delivery_id), Then::Done))(),
        }
    }
    Ok(open)
}

/// The jobs whose delivery lease this replica got (one pipelined round trip). Of two entries
/// for one delivery only the lease holder sends; a fresh twin is acknowledged, a `claimed` one
/// stays pending until the lease expires and it is claimed again.
async fn lease(queue: &RedisQueue, jobs: Vec<Taken>, claimed: bool) -> Result<Vec<Taken>, String> {
    if jobs.is_empty() {
        return Ok(jobs);
    }
    let mut pipe = redis::pipe();
    for t in &jobs {
        pipe.cmd("SET")
            .arg(queue.lease_key(t.job.delivery_id))
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
    for (t, lease) in jobs.into_iter().zip(leased) {
        match lease {
            Some(_) => mine.push(t),
            None if claimed => {}
            None => (queue.ack_later(Some(t.entry), None, Then::Done))(),
        }
    }
    Ok(mine)
}

/// The job in `entry`; an entry that can't be read goes to the dead-letter stream.
fn decode(
    queue: &RedisQueue,
    entry: &StreamId,
    invites: &mut HashMap<String, Arc<crate::delivery::job::InviteInfo>>,
) -> Option<Taken> {
    let json: Option<String> = entry.get("job");
    let job = json.as_deref().and_then(|j| wire::decode(j, invites));
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
    Some(Taken {
        entry: entry.id.clone(),
        job: job?,
        give_up: None,
    })
}

/// Takes over entries idle longer than the claim time (their replica died or hung) and
/// returns those the store says are still open. An entry whose outcome was recorded is only
/// acknowledged; one handed out too often is returned to be dead-lettered.
/// Scans the pending list from `from` and returns the claimed jobs with where the next scan
/// starts (`0-0` once the scan reached the end).
async fn claim(
    queue: &RedisQueue,
    store: &Store,
    count: usize,
    from: &str,
) -> redis::RedisResult<(Vec<Taken>, String)> {
    let mut conn = queue.conn.clone();
    let reply: StreamAutoClaimReply = conn
        .xautoclaim_options(
            &queue.keys.stream,
            GROUP,
            &queue.consumer,
            queue.settings.claim_idle.as_millis() as u64,
            from,
            StreamAutoClaimOptions::default().count(count.max(1)),
        )
        .await?;
    let next = reply.next_stream_id.clone();
    claimed(queue, store, reply).await.map(|jobs| (jobs, next))
}

/// The jobs of the entries `reply` claimed that are still to be sent.
async fn claimed(
    queue: &RedisQueue,
    store: &Store,
    reply: StreamAutoClaimReply,
) -> redis::RedisResult<Vec<Taken>> {
    let mut conn = queue.conn.clone();
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
    let jobs: Vec<Taken> = reply
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
    let mut jobs = jobs;
    for t in &mut jobs {
        let times = handed_out.get(&t.entry).copied().unwrap_or(1);
        if times > queue.settings.max_deliveries as usize {
            t.give_up = Some(format!("handed out {times} times without an outcome"));
        }
    }
    let claimed = jobs.iter().filter(|t| t.give_up.is_none()).count();
    if claimed > 0 {
        tracing::info!(
            deliveries = claimed,
            "claimed deliveries left by another replica"
        );
    }
    Ok(jobs)
}
