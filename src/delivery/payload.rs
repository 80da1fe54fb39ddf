//! The push each phone receives for a call invite, in Twilio's shape.

use serde_json::{Map, Value, json};

use super::job::DeliveryJob;

/// `twi_message_type` of a call invite.
pub const CALL: &str = "twilio.voice.call";

/// The JSON payload of `job`'s push, with its `bridge_token`.
pub fn call_payload(job: &DeliveryJob, bridge_token: &str) -> Vec<u8> {
    let invite = &job.invite;
    let mut body = Map::new();
    body.insert("twi_message_type".into(), json!(CALL));
    body.insert("twi_call_sid".into(), json!(invite.call_sid));
    body.insert("twi_account_sid".into(), json!(invite.account_sid));
    body.insert("twi_from".into(), json!(invite.caller));
    body.insert(
        "twi_to".into(),
        json!(format!("client:{}", invite.to_identity)),
    );
    body.insert("twi_message_id".into(), json!(job.delivery_id.to_string()));
    body.insert("twi_bridge_token".into(), json!(bridge_token));
    if let Some(params) = &invite.params {
        body.insert("twi_params".into(), json!(params));
    }
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
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
