//! A call placed through Twilio's Calls API shape: pushgate's own invite (placed by the
//! invites service like any other) plus the Twilio-only fields a backend sent with it (`Url`,
//! `Twiml`, `ApplicationSid`, `StatusCallbackEvent`), kept beside the invite for the backend;
//! pushgate carries no media, so it never fetches or runs them.

use std::sync::Arc;

use crate::auth::ApiKeyPrincipal;
use crate::domain::{ApplicationSid, CallProgressEvent};
use crate::invites::{InviteError, Invites, NewInvite, Placed};
use crate::store::{Store, TwilioCallRecord};

/// What a Calls API request asks for: the invite, and the Twilio-only fields kept beside it.
pub struct CallRequest {
    pub invite: NewInvite,
    pub url: Option<url::Url>,
    pub twiml: Option<String>,
    pub application_sid: Option<ApplicationSid>,
    pub events: Vec<CallProgressEvent>,
}

/// Places `request.invite` for `caller` and keeps its Twilio-only fields.
pub async fn place(
    invites: &Arc<Invites>,
    store: &Store,
    caller: &ApiKeyPrincipal,
    request: CallRequest,
) -> Result<Placed, InviteError> {
    let placed = invites.place(caller, request.invite).await?;
    if !placed.created {
        // A repeated call SID: the first request's fields stand.
        return Ok(placed);
    }
    let extras = TwilioCallRecord {
        invite_sid: placed.invite.sid.clone(),
        url: request.url,
        twiml: request.twiml,
        application_sid: request.application_sid,
        status_callback_event: request.events,
        date_created: placed.invite.date_created,
    };
    // The invite is durable and ringing: failing the request now would make the backend
    // place the call again, for fields pushgate does not use.
    if let Err(e) = store.save_twilio_call(&extras).await {
        tracing::error!(invite = %placed.invite.sid, error = %e,
            "the call's Twilio fields (Url, Twiml, ApplicationSid, StatusCallbackEvent) were not stored");
    }
    Ok(placed)
}
