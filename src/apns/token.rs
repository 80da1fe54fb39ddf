//! Provider tokens for token-based (`.p8`) APNs auth.
//!
//! A provider token is an ES256 JWT with header `{"alg":"ES256","kid":KEY_ID}` and
//! claims `{"iss":TEAM_ID,"iat":SECONDS}`. APNs rejects tokens older than an hour
//! (`ExpiredProviderToken`) and punishes replacing them more often than every 20
//! minutes (`TooManyProviderTokenUpdates`), so tokens are cached and reused.
//!
//! Caching sits behind [`ProviderTokenSource`] so that a shared (e.g. Redis-backed)
//! implementation can hand every replica the same token per key. The built-in
//! [`InMemoryTokenSource`] keeps one token per process. Time comes from an
//! injectable [`Clock`] ([`SystemClock`] in production, [`ManualClock`] in
//! tests) so tests can move it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::config::ApnsError;
pub use super::config::DEFAULT_TOKEN_REFRESH_AFTER;

/// Youngest age at which a token may be replaced on schedule (Apple: no more often than every 20 min).
pub const MIN_TOKEN_AGE_FOR_REFRESH: Duration = Duration::from_secs(20 * 60);
/// Oldest age we ever use a token at (APNs expires them after 60 minutes).
pub const MAX_TOKEN_REFRESH_AFTER: Duration = Duration::from_secs(55 * 60);

pub use crate::clock::{Clock, ManualClock, SystemClock};

/// Why a [`ProviderTokenSource`] could not hand out a token.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Signing failed: the key itself is bad. Retrying will not help.
    #[error("provider token signing failed: {0}")]
    Signing(String),
    /// The shared token store is unreachable or similar; retrying later may help.
    #[error("provider token unavailable: {0}")]
    Unavailable(String),
}

/// A signed provider token. `Debug` never shows the JWT.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderToken {
    jwt: Arc<str>,
    issued_at: SystemTime,
}

impl ProviderToken {
    /// Wraps an already-signed JWT (e.g. one read from a shared store) and its `iat`.
    pub fn new(jwt: impl Into<Arc<str>>, issued_at: SystemTime) -> Self {
        Self {
            jwt: jwt.into(),
            issued_at,
        }
    }

    /// The JWT itself. It is a bearer credential: never log it.
    pub fn expose_jwt(&self) -> &str {
        &self.jwt
    }

    /// When the token was issued (its `iat` claim).
    pub fn issued_at(&self) -> SystemTime {
        self.issued_at
    }

    /// How old the token is at `now` (zero if `now` is before `iat`).
    pub fn age_at(&self, now: SystemTime) -> Duration {
        now.duration_since(self.issued_at).unwrap_or_default()
    }
}

impl fmt::Debug for ProviderToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderToken")
            .field("jwt", &"[REDACTED]")
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

#[derive(Deserialize)]
struct ReadClaims {
    iss: String,
    iat: u64,
}

/// Signs provider tokens with a `.p8` key. `Debug` never shows the key.
#[derive(Clone)]
pub struct ProviderTokenSigner {
    key: EncodingKey,
    public: DecodingKey,
    fingerprint: String,
    key_id: String,
    team_id: String,
}

impl fmt::Debug for ProviderTokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderTokenSigner")
            .field("key", &"[REDACTED]")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .finish()
    }
}

impl ProviderTokenSigner {
    /// Parses the `.p8` PEM and checks that it can sign.
    pub fn new(p8_pem: &SecretString, key_id: &str, team_id: &str) -> Result<Self, ApnsError> {
        let not_p8 =
            || ApnsError::Credential("p8 key is not a PEM PKCS#8 EC P-256 private key".into());
        let key =
            EncodingKey::from_ec_pem(p8_pem.expose_secret().as_bytes()).map_err(|_| not_p8())?;
        let (public, fingerprint) = public_key(p8_pem).ok_or_else(not_p8)?;
        let signer = Self {
            key,
            public,
            fingerprint,
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
        };
        signer
            .sign(SystemTime::UNIX_EPOCH)
            .map_err(|e| ApnsError::Credential(e.to_string()))?;
        Ok(signer)
    }

    /// The key id (`kid`) tokens are signed under; a shared store should key tokens by it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The team id (`iss`) tokens are issued for.
    pub fn team_id(&self) -> &str {
        &self.team_id
    }

    /// Hex SHA-256 of the key's public key (SubjectPublicKeyInfo DER): names the key itself,
    /// whatever key id and team id an operator typed.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether `jwt` is a provider token this key signed for this key id and team, issued at
    /// `iat` (seconds): ES256 signature, `kid`, `iss` and `iat` all checked.
    pub fn verify(&self, jwt: &str, iat: u64) -> bool {
        let Ok(header) = jsonwebtoken::decode_header(jwt) else {
            return false;
        };
        if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(self.key_id.as_str()) {
            return false;
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<ReadClaims>(jwt, &self.public, &validation)
            .is_ok_and(|data| data.claims.iss == self.team_id && data.claims.iat == iat)
    }

    /// Signs a token with `iat` = `issued_at` (truncated to whole seconds).
    pub fn sign(&self, issued_at: SystemTime) -> Result<ProviderToken, TokenError> {
        let iat = issued_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        // Exactly Apple's header: {"alg":"ES256","kid":KEY_ID} (no "typ").
        let mut header = Header::new(Algorithm::ES256);
        header.typ = None;
        header.kid = Some(self.key_id.clone());
        let claims = Claims {
            iss: &self.team_id,
            iat,
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(ProviderToken::new(
            jwt,
            SystemTime::UNIX_EPOCH + Duration::from_secs(iat),
        ))
    }
}

/// The verifying key and fingerprint of a PKCS#8 EC private key.
fn public_key(p8_pem: &SecretString) -> Option<(DecodingKey, String)> {
    let private =
        openssl::pkey::PKey::private_key_from_pem(p8_pem.expose_secret().as_bytes()).ok()?;
    let spki_der = private.public_key_to_der().ok()?;
    let spki_pem = private.public_key_to_pem().ok()?;
    let digest = openssl::sha::sha256(&spki_der);
    let public = DecodingKey::from_ec_pem(&spki_pem).ok()?;
    Some((public, hex::encode(digest)))
}

/// Boxed future returned by [`ProviderTokenSource`] methods.
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ProviderToken, TokenError>> + Send + 'a>>;

/// Where the client gets provider tokens from.
///
/// Implementations must hand out one token per key for as long as possible:
/// replace it on schedule (at most every 20 minutes, at least every ~55), and on
/// [`refresh`](Self::refresh) only if the rejected token is still the current one.
pub trait ProviderTokenSource: Send + Sync + fmt::Debug {
    /// The token to send now, minting a new one if the current one is due for replacement.
    fn current(&self) -> TokenFuture<'_>;

    /// APNs said `rejected` has expired (`ExpiredProviderToken`): return a replacement.
    /// If another caller already replaced it, return that replacement without minting.
    fn refresh<'a>(&'a self, rejected: &'a ProviderToken) -> TokenFuture<'a>;
}

#[derive(Default)]
struct State {
    token: Option<ProviderToken>,
    last_forced: Option<SystemTime>,
}

/// A per-process token cache: one token, reused until it is `refresh_after` old.
pub struct InMemoryTokenSource {
    signer: ProviderTokenSigner,
    clock: Arc<dyn Clock>,
    refresh_after: Duration,
    state: Mutex<State>,
}

impl fmt::Debug for InMemoryTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryTokenSource")
            .field("key_id", &self.signer.key_id)
            .field("refresh_after", &self.refresh_after)
            .finish_non_exhaustive()
    }
}

impl InMemoryTokenSource {
    /// A cache that replaces tokens after `refresh_after`, clamped to 20..=55 minutes.
    pub fn new(
        signer: ProviderTokenSigner,
        clock: Arc<dyn Clock>,
        refresh_after: Duration,
    ) -> Self {
        Self {
            signer,
            clock,
            refresh_after: refresh_after.clamp(MIN_TOKEN_AGE_FOR_REFRESH, MAX_TOKEN_REFRESH_AFTER),
            state: Mutex::new(State::default()),
        }
    }

    /// The effective (clamped) refresh age.
    pub fn refresh_after(&self) -> Duration {
        self.refresh_after
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update; the state is still a valid cache.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn current_now(&self) -> Result<ProviderToken, TokenError> {
        let now = self.clock.now();
        let mut state = self.lock();
        if let Some(token) = &state.token
            && token.age_at(now) < self.refresh_after
        {
            return Ok(token.clone());
        }
        let token = self.signer.sign(now)?;
        tracing::debug!(key_id = %self.signer.key_id, "minted APNs provider token");
        state.token = Some(token.clone());
        Ok(token)
    }

    fn refresh_now(&self, rejected: &ProviderToken) -> Result<ProviderToken, TokenError> {
        let now = self.clock.now();
        let mut state = self.lock();
        if let Some(token) = &state.token {
            if token != rejected {
                return Ok(token.clone());
            }
            let age = token.age_at(now);
            if age < MIN_TOKEN_AGE_FOR_REFRESH {
                // Apple says it expired although we think it is young: clock skew.
                // Replace it, but only once per 20 minutes, to avoid TooManyProviderTokenUpdates.
                let recently_forced = state.last_forced.is_some_and(|at| {
                    now.duration_since(at).unwrap_or_default() < MIN_TOKEN_AGE_FOR_REFRESH
                });
                if recently_forced {
                    tracing::warn!(key_id = %self.signer.key_id, age_s = age.as_secs(),
                        "APNs keeps rejecting young provider tokens as expired; check the clock");
                    return Ok(token.clone());
                }
                tracing::warn!(key_id = %self.signer.key_id, age_s = age.as_secs(),
                    "APNs rejected a young provider token as expired; replacing it early");
                state.last_forced = Some(now);
            }
        }
        let token = self.signer.sign(now)?;
        tracing::info!(key_id = %self.signer.key_id, "replaced expired APNs provider token");
        state.token = Some(token.clone());
        Ok(token)
    }
}

impl ProviderTokenSource for InMemoryTokenSource {
    fn current(&self) -> TokenFuture<'_> {
        let result = self.current_now();
        Box::pin(std::future::ready(result))
    }

    fn refresh<'a>(&'a self, rejected: &'a ProviderToken) -> TokenFuture<'a> {
        let result = self.refresh_now(rejected);
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(60));
        assert_eq!(clock.now(), start + Duration::from_secs(60));
        clock.set(start);
        assert_eq!(clock.now(), start);
        assert!(SystemClock.now() > start);
    }
}
