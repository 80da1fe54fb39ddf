//! Receiving one call notification: authenticate it (an API key of the linked account over
//! HTTP Basic, Twilio's `X-Twilio-Signature` under the linked account's Auth Token, or both;
//! every credential presented must pass), find the pushgate account its Twilio account is
//! linked to, and relay it through the invites service.

use std::sync::Arc;

use super::links::{LinkError, TwilioLinks};
use super::notification::{InvalidNotification, Notification};
use super::signature::{self, SignatureError};
use crate::auth::ApiKeyPrincipal;
use crate::invites::{InviteError, Invites, Placed, RelayTo};

/// A webhook request, as the HTTP layer read it.
pub struct WebhookRequest<'a> {
    /// The raw body.
    pub body: &'a [u8],
    /// The API key that HTTP Basic authenticated (already verified), if any.
    pub caller: Option<ApiKeyPrincipal>,
    /// `X-Twilio-Signature`, if sent.
    pub signature: Option<&'a str>,
    /// The request's URL as Twilio may have seen it (see [`signature::verify`]).
    pub urls: Vec<String>,
}

/// Why a notification was not relayed; each maps to the answer Twilio's debugger shows.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Neither HTTP Basic nor a signature (401, with a Basic challenge).
    #[error("authenticate with an API key (HTTP Basic in the webhook URL) or X-Twilio-Signature")]
    Unauthenticated,
    #[error(transparent)]
    Invalid(#[from] InvalidNotification),
    /// The signature does not verify (401).
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The body's Twilio account is not linked (to the caller's account) (403).
    #[error("twi_account_sid is not linked to this pushgate account: run `pushgate twilio link`")]
    NotLinked,
    #[error(transparent)]
    Invite(#[from] InviteError),
    #[error(transparent)]
    Link(#[from] LinkError),
}

/// The webhook service.
pub struct Webhook {
    links: Arc<TwilioLinks>,
    invites: Arc<Invites>,
}

impl Webhook {
    pub fn new(links: Arc<TwilioLinks>, invites: Arc<Invites>) -> Arc<Self> {
        Arc::new(Self { links, invites })
    }

    /// Authenticates and relays one notification; `Placed::created` is false for a retry of
    /// one already relayed.
    pub async fn receive(&self, req: WebhookRequest<'_>) -> Result<Placed, WebhookError> {
        if req.caller.is_none() && req.signature.is_none() {
            return Err(WebhookError::Unauthenticated);
        }
        let notification = Notification::parse(req.body)?;
        let Some((link, auth_token)) = self.links.resolve(&notification.account).await? else {
            return Err(WebhookError::NotLinked);
        };
        if let Some(caller) = &req.caller
            && caller.account != link.account
        {
            return Err(WebhookError::NotLinked);
        }
        if let Some(sig) = req.signature {
            signature::verify(&auth_token, &req.urls, req.body, sig)?;
        }
        let to = RelayTo {
            account: &link.account,
            key: req.caller.as_ref().map(|c| &c.key),
            ring_timeout_secs: link.ring_timeout_secs,
        };
        Ok(self.invites.relay(to, notification).await?)
    }
}
