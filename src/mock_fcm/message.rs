//! Validation of a `messages:send` body the way FCM does it: protobuf JSON field names
//! (snake_case or lowerCamelCase, unknown names refused), exactly one target, registration
//! token characters, string-only data without FCM's reserved keys, the 4096-byte data
//! limit, and the Android options (`priority`, `ttl` as a protobuf Duration of at most 28
//! days, `collapse_key`, …). Errors name the field.

use serde_json::{Map, Value};

use super::errors::{ApiError, FcmErrorCode};
use super::registry::valid_token;

/// Largest data payload (keys plus values), in bytes.
pub(crate) const MAX_DATA_BYTES: usize = 4096;
/// Longest `android.ttl` FCM accepts: 28 days.
const MAX_TTL_SECS: u64 = 28 * 24 * 3600;

const MESSAGE_FIELDS: &[&str] = &[
    "name",
    "data",
    "notification",
    "android",
    "webpush",
    "apns",
    "fcm_options",
    "token",
    "topic",
    "condition",
];
const ANDROID_FIELDS: &[&str] = &[
    "collapse_key",
    "priority",
    "ttl",
    "restricted_package_name",
    "data",
    "notification",
    "fcm_options",
    "direct_boot_ok",
    "bandwidth_constrained_ok",
    "restricted_satellite_ok",
];

/// Where a valid message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Token(String),
    Topic(String),
    Condition(String),
}

/// A valid send request.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub target: Target,
    pub validate_only: bool,
}

/// `message.token` if the body has one (for fault matching and the log), else "".
pub(crate) fn token_of(body: &Value) -> &str {
    body.get("message")
        .and_then(|m| m.get("token"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// protobuf JSON accepts `collapseKey` for `collapse_key`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn unknown_name(name: &str, at: &str) -> ApiError {
    let at = if at.is_empty() {
        String::new()
    } else {
        format!(" at '{at}'")
    };
    ApiError::field(
        "",
        format!("Invalid JSON payload received. Unknown name \"{name}\"{at}: Cannot find field."),
    )
}

/// The object's fields by their snake_case names; unknown or repeated names refused.
fn fields<'a>(
    obj: &'a Map<String, Value>,
    known: &[&str],
    at: &str,
) -> Result<Vec<(String, &'a Value)>, ApiError> {
    let mut out: Vec<(String, &Value)> = Vec::with_capacity(obj.len());
    for (name, value) in obj {
        let n = snake(name);
        if !known.contains(&n.as_str()) {
            return Err(unknown_name(name, at));
        }
        if out.iter().any(|(seen, _)| *seen == n) {
            return Err(ApiError::field(
                at,
                format!("Invalid JSON payload received. Duplicate field \"{name}\"."),
            ));
        }
        out.push((n, value));
    }
    Ok(out)
}

fn object<'a>(
    v: &'a Value,
    field: &str,
    type_name: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object()
        .ok_or_else(|| ApiError::invalid_value(field, type_name, v))
}

fn string<'a>(v: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    v.as_str()
        .ok_or_else(|| ApiError::invalid_value(field, "TYPE_STRING", v))
}

fn reserved_key(key: &str) -> bool {
    matches!(key, "from" | "notification" | "message_type" | "gcm")
        || key.starts_with("google")
        || key.starts_with("gcm.")
}

/// Checks a `data` map; returns its size in bytes.
fn data(v: &Value, field: &str) -> Result<usize, ApiError> {
    let map = object(v, field, "TYPE_MAP")?;
    let mut size = 0;
    for (i, (key, value)) in map.iter().enumerate() {
        if reserved_key(key) {
            return Err(ApiError::field(
                &format!("{field}[{i}].key"),
                format!("Invalid value at '{field}[{i}].key': \"{key}\" is a reserved key"),
            ));
        }
        let value = string(value, &format!("{field}[{i}].value"))?;
        size += key.len() + value.len();
    }
    Ok(size)
}

/// Whether `ttl` is a protobuf Duration string FCM accepts (`3.5s`, at most 28 days).
fn valid_ttl(ttl: &str) -> bool {
    let Some(number) = ttl.strip_suffix('s') else {
        return false;
    };
    let (secs, frac) = match number.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (number, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || frac.is_some_and(|f| !digits(f) || f.len() > 9) {
        return false;
    }
    match secs.parse::<u64>() {
        Ok(s) if s < MAX_TTL_SECS => true,
        Ok(s) if s == MAX_TTL_SECS => frac.is_none_or(|f| f.bytes().all(|b| b == b'0')),
        _ => false,
    }
}

fn android(v: &Value) -> Result<usize, ApiError> {
    let at = "message.android";
    let obj = object(
        v,
        at,
        "type.googleapis.com/google.firebase.fcm.v1.AndroidConfig",
    )?;
    let mut size = 0;
    for (name, value) in fields(obj, ANDROID_FIELDS, at)? {
        let field = format!("{at}.{name}");
        match name.as_str() {
            "priority" => match value.as_str() {
                Some("NORMAL" | "HIGH") => {}
                _ => {
                    let t = "type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority";
                    return Err(ApiError::invalid_value(&field, t, value));
                }
            },
            "ttl" => {
                if !value.as_str().is_some_and(valid_ttl) {
                    let t = "type.googleapis.com/google.protobuf.Duration";
                    return Err(ApiError::invalid_value(&field, t, value));
                }
            }
            "collapse_key" | "restricted_package_name" => {
                string(value, &field)?;
            }
            "data" => size += data(value, &field)?,
            "notification" | "fcm_options" => {
                object(value, &field, "TYPE_MESSAGE")?;
            }
            _ => {
                if !value.is_boolean() {
                    return Err(ApiError::invalid_value(&field, "TYPE_BOOL", value));
                }
            }
        }
    }
    Ok(size)
}

fn target(name: &str, value: &Value) -> Result<Target, ApiError> {
    let field = format!("message.{name}");
    let s = string(value, &field)?;
    match name {
        "token" if valid_token(s) => Ok(Target::Token(s.to_string())),
        "token" => Err(ApiError::of(FcmErrorCode::InvalidArgument)),
        "topic" => {
            let topic = s.strip_prefix("/topics/").unwrap_or(s);
            let ok = !topic.is_empty()
                && topic.len() <= 900
                && topic
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b));
            if ok {
                Ok(Target::Topic(topic.to_string()))
            } else {
                Err(ApiError::fcm(
                    FcmErrorCode::InvalidArgument,
                    "Invalid topic name.",
                ))
            }
        }
        _ if s.trim().is_empty() => Err(ApiError::fcm(
            FcmErrorCode::InvalidArgument,
            "Invalid condition expression provided.",
        )),
        _ => Ok(Target::Condition(s.to_string())),
    }
}

/// Validates a parsed send body.
pub(crate) fn validate(body: &Value) -> Result<Message, ApiError> {
    let top = body.as_object().ok_or_else(|| {
        ApiError::field("", "Invalid JSON payload received. Expected a JSON object.")
    })?;
    let mut message = None;
    let mut validate_only = false;
    for (name, value) in fields(top, &["message", "validate_only"], "")? {
        if name == "message" {
            message = Some(value);
        } else {
            validate_only = value
                .as_bool()
                .ok_or_else(|| ApiError::invalid_value("validate_only", "TYPE_BOOL", value))?;
        }
    }
    let Some(message) = message else {
        return Err(ApiError::fcm(
            FcmErrorCode::InvalidArgument,
            "Request contains an invalid argument.",
        ));
    };
    let msg = object(
        message,
        "message",
        "type.googleapis.com/google.firebase.fcm.v1.Message",
    )?;
    let mut found: Option<(String, Target)> = None;
    let mut size = 0;
    for (name, value) in fields(msg, MESSAGE_FIELDS, "message")? {
        let field = format!("message.{name}");
        match name.as_str() {
            "token" | "topic" | "condition" => {
                if let Some((set, _)) = &found {
                    return Err(ApiError::field(
                        "message",
                        format!(
                            "Invalid value at 'message' (oneof), oneof field 'target' is already \
                             set. Cannot set '{name}' (already set: '{set}')"
                        ),
                    ));
                }
                found = Some((name.clone(), target(&name, value)?));
            }
            "data" => size += data(value, &field)?,
            "android" => size += android(value)?,
            "name" => {
                string(value, &field)?;
            }
            _ => {
                object(value, &field, "TYPE_MESSAGE")?;
            }
        }
    }
    let Some((_, target)) = found else {
        return Err(ApiError::fcm(
            FcmErrorCode::InvalidArgument,
            "Recipient of the message is not set.",
        ));
    };
    if size > MAX_DATA_BYTES {
        return Err(ApiError::fcm(
            FcmErrorCode::InvalidArgument,
            "Android message is too big",
        ));
    }
    Ok(Message {
        target,
        validate_only,
    })
}
