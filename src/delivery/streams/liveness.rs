//! This replica's liveness in the consumer group: a heartbeat that keeps the entries it works
//! on from looking idle (so only a dead or stalled replica's entries are claimed), and the
//! removal of consumers of replicas that are gone.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::tasks::ACK_BATCH;
use super::{GROUP, RedisQueue};

/// Every third of the claim idle time, resets the idle time of the entries this replica is
/// still working on (XCLAIM to itself, JUSTID: not counted as a new delivery) and renews their
/// leases, so a replica that is only slow — a database that lags — keeps its work. Not past ten claim idle times:
/// an entry whose outcome could not be recorded by then is left for another replica to claim
/// and check against the store.
pub(super) async fn heartbeat(queue: Arc<RedisQueue>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(queue.settings.claim_idle / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut conn = queue.conn.clone();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let max_age = queue.settings.claim_idle * 10;
        let working: Vec<(String, crate::domain::DeliveryId)> = {
            let mut working = queue.working.lock().unwrap_or_else(|p| p.into_inner());
            working.retain(|_, (_, since)| since.elapsed() < max_age);
            working
                .iter()
                .map(|(e, (id, _))| (e.clone(), *id))
                .collect()
        };
        for chunk in working.chunks(ACK_BATCH) {
            let mut pipe = redis::pipe();
            let entries: Vec<&str> = chunk.iter().map(|(e, _)| e.as_str()).collect();
            pipe.cmd("XCLAIM")
                .arg(&queue.keys.stream)
                .arg(GROUP)
                .arg(&queue.consumer)
                .arg(0)
                .arg(&entries)
                .arg("JUSTID")
                .ignore();
            for (_, id) in chunk {
                pipe.cmd("PEXPIRE")
                    .arg(queue.lease_key(*id))
                    .arg(queue.lease_ms())
                    .ignore();
            }
            let touched = pipe.query_async::<()>(&mut conn).await;
            if let Err(e) = touched {
                tracing::debug!(error = %e, "queue heartbeat failed");
            }
        }
    }
}

/// Consumers (replicas) gone this long with nothing pending are removed from the group.
const CONSUMER_GONE_AFTER: Duration = Duration::from_secs(3600);

/// Every few minutes, removes consumers of replicas that are gone (idle for an hour with
/// nothing pending: their work was claimed), so restarts don't pile up consumers.
pub(super) async fn forget_gone_consumers(queue: Arc<RedisQueue>, stop: CancellationToken) {
    use redis::AsyncCommands;
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    let mut conn = queue.conn.clone();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let info: redis::RedisResult<redis::streams::StreamInfoConsumersReply> =
            conn.xinfo_consumers(&queue.keys.stream, GROUP).await;
        let Ok(info) = info else { continue };
        for c in info.consumers {
            if c.pending == 0
                && c.idle as u128 > CONSUMER_GONE_AFTER.as_millis()
                && c.name != queue.consumer
            {
                let removed = redis::cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(&queue.keys.stream)
                    .arg(GROUP)
                    .arg(&c.name)
                    .query_async::<i64>(&mut conn)
                    .await;
                if removed.is_ok() {
                    tracing::info!(consumer = %c.name, "removed a gone replica from the queue's consumer group");
                }
            }
        }
    }
}
