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

/// The credentials of an `Authorization` header value in `scheme` (`Basic`, `Bearer`): the
/// scheme is matched case-insensitively and may be followed by several spaces (RFC 9110
/// §11.1), so `basic …` and `BEARER …` are read as clients send them.
pub fn credentials<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = header.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| rest.trim_start_matches(' '))
}

#[cfg(test)]
mod tests {
    use super::credentials;

    #[test]
    fn schemes_are_case_insensitive() {
        assert_eq!(credentials("Basic abc", "Basic"), Some("abc"));
        assert_eq!(credentials("BASIC  abc", "Basic"), Some("abc"));
        assert_eq!(credentials("bEaReR t.o.k", "Bearer"), Some("t.o.k"));
        assert_eq!(credentials("Bearer t", "Basic"), None);
        assert_eq!(credentials("Basicabc", "Basic"), None);
        assert_eq!(credentials("Basic", "Basic"), None);
    }
}
