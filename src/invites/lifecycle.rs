//! The call's ends: answer (the first accept wins), reject, cancel by the caller, and expiry
//! (a timer per open invite; with Redis every replica also sweeps overdue invites, whose
//! timer may have died with another replica).

use std::sync::Arc;
use std::time::Duration;

use super::{InviteError, Invites};
use crate::auth::bridge_token::BridgeClaims;
use crate::clock::now_ms;
use crate::domain::{AccountSid, CallEnd, CancelPush, InviteSid, InviteStatus, RegistrationSid};
use crate::events::InviteChange;
use crate::store::{InviteRecord, StoreError};

/// How often overdue invites are looked for (Redis mode).
const OVERDUE_EVERY: Duration = Duration::from_secs(5);
/// Overdue invites ended per sweep.
const OVERDUE_BATCH: i64 = 500;

impl Invites {
    /// Re-arms the expiry timers of invites still open (after a restart).
    pub async fn resume(self: &Arc<Self>) -> Result<(), StoreError> {
        for invite in self.store.open_invites().await? {
            self.schedule_expiry(invite.sid, invite.expires_at);
        }
        Ok(())
    }

    /// Ends the invite as `expired` at `expires_at` unless something else ended it first (or
    /// the service stops first: the next start re-arms the timer).
    pub(super) fn schedule_expiry(self: &Arc<Self>, sid: InviteSid, expires_at: i64) {
        let invites = self.clone();
        let stop = self.engine.tasks().stopping();
        self.engine.tasks().spawn(async move {
            let wait = Duration::from_millis((expires_at - now_ms()).max(0) as u64);
            if !crate::tasks::sleep_unless(&stop, wait).await {
                return;
            }
            if let Err(e) = invites.end(&sid, CallEnd::Expired, None).await {
                tracing::warn!(invite = %sid, error = %e, "expiring the invite failed");
            }
        });
    }

    /// Every few seconds, ends open invites past their expiry whose timer ran in a replica
    /// that is gone. Stops when the service is dropped or stops.
    pub fn spawn_overdue_sweeper(self: &Arc<Self>) {
        let invites = Arc::downgrade(self);
        let stop = self.engine.tasks().stopping();
        self.engine.tasks().spawn(async move {
            let mut tick = tokio::time::interval(OVERDUE_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(invites) = invites.upgrade() else {
                    return;
                };
                // A grace period, so the live replica's own timer normally wins.
                let overdue = invites
                    .store
                    .overdue_invites(now_ms() - 1_000, OVERDUE_BATCH)
                    .await;
                for sid in overdue.unwrap_or_default() {
                    if let Err(e) = invites.end(&sid, CallEnd::Expired, None).await {
                        tracing::warn!(invite = %sid, error = %e, "expiring an overdue invite failed");
                    }
                }
            }
        });
    }

    /// The phone holding `claims` answers the call `named`: the first accept wins; the same
    /// device accepting again gets the same answer.
    pub async fn accept(
        &self,
        claims: &BridgeClaims,
        named: &str,
    ) -> Result<InviteRecord, InviteError> {
        self.end_by_device(claims, named, CallEnd::Answered).await
    }

    /// The phone holding `claims` declines: the call ends for every device.
    pub async fn reject(
        &self,
        claims: &BridgeClaims,
        named: &str,
    ) -> Result<InviteRecord, InviteError> {
        self.end_by_device(claims, named, CallEnd::Rejected).await
    }

    /// A phone ends the call `named` as `how`, recorded as the device that did.
    async fn end_by_device(
        &self,
        claims: &BridgeClaims,
        named: &str,
        how: CallEnd,
    ) -> Result<InviteRecord, InviteError> {
        let invite = self.for_bridge(claims, named).await?;
        match self.end(&invite.sid, how, Some(&claims.reg)).await? {
            Some(ended) => Ok(ended),
            // Only a repeated accept by the same device gets the earlier answer back.
            None => {
                let answering = (how == CallEnd::Answered).then_some(&claims.reg);
                self.conflict(&invite, answering).await
            }
        }
    }

    /// The caller hung up.
    pub async fn cancel(
        &self,
        account: &AccountSid,
        named: &str,
    ) -> Result<InviteRecord, InviteError> {
        let invite = self.find(account, named).await?;
        match self.end(&invite.sid, CallEnd::Canceled, None).await? {
            Some(ended) => Ok(ended),
            None => self.conflict(&invite, None).await,
        }
    }

    /// Why an end did not take effect (or, for a repeated accept, the answer it already got).
    async fn conflict(
        &self,
        invite: &InviteRecord,
        answering: Option<&RegistrationSid>,
    ) -> Result<InviteRecord, InviteError> {
        let current = self
            .store
            .invite_by_sid(&invite.sid)
            .await?
            .unwrap_or_else(|| invite.clone());
        Err(match (current.status, answering) {
            (InviteStatus::Answered, Some(reg)) if current.answered_by.as_ref() == Some(reg) => {
                return Ok(current);
            }
            (InviteStatus::Answered, _) => InviteError::AnsweredElsewhere,
            (status, _) if status.is_final() => InviteError::Ended(status),
            // Still open but past its expiry: it is about to expire.
            _ => InviteError::Ended(InviteStatus::Expired),
        })
    }

    /// Moves the invite to `to` if still open; publishes the end and counts it.
    async fn end(
        &self,
        sid: &InviteSid,
        to: CallEnd,
        answered_by: Option<&RegistrationSid>,
    ) -> Result<Option<InviteRecord>, StoreError> {
        let Some(ended) = self
            .store
            .end_invite(sid, to, answered_by, now_ms())
            .await?
        else {
            return Ok(None);
        };
        self.metrics
            .invites_finished
            .with_label_values(&[to.as_str()])
            .inc();
        tracing::info!(invite = %ended.sid, call = %ended.call_sid, status = to.as_str(),
            answered_by = ?answered_by, "call ended");
        self.events.publish(InviteChange {
            invite_sid: ended.sid.clone(),
            status: Some(ended.status),
            callback: ended.status_callback.clone(),
        });
        if ended.cancel_push == CancelPush::Voip && to != CallEnd::Expired {
            super::cancel::send_cancel_pushes(
                self.store.clone(),
                self.engine.clone(),
                ended.clone(),
            );
        }
        Ok(Some(ended))
    }
}
