//! FCM client: sends data messages to Android devices through Firebase Cloud Messaging's
//! HTTP v1 API, the Android counterpart of [`crate::apns`].
//!
//! One [`FcmClient`] per process holds the pooled HTTP/2 connections. Each credential (a
//! [`ServiceAccount`]) gets an [`AccessTokenSource`]: OAuth2 access tokens obtained by
//! signing an RS256 assertion ([`OAuthTokenExchange`]) and cached until shortly before they
//! expire, per process ([`InMemoryAccessTokenSource`]) or shared by replicas through Redis
//! ([`RedisAccessTokenSource`]). Every send ends in an [`FcmOutcome`] the rest of pushgate
//! acts on without knowing FCM's status codes.
//!
//! ```ignore
//! let client = FcmClient::new(FcmConfig::default())?;
//! let account = ServiceAccount::from_json(&key_file_json)?;
//! let exchange = Arc::new(client.token_exchange(&account)?);
//! let tokens = InMemoryAccessTokenSource::new(exchange, Arc::new(SystemClock));
//! let message = FcmMessage::new(registration_token)
//!     .data("call_sid", "CA…")
//!     .priority(Priority::High)
//!     .ttl(Duration::from_secs(30));
//! match client.send(&account.project_id, &tokens, &message).await {
//!     FcmOutcome::Accepted { .. } => {}
//!     FcmOutcome::Retry { after, .. } => { /* back off, retry within the invite's lifetime */ }
//!     FcmOutcome::TokenDead { .. } => { /* retire unless refreshed after the send started */ }
//!     FcmOutcome::CredentialRejected { reason, .. } => { /* mark the credential rejected */ }
//!     other => tracing::warn!(outcome = other.label(), "push failed"),
//! }
//! ```
//!
//! How answers are classified ([`classify`], [`token_outcome`]):
//!
//! | FCM answer | outcome |
//! |---|---|
//! | 200 with `name` | [`FcmOutcome::Accepted`] |
//! | `UNREGISTERED` (404) | [`FcmOutcome::TokenDead`] `Unregistered` |
//! | `INVALID_ARGUMENT` (400) naming `message.token` / "registration token" | [`FcmOutcome::TokenDead`] `InvalidToken` |
//! | `INVALID_ARGUMENT` naming anything else | [`FcmOutcome::OurBug`] (keep the token) |
//! | `SENDER_ID_MISMATCH` (403) | [`FcmOutcome::SenderMismatch`] |
//! | 401 `UNAUTHENTICATED` / `THIRD_PARTY_AUTH_ERROR` twice (one token refresh between) | [`FcmOutcome::CredentialRejected`] |
//! | 403 `PERMISSION_DENIED` without `SENDER_ID_MISMATCH` | [`FcmOutcome::CredentialRejected`] |
//! | token endpoint refuses (4xx), answers garbage, or the key can't sign | [`FcmOutcome::CredentialRejected`] |
//! | `QUOTA_EXCEEDED` / 429 | [`FcmOutcome::Retry`] `QuotaExceeded`, with `Retry-After` |
//! | `INTERNAL` / 500, `UNAVAILABLE` / 503, other 5xx | [`FcmOutcome::Retry`] `Internal` / `Unavailable` / `ServerError` |
//! | timeout, connect failure, broken connection | [`FcmOutcome::Retry`] `Timeout` / `Connect` / `ConnectionLost` |
//! | token endpoint 5xx / 429 / network | [`FcmOutcome::Retry`] `TokenUnavailable` |
//! | anything else, unparseable, 200 without `name` | [`FcmOutcome::OurBug`] |
//! | message breaks a local rule | [`FcmOutcome::Refused`] (nothing sent) |
//!
//! Module map: `message` (what to send, local checks), `response` + `outcome`
//! (classification), `client` (send, the one retry), `config`, `account` (the service
//! account), `assertion` + `oauth` (getting access tokens), `access_token` (the token type
//! and the source traits), `token` (per-process cache), `shared_token` (Redis), `wire`
//! (bounded bodies, `Retry-After`).

mod access_token;
mod account;
mod assertion;
mod client;
mod config;
mod message;
mod oauth;
mod outcome;
mod response;
mod shared_token;
mod token;
mod wire;

#[cfg(test)]
mod tests;

pub use access_token::{
    AccessToken, AccessTokenFuture, AccessTokenSource, InvalidateFuture, OAuthError, TokenError,
    TokenExchange, TransientCause, refresh_margin,
};
pub use account::{AccountJsonError, GOOGLE_TOKEN_URI, ServiceAccount};
pub use assertion::{ASSERTION_LIFETIME, AssertionSigner, FCM_SCOPE};
pub use client::{FcmClient, token_outcome};
pub use config::{FCM_URL, FcmConfig, FcmError};
pub use message::{
    FcmMessage, MAX_DATA_BYTES, MAX_TOKEN_LEN, MAX_TTL, MIN_TOKEN_LEN, Priority, RESERVED_KEYS,
    RESERVED_PREFIXES, Refusal, TokenFormatError, check_project_id, check_registration_token,
    render_ttl,
};
pub use oauth::{
    JWT_BEARER_GRANT, MAX_ACCESS_TOKEN, MAX_EXPIRES_IN, OAuthTokenExchange, parse_token_response,
};
pub use outcome::{CredentialReason, DeadReason, FcmOutcome, RetryCause, classify};
pub use response::{FcmErrorCode, FcmResponse, GoogleStatus, MAX_MESSAGE};
pub use shared_token::RedisAccessTokenSource;
pub use token::{Clock, InMemoryAccessTokenSource, ManualClock, SystemClock};
pub use wire::{MAX_BODY, MAX_RETRY_AFTER, retry_after};
