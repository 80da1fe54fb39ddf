//! The call lifecycle after the pushes: answer (first accept wins), reject, cancel by the
//! caller, and expiry when nobody answered. Every end is a compare-and-set in the store, so
//! exactly one wins whatever the races; it is then published (event streams, status
//! callbacks) and, for apps on the older pattern, followed by legacy cancel pushes.

pub mod address_policy;
pub mod callback_dns;
pub mod callback_url;
pub mod callbacks;
mod cancel;
pub mod webhook_secret;

use std::sync::Arc;

use crate::clock::now_ms;
use crate::delivery::Engine;
use crate::events::{Events, InviteChange};
use crate::store::{InviteRecord, Store, StoreError};

/// Invite states in which the call can still be answered, rejected or canceled.
pub const OPEN: [&str; 3] = ["queued", "sending", "delivered"];

/// How often overdue invites are looked for (Redis mode).
const OVERDUE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether `status` is final (the event stream ends there).
pub fn is_final(status: &str) -> bool {
    !OPEN.contains(&status)
}

/// The event name phones and callbacks see for an invite status.
pub fn event_name(status: &str) -> &str {
    match status {
        "queued" | "sending" => "pending",
        "delivered" => "ringing",
        other => other,
    }
}

/// Why an accept, reject or cancel did not take effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// Another device answered first.
    AnsweredElsewhere,
    /// The call already ended in this state.
    Ended(String),
}

/// The lifecycle operations.
pub struct Calls {
    store: Store,
    events: Events,
    engine: Arc<Engine>,
}

impl Calls {
    /// Lifecycle operations over `store`, publishing to the engine's events.
    pub fn new(store: Store, engine: Arc<Engine>) -> Arc<Self> {
        Arc::new(Self {
            store,
            events: engine.events().clone(),
            engine,
        })
    }

    /// Re-arms the expiry timers of invites still open (after a restart).
    pub async fn resume(self: &Arc<Self>) -> Result<(), StoreError> {
        for invite in self.store.open_invites().await? {
            self.schedule_expiry(invite.sid.to_string(), invite.expires_at);
        }
        Ok(())
    }

    /// Ends the invite as `expired` at `expires_at` unless something else ended it first (or
    /// the service stops first: the next start re-arms the timer).
    pub fn schedule_expiry(self: &Arc<Self>, sid: String, expires_at: i64) {
        let calls = self.clone();
        let stop = self.engine.tasks().stopping();
        self.engine.tasks().spawn(async move {
            let wait = (expires_at - now_ms()).max(0) as u64;
            let wait = std::time::Duration::from_millis(wait);
            if !crate::tasks::sleep_unless(&stop, wait).await {
                return;
            }
            if let Err(e) = calls.end(&sid, "expired", None).await {
                tracing::warn!(invite = %sid, error = %e, "expiring the invite failed");
            }
        });
    }

    /// Every few seconds, ends open invites past their expiry whose timer ran in a replica
    /// that is gone. Stops when the lifecycle is dropped or the service stops.
    pub fn spawn_overdue_sweeper(self: &Arc<Self>) {
        let calls = Arc::downgrade(self);
        let stop = self.engine.tasks().stopping();
        self.engine.tasks().spawn(async move {
            let mut tick = tokio::time::interval(OVERDUE_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(calls) = calls.upgrade() else { return };
                // A grace period, so the live replica's own timer normally wins.
                let overdue = calls.store.overdue_invites(now_ms() - 1_000, 500).await;
                for sid in overdue.unwrap_or_default() {
                    if let Err(e) = calls.end(&sid, "expired", None).await {
                        tracing::warn!(invite = %sid, error = %e, "expiring an overdue invite failed");
                    }
                }
            }
        });
    }

    /// A phone answers: the first accept wins.
    pub async fn accept(
        &self,
        invite: &InviteRecord,
        registration: &str,
    ) -> Result<Result<InviteRecord, Conflict>, StoreError> {
        match self
            .end(invite.sid.as_str(), "answered", Some(registration))
            .await?
        {
            Some(ended) => Ok(Ok(ended)),
            None => self.conflict(invite, Some(registration)).await,
        }
    }

    /// A phone declines the call: it ends for every device.
    pub async fn reject(
        &self,
        invite: &InviteRecord,
        registration: &str,
    ) -> Result<Result<InviteRecord, Conflict>, StoreError> {
        match self
            .end(invite.sid.as_str(), "rejected", Some(registration))
            .await?
        {
            Some(ended) => Ok(Ok(ended)),
            None => self.conflict(invite, None).await,
        }
    }

    /// The caller hung up.
    pub async fn cancel(
        &self,
        invite: &InviteRecord,
    ) -> Result<Result<InviteRecord, Conflict>, StoreError> {
        match self.end(invite.sid.as_str(), "canceled", None).await? {
            Some(ended) => Ok(Ok(ended)),
            None => self.conflict(invite, None).await,
        }
    }

    async fn conflict(
        &self,
        invite: &InviteRecord,
        answering: Option<&str>,
    ) -> Result<Result<InviteRecord, Conflict>, StoreError> {
        let current = self
            .store
            .invite_by_sid(invite.sid.as_str())
            .await?
            .unwrap_or_else(|| invite.clone());
        let conflict = match (current.status.as_str(), answering) {
            // The same device accepting twice gets the same answer.
            ("answered", Some(reg)) if current.answered_by.as_deref() == Some(reg) => {
                return Ok(Ok(current));
            }
            ("answered", _) => Conflict::AnsweredElsewhere,
            (status, _) if is_final(status) => Conflict::Ended(status.to_owned()),
            // Still open but past its expiry: it is about to expire.
            _ => Conflict::Ended("expired".to_owned()),
        };
        Ok(Err(conflict))
    }

    async fn end(
        &self,
        sid: &str,
        to: &str,
        answered_by: Option<&str>,
    ) -> Result<Option<InviteRecord>, StoreError> {
        let Some(ended) = self
            .store
            .end_invite(sid, to, answered_by, now_ms())
            .await?
        else {
            return Ok(None);
        };
        crate::metrics::METRICS
            .invites_finished
            .with_label_values(&[to])
            .inc();
        tracing::info!(invite = %ended.sid, call = %ended.call_sid, status = to,
            answered_by = ?answered_by, "call ended");
        self.events.publish(InviteChange {
            invite_sid: ended.sid.to_string(),
            status: Some(ended.status.clone()),
            callback: ended.status_callback.clone(),
        });
        if ended.cancel_push.as_deref() == Some("voip") && to != "expired" {
            cancel::send_cancel_pushes(self.store.clone(), self.engine.clone(), ended.clone());
        }
        Ok(Some(ended))
    }
}
