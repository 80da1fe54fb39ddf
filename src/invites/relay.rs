//! Relaying a call notification from Twilio's Call Notification webhook: an invite of kind
//! `twilio_webhook` whose phones receive Twilio's body unchanged, ringing until the linked
//! account's ring timeout, with deliveries, retries, token retirement and metrics like any
//! other. Idempotent per call leg: Twilio's retry of a notification (the same call SID for the
//! same identity) finds the invite it made and sends nothing new.

use std::sync::Arc;

use super::{InviteError, Invites, Placed};
use crate::clock::now_ms;
use crate::domain::{AccountSid, ApiKeySid, CancelPush, InviteKind, InviteSid, InviteStatus};
use crate::store::InviteRecord;
use crate::twilio::Notification;

/// Who a notification is relayed for.
pub struct RelayTo<'a> {
    /// The pushgate account whose registrations ring.
    pub account: &'a AccountSid,
    /// The API key that authenticated the webhook (HTTP Basic), if one did.
    pub key: Option<&'a ApiKeySid>,
    /// Seconds the phones ring (the pushes' expiry).
    pub ring_timeout_secs: u32,
}

impl Invites {
    /// Relays `notification` to every active registration of its `twi_to` in `to.account`.
    pub async fn relay(
        self: &Arc<Self>,
        to: RelayTo<'_>,
        notification: Notification,
    ) -> Result<Placed, InviteError> {
        let registrations = self
            .store
            .active_registrations(to.account, &notification.to)
            .await?;
        if registrations.is_empty() {
            // A retry after the devices went away still finds what the first attempt rang.
            if let Some(existing) = self
                .store
                .invite_by_call(to.account, &notification.call)
                .await?
            {
                let placed = self.existing(existing).await?;
                return same_leg(placed, &notification);
            }
            return Err(InviteError::NoRegistrations(notification.to));
        }
        let now = now_ms();
        let invite = InviteRecord {
            sid: InviteSid::generate_ordered(),
            account_sid: to.account.clone(),
            call_sid: notification.call.clone(),
            to_identity: notification.to.clone(),
            caller: notification.from.clone(),
            params: notification.params.clone(),
            status: InviteStatus::Queued,
            status_callback: None,
            api_key_sid: to.key.cloned(),
            answered_by: None,
            cancel_push: CancelPush::None,
            kind: InviteKind::TwilioWebhook,
            payload: Some(notification.body().to_owned()),
            expires_at: now + i64::from(to.ring_timeout_secs) * 1000,
            date_created: now,
            date_updated: now,
        };
        let placed = self.ring(invite, &registrations).await?;
        same_leg(placed, &notification)
    }
}

/// `placed`, unless it is another call's invite that holds the call SID (pushgate's own call,
/// or Twilio's notification of the SID for another identity).
fn same_leg(placed: Placed, notification: &Notification) -> Result<Placed, InviteError> {
    let invite = &placed.invite;
    if invite.kind == InviteKind::TwilioWebhook && invite.to_identity == notification.to {
        Ok(placed)
    } else {
        Err(InviteError::CallTaken)
    }
}
