//! Invite change notifications inside the process: every status change (from delivery
//! outcomes or the call lifecycle) is published once here. Waiters and event streams listen on
//! a broadcast (they re-read the store, so a missed message only delays them); status
//! callbacks get every change with a callback URL through a reliable queue.

use tokio::sync::{broadcast, mpsc};

/// An invite whose deliveries or status changed.
#[derive(Debug, Clone)]
pub struct InviteChange {
    pub invite_sid: String,
    /// The invite's new status, when it changed.
    pub status: Option<String>,
    /// The invite's status callback URL, when it has one and the status changed.
    pub callback: Option<String>,
}

/// Where changes are published.
#[derive(Clone)]
pub struct Events {
    broadcast: broadcast::Sender<InviteChange>,
    callbacks: mpsc::UnboundedSender<InviteChange>,
}

impl Events {
    /// A publisher, and the receiving end of the status callback queue.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<InviteChange>) {
        let (broadcast, _) = broadcast::channel(4096);
        let (callbacks, rx) = mpsc::unbounded_channel();
        (
            Self {
                broadcast,
                callbacks,
            },
            rx,
        )
    }

    /// Publishes a change.
    pub fn publish(&self, change: InviteChange) {
        if change.status.is_some() && change.callback.is_some() {
            let _ = self.callbacks.send(change.clone());
        }
        let _ = self.broadcast.send(change);
    }

    /// Changes from now on (lossy under extreme load: re-read the store on `Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<InviteChange> {
        self.broadcast.subscribe()
    }
}
