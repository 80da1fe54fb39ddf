//! Who is calling: operators and backends with API keys (HTTP Basic), phones with Twilio
//! access tokens. Secrets are kept sealed in the store and opened only to verify. Callers
//! without a key (the CLI, the quickstart endpoints, the demo) choose their account through
//! [`accounts::resolve`].

pub mod access_token;
pub mod accounts;
pub mod api_keys;
pub mod bridge_token;
pub mod failures;
pub mod key_cache;

pub use access_token::{TokenError, VerifiedToken};
pub use api_keys::{ApiKeyPrincipal, AuthError, CreatedKey};
