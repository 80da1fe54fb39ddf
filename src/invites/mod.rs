//! The call, from "call alice" to its end: placing an invite (one delivery per registration,
//! written before the 202), reading it and waiting for its outcome, answer (first accept
//! wins), reject, cancel by the caller, expiry when nobody answered, status callbacks,
//! legacy cancel pushes, and retention: ended calls deleted after `invite_retention_hours`
//! (`retention.rs`). Every ingress (the API, the quickstart, the bench, Twilio's Calls shape)
//! hands a parsed [`NewInvite`] to [`Invites::place`]; Twilio's Call Notification webhook
//! hands its parsed notification to [`Invites::relay`] (`relay.rs`). Handlers only parse,
//! call and render.
//!
//! Every end is a compare-and-set in the store, so exactly one wins whatever the races; it is
//! then published (event streams, status callbacks) and, for apps on the older pattern,
//! followed by legacy cancel pushes.

mod activity;
pub mod address_policy;
pub mod callback_dns;
pub mod callback_url;
pub mod callbacks;
mod cancel;
mod expiry;
mod lifecycle;
mod new_invite;
mod place;
mod read;
mod relay;
mod retention;
pub mod webhook_secret;

pub use activity::{Bucket, MAX_RECENT, PushActivity};
pub use expiry::EXPIRY_EVERY;
pub use new_invite::{DEFAULT_TTL, InvalidInvite, InviteFields, MAX_TTL, NewInvite};
pub use place::Placed;
pub use read::MAX_WAIT;
pub use relay::RelayTo;

use std::sync::Arc;

use crate::config::Config;
use crate::delivery::Engine;
use crate::domain::{CallSid, Identity, InviteSid, InviteStatus};
use crate::events::Events;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// The invites service: what the API, the quickstart and the bench call.
pub struct Invites {
    store: Store,
    events: Events,
    engine: Arc<Engine>,
    /// `status_callback_allowed_hosts`: callback hosts trusted despite the address policy.
    callback_hosts: Vec<String>,
    metrics: Metrics,
}

/// An invite as a client names it: its invite SID (`IV…`) or its call SID (`CA…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteRef {
    Invite(InviteSid),
    Call(CallSid),
}

impl InviteRef {
    /// `IV…` or `CA…`; anything else names no invite.
    pub fn parse(raw: &str) -> Option<Self> {
        InviteSid::parse(raw)
            .map(Self::Invite)
            .or_else(|_| CallSid::parse(raw).map(Self::Call))
            .ok()
    }
}

/// Why an invite operation did not happen; mapped once to HTTP (`http/error.rs`).
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// A field of the request is invalid (400).
    #[error(transparent)]
    Invalid(#[from] InvalidInvite),
    /// The status callback URL is refused (400).
    #[error("{0}")]
    Callback(String),
    /// The identity has no active registration (404, 21201).
    #[error("{0} has no registered devices")]
    NoRegistrations(Identity),
    /// The push would exceed APNs's VoIP payload limit (400, 21202).
    #[error(
        "the push would be {size} bytes, over APNs's {limit}-byte VoIP limit: shorten params or from"
    )]
    PayloadTooLarge { size: usize, limit: usize },
    /// The call SID already names another invite: pushgate's own call, or a notification of
    /// the call for another identity (409, 21604).
    #[error("the call SID is already used by another invite of the account")]
    CallTaken,
    /// No such invite in the account (or the bridge token's invite is gone) (404).
    #[error("invite not found")]
    NotFound,
    /// The bridge token is another call's (403, 21302).
    #[error("this bridge token belongs to another call")]
    OtherCall,
    /// Another device answered first (409, 21310).
    #[error("the call was answered on another device")]
    AnsweredElsewhere,
    /// The call already ended in this state (409, 21311).
    #[error("the call has already ended: {0}")]
    Ended(InviteStatus),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Invites {
    /// The service over `store`, handing deliveries to `engine`, publishing to its events
    /// and counting in `metrics`.
    pub fn new(store: Store, engine: Arc<Engine>, config: &Config, metrics: Metrics) -> Arc<Self> {
        Arc::new(Self {
            store,
            events: engine.events().clone(),
            engine,
            callback_hosts: config.status_callback_allowed_hosts.clone(),
            metrics,
        })
    }
}
