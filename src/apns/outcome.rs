//! Every way a send can end, classified in one place.
//!
//! [`classify`] maps an APNs response (status, headers, body) to an [`Outcome`];
//! transport failures map to [`Outcome::Retry`] with a [`RetryCause`]. The rest
//! of pushgate acts only on [`Outcome`] and never looks at status codes or
//! reason strings itself.

use std::time::Duration;

use http::HeaderMap;
use serde::Deserialize;
use uuid::Uuid;

use super::reason::ApnsReason;
use super::request::Refusal;

/// What APNs said, as far as it said anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsResponse {
    /// HTTP status.
    pub status: u16,
    /// The body's `reason`, if the body was JSON with one.
    pub reason: Option<ApnsReason>,
    /// The `apns-id` response header, if present and a UUID.
    pub apns_id: Option<Uuid>,
}

/// Why a send should be tried again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryCause {
    /// 429 `TooManyRequests`: too many pushes to this device; back off.
    TooManyRequests,
    /// 429 `TooManyProviderTokenUpdates`: tokens replaced too often.
    TooManyProviderTokenUpdates,
    /// 403 `ExpiredProviderToken` even after signing a fresh token.
    ExpiredProviderToken,
    /// 500 `InternalServerError` (or any other 5xx).
    ServerError,
    /// 503 `ServiceUnavailable`.
    ServiceUnavailable,
    /// `Shutdown`: the server is going away.
    Shutdown,
    /// 400 `IdleTimeout`: connection closed for idleness.
    IdleTimeout,
    /// The server reset the stream with REFUSED_STREAM 3 times: not processed.
    RefusedStream,
    /// The server sent GOAWAY before answering (after 3 attempts when APNs
    /// provably had not processed it; otherwise it may have been delivered).
    GoAway,
    /// The connection broke (or the stream was reset) with the request in
    /// flight: APNs may or may not have delivered it.
    ConnectionLost,
    /// No connection could be established.
    Connect,
    /// No answer within the request timeout: APNs may or may not have delivered it.
    Timeout,
    /// The provider-token source could not supply a token.
    ProviderTokenUnavailable,
}

impl RetryCause {
    /// Every cause, for metrics that export each label from the start.
    pub const ALL: [RetryCause; 13] = [
        RetryCause::TooManyRequests,
        RetryCause::TooManyProviderTokenUpdates,
        RetryCause::ExpiredProviderToken,
        RetryCause::ServerError,
        RetryCause::ServiceUnavailable,
        RetryCause::Shutdown,
        RetryCause::IdleTimeout,
        RetryCause::RefusedStream,
        RetryCause::GoAway,
        RetryCause::ConnectionLost,
        RetryCause::Connect,
        RetryCause::Timeout,
        RetryCause::ProviderTokenUnavailable,
    ];

    /// A stable short label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            RetryCause::TooManyRequests => "too_many_requests",
            RetryCause::TooManyProviderTokenUpdates => "too_many_provider_token_updates",
            RetryCause::ExpiredProviderToken => "expired_provider_token",
            RetryCause::ServerError => "server_error",
            RetryCause::ServiceUnavailable => "service_unavailable",
            RetryCause::Shutdown => "shutdown",
            RetryCause::IdleTimeout => "idle_timeout",
            RetryCause::RefusedStream => "refused_stream",
            RetryCause::GoAway => "goaway",
            RetryCause::ConnectionLost => "connection_lost",
            RetryCause::Connect => "connect",
            RetryCause::Timeout => "timeout",
            RetryCause::ProviderTokenUnavailable => "provider_token_unavailable",
        }
    }
}

/// How a send ended. Everything downstream acts on this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200: APNs took it.
    Accepted {
        /// The `apns-id` APNs echoed or assigned.
        apns_id: Option<Uuid>,
        /// `apns-unique-id` (development environment only).
        unique_id: Option<String>,
        /// Time from sending the request to the response.
        latency: Duration,
    },
    /// Transient: try again (with backoff, within the invite's lifetime).
    Retry {
        /// Why.
        cause: RetryCause,
        /// `retry-after`, or how long until a failed connection is tried again.
        after: Option<Duration>,
        /// The response, if one arrived.
        response: Option<ApnsResponse>,
    },
    /// 410 `Unregistered` / `ExpiredToken`: retire the registration only if it was
    /// not re-registered after `since_ms`.
    TokenDead {
        /// APNs's `timestamp`: epoch milliseconds when it learned the token was invalid.
        since_ms: Option<i64>,
        /// The response.
        response: ApnsResponse,
    },
    /// 400 `BadDeviceToken`: invalid or for the other environment.
    WrongEnvironment {
        /// The response.
        response: ApnsResponse,
    },
    /// 400 `DeviceTokenNotForTopic`: misconfiguration, not a dead token.
    NotForTopic {
        /// The response.
        response: ApnsResponse,
    },
    /// The credential or its topic is bad: mark it unhealthy, don't hammer.
    CredentialRejected {
        /// The response; `None` when the problem was found locally (e.g. signing failed).
        response: Option<ApnsResponse>,
        /// Local explanation when there is no response.
        detail: Option<String>,
    },
    /// A request APNs calls malformed, or a response we do not understand: never retry, log loudly.
    OurBug {
        /// The response.
        response: ApnsResponse,
    },
    /// Refused locally; nothing was sent.
    Refused {
        /// Which rule the notification broke.
        refusal: Refusal,
    },
}

impl Outcome {
    /// A stable short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Accepted { .. } => "accepted",
            Outcome::Retry { .. } => "retry",
            Outcome::TokenDead { .. } => "token_dead",
            Outcome::WrongEnvironment { .. } => "wrong_environment",
            Outcome::NotForTopic { .. } => "not_for_topic",
            Outcome::CredentialRejected { .. } => "credential_rejected",
            Outcome::OurBug { .. } => "our_bug",
            Outcome::Refused { .. } => "refused",
        }
    }

    /// The APNs response, if one was received and it was not a 200.
    pub fn response(&self) -> Option<&ApnsResponse> {
        match self {
            Outcome::Retry { response, .. } | Outcome::CredentialRejected { response, .. } => {
                response.as_ref()
            }
            Outcome::TokenDead { response, .. }
            | Outcome::WrongEnvironment { response }
            | Outcome::NotForTopic { response }
            | Outcome::OurBug { response } => Some(response),
            Outcome::Accepted { .. } | Outcome::Refused { .. } => None,
        }
    }

    /// The APNs reason, if one was received.
    pub fn reason(&self) -> Option<&ApnsReason> {
        self.response().and_then(|r| r.reason.as_ref())
    }

    /// True for [`Outcome::Accepted`].
    pub fn is_accepted(&self) -> bool {
        matches!(self, Outcome::Accepted { .. })
    }

    pub(crate) fn retry(cause: RetryCause) -> Self {
        Outcome::Retry {
            cause,
            after: None,
            response: None,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    reason: Option<String>,
    timestamp: Option<serde_json::Value>,
}

/// Parses `timestamp` leniently: integer, float or numeric string of epoch milliseconds.
fn parse_timestamp(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_str(headers, "retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs.min(3600)))
}

/// Classifies one APNs response. `latency` is reported on acceptance.
///
/// Reasons decide first (Apple's reasons are unique). An unknown or missing
/// reason is [`Outcome::OurBug`] (never a dead token or a rejected credential,
/// which would delete data or stop a credential on a guess), except with status
/// 429 or 5xx, which are transient by definition and become [`Outcome::Retry`].
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8], latency: Duration) -> Outcome {
    let apns_id = header_str(headers, "apns-id").and_then(|v| Uuid::parse_str(v.trim()).ok());
    if status == 200 {
        return Outcome::Accepted {
            apns_id,
            unique_id: header_str(headers, "apns-unique-id").map(|s| s.chars().take(64).collect()),
            latency,
        };
    }
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let reason = parsed
        .as_ref()
        .and_then(|b| b.reason.as_deref())
        .map(ApnsReason::parse);
    let since_ms = parsed
        .as_ref()
        .and_then(|b| b.timestamp.as_ref())
        .and_then(parse_timestamp);
    let response = ApnsResponse {
        status,
        reason: reason.clone(),
        apns_id,
    };
    let retry = |cause| Outcome::Retry {
        cause,
        after: retry_after(headers),
        response: Some(response.clone()),
    };
    let credential = || Outcome::CredentialRejected {
        response: Some(response.clone()),
        detail: None,
    };
    use ApnsReason as R;
    match reason {
        Some(R::BadDeviceToken) => Outcome::WrongEnvironment { response },
        Some(R::DeviceTokenNotForTopic) => Outcome::NotForTopic { response },
        Some(R::Unregistered | R::ExpiredToken) => Outcome::TokenDead { since_ms, response },
        Some(
            R::TopicDisallowed
            | R::BadTopic
            | R::MissingTopic
            | R::BadCertificate
            | R::BadCertificateEnvironment
            | R::Forbidden
            | R::InvalidProviderToken
            | R::MissingProviderToken
            | R::UnrelatedKeyIdInToken
            | R::BadEnvironmentKeyIdInToken,
        ) => credential(),
        Some(R::ExpiredProviderToken) => retry(RetryCause::ExpiredProviderToken),
        Some(R::TooManyRequests) => retry(RetryCause::TooManyRequests),
        Some(R::TooManyProviderTokenUpdates) => retry(RetryCause::TooManyProviderTokenUpdates),
        Some(R::IdleTimeout) => retry(RetryCause::IdleTimeout),
        Some(R::Shutdown) => retry(RetryCause::Shutdown),
        Some(R::ServiceUnavailable) => retry(RetryCause::ServiceUnavailable),
        Some(R::InternalServerError) => retry(RetryCause::ServerError),
        Some(
            R::BadCollapseId
            | R::BadExpirationDate
            | R::BadMessageId
            | R::BadPriority
            | R::DuplicateHeaders
            | R::InvalidPushType
            | R::MissingDeviceToken
            | R::PayloadEmpty
            | R::PayloadTooLarge
            | R::BadPath
            | R::MethodNotAllowed
            | R::BadPayload,
        ) => Outcome::OurBug { response },
        Some(R::Other(_)) | None => match status {
            429 => retry(RetryCause::TooManyRequests),
            503 => retry(RetryCause::ServiceUnavailable),
            500..=599 => retry(RetryCause::ServerError),
            _ => Outcome::OurBug { response },
        },
    }
}
