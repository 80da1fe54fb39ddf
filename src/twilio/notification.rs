//! The body of Twilio's Client Call Notification webhook, parsed once: a JSON object of
//! string values whose `twi_*` keys name the call and the callee. The raw text is kept, since
//! each phone must receive it unchanged (Twilio's SDKs verify Twilio's own bridge token in it).

use std::collections::BTreeMap;

use crate::domain::{AccountSid, CallSid, Identity};

/// The only message type relayed: an incoming call.
pub const CALL: &str = "twilio.voice.call";
/// Longest `twi_from` kept (Twilio sends a client name or a phone number).
const MAX_FROM: usize = 256;

/// A call notification from Twilio, checked.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The body exactly as received.
    body: String,
    /// `twi_account_sid`: the Twilio account placing the call.
    pub account: AccountSid,
    /// `twi_call_sid`: the call leg ringing this identity.
    pub call: CallSid,
    /// From `twi_to` (`client:<identity>`).
    pub to: Identity,
    /// `twi_from`, as the phone shows it.
    pub from: String,
    /// `twi_message_id`: Twilio's id of this request (`WB…`).
    pub message_id: String,
    /// `twi_params`: URL-encoded custom parameters, when given.
    pub params: Option<String>,
}

/// Why a body is not a call notification (a 400 with the field's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidNotification {
    #[error("the body is not a JSON object: {0}")]
    NotAnObject(String),
    #[error("{0} must be a string, as Twilio sends every value")]
    NotAString(String),
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{field} is invalid: {why}")]
    Invalid { field: &'static str, why: String },
    #[error("twi_message_type {0:?} is not relayed: only twilio.voice.call")]
    MessageType(String),
}

impl Notification {
    /// Parses Twilio's JSON `body`.
    pub fn parse(body: &[u8]) -> Result<Self, InvalidNotification> {
        let text = std::str::from_utf8(body)
            .map_err(|e| InvalidNotification::NotAnObject(e.to_string()))?;
        let fields = fields(text)?;
        let get = |k: &'static str| {
            fields
                .get(k)
                .map(String::as_str)
                .ok_or(InvalidNotification::Missing(k))
        };
        let invalid =
            |field: &'static str, e: &dyn std::fmt::Display| InvalidNotification::Invalid {
                field,
                why: e.to_string(),
            };
        let kind = get("twi_message_type")?;
        if kind != CALL {
            return Err(InvalidNotification::MessageType(kind.to_owned()));
        }
        let account = AccountSid::parse(get("twi_account_sid")?)
            .map_err(|e| invalid("twi_account_sid", &e))?;
        let call = CallSid::parse(get("twi_call_sid")?).map_err(|e| invalid("twi_call_sid", &e))?;
        let to = get("twi_to")?
            .strip_prefix("client:")
            .ok_or_else(|| invalid("twi_to", &"must be client:<identity>"))?;
        let to = Identity::parse(to).map_err(|e| invalid("twi_to", &e))?;
        let from = get("twi_from")?;
        if from.is_empty() || from.chars().count() > MAX_FROM || from.chars().any(char::is_control)
        {
            return Err(invalid("twi_from", &"must be 1-256 printable characters"));
        }
        if get("twi_bridge_token")?.is_empty() {
            return Err(invalid("twi_bridge_token", &"is empty"));
        }
        let message_id = get("twi_message_id")?;
        if message_id.is_empty() || message_id.len() > 64 {
            return Err(invalid("twi_message_id", &"must be 1-64 characters"));
        }
        Ok(Self {
            account,
            call,
            to,
            from: from.to_owned(),
            message_id: message_id.to_owned(),
            params: fields.get("twi_params").cloned(),
            body: text.to_owned(),
        })
    }

    /// The body as received: the APNs payload, and what the store keeps.
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// Every key of the JSON object `text` with its string value (what FCM's `data` carries).
pub fn fields(text: &str) -> Result<BTreeMap<String, String>, InvalidNotification> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| InvalidNotification::NotAnObject(e.to_string()))?;
    object
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            _ => Err(InvalidNotification::NotAString(k)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn body() -> serde_json::Value {
        serde_json::json!({
            "twi_account_sid": format!("AC{}", "1".repeat(32)),
            "twi_call_sid": format!("CA{}", "2".repeat(32)),
            "twi_bridge_token": "eyJhbGciOiJIUzI1NiJ9.e30.sig",
            "twi_from": "client:quick_start",
            "twi_to": "client:alice",
            "twi_message_id": "WB0123",
            "twi_message_type": "twilio.voice.call",
            "twi_params": "a=1&b=two+words",
            "twi_extra": "kept",
        })
    }

    #[test]
    fn a_call_notification_parses_and_keeps_its_body() {
        let raw = serde_json::to_vec_pretty(&body()).unwrap();
        let n = Notification::parse(&raw).unwrap();
        assert_eq!(n.to.as_str(), "alice");
        assert_eq!(n.from, "client:quick_start");
        assert_eq!(n.params.as_deref(), Some("a=1&b=two+words"));
        assert_eq!(n.body().as_bytes(), raw.as_slice());
        assert_eq!(fields(n.body()).unwrap()["twi_extra"], "kept");
    }

    #[test]
    fn what_is_not_a_call_notification_is_refused() {
        let with = |k: &str, v: serde_json::Value| {
            let mut b = body();
            b[k] = v;
            serde_json::to_vec(&b).unwrap()
        };
        let without = |k: &str| {
            let mut b = body();
            b.as_object_mut().unwrap().remove(k);
            serde_json::to_vec(&b).unwrap()
        };
        for (raw, why) in [
            (b"[1]".to_vec(), "not an object"),
            (b"{".to_vec(), "not JSON"),
            (vec![0xff, 0xfe], "not UTF-8"),
            (with("twi_extra", serde_json::json!(1)), "a number"),
            (
                with("twi_message_type", "twilio.voice.cancel".into()),
                "a cancel",
            ),
            (with("twi_to", "alice".into()), "no client: prefix"),
            (with("twi_to", "client:".into()), "empty identity"),
            (with("twi_call_sid", "CA12".into()), "a short call SID"),
            (with("twi_account_sid", "SK".into()), "not an account"),
            (with("twi_from", "".into()), "empty from"),
            (with("twi_bridge_token", "".into()), "empty token"),
            (without("twi_to"), "no twi_to"),
            (without("twi_message_id"), "no message id"),
        ] {
            assert!(Notification::parse(&raw).is_err(), "{why}");
        }
    }
}
