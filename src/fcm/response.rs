//! [`FcmResponse`]: what an FCM error answer said, read leniently from Google's error body
//! `{"error":{"code","message","status","details":[…]}}`. `details` may be absent or hold
//! other types than `google.firebase.fcm.v1.FcmError` (e.g. `google.rpc.BadRequest` with
//! `fieldViolations`); anything unexpected is skipped, never an error.

use serde_json::Value;

use super::wire::truncate;

/// Longest `message` kept.
pub const MAX_MESSAGE: usize = 512;
/// Most field violations kept, and the longest field name kept.
const MAX_VIOLATIONS: usize = 8;
const MAX_FIELD: usize = 128;
const MAX_CODE: usize = 64;

/// The google.rpc status string (`error.status`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GoogleStatus {
    /// `INVALID_ARGUMENT`
    InvalidArgument,
    /// `UNAUTHENTICATED`
    Unauthenticated,
    /// `PERMISSION_DENIED`
    PermissionDenied,
    /// `NOT_FOUND`
    NotFound,
    /// `RESOURCE_EXHAUSTED`
    ResourceExhausted,
    /// `INTERNAL`
    Internal,
    /// `UNAVAILABLE`
    Unavailable,
    /// Any other (first 64 characters).
    Other(String),
}

impl GoogleStatus {
    /// Parses a status string.
    pub fn parse(s: &str) -> Self {
        match s {
            "INVALID_ARGUMENT" => Self::InvalidArgument,
            "UNAUTHENTICATED" => Self::Unauthenticated,
            "PERMISSION_DENIED" => Self::PermissionDenied,
            "NOT_FOUND" => Self::NotFound,
            "RESOURCE_EXHAUSTED" => Self::ResourceExhausted,
            "INTERNAL" => Self::Internal,
            "UNAVAILABLE" => Self::Unavailable,
            other => Self::Other(truncate(other, MAX_CODE)),
        }
    }
}

/// FCM's own `errorCode` (the `google.firebase.fcm.v1.FcmError` detail).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FcmErrorCode {
    /// `UNREGISTERED`: the token is no longer valid.
    Unregistered,
    /// `INVALID_ARGUMENT`: a field (maybe the token) is invalid.
    InvalidArgument,
    /// `SENDER_ID_MISMATCH`: the token belongs to another sender.
    SenderIdMismatch,
    /// `QUOTA_EXCEEDED`: a sending limit was hit.
    QuotaExceeded,
    /// `UNAVAILABLE`: FCM is overloaded.
    Unavailable,
    /// `INTERNAL`: FCM failed.
    Internal,
    /// `THIRD_PARTY_AUTH_ERROR`: an APNs certificate or web push key is bad.
    ThirdPartyAuthError,
    /// `UNSPECIFIED_ERROR`
    Unspecified,
    /// Any other (first 64 characters).
    Other(String),
}

impl FcmErrorCode {
    /// Parses an `errorCode`.
    pub fn parse(s: &str) -> Self {
        match s {
            "UNREGISTERED" => Self::Unregistered,
            "INVALID_ARGUMENT" => Self::InvalidArgument,
            "SENDER_ID_MISMATCH" => Self::SenderIdMismatch,
            "QUOTA_EXCEEDED" => Self::QuotaExceeded,
            "UNAVAILABLE" => Self::Unavailable,
            "INTERNAL" => Self::Internal,
            "THIRD_PARTY_AUTH_ERROR" => Self::ThirdPartyAuthError,
            "UNSPECIFIED_ERROR" => Self::Unspecified,
            other => Self::Other(truncate(other, MAX_CODE)),
        }
    }

    /// The code as FCM spells it (an unknown one as received, truncated).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Unregistered => "UNREGISTERED",
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::SenderIdMismatch => "SENDER_ID_MISMATCH",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
            Self::ThirdPartyAuthError => "THIRD_PARTY_AUTH_ERROR",
            Self::Unspecified => "UNSPECIFIED_ERROR",
            Self::Other(s) => s,
        }
    }

    /// A metric label from a closed set: an unknown code is `other`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Other(_) => "other",
            known => match known.as_str() {
                "UNREGISTERED" => "UNREGISTERED",
                "INVALID_ARGUMENT" => "INVALID_ARGUMENT",
                "SENDER_ID_MISMATCH" => "SENDER_ID_MISMATCH",
                "QUOTA_EXCEEDED" => "QUOTA_EXCEEDED",
                "UNAVAILABLE" => "UNAVAILABLE",
                "INTERNAL" => "INTERNAL",
                "THIRD_PARTY_AUTH_ERROR" => "THIRD_PARTY_AUTH_ERROR",
                _ => "UNSPECIFIED_ERROR",
            },
        }
    }
}

/// What FCM answered, as far as it said anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcmResponse {
    /// HTTP status.
    pub status: u16,
    /// `error.status`.
    pub error_status: Option<GoogleStatus>,
    /// The FcmError detail's `errorCode`.
    pub error_code: Option<FcmErrorCode>,
    /// `error.message`, at most [`MAX_MESSAGE`] characters.
    pub message: Option<String>,
    /// The `field` of each BadRequest field violation (at most 8, 128 characters each).
    pub field_violations: Vec<String>,
}

impl FcmResponse {
    /// Reads `body` (an error answer with HTTP `status`); an unreadable body leaves every
    /// field but `status` empty.
    pub fn parse(status: u16, body: &[u8]) -> Self {
        let mut response = Self {
            status,
            error_status: None,
            error_code: None,
            message: None,
            field_violations: Vec::new(),
        };
        let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
            return response;
        };
        let Some(Value::Object(error)) = root.get("error") else {
            return response;
        };
        response.error_status = error
            .get("status")
            .and_then(Value::as_str)
            .map(GoogleStatus::parse);
        response.message = error
            .get("message")
            .and_then(Value::as_str)
            .map(|m| truncate(m, MAX_MESSAGE));
        let details = error.get("details").and_then(Value::as_array);
        for detail in details.into_iter().flatten() {
            let kind = detail.get("@type").and_then(Value::as_str).unwrap_or("");
            if kind.ends_with("/google.firebase.fcm.v1.FcmError") {
                if response.error_code.is_none() {
                    response.error_code = detail
                        .get("errorCode")
                        .and_then(Value::as_str)
                        .map(FcmErrorCode::parse);
                }
            } else if kind.ends_with("/google.rpc.BadRequest") {
                let violations = detail.get("fieldViolations").and_then(Value::as_array);
                for violation in violations.into_iter().flatten() {
                    if response.field_violations.len() == MAX_VIOLATIONS {
                        break;
                    }
                    if let Some(field) = violation.get("field").and_then(Value::as_str) {
                        response.field_violations.push(truncate(field, MAX_FIELD));
                    }
                }
            }
        }
        response
    }

    /// Whether an `INVALID_ARGUMENT` is about the registration token: a field violation on
    /// `message.token`, or — with no field violations naming anything — a message naming
    /// `message.token` or "registration token" (what FCM says for a malformed token).
    pub fn names_token(&self) -> bool {
        if !self.field_violations.is_empty() {
            return self.field_violations.iter().any(|f| f == "message.token");
        }
        self.message.as_deref().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("message.token") || m.contains("registration token")
        })
    }
}
