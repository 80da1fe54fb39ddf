//! FCM HTTP v1 error answers: the `google.rpc.Status` body (`{"error":{code, message,
//! status, details}}`) with an `FcmError` detail carrying the `errorCode`, a `BadRequest`
//! detail naming the field, or an `ErrorInfo` detail for authentication and permission
//! failures — the code/status pairs FCM documents.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::answer::Answer;

const FCM_ERROR: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";
const BAD_REQUEST: &str = "type.googleapis.com/google.rpc.BadRequest";
const ERROR_INFO: &str = "type.googleapis.com/google.rpc.ErrorInfo";
const QUOTA_FAILURE: &str = "type.googleapis.com/google.rpc.QuotaFailure";

/// FCM's `ErrorCode` enum (the `errorCode` of an `FcmError` detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FcmErrorCode {
    /// No more information (500).
    UnspecifiedError,
    /// A request parameter was invalid (400).
    InvalidArgument,
    /// The app instance was unregistered from FCM (404).
    Unregistered,
    /// The sender is not allowed to send to this token (403).
    SenderIdMismatch,
    /// A sending limit was exceeded (429).
    QuotaExceeded,
    /// The server is overloaded (503).
    Unavailable,
    /// An unknown internal error (500).
    Internal,
    /// The APNs certificate or web push auth key was rejected (401).
    ThirdPartyAuthError,
}

impl FcmErrorCode {
    /// The name on the wire, e.g. `UNREGISTERED`.
    pub fn as_str(self) -> &'static str {
        match self {
            FcmErrorCode::UnspecifiedError => "UNSPECIFIED_ERROR",
            FcmErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            FcmErrorCode::Unregistered => "UNREGISTERED",
            FcmErrorCode::SenderIdMismatch => "SENDER_ID_MISMATCH",
            FcmErrorCode::QuotaExceeded => "QUOTA_EXCEEDED",
            FcmErrorCode::Unavailable => "UNAVAILABLE",
            FcmErrorCode::Internal => "INTERNAL",
            FcmErrorCode::ThirdPartyAuthError => "THIRD_PARTY_AUTH_ERROR",
        }
    }

    /// The HTTP status and `google.rpc.Code` name FCM answers this error with.
    pub fn http(self) -> (u16, &'static str) {
        match self {
            FcmErrorCode::InvalidArgument => (400, "INVALID_ARGUMENT"),
            FcmErrorCode::Unregistered => (404, "NOT_FOUND"),
            FcmErrorCode::SenderIdMismatch => (403, "PERMISSION_DENIED"),
            FcmErrorCode::QuotaExceeded => (429, "RESOURCE_EXHAUSTED"),
            FcmErrorCode::Unavailable => (503, "UNAVAILABLE"),
            FcmErrorCode::Internal | FcmErrorCode::UnspecifiedError => (500, "INTERNAL"),
            FcmErrorCode::ThirdPartyAuthError => (401, "UNAUTHENTICATED"),
        }
    }

    /// The usual `message` of this error.
    pub fn default_message(self) -> &'static str {
        match self {
            FcmErrorCode::InvalidArgument => {
                "The registration token is not a valid FCM registration token"
            }
            FcmErrorCode::Unregistered => "Requested entity was not found.",
            FcmErrorCode::SenderIdMismatch => "SenderId mismatch",
            FcmErrorCode::QuotaExceeded => "Quota exceeded for sending messages.",
            FcmErrorCode::Unavailable => "The service is currently unavailable.",
            FcmErrorCode::Internal | FcmErrorCode::UnspecifiedError => {
                "Internal error encountered."
            }
            FcmErrorCode::ThirdPartyAuthError => "Auth error from APNS or Web Push Service",
        }
    }

    /// Parses a wire name (case-insensitive).
    pub fn parse(name: &str) -> Option<FcmErrorCode> {
        serde_json::from_value(Value::String(name.to_ascii_uppercase())).ok()
    }
}

/// An error answer of the FCM API.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub status: &'static str,
    pub message: String,
    pub details: Vec<Value>,
    /// `Retry-After` seconds, when set.
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` value, for 401s of the auth layer.
    pub www_authenticate: Option<&'static str>,
}

impl ApiError {
    /// An error with an `FcmError` detail.
    pub fn fcm(code: FcmErrorCode, message: impl Into<String>) -> ApiError {
        let (http, status) = code.http();
        let mut details = vec![json!({ "@type": FCM_ERROR, "errorCode": code.as_str() })];
        let message = message.into();
        if code == FcmErrorCode::QuotaExceeded {
            details.push(json!({ "@type": QUOTA_FAILURE, "violations": [
                { "subject": "messages", "description": message } ] }));
        }
        ApiError {
            code: http,
            status,
            message,
            details,
            retry_after: None,
            www_authenticate: None,
        }
    }

    /// The error with its usual message.
    pub fn of(code: FcmErrorCode) -> ApiError {
        ApiError::fcm(code, code.default_message())
    }

    /// 400 INVALID_ARGUMENT naming `field` (none when empty), with a `BadRequest` detail.
    pub fn field(field: &str, description: impl Into<String>) -> ApiError {
        let description = description.into();
        let violation = if field.is_empty() {
            json!({ "description": description })
        } else {
            json!({ "field": field, "description": description })
        };
        ApiError {
            code: 400,
            status: "INVALID_ARGUMENT",
            details: vec![json!({ "@type": BAD_REQUEST, "fieldViolations": [violation] })],
            message: description,
            retry_after: None,
            www_authenticate: None,
        }
    }

    /// `Invalid value at 'field' (type), value` — protobuf JSON's wording.
    pub fn invalid_value(field: &str, type_name: &str, value: &Value) -> ApiError {
        let shown = match value {
            Value::String(s) => format!("\"{}\"", s.chars().take(64).collect::<String>()),
            other => other.to_string().chars().take(64).collect(),
        };
        ApiError::field(
            field,
            format!("Invalid value at '{field}' ({type_name}), {shown}"),
        )
    }

    fn google(code: u16, status: &'static str, message: &str, reason: &str) -> ApiError {
        ApiError {
            code,
            status,
            message: message.to_string(),
            details: vec![json!({
                "@type": ERROR_INFO,
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {
                    "service": "fcm.googleapis.com",
                    "method": "google.firebase.fcm.v1.FcmService.SendMessage",
                },
            })],
            retry_after: None,
            www_authenticate: None,
        }
    }

    /// 401 of the auth layer: no bearer, or one that is unknown or expired.
    pub fn unauthenticated(missing: bool, reason: &str) -> ApiError {
        let message = if missing {
            "Request is missing required authentication credential. Expected OAuth 2 access \
             token, login cookie or other valid authentication credential."
        } else {
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential."
        };
        let mut e = ApiError::google(401, "UNAUTHENTICATED", message, reason);
        e.www_authenticate = Some(if missing {
            "Bearer realm=\"https://accounts.google.com/\""
        } else {
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\""
        });
        e
    }

    /// 403 PERMISSION_DENIED of the auth layer.
    pub fn permission_denied(message: &str, reason: &str) -> ApiError {
        ApiError::google(403, "PERMISSION_DENIED", message, reason)
    }

    /// A bare `google.rpc.Status` error (no details).
    pub fn plain(code: u16, status: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            status,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
            www_authenticate: None,
        }
    }

    /// The label counted in the stats: the `errorCode`, else the status.
    pub fn label(&self) -> String {
        self.details
            .iter()
            .find_map(|d| d.get("errorCode").and_then(Value::as_str))
            .unwrap_or(self.status)
            .to_string()
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "status": self.status,
        });
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details.clone());
        }
        json!({ "error": error })
    }

    /// The answer to send.
    pub fn answer(&self) -> Answer {
        let mut a = Answer::json(self.code, &self.body());
        if let Some(secs) = self.retry_after {
            a = a.with_header("retry-after", secs.to_string());
        }
        if let Some(v) = self.www_authenticate {
            a = a.with_header("www-authenticate", v.to_string());
        }
        a
    }
}
