//! What to push: [`Notification`], checked locally before anything is sent.
//!
//! Apple punishes malformed requests (many 4xx responses make APNs slow or drop
//! the connection), so every rule we can check here is checked here and breaks
//! end in [`Refusal`] instead of a request.

use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use uuid::Uuid;

/// Largest VoIP payload APNs accepts, in bytes.
pub const MAX_VOIP_PAYLOAD: usize = 5120;
/// Largest payload for every other push type, in bytes.
pub const MAX_PAYLOAD: usize = 4096;
/// Longest `apns-collapse-id`, in bytes.
pub const MAX_COLLAPSE_ID: usize = 64;

/// The APNs environment a device token belongs to (the one domain type).
pub use crate::domain::Environment;

/// The `apns-push-type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushType {
    /// `voip`: PushKit call invites only (payload up to 5120 bytes).
    Voip,
    /// `alert`
    Alert,
    /// `background`
    Background,
    /// `location`
    Location,
    /// `complication`
    Complication,
    /// `fileprovider`
    FileProvider,
    /// `mdm`
    Mdm,
    /// `liveactivity`
    LiveActivity,
    /// `pushtotalk`
    PushToTalk,
}

impl PushType {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            PushType::Voip => "voip",
            PushType::Alert => "alert",
            PushType::Background => "background",
            PushType::Location => "location",
            PushType::Complication => "complication",
            PushType::FileProvider => "fileprovider",
            PushType::Mdm => "mdm",
            PushType::LiveActivity => "liveactivity",
            PushType::PushToTalk => "pushtotalk",
        }
    }

    /// The payload size limit for this push type.
    pub fn max_payload(self) -> usize {
        match self {
            PushType::Voip => MAX_VOIP_PAYLOAD,
            _ => MAX_PAYLOAD,
        }
    }
}

/// One push to one device. `Debug` shows only the first 8 characters of the token
/// and the payload's length.
#[derive(Clone, PartialEq, Eq)]
pub struct Notification {
    /// Hex device token (any even length; Apple makes no promise about the length).
    pub device_token: String,
    /// Which APNs environment to send to.
    pub environment: Environment,
    /// `apns-push-type`.
    pub push_type: PushType,
    /// `apns-topic`; for VoIP `<bundle id>.voip`.
    pub topic: String,
    /// `apns-id`, sent lowercase; APNs assigns one when absent.
    pub apns_id: Option<Uuid>,
    /// `apns-expiration` in epoch seconds; `Some(0)` = deliver now or never.
    pub expiration: Option<u64>,
    /// `apns-priority`: 10, 5 or 1.
    pub priority: u8,
    /// `apns-collapse-id`, at most 64 bytes.
    pub collapse_id: Option<String>,
    /// JSON payload.
    pub payload: Bytes,
}

impl Notification {
    /// A VoIP call invite: priority 10, a fresh `apns-id`, no expiration set
    /// (callers should set `expiration` to 0 or a few seconds ahead).
    pub fn voip(
        device_token: impl Into<String>,
        environment: Environment,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Self {
        Self {
            device_token: device_token.into(),
            environment,
            push_type: PushType::Voip,
            topic: topic.into(),
            apns_id: Some(Uuid::new_v4()),
            expiration: None,
            priority: 10,
            collapse_id: None,
            payload: payload.into(),
        }
    }

    /// The device token shortened for logs: first 8 characters and "…".
    pub fn redacted_token(&self) -> String {
        redact_token(&self.device_token)
    }

    /// Checks every rule that can be checked without APNs.
    pub fn validate(&self) -> Result<(), Refusal> {
        let token = &self.device_token;
        if token.is_empty()
            || !token.len().is_multiple_of(2)
            || !token.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Refusal::InvalidDeviceToken);
        }
        if self.payload.is_empty() {
            return Err(Refusal::PayloadEmpty);
        }
        let limit = self.push_type.max_payload();
        if self.payload.len() > limit {
            return Err(Refusal::PayloadTooLarge {
                size: self.payload.len(),
                limit,
            });
        }
        if let Some(id) = &self.collapse_id {
            if id.len() > MAX_COLLAPSE_ID {
                return Err(Refusal::CollapseIdTooLong { len: id.len() });
            }
            if HeaderValue::from_str(id).is_err() {
                return Err(Refusal::InvalidHeader("apns-collapse-id"));
            }
        }
        if !matches!(self.priority, 1 | 5 | 10) {
            return Err(Refusal::InvalidPriority(self.priority));
        }
        if self.topic.is_empty() || HeaderValue::from_str(&self.topic).is_err() {
            return Err(Refusal::InvalidHeader("apns-topic"));
        }
        Ok(())
    }

    /// The HTTP/2 request head (no body) for `authority`; `bearer` is the provider JWT.
    /// Call [`validate`](Self::validate) first.
    pub(crate) fn to_request(
        &self,
        scheme_authority: &str,
        bearer: Option<&str>,
    ) -> Result<Request<()>, Refusal> {
        let uri = format!("{scheme_authority}/3/device/{}", self.device_token);
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header("apns-push-type", self.push_type.as_str())
            .header("apns-topic", self.topic.as_str())
            .header("apns-priority", self.priority.to_string());
        if let Some(id) = self.apns_id {
            builder = builder.header("apns-id", id.hyphenated().to_string());
        }
        if let Some(exp) = self.expiration {
            builder = builder.header("apns-expiration", exp.to_string());
        }
        if let Some(collapse) = &self.collapse_id {
            builder = builder.header("apns-collapse-id", collapse.as_str());
        }
        if let Some(jwt) = bearer {
            let mut value = HeaderValue::from_str(&format!("bearer {jwt}"))
                .map_err(|_| Refusal::InvalidHeader("authorization"))?;
            value.set_sensitive(true);
            builder = builder.header(http::header::AUTHORIZATION, value);
        }
        builder
            .header(http::header::CONTENT_LENGTH, self.payload.len())
            .body(())
            .map_err(|_| Refusal::InvalidHeader("request"))
    }
}

impl fmt::Debug for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notification")
            .field("device_token", &self.redacted_token())
            .field("environment", &self.environment)
            .field("push_type", &self.push_type)
            .field("topic", &self.topic)
            .field("apns_id", &self.apns_id)
            .field("expiration", &self.expiration)
            .field("priority", &self.priority)
            .field("collapse_id", &self.collapse_id)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// A device token shortened for logs: its first 8 characters and "…".
pub fn redact_token(token: &str) -> String {
    let head: String = token.chars().take(8).collect();
    format!("{head}…")
}

/// Why a notification was refused locally without being sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Payload over 5120 bytes (VoIP) or 4096 bytes (other types).
    #[error("payload is {size} bytes, limit {limit}")]
    PayloadTooLarge {
        /// Payload size.
        size: usize,
        /// Limit for the push type.
        limit: usize,
    },
    /// The payload is empty.
    #[error("payload is empty")]
    PayloadEmpty,
    /// `apns-collapse-id` over 64 bytes.
    #[error("collapse id is {len} bytes, limit 64")]
    CollapseIdTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Device token empty, odd-length or not hex.
    #[error("device token is not hex")]
    InvalidDeviceToken,
    /// Priority other than 10, 5 or 1.
    #[error("priority {0} is not 10, 5 or 1")]
    InvalidPriority(u8),
    /// A header value would be empty or not a valid HTTP header value.
    #[error("invalid {0} header")]
    InvalidHeader(&'static str),
}

impl Refusal {
    /// A stable short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::PayloadTooLarge { .. } => "payload_too_large",
            Refusal::PayloadEmpty => "payload_empty",
            Refusal::CollapseIdTooLong { .. } => "collapse_id_too_long",
            Refusal::InvalidDeviceToken => "invalid_device_token",
            Refusal::InvalidPriority(_) => "invalid_priority",
            Refusal::InvalidHeader(_) => "invalid_header",
        }
    }
}
