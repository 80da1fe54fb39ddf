//! Reading a call: by the account's name for it, by a phone's bridge token, and waiting (up
//! to a bound) until every device has a final outcome.

use std::time::Duration;

use super::{InviteError, InviteRef, Invites};
use crate::auth::bridge_token::BridgeClaims;
use crate::domain::{AccountSid, InviteSid};
use crate::store::{DeliveryRecord, InviteRecord};

/// The longest a read may wait for outcomes.
pub const MAX_WAIT: Duration = Duration::from_millis(10_000);

impl Invites {
    /// The account's invite named by an invite SID or a call SID.
    pub async fn find(
        &self,
        account: &AccountSid,
        named: &str,
    ) -> Result<InviteRecord, InviteError> {
        let found = match InviteRef::parse(named) {
            Some(InviteRef::Invite(sid)) => self.store.invite(account, &sid).await?,
            Some(InviteRef::Call(call)) => self.store.invite_by_call(account, &call).await?,
            None => None,
        };
        found.ok_or(InviteError::NotFound)
    }

    /// The invite a bridge token is for, checked against the name the phone used.
    pub async fn for_bridge(
        &self,
        claims: &BridgeClaims,
        named: &str,
    ) -> Result<InviteRecord, InviteError> {
        let invite = self
            .store
            .invite_by_sid(&claims.inv)
            .await?
            .ok_or(InviteError::NotFound)?;
        if named != invite.sid.as_str() && named != invite.call_sid.as_str() {
            return Err(InviteError::OtherCall);
        }
        Ok(invite)
    }

    /// An invite as it is now (for event streams re-reading after a change).
    pub async fn current(&self, sid: &InviteSid) -> Result<Option<InviteRecord>, InviteError> {
        Ok(self.store.invite_by_sid(sid).await?)
    }

    /// The invite and each device's outcome, waiting up to `wait` (at most [`MAX_WAIT`])
    /// until no delivery is open.
    pub async fn wait_settled(
        &self,
        account: &AccountSid,
        named: &str,
        wait: Duration,
    ) -> Result<(InviteRecord, Vec<DeliveryRecord>), InviteError> {
        let sid = self.find(account, named).await?.sid;
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        // Subscribe before reading so no change slips between the read and the wait.
        let mut changes = self.engine.subscribe();
        loop {
            // Deliveries first: the invite's status is updated in the same transaction as the
            // deliveries, so the invite read after them is at least as fresh.
            let deliveries = self.store.deliveries(&sid).await?;
            let invite = self
                .store
                .invite(account, &sid)
                .await?
                .ok_or(InviteError::NotFound)?;
            let open = deliveries.iter().any(|d| d.status.is_open());
            if !open || tokio::time::Instant::now() >= deadline {
                return Ok((invite, deliveries));
            }
            loop {
                match tokio::time::timeout_at(deadline, changes.recv()).await {
                    Err(_) => break,
                    Ok(Ok(change)) if change.invite_sid != sid => continue,
                    Ok(_) => break,
                }
            }
        }
    }
}
