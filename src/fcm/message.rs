//! What to send: [`FcmMessage`], a data message to one registration token, checked locally
//! before anything is sent (FCM answers rule breaks with `INVALID_ARGUMENT`, which would
//! cost a round trip and read as our bug).
//!
//! The wire form (`POST /v1/projects/{id}/messages:send`):
//! `{"message":{"token":…,"data":{…},"android":{"priority":"HIGH","ttl":"30s","collapse_key":…}}}`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// FCM's limit on a data payload: the UTF-8 bytes of every key plus every value.
pub const MAX_DATA_BYTES: usize = 4096;
/// The longest `android.ttl` FCM accepts (28 days).
pub const MAX_TTL: Duration = Duration::from_secs(28 * 24 * 3600);
/// The shortest registration token accepted (real ones are ~140–200+ characters).
pub const MIN_TOKEN_LEN: usize = 32;
/// The longest registration token accepted (Google's only stated bound: 4 KiB).
pub const MAX_TOKEN_LEN: usize = 4096;
/// Data keys FCM reserves.
pub const RESERVED_KEYS: [&str; 3] = ["from", "notification", "message_type"];
/// Data key prefixes FCM reserves.
pub const RESERVED_PREFIXES: [&str; 2] = ["google.", "gcm."];

/// `android.priority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    /// `HIGH`: delivered immediately, may wake the device (what calls need).
    #[default]
    High,
    /// `NORMAL`: may be delayed while the device dozes.
    Normal,
}

impl Priority {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "HIGH",
            Priority::Normal => "NORMAL",
        }
    }
}

/// One data message to one device. `Debug` shows only the token's first 8 characters and
/// the data's keys, never its values.
#[derive(Clone, PartialEq, Eq)]
pub struct FcmMessage {
    /// The device's registration token.
    pub token: String,
    /// The data payload (string values only, as FCM requires).
    pub data: BTreeMap<String, String>,
    /// `android.priority` (default high).
    pub priority: Priority,
    /// `android.ttl`, whole seconds (sub-second parts are dropped); `None` = FCM's default
    /// (4 weeks). `Some(ZERO)` = deliver now or never.
    pub ttl: Option<Duration>,
    /// `android.collapse_key`: a newer message with the same key replaces an undelivered one.
    pub collapse_key: Option<String>,
}

impl FcmMessage {
    /// A high-priority data message to `token`, with no data, TTL or collapse key yet.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            data: BTreeMap::new(),
            priority: Priority::High,
            ttl: None,
            collapse_key: None,
        }
    }

    /// Adds (or replaces) one data entry.
    pub fn data(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the TTL.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Sets the collapse key.
    pub fn collapse_key(mut self, key: impl Into<String>) -> Self {
        self.collapse_key = Some(key.into());
        self
    }

    /// The payload size as FCM counts it: UTF-8 bytes of all keys and values.
    pub fn data_size(&self) -> usize {
        self.data.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// The token shortened for logs.
    pub fn redacted_token(&self) -> String {
        crate::apns::redact_token(&self.token)
    }

    /// Checks every rule that can be checked without FCM.
    pub fn validate(&self) -> Result<(), Refusal> {
        check_registration_token(&self.token).map_err(Refusal::InvalidToken)?;
        for key in self.data.keys() {
            if key.is_empty() {
                return Err(Refusal::EmptyDataKey);
            }
            if RESERVED_KEYS.contains(&key.as_str())
                || RESERVED_PREFIXES.iter().any(|p| key.starts_with(p))
            {
                return Err(Refusal::ReservedDataKey {
                    key: key.chars().take(64).collect(),
                });
            }
        }
        let size = self.data_size();
        if size > MAX_DATA_BYTES {
            return Err(Refusal::DataTooLarge {
                size,
                limit: MAX_DATA_BYTES,
            });
        }
        if let Some(ttl) = self.ttl
            && ttl > MAX_TTL
        {
            return Err(Refusal::TtlTooLong {
                secs: ttl.as_secs(),
            });
        }
        if self.collapse_key.as_deref().is_some_and(str::is_empty) {
            return Err(Refusal::EmptyCollapseKey);
        }
        Ok(())
    }

    /// The request body, after [`validate`](Self::validate).
    pub fn to_json(&self) -> Result<Vec<u8>, Refusal> {
        self.validate()?;
        let mut android = Map::new();
        android.insert("priority".into(), self.priority.as_str().into());
        if let Some(ttl) = self.ttl {
            android.insert("ttl".into(), render_ttl(ttl).into());
        }
        if let Some(key) = &self.collapse_key {
            android.insert("collapse_key".into(), key.as_str().into());
        }
        let mut message = Map::new();
        message.insert("token".into(), self.token.as_str().into());
        if !self.data.is_empty() {
            message.insert("data".into(), json!(self.data));
        }
        message.insert("android".into(), Value::Object(android));
        serde_json::to_vec(&json!({ "message": message })).map_err(|_| Refusal::Unrenderable)
    }
}

impl fmt::Debug for FcmMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcmMessage")
            .field("token", &self.redacted_token())
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field("priority", &self.priority)
            .field("ttl", &self.ttl)
            .field("collapse_key", &self.collapse_key)
            .finish()
    }
}

/// A TTL in FCM's Duration format: whole seconds and `s` (`"0s"`, `"30s"`), capped at
/// [`MAX_TTL`].
pub fn render_ttl(ttl: Duration) -> String {
    format!("{}s", ttl.min(MAX_TTL).as_secs())
}

/// Why a string is not a plausible registration token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    /// Empty.
    #[error("registration token is empty")]
    Empty,
    /// Shorter than [`MIN_TOKEN_LEN`].
    #[error("registration token is {len} characters, at least {MIN_TOKEN_LEN} expected")]
    TooShort {
        /// Its length.
        len: usize,
    },
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error("registration token is {len} bytes, at most {MAX_TOKEN_LEN} accepted")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A byte outside `[A-Za-z0-9_:.-]` (whitespace, control, non-ASCII, quotes, …).
    #[error("registration token has an invalid character at byte {at}")]
    InvalidCharacter {
        /// Byte offset of the first one.
        at: usize,
    },
}

/// Checks that `token` looks like an FCM registration token: 32 to 4096 bytes of URL-safe
/// base64 characters plus `:` (which separates the instance id from the rest) and `.`.
///
/// Google publishes no format and warns that it may change, so this only rejects what can't
/// be a token — whitespace, control characters, quotes, non-ASCII, implausible lengths —
/// rather than matching today's `<id>:APA91b…` shape.
pub fn check_registration_token(token: &str) -> Result<(), TokenFormatError> {
    if token.is_empty() {
        return Err(TokenFormatError::Empty);
    }
    if let Some(at) = token
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.')))
    {
        return Err(TokenFormatError::InvalidCharacter { at });
    }
    match token.len() {
        len if len < MIN_TOKEN_LEN => Err(TokenFormatError::TooShort { len }),
        len if len > MAX_TOKEN_LEN => Err(TokenFormatError::TooLong { len }),
        _ => Ok(()),
    }
}

/// Why a message was refused locally without being sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The registration token is malformed.
    #[error("{0}")]
    InvalidToken(TokenFormatError),
    /// Data keys plus values over [`MAX_DATA_BYTES`].
    #[error("data payload is {size} bytes, limit {limit}")]
    DataTooLarge {
        /// Bytes of keys plus values.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A data key FCM reserves (`from`, `notification`, `message_type`, `google.*`, `gcm.*`).
    #[error("data key {key:?} is reserved by FCM")]
    ReservedDataKey {
        /// The key (first 64 characters).
        key: String,
    },
    /// An empty data key.
    #[error("data key is empty")]
    EmptyDataKey,
    /// TTL over 28 days.
    #[error("ttl {secs}s is over 28 days")]
    TtlTooLong {
        /// The TTL in seconds.
        secs: u64,
    },
    /// An empty collapse key (omit it instead).
    #[error("collapse key is empty")]
    EmptyCollapseKey,
    /// The project id can't be part of a URL path.
    #[error("project id is empty, too long or not [a-z0-9.:-]")]
    InvalidProjectId,
    /// The body could not be serialized (should not happen).
    #[error("message could not be rendered")]
    Unrenderable,
}

impl Refusal {
    /// A stable short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::InvalidToken(_) => "invalid_token",
            Refusal::DataTooLarge { .. } => "data_too_large",
            Refusal::ReservedDataKey { .. } => "reserved_data_key",
            Refusal::EmptyDataKey => "empty_data_key",
            Refusal::TtlTooLong { .. } => "ttl_too_long",
            Refusal::EmptyCollapseKey => "empty_collapse_key",
            Refusal::InvalidProjectId => "invalid_project_id",
            Refusal::Unrenderable => "unrenderable",
        }
    }

    /// Every label, for metrics that export each from the start.
    pub const LABELS: [&'static str; 8] = [
        "invalid_token",
        "data_too_large",
        "reserved_data_key",
        "empty_data_key",
        "ttl_too_long",
        "empty_collapse_key",
        "invalid_project_id",
        "unrenderable",
    ];
}

/// Whether `id` can be a Google Cloud project id in a URL path: 1..=100 of `[a-z0-9.:-]`
/// (Google's rule is 6–30 of `[a-z0-9-]`, plus `domain:` scoped legacy ids; here only path
/// safety matters).
pub fn check_project_id(id: &str) -> Result<(), Refusal> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b':')
        });
    if ok {
        Ok(())
    } else {
        Err(Refusal::InvalidProjectId)
    }
}
