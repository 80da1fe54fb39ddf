//! The JWT-bearer assertion a service account sends to the token endpoint (RFC 7523, as
//! Google's auth libraries build it): RS256, `kid` = the key id, `iss` = the account,
//! `scope`, `aud` = the token URL, `iat`/`exp` at most an hour apart. The signature is
//! checked with `jsonwebtoken` against the account's registered public keys; the times
//! against the simulator's clock.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT as B64URL;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::accounts::Accounts;

/// Clock skew tolerated on `iat` (an assertion from a clock slightly ahead).
const SKEW_SECS: i64 = 60;
/// Longest assertion lifetime Google accepts.
const MAX_LIFETIME_SECS: i64 = 3600;

/// A refused grant: HTTP status, OAuth `error`, `error_description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrantError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl GrantError {
    fn invalid_grant(description: impl Into<String>) -> GrantError {
        GrantError {
            status: 400,
            error: "invalid_grant",
            description: description.into(),
        }
    }
}

/// A verified assertion.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub client_email: String,
    pub project_id: String,
    pub scopes: Vec<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    iat: f64,
    exp: f64,
}

fn decode<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    serde_json::from_slice(&B64URL.decode(part).ok()?).ok()
}

const TIME_ERROR: &str = "Invalid JWT: the assertion must be short-lived (at most 60 minutes) \
                          and current; check its iat and exp claims.";

/// Verifies `assertion` at `now` (epoch seconds); `audiences` are the accepted `aud`s.
pub(crate) fn verify(
    assertion: &str,
    accounts: &Accounts,
    audiences: &[String],
    now: i64,
) -> Result<Grant, GrantError> {
    let malformed = || GrantError::invalid_grant("Invalid JWT: the assertion is not a JWS.");
    let (message, signature) = assertion.rsplit_once('.').ok_or_else(malformed)?;
    let (h, c) = message.split_once('.').ok_or_else(malformed)?;
    if c.contains('.') {
        return Err(malformed());
    }
    let header: Header = decode(h).ok_or_else(malformed)?;
    let claims: Claims = decode(c).ok_or_else(|| {
        GrantError::invalid_grant("Invalid JWT: the claim set is not JSON with iss, iat, exp.")
    })?;
    if header.alg != "RS256" {
        return Err(GrantError::invalid_grant(format!(
            "Invalid JWT: unsupported algorithm {:?} (use RS256).",
            header.alg
        )));
    }
    let Some(account) = accounts.get(&claims.iss) else {
        return Err(GrantError {
            status: 401,
            error: "invalid_client",
            description: "The OAuth client was not found.".into(),
        });
    };
    let keys = account.keys(header.kid.as_deref());
    let valid = keys.iter().any(|key| {
        jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, Algorithm::RS256)
            .unwrap_or(false)
    });
    if !valid {
        // Also what Google says for a key id it does not know (a deleted key).
        return Err(GrantError::invalid_grant("Invalid JWT Signature."));
    }
    let aud = claims.aud.as_ref().and_then(|a| a.as_str()).unwrap_or("");
    if !audiences.iter().any(|a| a == aud) {
        let expected = audiences.first().map(String::as_str).unwrap_or("");
        return Err(GrantError::invalid_grant(format!(
            "Invalid JWT: failed audience check; the audience must be {expected}"
        )));
    }
    let (iat, exp) = (claims.iat as i64, claims.exp as i64);
    if iat > now + SKEW_SECS
        || exp <= now
        || exp <= iat
        || exp.saturating_sub(iat) > MAX_LIFETIME_SECS
    {
        return Err(GrantError::invalid_grant(TIME_ERROR));
    }
    let scopes: Vec<String> = claims
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.is_empty() || scopes.iter().any(|s| !s.starts_with("https://")) {
        return Err(GrantError {
            status: 400,
            error: "invalid_scope",
            description: "Invalid OAuth scope or ID token audience provided.".into(),
        });
    }
    Ok(Grant {
        client_email: claims.iss,
        project_id: account.project_id.clone(),
        scopes,
    })
}
