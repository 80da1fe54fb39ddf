//! Invite change notifications: every status change (from delivery outcomes or the call
//! lifecycle) is published once, by the replica that made it. Waiters and event streams listen
//! on a broadcast (they re-read the store, so a missed message only delays them); status
//! callbacks get every change with a callback URL through a reliable queue, in the publishing
//! replica only. With Redis, changes are also relayed to the other replicas ([`relay`]), so a
//! phone's event stream or a `?wait` works whichever replica it landed on.

pub mod relay;

use crate::domain::{InviteSid, InviteStatus};
use crate::metrics::Metrics;
use tokio::sync::{broadcast, mpsc};

/// Most changes waiting for the status callback dispatcher; beyond, a change's callback is
/// dropped (counted as `dropped`; a final one is replayed by the lost-callback sweep).
pub const CALLBACK_BACKLOG: usize = 65_536;
/// Most changes waiting to be relayed to the other replicas (pub/sub is lossy anyway: a
/// listener that misses one re-reads the store at its deadline).
pub const RELAY_BACKLOG: usize = 65_536;

/// An invite whose deliveries or status changed.
#[derive(Debug, Clone)]
pub struct InviteChange {
    pub invite_sid: InviteSid,
    /// The invite's new status, when it changed.
    pub status: Option<InviteStatus>,
    /// The invite's status callback URL, when it has one and the status changed.
    pub callback: Option<String>,
}

/// Where changes are published.
#[derive(Clone)]
pub struct Events {
    broadcast: broadcast::Sender<InviteChange>,
    callbacks: mpsc::Sender<InviteChange>,
    /// To the other replicas, when Redis is configured.
    relay: Option<mpsc::Sender<InviteChange>>,
    /// Where dropped callbacks are counted.
    metrics: Metrics,
}

impl Events {
    /// A publisher, and the receiving end of the status callback queue (at most
    /// [`CALLBACK_BACKLOG`] long); callbacks dropped are counted in `metrics`.
    pub fn new(metrics: Metrics) -> (Self, mpsc::Receiver<InviteChange>) {
        let (broadcast, _) = broadcast::channel(4096);
        let (callbacks, rx) = mpsc::channel(CALLBACK_BACKLOG);
        (
            Self {
                broadcast,
                callbacks,
                relay: None,
                metrics,
            },
            rx,
        )
    }

    /// Publishes a change.
    pub fn publish(&self, change: InviteChange) {
        if change.status.is_some() && change.callback.is_some() {
            self.queue_callback(change.clone());
        }
        if let Some(relay) = &self.relay {
            let _ = relay.try_send(change.clone());
        }
        let _ = self.broadcast.send(change);
    }

    fn queue_callback(&self, change: InviteChange) {
        if let Err(mpsc::error::TrySendError::Full(change)) = self.callbacks.try_send(change) {
            self.metrics.callbacks.with_label_values(&["dropped"]).inc();
            tracing::warn!(invite = %change.invite_sid,
                "status callback dropped: the dispatcher is {CALLBACK_BACKLOG} changes behind");
        }
    }

    /// Changes from now on (lossy under extreme load: re-read the store on `Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<InviteChange> {
        self.broadcast.subscribe()
    }
}

impl Events {
    /// Queues a status callback for a change published before (one whose callback was lost
    /// with a stopped replica), without announcing the change again.
    pub fn replay_callback(&self, change: InviteChange) {
        self.queue_callback(change);
    }

    /// Changes published here also reach the other replicas through Redis, and theirs reach
    /// this replica's listeners (not its status callbacks: the publisher sends those).
    /// Its tasks are tracked by `tasks`.
    pub fn relay_through_redis(&mut self, relay: relay::Relay, tasks: &crate::tasks::Tasks) {
        self.relay = Some(relay.start(self.broadcast.clone(), tasks));
    }
}
