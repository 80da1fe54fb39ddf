//! [`OAuthTokenExchange`]: the JWT-bearer grant against the account's `token_uri`.
//!
//! `POST token_uri` with `application/x-www-form-urlencoded`
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`; Google answers
//! `{"access_token","expires_in","token_type":"Bearer"}`. [`parse_token_response`] is the
//! pure classification of the answer:
//!
//! | answer | result |
//! |---|---|
//! | 2xx with a bearer `access_token` and a positive `expires_in` | the token |
//! | 2xx (or 1xx/3xx: redirects are not followed) without one | [`TokenError::Malformed`] |
//! | 408, 429, 5xx | [`TokenError::Transient`] (with `Retry-After`) |
//! | any other 4xx (`invalid_grant`, `invalid_client`, `unauthorized_client`, …) | [`TokenError::Refused`] |
//!
//! Timeouts and connection failures are [`TokenError::Transient`].

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::access_token::{
    AccessToken, AccessTokenFuture, OAuthError, TokenError, TokenExchange, TransientCause,
};
use super::account::ServiceAccount;
use super::assertion::AssertionSigner;
use super::wire::{self, Transport};

/// The grant type of a signed-assertion exchange (RFC 7523).
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The longest access token accepted (Google's are a few hundred bytes).
pub const MAX_ACCESS_TOKEN: usize = 4096;
/// The longest `expires_in` believed (Google issues one-hour tokens).
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(24 * 3600);

/// Exchanges assertions for access tokens over HTTP. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OAuthTokenExchange {
    http: reqwest::Client,
    signer: AssertionSigner,
    timeout: Duration,
}

impl OAuthTokenExchange {
    /// An exchange for `account` over `http` (e.g. [`FcmClient::http`](super::FcmClient::http)),
    /// each exchange bounded by `timeout`. Fails if the key can't sign.
    pub fn new(
        http: reqwest::Client,
        account: &ServiceAccount,
        timeout: Duration,
    ) -> Result<Self, TokenError> {
        Ok(Self {
            http,
            signer: AssertionSigner::new(account)?,
            timeout,
        })
    }

    /// The signer (key id, fingerprint, token URI).
    pub fn signer(&self) -> &AssertionSigner {
        &self.signer
    }

    async fn exchange_at(&self, now: SystemTime) -> Result<AccessToken, TokenError> {
        let assertion = self.signer.sign(now)?;
        let form = SecretString::from(
            serde_urlencoded::to_string([
                ("grant_type", JWT_BEARER_GRANT),
                ("assertion", assertion.expose_secret()),
            ])
            .map_err(|e| TokenError::Signing(e.to_string()))?,
        );
        let transient = |t: Transport| {
            TokenError::transient(match t {
                Transport::Timeout => TransientCause::Timeout,
                Transport::Connect => TransientCause::Connect,
                Transport::ConnectionLost => TransientCause::ConnectionLost,
            })
        };
        let request = self
            .http
            .post(self.signer.token_uri().clone())
            .timeout(self.timeout)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(form.expose_secret().to_owned());
        let response = request
            .send()
            .await
            .map_err(|e| transient(Transport::of(&e)))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = wire::read_capped(response, wire::MAX_BODY)
            .await
            .map_err(transient)?;
        let result = parse_token_response(status, &headers, &body, now);
        match &result {
            Ok(token) => tracing::debug!(key_id = %self.signer.key_id(),
                lifetime_s = token.lifetime().as_secs(), "obtained FCM access token"),
            Err(e) => tracing::warn!(key_id = %self.signer.key_id(), error = %e,
                "FCM access token exchange failed"),
        }
        result
    }
}

impl TokenExchange for OAuthTokenExchange {
    fn exchange(&self, now: SystemTime) -> AccessTokenFuture<'_> {
        Box::pin(self.exchange_at(now))
    }

    fn key_fingerprint(&self) -> &str {
        self.signer.fingerprint()
    }
}

#[derive(Deserialize)]
struct Granted {
    access_token: Option<SecretString>,
    expires_in: Option<serde_json::Value>,
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct Denied {
    error: Option<String>,
    error_description: Option<String>,
}

/// Classifies the token endpoint's answer (see the module table); a token is taken to have
/// been issued at `issued_at` (when the exchange started, so its expiry errs early).
pub fn parse_token_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    issued_at: SystemTime,
) -> Result<AccessToken, TokenError> {
    let malformed = |detail| Err(TokenError::Malformed { status, detail });
    match status {
        200..=299 => {}
        408 | 429 | 500..=599 => {
            return Err(TokenError::Transient {
                cause: if status >= 500 {
                    TransientCause::ServerError
                } else {
                    TransientCause::RateLimited
                },
                status: Some(status),
                retry_after: wire::retry_after(headers, issued_at),
            });
        }
        400..=499 => {
            let denied: Option<Denied> = serde_json::from_slice(body).ok();
            let (error, description) = denied
                .map(|d| (d.error, d.error_description))
                .unwrap_or_default();
            return Err(TokenError::Refused {
                status,
                error: OAuthError::parse(error.as_deref().unwrap_or("")),
                description: description.map(|d| wire::truncate(&d, 256)),
            });
        }
        _ => return malformed("not a 2xx"),
    }
    let Ok(granted) = serde_json::from_slice::<Granted>(body) else {
        return malformed("body is not a token response");
    };
    let Some(secret) = granted.access_token else {
        return malformed("no access_token");
    };
    let token = secret.expose_secret();
    if token.is_empty()
        || token.len() > MAX_ACCESS_TOKEN
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return malformed("access_token is empty, too long or not printable ASCII");
    }
    if !granted
        .token_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return malformed("token_type is not Bearer");
    }
    let expires_in = match granted.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        // Some endpoints send it as a string; RFC 6749 says number.
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let Some(expires_in) = expires_in.filter(|&s| s > 0) else {
        return malformed("expires_in missing or not a positive number");
    };
    let lifetime = Duration::from_secs(expires_in).min(MAX_EXPIRES_IN);
    Ok(AccessToken::new(secret, issued_at, issued_at + lifetime))
}
