//! Fault injection: rules that make chosen `messages:send` requests (or token requests)
//! fail the way FCM and Google's token endpoint do — an FCM error answer, a token-endpoint
//! error, a reset stream, a dropped connection — or slow down.
//!
//! Rules are checked in the order they were added; the first one that matches and selects
//! a request applies. `count` limits a rule to its next N selections; `ratio` selects a
//! deterministic, evenly spread share (0.25 = every 4th), so tests stay reproducible.
//! `expire_access_tokens` is not a rule: it expires every issued access token at once.
//!
//! Delays, reset streams and dropped connections act on arrival; an error answer replaces
//! the verdict of a request whose bearer passed (a client without a valid token still
//! sees 401 first, as it would from FCM).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::assertion::GrantError;
use super::config::Error;
use super::errors::{ApiError, FcmErrorCode};

/// Longest delay a fault may add (10 minutes).
const MAX_DELAY_MS: u64 = 600_000;

/// Which endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    /// `POST /v1/projects/{p}/messages:send` (the default).
    #[default]
    Send,
    /// `POST /token`.
    Token,
}

/// What a fault does to the request it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with the error (the default).
    #[default]
    Respond,
    /// Reset the HTTP/2 stream (REFUSED_STREAM; HTTP/1.1: close the connection).
    #[serde(alias = "rst_stream")]
    ResetStream,
    /// Reset the TCP connection, failing every request in flight on it.
    DropConnection,
    /// Expire every access token issued so far, now (clients see 401 and must refresh).
    ExpireAccessTokens,
}

/// `POST /faults`: one fault rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultSpec {
    /// `send` (default) or `token`.
    #[serde(default)]
    pub target: Option<FaultTarget>,
    /// Send: an FCM `errorCode` (`UNREGISTERED`, `INVALID_ARGUMENT`, `SENDER_ID_MISMATCH`,
    /// `THIRD_PARTY_AUTH_ERROR`, `QUOTA_EXCEEDED`, `INTERNAL`, `UNAVAILABLE`, …) or
    /// `UNAUTHENTICATED` (a refused bearer). Token: an OAuth error (`invalid_grant`,
    /// `invalid_client`, `unauthorized_client`, `internal_failure`, `temporarily_unavailable`).
    #[serde(default)]
    pub error_code: Option<String>,
    /// HTTP status; for token faults it may stand alone (500, 503, 400, 401).
    #[serde(default)]
    pub status: Option<u16>,
    /// The error `message` (default: FCM's usual one).
    #[serde(default)]
    pub message: Option<String>,
    /// INVALID_ARGUMENT about this field (e.g. `message.android.ttl`) instead of the token.
    #[serde(default)]
    pub field: Option<String>,
    /// Adds `Retry-After: N` (QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL, token 503).
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// Apply to the next `count` selected requests only (default: unlimited).
    #[serde(default)]
    pub count: Option<u64>,
    /// Select this share (0..=1) of matching requests.
    #[serde(default)]
    pub ratio: Option<f64>,
    /// Delay before acting (or before normal processing for a delay-only rule).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// What to do; default `respond` when an error is given.
    #[serde(default)]
    pub action: Option<FaultAction>,
    /// Only sends to this registration token (exact match).
    #[serde(default)]
    pub match_token: Option<String>,
}

/// The answer a fault gives.
#[derive(Debug, Clone)]
pub(crate) enum FaultAnswer {
    Send(ApiError),
    Token(GrantError),
}

/// A fault decided for one request.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub delay: Option<Duration>,
    /// `None`: only delay, then handle the request normally.
    pub action: Option<FaultAction>,
    pub answer: Option<FaultAnswer>,
    /// The rule's `errorCode`/OAuth error or action, as logged.
    pub label: String,
}

#[derive(Debug)]
struct Rule {
    target: FaultTarget,
    fault: Fault,
    match_token: Option<String>,
    ratio: Option<f64>,
    remaining: AtomicU64,
    seen: AtomicU64,
}

impl Rule {
    fn selects(&self, target: FaultTarget, token: &str) -> bool {
        if self.target != target || self.match_token.as_deref().is_some_and(|t| t != token) {
            return false;
        }
        if let Some(r) = self.ratio {
            let n = self.seen.fetch_add(1, Ordering::Relaxed) as f64;
            if ((n + 1.0) * r).floor() <= (n * r).floor() {
                return false;
            }
        }
        self.remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_sub(1))
            .is_ok()
    }
}

fn send_answer(spec: &FaultSpec, name: &str) -> Result<ApiError, Error> {
    let mut e = if name.eq_ignore_ascii_case("UNAUTHENTICATED") {
        ApiError::unauthenticated(false, "ACCESS_TOKEN_EXPIRED")
    } else {
        let code = FcmErrorCode::parse(name)
            .ok_or_else(|| Error::InvalidInput(format!("unknown FCM errorCode {name:?}")))?;
        match (code, &spec.field) {
            (FcmErrorCode::InvalidArgument, Some(field)) => {
                let message = spec.message.clone();
                ApiError::field(
                    field,
                    message.unwrap_or(format!("Invalid value at '{field}'")),
                )
            }
            _ => ApiError::fcm(
                code,
                spec.message.as_deref().unwrap_or(code.default_message()),
            ),
        }
    };
    if let Some(m) = &spec.message {
        e.message = m.clone();
    }
    if let Some(status) = spec.status {
        e.code = status;
    }
    e.retry_after = spec.retry_after_secs;
    Ok(e)
}

fn token_answer(spec: &FaultSpec) -> Result<GrantError, Error> {
    let error: &'static str = match (spec.error_code.as_deref(), spec.status) {
        (Some("invalid_grant"), _) | (None, Some(400)) => "invalid_grant",
        (Some("invalid_client"), _) | (None, Some(401)) => "invalid_client",
        (Some("unauthorized_client"), _) => "unauthorized_client",
        (Some("internal_failure"), _) | (None, Some(500)) => "internal_failure",
        (Some("temporarily_unavailable"), _) | (None, Some(503)) => "temporarily_unavailable",
        (Some(other), _) => {
            return Err(Error::InvalidInput(format!(
                "unknown OAuth error {other:?}"
            )));
        }
        (None, _) => {
            return Err(Error::InvalidInput(
                "a token fault needs an error_code or a status of 400, 401, 500 or 503".into(),
            ));
        }
    };
    let status = spec.status.unwrap_or(match error {
        "invalid_grant" => 400,
        "internal_failure" => 500,
        "temporarily_unavailable" => 503,
        _ => 401,
    });
    let description = spec.message.clone().unwrap_or_else(|| {
        match error {
            "invalid_grant" => "Invalid JWT Signature.",
            "internal_failure" => "Backend Error",
            "temporarily_unavailable" => "The service is temporarily unavailable.",
            _ => "The OAuth client was not found.",
        }
        .into()
    });
    Ok(GrantError {
        status,
        error,
        description,
    })
}

/// The installed fault rules.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    any: AtomicBool,
    next_id: AtomicU64,
    rules: RwLock<Vec<Arc<Rule>>>,
}

impl Faults {
    /// Validates and installs `spec`; returns its id. (`expire_access_tokens` is carried
    /// out by the caller; it gets an id but installs nothing.)
    pub fn add(&self, spec: &FaultSpec) -> Result<u64, Error> {
        if let Some(r) = spec.ratio
            && !(0.0..=1.0).contains(&r)
        {
            return Err(Error::InvalidInput("ratio must be within 0..=1".into()));
        }
        if spec.delay_ms.is_some_and(|d| d > MAX_DELAY_MS) {
            return Err(Error::InvalidInput(format!(
                "delay_ms must be at most {MAX_DELAY_MS}"
            )));
        }
        if spec.status.is_some_and(|s| !(400..=599).contains(&s)) {
            return Err(Error::InvalidInput(
                "status must be within 400..=599".into(),
            ));
        }
        let target = spec.target.unwrap_or_default();
        if target == FaultTarget::Token && spec.match_token.is_some() {
            return Err(Error::InvalidInput(
                "match_token applies to send faults only".into(),
            ));
        }
        let has_error = spec.error_code.is_some() || spec.status.is_some();
        let action = match (spec.action, has_error) {
            (Some(a), _) => Some(a),
            (None, true) => Some(FaultAction::Respond),
            (None, false) if spec.delay_ms.is_some() => None,
            (None, false) => {
                return Err(Error::InvalidInput(
                    "a fault needs an error_code, a status, an action or a delay_ms".into(),
                ));
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        if action == Some(FaultAction::ExpireAccessTokens) {
            return Ok(id);
        }
        let answer = match (action, target) {
            (Some(FaultAction::Respond), FaultTarget::Send) => {
                let name = spec.error_code.as_deref().ok_or_else(|| {
                    Error::InvalidInput("a send fault that responds needs an error_code".into())
                })?;
                Some(FaultAnswer::Send(send_answer(spec, name)?))
            }
            (Some(FaultAction::Respond), FaultTarget::Token) => {
                Some(FaultAnswer::Token(token_answer(spec)?))
            }
            _ => None,
        };
        let label = match (&answer, action) {
            (Some(FaultAnswer::Send(e)), _) => e.label(),
            (Some(FaultAnswer::Token(g)), _) => g.error.to_string(),
            (None, Some(FaultAction::ResetStream)) => "reset_stream".into(),
            (None, Some(FaultAction::DropConnection)) => "drop_connection".into(),
            _ => "delay".into(),
        };
        let rule = Rule {
            target,
            fault: Fault {
                delay: spec.delay_ms.map(Duration::from_millis),
                action,
                answer,
                label,
            },
            match_token: spec.match_token.clone(),
            ratio: spec.ratio,
            remaining: AtomicU64::new(spec.count.unwrap_or(u64::MAX)),
            seen: AtomicU64::new(0),
        };
        let mut rules = self.rules.write().unwrap_or_else(|e| e.into_inner());
        if rules.len() >= 1000 {
            return Err(Error::InvalidInput("too many fault rules (1000)".into()));
        }
        rules.push(Arc::new(rule));
        self.any.store(true, Ordering::Release);
        Ok(id)
    }

    /// The fault for a request to `target` (sends: to registration `token`), if any.
    pub fn pick(&self, target: FaultTarget, token: &str) -> Option<Fault> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        rules
            .iter()
            .find(|r| r.selects(target, token))
            .map(|r| r.fault.clone())
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.any.store(false, Ordering::Release);
    }
}
