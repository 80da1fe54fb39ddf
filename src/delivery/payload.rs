//! The push each phone receives for a call invite, in Twilio's shape.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::job::DeliveryJob;
use crate::auth::bridge_token::BridgeTokens;

/// `twi_message_type` of a call invite.
pub const CALL: &str = "twilio.voice.call";

/// The `twi_*` fields of `job`'s push, with its `bridge_token`: every value a string, as
/// FCM's `data` requires and as the APNs payload carries them.
pub fn call_fields(job: &DeliveryJob, bridge_token: &str) -> BTreeMap<String, String> {
    let invite = &job.invite;
    let mut fields = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        fields.insert(k.to_owned(), v);
    };
    put("twi_message_type", CALL.to_owned());
    put("twi_call_sid", invite.call_sid.to_string());
    put("twi_account_sid", invite.account_sid.to_string());
    put("twi_from", invite.caller.clone());
    put("twi_to", format!("client:{}", invite.to_identity));
    put("twi_message_id", job.delivery_id.to_string());
    put("twi_bridge_token", bridge_token.to_owned());
    if let Some(params) = &invite.params {
        put("twi_params", params.clone());
    }
    fields
}

/// The JSON payload of `job`'s APNs push, with its `bridge_token`.
pub fn call_payload(job: &DeliveryJob, bridge_token: &str) -> Vec<u8> {
    let body: Map<String, Value> = call_fields(job, bridge_token)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

/// The APNs payload of `job`: a relayed notification's body as received, else pushgate's call
/// payload with a bridge token signed by `bridge`.
pub fn apns_payload(job: &DeliveryJob, bridge: &BridgeTokens) -> Vec<u8> {
    if let Some(relayed) = &job.invite.relayed {
        return relayed.body.as_bytes().to_vec();
    }
    let token = bridge.sign(
        &job.invite.sid,
        &job.registration_sid,
        job.invite.expires_at,
    );
    call_payload(job, &token)
}

/// Custom parameters as the URL query string carried in `twi_params` (keys sorted).
pub fn params_query(params: &std::collections::BTreeMap<String, String>) -> Option<String> {
    if params.is_empty() {
        return None;
    }
    serde_urlencoded::to_string(params).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn params_are_a_sorted_query_string() {
        let mut p = BTreeMap::new();
        p.insert("b".to_owned(), "two words".to_owned());
        p.insert("a".to_owned(), "1&2".to_owned());
        assert_eq!(super::params_query(&p).unwrap(), "a=1%262&b=two+words");
        assert!(super::params_query(&BTreeMap::new()).is_none());
    }
}
