//! OAuth2 access tokens and the seams that produce them.
//!
//! [`TokenExchange`] turns a service account into a fresh [`AccessToken`] (the real one is
//! [`OAuthTokenExchange`](super::OAuthTokenExchange): a signed assertion POSTed to
//! `token_uri`). [`AccessTokenSource`] is what the client asks: a cache in front of an
//! exchange, per process ([`InMemoryAccessTokenSource`](super::InMemoryAccessTokenSource))
//! or shared by replicas ([`RedisAccessTokenSource`](super::RedisAccessTokenSource)).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};

/// An OAuth2 bearer token for FCM. `Debug` never shows it.
#[derive(Clone)]
pub struct AccessToken {
    secret: Arc<SecretString>,
    issued_at: SystemTime,
    expires_at: SystemTime,
}

impl AccessToken {
    /// A token obtained at `issued_at`, valid until `expires_at`.
    pub fn new(secret: SecretString, issued_at: SystemTime, expires_at: SystemTime) -> Self {
        Self {
            secret: Arc::new(secret),
            issued_at,
            expires_at: expires_at.max(issued_at),
        }
    }

    /// The bearer value. It is a credential: never log it.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    /// When it was obtained (the exchange's start, so the expiry errs early).
    pub fn issued_at(&self) -> SystemTime {
        self.issued_at
    }

    /// When Google stops accepting it (`issued_at + expires_in`).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Its whole lifetime (`expires_in`).
    pub fn lifetime(&self) -> Duration {
        self.expires_at
            .duration_since(self.issued_at)
            .unwrap_or_default()
    }

    /// How long it stays valid after `now` (zero once expired).
    pub fn remaining_at(&self, now: SystemTime) -> Duration {
        self.expires_at.duration_since(now).unwrap_or_default()
    }

    /// Whether it should be replaced at `now`: once less than [`refresh_margin`] of its
    /// lifetime remains.
    pub fn needs_refresh_at(&self, now: SystemTime) -> bool {
        self.remaining_at(now) <= refresh_margin(self.lifetime())
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[REDACTED]")
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// How long before expiry a token is replaced: 5 minutes or a tenth of its lifetime,
/// whichever is longer (6 minutes for Google's hour-long tokens), but never more than half
/// its lifetime, so a short-lived token is still used for a while before being replaced.
pub fn refresh_margin(lifetime: Duration) -> Duration {
    Duration::from_secs(300)
        .max(lifetime / 10)
        .min(lifetime / 2)
}

/// An OAuth2 `error` code from the token endpoint (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OAuthError {
    /// `invalid_grant`: the assertion was refused (key deleted or disabled, bad `iat`/`exp`,
    /// clock skew, wrong `aud`).
    InvalidGrant,
    /// `invalid_client`: the account is unknown or disabled.
    InvalidClient,
    /// `unauthorized_client`: the account may not use this grant or scope.
    UnauthorizedClient,
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_scope`.
    InvalidScope,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// Anything else, or no `error` at all (truncated to 64 characters).
    Other(String),
}

impl OAuthError {
    /// Parses an `error` value.
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_grant" => Self::InvalidGrant,
            "invalid_client" => Self::InvalidClient,
            "unauthorized_client" => Self::UnauthorizedClient,
            "invalid_request" => Self::InvalidRequest,
            "invalid_scope" => Self::InvalidScope,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            other => Self::Other(other.chars().take(64).collect()),
        }
    }

    /// The `error` value as the token endpoint spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidScope => "invalid_scope",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::Other(s) => s,
        }
    }
}

/// Why a transient token failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransientCause {
    /// The token endpoint answered 5xx.
    ServerError,
    /// 429 (or 408): slow down.
    RateLimited,
    /// No answer in time.
    Timeout,
    /// No connection could be made.
    Connect,
    /// The connection broke mid-exchange.
    ConnectionLost,
    /// Another replica holds the refresh and did not finish in time.
    SharedRefreshBusy,
}

/// Why no access token could be had.
///
/// `Refused`, `Malformed` and `Signing` mean the credential is unusable (the caller marks it
/// rejected); `Transient` means try again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint refused the assertion (any 4xx but 408 and 429).
    #[error("token endpoint refused the assertion ({status}): {error:?}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The `error` code.
        error: OAuthError,
        /// `error_description`, truncated to 256 characters.
        description: Option<String>,
    },
    /// A 2xx (or 1xx/3xx) we can't read as a bearer token. `token_uri` comes from the
    /// uploaded key file, so this means it does not point at an OAuth2 token endpoint: a
    /// credential problem for an operator, not something a retry fixes.
    #[error("token endpoint answered {status} without a usable token: {detail}")]
    Malformed {
        /// HTTP status.
        status: u16,
        /// What was wrong (never the body itself).
        detail: &'static str,
    },
    /// The private key can't sign (not an RSA PEM). Retrying will not help.
    #[error("service account key unusable: {0}")]
    Signing(String),
    /// The endpoint or the network failed; retry with backoff.
    #[error("access token temporarily unavailable ({cause:?})")]
    Transient {
        /// What failed.
        cause: TransientCause,
        /// HTTP status, if the endpoint answered.
        status: Option<u16>,
        /// `Retry-After`, if given.
        retry_after: Option<Duration>,
    },
}

impl TokenError {
    /// True for [`TokenError::Transient`].
    pub fn is_transient(&self) -> bool {
        matches!(self, TokenError::Transient { .. })
    }

    /// A transient failure without a status or hint.
    pub fn transient(cause: TransientCause) -> Self {
        TokenError::Transient {
            cause,
            status: None,
            retry_after: None,
        }
    }
}

/// Boxed future of an access token.
pub type AccessTokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AccessToken, TokenError>> + Send + 'a>>;

/// Boxed future of nothing (for [`AccessTokenSource::invalidate`]).
pub type InvalidateFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Obtains a brand-new access token for one service account.
pub trait TokenExchange: Send + Sync + fmt::Debug {
    /// Exchanges a fresh assertion issued at `now` for an access token.
    fn exchange(&self, now: SystemTime) -> AccessTokenFuture<'_>;

    /// Hex SHA-256 of the account key's public key (SPKI DER): names the key itself, so
    /// caches shared between accounts can never mix their tokens up.
    fn key_fingerprint(&self) -> &str;
}

/// Where the client gets access tokens from.
///
/// Implementations reuse one token until shortly before it expires
/// ([`AccessToken::needs_refresh_at`]), run at most one refresh at a time (concurrent callers
/// share its result), and replace a token FCM refused once told so.
pub trait AccessTokenSource: Send + Sync + fmt::Debug {
    /// The token to send with now, refreshing it first if due.
    fn token(&self) -> AccessTokenFuture<'_>;

    /// FCM answered 401 for `rejected`: forget it (if it is still the current token), so
    /// the next [`token`](Self::token) refreshes once.
    fn invalidate<'a>(&'a self, rejected: &'a AccessToken) -> InvalidateFuture<'a>;
}
