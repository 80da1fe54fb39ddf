//! Fault injection: rules that make chosen requests fail in APNs-like ways
//! (an error response, RST_STREAM, GOAWAY, a dropped connection) or slow.
//!
//! Rules are checked in the order they were added; the first one that
//! matches and selects a request applies. `ratio` selects a deterministic,
//! evenly spread share of matching requests (0.25 = every 4th), so tests
//! using it are reproducible.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::Error;

/// What a fault does to the request it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with `status` and `reason` (the default).
    #[default]
    Respond,
    /// Reset the stream with REFUSED_STREAM (safe for clients to retry).
    RstStream,
    /// Answer with `status`/`reason` (default 503 Shutdown), then send
    /// GOAWAY with debug data `{"reason": reason}` and close gracefully.
    #[serde(alias = "go_away")]
    Goaway,
    /// Close the TCP connection abruptly (RST), failing every in-flight
    /// request on it.
    DropConnection,
}

/// `POST /faults`: one fault rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultSpec {
    /// HTTP status to answer with (for `respond` and `goaway`).
    #[serde(default)]
    pub status: Option<u16>,
    /// Apple reason string; defaults from the status where obvious.
    #[serde(default)]
    pub reason: Option<String>,
    /// Apply to the next `count` selected requests only.
    #[serde(default)]
    pub count: Option<u64>,
    /// Select this share (0..=1) of matching requests.
    #[serde(default)]
    pub ratio: Option<f64>,
    /// Delay before acting (or before normal processing when the rule has
    /// no status and no action).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// What to do; default `respond` when a status is given.
    #[serde(default)]
    pub action: Option<FaultAction>,
    /// Only requests to this device token (case-insensitive).
    #[serde(default)]
    pub match_token: Option<String>,
}

/// A fault decided for one request.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub delay: Option<Duration>,
    /// `None`: only delay, then handle the request normally.
    pub action: Option<FaultAction>,
    pub status: u16,
    pub reason: String,
}

#[derive(Debug)]
struct Rule {
    fault: Fault,
    match_token: Option<String>,
    ratio: Option<f64>,
    remaining: AtomicU64,
    seen: AtomicU64,
}

impl Rule {
    fn selects(&self, token: &str) -> bool {
        if let Some(t) = &self.match_token
            && !t.eq_ignore_ascii_case(token)
        {
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

fn default_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "BadDeviceToken",
        403 => "Forbidden",
        404 => "BadPath",
        405 => "MethodNotAllowed",
        410 => "Unregistered",
        413 => "PayloadTooLarge",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        503 => "ServiceUnavailable",
        _ => return None,
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
    /// Validates and installs `spec`; returns its id.
    pub fn add(&self, spec: &FaultSpec) -> Result<u64, Error> {
        if let Some(r) = spec.ratio
            && !(0.0..=1.0).contains(&r)
        {
            return Err(Error::InvalidInput("ratio must be within 0..=1".into()));
        }
        let action = match (spec.action, spec.status) {
            (Some(a), _) => Some(a),
            (None, Some(_)) => Some(FaultAction::Respond),
            (None, None) if spec.delay_ms.is_some() => None,
            (None, None) => {
                return Err(Error::InvalidInput(
                    "a fault needs a status, an action or a delay_ms".into(),
                ));
            }
        };
        let (status, fallback) = match action {
            Some(FaultAction::Goaway) => (spec.status.unwrap_or(503), "Shutdown"),
            Some(FaultAction::Respond) => {
                let status = spec
                    .status
                    .ok_or_else(|| Error::InvalidInput("action respond needs a status".into()))?;
                (status, default_reason(status).unwrap_or(""))
            }
            _ => (spec.status.unwrap_or(0), ""),
        };
        if action.is_some() && !(100..=599).contains(&status) && status != 0 {
            return Err(Error::InvalidInput(format!("bad status {status}")));
        }
        let reason = match &spec.reason {
            Some(r) => r.clone(),
            None if matches!(action, Some(FaultAction::Respond)) && fallback.is_empty() => {
                return Err(Error::InvalidInput(format!(
                    "status {status} needs an explicit reason"
                )));
            }
            None => fallback.to_string(),
        };
        let rule = Rule {
            fault: Fault {
                delay: spec.delay_ms.map(Duration::from_millis),
                action,
                status,
                reason,
            },
            match_token: spec.match_token.clone(),
            ratio: spec.ratio,
            remaining: AtomicU64::new(spec.count.unwrap_or(u64::MAX)),
            seen: AtomicU64::new(0),
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.rules
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::new(rule));
        self.any.store(true, Ordering::Release);
        Ok(id)
    }

    /// The fault for a request to `device_token`, if any rule selects it.
    pub fn pick(&self, device_token: &str) -> Option<Fault> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        rules
            .iter()
            .find(|r| r.selects(device_token))
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
