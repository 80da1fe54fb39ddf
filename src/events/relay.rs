//! Invite changes shared between replicas over Redis pub/sub.
//!
//! Redis key (prefix configurable, default `pushgate:`):
//! - `<prefix>invite-events` — pub/sub channel; each message is JSON
//!   `{"origin": <replica>, "invite": <invite SID>, "status": <new status or null>}`.
//!
//! Pub/sub is fire-and-forget: a replica that is disconnected misses messages. Listeners
//! re-read the store and have deadlines, so a miss delays an event stream or a `?wait` answer;
//! it never loses an invite or a status callback (callbacks stay with the publishing replica).

use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::InviteChange;
use crate::domain::{InviteSid, InviteStatus};
use crate::tasks::Tasks;

#[derive(Serialize, Deserialize)]
struct Message {
    origin: String,
    invite: InviteSid,
    status: Option<InviteStatus>,
}

/// What the relay needs: a client for the subscriber connection, the shared connection for
/// publishing, the channel name and this replica's name.
pub struct Relay {
    pub client: redis::Client,
    pub conn: ConnectionManager,
    pub channel: String,
    pub origin: String,
}

impl Relay {
    /// Starts the publisher and the subscriber, tracked by `tasks`; returns where to send
    /// local changes. The subscriber ends when `tasks` is stopping, the publisher once it is
    /// drained (after relaying what the last outcomes changed).
    pub(super) fn start(
        self,
        local: broadcast::Sender<InviteChange>,
        tasks: &Tasks,
    ) -> mpsc::Sender<InviteChange> {
        let (tx, rx) = mpsc::channel(super::RELAY_BACKLOG);
        tasks.spawn(publish(
            self.conn,
            self.channel.clone(),
            self.origin.clone(),
            rx,
            tasks.drained(),
        ));
        let stop = tasks.stopping();
        let subscriber = subscribe(self.client, self.channel, self.origin, local);
        tasks.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = subscriber => {}
            }
        });
        tx
    }
}

async fn publish(
    mut conn: ConnectionManager,
    channel: String,
    origin: String,
    mut rx: mpsc::Receiver<InviteChange>,
    drained: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            biased;
            first = rx.recv() => first,
            _ = drained.cancelled() => None,
        };
        let Some(first) = first else {
            return;
        };
        let mut pipe = redis::pipe();
        let mut next = Some(first);
        let mut n = 0;
        while let Some(change) = next.take() {
            let message = Message {
                origin: origin.clone(),
                invite: change.invite_sid,
                status: change.status,
            };
            if let Ok(json) = serde_json::to_string(&message) {
                pipe.cmd("PUBLISH").arg(&channel).arg(json).ignore();
            }
            n += 1;
            if n < 256 {
                next = rx.try_recv().ok();
            }
        }
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            tracing::warn!(error = %e, changes = n, "relaying invite changes to other replicas failed");
        }
    }
}

async fn subscribe(
    client: redis::Client,
    channel: String,
    origin: String,
    local: broadcast::Sender<InviteChange>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else {
                            continue;
                        };
                        let Ok(m) = serde_json::from_str::<Message>(&payload) else {
                            continue;
                        };
                        if m.origin != origin {
                            let _ = local.send(InviteChange {
                                invite_sid: m.invite,
                                status: m.status,
                                callback: None,
                            });
                        }
                    }
                    tracing::warn!("invite event subscription lost; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "subscribing to invite events failed"),
            },
            Err(e) => tracing::debug!(error = %e, "invite event subscriber: Redis unreachable"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
