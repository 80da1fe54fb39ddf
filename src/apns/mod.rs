//! APNs client: sends pushes to Apple over long-lived HTTP/2 connections.
//!
//! Build one [`ApnsClient`] per credential ([`ApnsAuth`]) and call
//! [`ApnsClient::send`]; every send ends in an [`Outcome`] that the rest of
//! pushgate acts on. Connections are opened lazily, kept open, shared by many
//! concurrent streams and replaced after GOAWAY or errors. Provider tokens come
//! from a [`ProviderTokenSource`] so replicas can share one token per key.
//!
//! ```ignore
//! let auth = ApnsAuth::Token { p8_pem, key_id: "ABC123DEFG".into(), team_id: "DEF123GHIJ".into() };
//! let client = ApnsClient::new(ApnsConfig::default(), auth)?;
//! let mut invite = Notification::voip(device_token, Environment::Production,
//!     "com.example.app.voip", payload_json);
//! invite.expiration = Some(0);
//! match client.send(invite).await {
//!     Outcome::Accepted { .. } => {}
//!     Outcome::Retry { after, .. } => { /* back off, retry within the invite's lifetime */ }
//!     Outcome::TokenDead { since_ms, .. } => { /* retire unless re-registered after since_ms */ }
//!     Outcome::WrongEnvironment { .. } => { /* try the other environment once */ }
//!     other => tracing::warn!(outcome = other.label(), "push failed"),
//! }
//! ```
//!
//! Module map: `request` (what to send, local checks), `outcome` + `reason`
//! (classification), `client` (send and its internal retries), `pool` and
//! `connection` (HTTP/2 connections), `tls`, `auth` (credentials) and `token`
//! (provider tokens, clock).

mod auth;
mod client;
mod config;
mod connection;
mod outcome;
mod pool;
mod reason;
mod request;
mod shared_token;
mod tls;
mod token;

#[cfg(test)]
mod outcome_tests;
#[cfg(test)]
mod request_tests;
#[cfg(test)]
mod token_tests;

pub use auth::{ApnsAuth, CertificateInfo};
pub use client::{ApnsClient, ApnsClientBuilder};
pub use config::{ApnsConfig, ApnsError, PRODUCTION_URL, SANDBOX_URL};
pub use outcome::{ApnsResponse, Outcome, RetryCause, classify};
pub use pool::PoolStats;
pub use reason::ApnsReason;
pub use request::{
    Environment, MAX_COLLAPSE_ID, MAX_PAYLOAD, MAX_VOIP_PAYLOAD, Notification, PushType, Refusal,
    redact_token,
};
pub use shared_token::RedisTokenSource;
pub use token::{
    Clock, DEFAULT_TOKEN_REFRESH_AFTER, InMemoryTokenSource, MAX_TOKEN_REFRESH_AFTER,
    MIN_TOKEN_AGE_FOR_REFRESH, ManualClock, ProviderToken, ProviderTokenSigner,
    ProviderTokenSource, SystemClock, TokenError, TokenFuture,
};
