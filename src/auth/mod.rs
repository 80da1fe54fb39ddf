//! Who is calling: operators and backends with API keys (HTTP Basic), phones with Twilio
//! access tokens. Secrets are kept sealed in the store and opened only to verify. Callers
//! without a key (the CLI, the quickstart endpoints, the demo) choose their account through
//! [`accounts::resolve`]. Operators in the console sign in with an API key and hold a
//! [`console_session`]; [`key_admin`] creates and revokes keys for the API and the console.

pub mod access_token;
pub mod accounts;
pub mod api_keys;
pub mod basic;
pub mod bridge_token;
pub mod console_session;
pub mod failures;
pub mod key_admin;
pub mod key_cache;

pub use access_token::{TokenError, VerifiedToken};
pub use api_keys::{ApiKeyPrincipal, AuthError, CreatedKey};
