//! Every way a send can end, classified in one place.
//!
//! [`classify`] maps an FCM answer (status, headers, body) to an [`FcmOutcome`]; transport
//! and token failures map in the client. FCM's `errorCode` decides first (it is the most
//! specific), then `error.status`, then the HTTP status. Nothing is classified as a dead
//! token or a rejected credential on a guess: what we don't understand is
//! [`FcmOutcome::OurBug`], except 429 and 5xx, which are transient by definition.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use serde::Deserialize;

use super::access_token::OAuthError;
use super::message::Refusal;
use super::response::{FcmErrorCode, FcmResponse, GoogleStatus};
use super::wire::{retry_after, truncate};

/// Why a send should be tried again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryCause {
    /// 429 `QUOTA_EXCEEDED` / `RESOURCE_EXHAUSTED`.
    QuotaExceeded,
    /// 503 `UNAVAILABLE`.
    Unavailable,
    /// 500 `INTERNAL`.
    Internal,
    /// Any other 5xx.
    ServerError,
    /// No answer within the request timeout: FCM may or may not have delivered it.
    Timeout,
    /// No connection could be made: nothing was sent.
    Connect,
    /// The connection broke with the request in flight: it may have been delivered.
    ConnectionLost,
    /// The access token could not be obtained for now (token endpoint 5xx/429, network).
    TokenUnavailable,
}

impl RetryCause {
    /// Every cause, for metrics that export each label from the start.
    pub const ALL: [RetryCause; 8] = [
        RetryCause::QuotaExceeded,
        RetryCause::Unavailable,
        RetryCause::Internal,
        RetryCause::ServerError,
        RetryCause::Timeout,
        RetryCause::Connect,
        RetryCause::ConnectionLost,
        RetryCause::TokenUnavailable,
    ];

    /// A stable short label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            RetryCause::QuotaExceeded => "quota_exceeded",
            RetryCause::Unavailable => "unavailable",
            RetryCause::Internal => "internal",
            RetryCause::ServerError => "server_error",
            RetryCause::Timeout => "timeout",
            RetryCause::Connect => "connect",
            RetryCause::ConnectionLost => "connection_lost",
            RetryCause::TokenUnavailable => "token_unavailable",
        }
    }
}

/// Why a registration token is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadReason {
    /// 404 `UNREGISTERED`: the app was uninstalled or the token rotated.
    Unregistered,
    /// 400 `INVALID_ARGUMENT` naming the token: it is not (or no longer) a valid token.
    InvalidToken,
}

impl DeadReason {
    /// A stable short label.
    pub fn label(self) -> &'static str {
        match self {
            DeadReason::Unregistered => "unregistered",
            DeadReason::InvalidToken => "invalid_token",
        }
    }
}

/// Why a credential (service account) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialReason {
    /// 401 `UNAUTHENTICATED` even with a freshly obtained access token.
    Unauthenticated,
    /// `THIRD_PARTY_AUTH_ERROR` even with a freshly obtained access token.
    ThirdPartyAuth,
    /// 403 `PERMISSION_DENIED` (not a sender mismatch): e.g. the account may not send for
    /// this project, or the FCM API is disabled.
    PermissionDenied,
    /// The token endpoint refused the assertion.
    TokenRefused {
        /// Its `error`.
        error: OAuthError,
        /// Its `error_description` (truncated).
        description: Option<String>,
    },
    /// The token endpoint's answer is not a token response (`token_uri` is wrong).
    TokenResponseMalformed,
    /// The private key can't sign.
    KeyUnusable,
}

impl CredentialReason {
    /// A stable short label.
    pub fn label(&self) -> &'static str {
        match self {
            CredentialReason::Unauthenticated => "unauthenticated",
            CredentialReason::ThirdPartyAuth => "third_party_auth",
            CredentialReason::PermissionDenied => "permission_denied",
            CredentialReason::TokenRefused { .. } => "token_refused",
            CredentialReason::TokenResponseMalformed => "token_response_malformed",
            CredentialReason::KeyUnusable => "key_unusable",
        }
    }
}

/// How a send ended. Everything downstream acts on this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FcmOutcome {
    /// 200: FCM took it.
    Accepted {
        /// The message's resource name, `projects/{id}/messages/{message id}`.
        name: String,
        /// From sending the request to the response head.
        latency: Duration,
    },
    /// Transient: try again (with backoff, within the invite's lifetime).
    Retry {
        /// Why.
        cause: RetryCause,
        /// `Retry-After` (seconds or HTTP date), if given.
        after: Option<Duration>,
        /// The response, if one arrived.
        response: Option<FcmResponse>,
    },
    /// The token is dead: retire the registration unless it was refreshed after the send
    /// started.
    TokenDead {
        /// Unregistered, or rejected as invalid.
        reason: DeadReason,
        /// The response.
        response: FcmResponse,
    },
    /// 403 `SENDER_ID_MISMATCH`: the token belongs to another Firebase project; the
    /// registration is invalid for this credential but not deleted.
    SenderMismatch {
        /// The response.
        response: FcmResponse,
    },
    /// The service account is unusable: mark the credential rejected, don't hammer.
    CredentialRejected {
        /// Why.
        reason: CredentialReason,
        /// FCM's response, if the rejection came from FCM (not the token endpoint).
        response: Option<FcmResponse>,
    },
    /// A request FCM calls invalid, or an answer we don't understand: fail the delivery,
    /// keep the token, log loudly; never retry.
    OurBug {
        /// The response, if one arrived.
        response: Option<FcmResponse>,
        /// What was unexpected.
        detail: Option<String>,
    },
    /// Refused locally; nothing was sent.
    Refused {
        /// Which rule the message broke.
        refusal: Refusal,
    },
}

impl FcmOutcome {
    /// Every outcome label, for metrics that export each from the start.
    pub const LABELS: [&'static str; 7] = [
        "accepted",
        "retry",
        "token_dead",
        "sender_mismatch",
        "credential_rejected",
        "our_bug",
        "refused",
    ];

    /// A stable short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            FcmOutcome::Accepted { .. } => "accepted",
            FcmOutcome::Retry { .. } => "retry",
            FcmOutcome::TokenDead { .. } => "token_dead",
            FcmOutcome::SenderMismatch { .. } => "sender_mismatch",
            FcmOutcome::CredentialRejected { .. } => "credential_rejected",
            FcmOutcome::OurBug { .. } => "our_bug",
            FcmOutcome::Refused { .. } => "refused",
        }
    }

    /// The FCM response, if one arrived and it was not a 200.
    pub fn response(&self) -> Option<&FcmResponse> {
        match self {
            FcmOutcome::Retry { response, .. }
            | FcmOutcome::CredentialRejected { response, .. }
            | FcmOutcome::OurBug { response, .. } => response.as_ref(),
            FcmOutcome::TokenDead { response, .. } | FcmOutcome::SenderMismatch { response } => {
                Some(response)
            }
            FcmOutcome::Accepted { .. } | FcmOutcome::Refused { .. } => None,
        }
    }

    /// True for [`FcmOutcome::Accepted`].
    pub fn is_accepted(&self) -> bool {
        matches!(self, FcmOutcome::Accepted { .. })
    }

    /// Whether FCM refused the access token itself (401 / `THIRD_PARTY_AUTH_ERROR`): worth
    /// one retry with a fresh token before the credential counts as rejected.
    pub fn is_auth_refusal(&self) -> bool {
        matches!(
            self,
            FcmOutcome::CredentialRejected {
                reason: CredentialReason::Unauthenticated | CredentialReason::ThirdPartyAuth,
                response: Some(_),
            }
        )
    }

    /// A retry for `cause` without a response or hint.
    pub fn retry(cause: RetryCause) -> Self {
        FcmOutcome::Retry {
            cause,
            after: None,
            response: None,
        }
    }
}

#[derive(Deserialize)]
struct Sent {
    name: String,
}

/// Longest message `name` kept.
const MAX_NAME: usize = 256;

/// Classifies one FCM answer. `latency` is reported on acceptance; `now` turns an HTTP-date
/// `Retry-After` into a delay.
pub fn classify(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    latency: Duration,
    now: SystemTime,
) -> FcmOutcome {
    if status == 200 {
        return match serde_json::from_slice::<Sent>(body) {
            Ok(sent) if !sent.name.is_empty() => FcmOutcome::Accepted {
                name: truncate(&sent.name, MAX_NAME),
                latency,
            },
            _ => FcmOutcome::OurBug {
                response: Some(FcmResponse::parse(status, body)),
                detail: Some("200 without a message name".into()),
            },
        };
    }
    let response = FcmResponse::parse(status, body);
    let retry = |cause| FcmOutcome::Retry {
        cause,
        after: retry_after(headers, now),
        response: Some(response.clone()),
    };
    let credential = |reason| FcmOutcome::CredentialRejected {
        reason,
        response: Some(response.clone()),
    };
    let invalid_argument = || {
        if response.names_token() {
            FcmOutcome::TokenDead {
                reason: DeadReason::InvalidToken,
                response: response.clone(),
            }
        } else {
            FcmOutcome::OurBug {
                response: Some(response.clone()),
                detail: None,
            }
        }
    };
    use FcmErrorCode as C;
    match &response.error_code {
        Some(C::Unregistered) => {
            return FcmOutcome::TokenDead {
                reason: DeadReason::Unregistered,
                response,
            };
        }
        Some(C::SenderIdMismatch) => return FcmOutcome::SenderMismatch { response },
        Some(C::QuotaExceeded) => return retry(RetryCause::QuotaExceeded),
        Some(C::Unavailable) => return retry(RetryCause::Unavailable),
        Some(C::Internal) => return retry(RetryCause::Internal),
        Some(C::ThirdPartyAuthError) => return credential(CredentialReason::ThirdPartyAuth),
        Some(C::InvalidArgument) => return invalid_argument(),
        Some(C::Unspecified | C::Other(_)) | None => {}
    }
    use GoogleStatus as S;
    match (&response.error_status, status) {
        (_, 401) | (Some(S::Unauthenticated), _) => credential(CredentialReason::Unauthenticated),
        (Some(S::PermissionDenied), _) => credential(CredentialReason::PermissionDenied),
        (Some(S::InvalidArgument), _) => invalid_argument(),
        (_, 429) | (Some(S::ResourceExhausted), _) => retry(RetryCause::QuotaExceeded),
        (_, 503) | (Some(S::Unavailable), _) => retry(RetryCause::Unavailable),
        (_, 500) | (Some(S::Internal), _) => retry(RetryCause::Internal),
        (_, 501..=599) => retry(RetryCause::ServerError),
        _ => FcmOutcome::OurBug {
            response: Some(response),
            detail: None,
        },
    }
}
