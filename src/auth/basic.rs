//! API key authentication of a request: the `Authorization: Basic` header checked against the
//! verified-key cache (secrets compared in constant time).

use base64::Engine;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::api_keys::{ApiKeyPrincipal, AuthError};
use super::key_cache::KeyCache;
use crate::domain::ApiKeySid;

/// The decoded `user:password` of an `Authorization: Basic …` header value.
pub fn userinfo(header: &str) -> Option<String> {
    let encoded = super::credentials(header, "Basic")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    String::from_utf8(decoded).ok()
}

/// Verifies an `Authorization: Basic base64(SK…:secret)` header value.
pub async fn authenticate_basic(
    keys: &KeyCache,
    header: Option<&str>,
) -> Result<ApiKeyPrincipal, AuthError> {
    let decoded = header.and_then(userinfo).ok_or(AuthError::Missing)?;
    let (user, password) = decoded.split_once(':').ok_or(AuthError::Missing)?;
    let sid = ApiKeySid::parse(user).map_err(|_| AuthError::Failed)?;
    let (record, secret) = keys.active(&sid).await?.ok_or(AuthError::Failed)?;
    let matches: bool = secret
        .expose_secret()
        .as_bytes()
        .ct_eq(password.as_bytes())
        .into();
    if !matches {
        return Err(AuthError::Failed);
    }
    Ok(ApiKeyPrincipal {
        account: record.account_sid,
        key: record.sid,
    })
}
