//! The call's ends: answer (the first accept wins), reject and cancel by the caller (expiry
//! is in `expiry.rs`), and what every end does once written: metrics, the event, status
//! callbacks and legacy cancel pushes.

use super::{InviteError, Invites};
use crate::auth::bridge_token::BridgeClaims;
use crate::clock::now_ms;
use crate::domain::{AccountSid, CallEnd, CancelPush, InviteSid, InviteStatus, RegistrationSid};
use crate::events::InviteChange;
use crate::store::{InviteRecord, StoreError};

impl Invites {
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

    /// The caller hung up, as Twilio's Calls API says it (`Status=canceled` or `completed`): a
    /// call still open is canceled; one that already ended (answered included) is returned as
    /// it is, unchanged, instead of a conflict.
    pub async fn hang_up(
        &self,
        account: &AccountSid,
        named: &str,
    ) -> Result<InviteRecord, InviteError> {
        match self.cancel(account, named).await {
            Err(InviteError::AnsweredElsewhere | InviteError::Ended(_)) => {
                self.find(account, named).await
            }
            other => other,
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
        let ended = self
            .store
            .end_invite(sid, to, answered_by, now_ms())
            .await?;
        if let Some(ended) = &ended {
            self.announce_end(ended, to);
        }
        Ok(ended)
    }

    /// What follows an end once it is written: it is counted and published (event streams,
    /// status callbacks), and legacy cancel pushes go out if the invite asked for them.
    pub(super) fn announce_end(&self, ended: &InviteRecord, to: CallEnd) {
        self.metrics
            .invites_finished
            .with_label_values(&[to.as_str()])
            .inc();
        tracing::info!(invite = %ended.sid, call = %ended.call_sid, status = to.as_str(),
            answered_by = ?ended.answered_by, "call ended");
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
    }
}
