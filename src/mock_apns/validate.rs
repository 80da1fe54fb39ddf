//! Judging one push request the way APNs does.
//!
//! Order of checks (Apple documents none; this is the best-known order,
//! cheapest and most structural first):
//! 1. method (405 MethodNotAllowed), path (404 BadPath), empty token
//!    (400 MissingDeviceToken), non-hex token (400 BadDeviceToken);
//! 2. repeated `apns-*`/`authorization` headers (400 DuplicateHeaders),
//!    malformed `apns-id` (400 BadMessageId);
//! 3. authentication (403s, 429 TooManyProviderTokenUpdates, see `auth`);
//! 4. topic (MissingTopic, BadTopic for certificates, TopicDisallowed for
//!    topic-restricted keys), push type (InvalidPushType), priority,
//!    expiration, collapse id;
//! 5. payload: PayloadEmpty, 413 PayloadTooLarge (5120 bytes for voip, 4096
//!    otherwise), and 400 `BadPayload` for a body that is not a JSON object.
//!    `BadPayload` is this simulator's own reason: Apple documents none for
//!    malformed JSON, and accepting it silently would hide a client bug;
//! 6. device-token registry (strict mode, or once any token is registered):
//!    unknown or other-environment token 400 BadDeviceToken, other topic 400
//!    DeviceTokenNotForTopic, unregistered 410 with `timestamp`.

use std::borrow::Cow;
use std::time::SystemTime;

use http::{HeaderMap, Method};

use super::Shared;
use super::auth::ConnAuth;
use super::config::Environment;
use super::records::AuthInfo;

/// Largest VoIP payload.
pub(crate) const MAX_VOIP_PAYLOAD: usize = 5120;
/// Largest payload of other push types.
pub(crate) const MAX_PAYLOAD: usize = 4096;

const PUSH_TYPES: &[&str] = &[
    "alert",
    "background",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "liveactivity",
    "location",
    "pushtotalk",
    "widgets",
    "controls",
];

/// Topic suffix Apple requires for a push type (an inference from Apple's
/// per-type documentation; `voip` is the one that matters here).
fn required_suffix(push_type: &str) -> Option<&'static str> {
    Some(match push_type {
        "voip" => ".voip",
        "complication" => ".complication",
        "fileprovider" => ".pushkit.fileprovider",
        "liveactivity" => ".push-type.liveactivity",
        "location" => ".location-query",
        "pushtotalk" => ".voip-ptt",
        _ => return None,
    })
}

/// A request as far as judging it needs.
pub(crate) struct Incoming<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The simulator's answer to a request.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub status: u16,
    pub reason: Option<Cow<'static, str>>,
    /// For 410: when the token became invalid (epoch ms).
    pub timestamp_ms: Option<u64>,
    pub environment: Option<Environment>,
    pub auth: AuthInfo,
}

impl Verdict {
    fn reject(status: u16, reason: &'static str, auth: AuthInfo) -> Verdict {
        Verdict {
            status,
            reason: Some(Cow::Borrowed(reason)),
            timestamp_ms: None,
            environment: None,
            auth,
        }
    }
}

/// The device token part of a `/3/device/<token>` path.
pub(crate) fn device_token(path: &str) -> Option<&str> {
    path.strip_prefix("/3/device/")
}

/// Whether `value` is a hyphenated UUID (any case).
pub(crate) fn is_uuid(value: &str) -> bool {
    value.len() == 36 && uuid::Uuid::try_parse(value).is_ok()
}

/// The single value of header `name`, as text; `Err` if not valid text.
fn text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ()> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| ()),
    }
}

/// Judges `req` received at `now` on a connection with `conn` auth state.
pub(crate) fn judge(
    shared: &Shared,
    conn: &ConnAuth,
    req: &Incoming<'_>,
    now: SystemTime,
) -> Verdict {
    use AuthInfo::None as NoAuth;
    if req.method != Method::POST {
        return Verdict::reject(405, "MethodNotAllowed", NoAuth);
    }
    let token = match device_token(req.path) {
        None => return Verdict::reject(404, "BadPath", NoAuth),
        Some("") => return Verdict::reject(400, "MissingDeviceToken", NoAuth),
        Some(t) if !t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            return Verdict::reject(400, "BadDeviceToken", NoAuth);
        }
        Some(t) => t,
    };
    let h = req.headers;
    let repeated = h.keys().any(|name| {
        (name.as_str().starts_with("apns-") || name == http::header::AUTHORIZATION)
            && h.get_all(name).iter().nth(1).is_some()
    });
    if repeated {
        return Verdict::reject(400, "DuplicateHeaders", NoAuth);
    }
    match text(h, "apns-id") {
        Ok(None) => {}
        Ok(Some(id)) if is_uuid(id) => {}
        _ => return Verdict::reject(400, "BadMessageId", NoAuth),
    }
    let authed = match conn.authenticate(shared, h, now) {
        Ok(a) => a,
        Err((status, reason)) => return Verdict::reject(status, reason, NoAuth),
    };
    let auth = authed.info.clone();
    let reject = |status, reason| Verdict::reject(status, reason, auth.clone());

    let topic = match text(h, "apns-topic") {
        Ok(Some(t)) if !t.is_empty() => t,
        Ok(_) => match authed.cert.and_then(|c| c.default_topic()) {
            Some(t) => t,
            None => return reject(400, "MissingTopic"),
        },
        Err(()) => return reject(400, "BadTopic"),
    };
    if let Some(cert) = authed.cert
        && !cert.topics.contains(topic)
    {
        return reject(400, "BadTopic");
    }
    if let Some(allowed) = authed.key.as_ref().and_then(|k| k.topics.as_ref())
        && !allowed.contains(topic)
    {
        return reject(400, "TopicDisallowed");
    }
    let push_type = match text(h, "apns-push-type") {
        Ok(Some(p)) => p,
        // Apple infers the type when absent; a .voip topic means voip.
        Ok(None) if topic.ends_with(".voip") => "voip",
        Ok(None) => "alert",
        Err(()) => return reject(400, "InvalidPushType"),
    };
    if !PUSH_TYPES.contains(&push_type) {
        return reject(400, "InvalidPushType");
    }
    if let Some(suffix) = required_suffix(push_type)
        && !topic.ends_with(suffix)
    {
        return reject(400, "InvalidPushType");
    }
    if !matches!(text(h, "apns-priority"), Ok(None | Some("1" | "5" | "10"))) {
        return reject(400, "BadPriority");
    }
    match text(h, "apns-expiration") {
        Ok(None) => {}
        Ok(Some(e)) if !e.is_empty() && e.len() <= 19 && e.bytes().all(|b| b.is_ascii_digit()) => {}
        _ => return reject(400, "BadExpirationDate"),
    }
    if h.get("apns-collapse-id").is_some_and(|c| c.len() > 64) {
        return reject(400, "BadCollapseId");
    }
    if req.body.is_empty() {
        return reject(400, "PayloadEmpty");
    }
    let limit = if push_type == "voip" {
        MAX_VOIP_PAYLOAD
    } else {
        MAX_PAYLOAD
    };
    if req.body.len() > limit {
        return reject(413, "PayloadTooLarge");
    }
    if !is_json_object(req.body) {
        return reject(400, "BadPayload");
    }

    let mut environment = authed.environment.or(shared.mode.single());
    if shared.strict || shared.registry.tokens_active() {
        let Some(entry) = shared.registry.token(token) else {
            return reject(400, "BadDeviceToken");
        };
        if let Some(env) = entry.environment {
            let pinned = authed.environment.is_some_and(|e| e != env);
            if !shared.mode.serves(env) || pinned {
                return reject(400, "BadDeviceToken");
            }
            environment = Some(env);
        }
        if entry.topic.as_deref().is_some_and(|t| t != topic) {
            return reject(400, "DeviceTokenNotForTopic");
        }
        if let Some((ts, reason)) = entry.gone {
            let mut v = reject(410, reason.as_str());
            v.timestamp_ms = Some(ts);
            v.environment = environment;
            return v;
        }
    }
    Verdict {
        status: 200,
        reason: None,
        timestamp_ms: None,
        environment,
        auth,
    }
}

/// Whether `body` is a JSON object (validated without building a tree).
fn is_json_object(body: &[u8]) -> bool {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    first == Some(&b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}
