//! A delivery job as it travels through Redis: everything a worker needs to send the push,
//! so no replica reads the store per push.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::delivery::job::{DeliveryJob, InviteInfo, parse_environment};

#[derive(Serialize, Deserialize)]
struct WireInvite {
    sid: String,
    account: String,
    call: String,
    to: String,
    caller: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    params: Option<String>,
    expires_at: i64,
    created: i64,
}

#[derive(Serialize, Deserialize)]
struct WireJob {
    id: String,
    invite: WireInvite,
    registration: String,
    credential: String,
    token: String,
    environment: String,
    attempts: u32,
}

/// The JSON of `job`.
pub fn encode(job: &DeliveryJob) -> String {
    let i = &job.invite;
    let wire = WireJob {
        id: job.delivery_id.to_string(),
        invite: WireInvite {
            sid: i.sid.clone(),
            account: i.account_sid.clone(),
            call: i.call_sid.clone(),
            to: i.to_identity.clone(),
            caller: i.caller.clone(),
            params: i.params.clone(),
            expires_at: i.expires_at,
            created: i.date_created,
        },
        registration: job.registration_sid.clone(),
        credential: job.credential_sid.clone(),
        token: job.device_token.clone(),
        environment: job.environment.as_str().to_owned(),
        attempts: job.attempts,
    };
    serde_json::to_string(&wire).expect("a job always serializes")
}

/// Decodes a job read from the stream; jobs of one invite decoded with the same `invites` map
/// share their [`InviteInfo`].
pub fn decode(json: &str, invites: &mut HashMap<String, Arc<InviteInfo>>) -> Option<DeliveryJob> {
    let w: WireJob = serde_json::from_str(json).ok()?;
    let invite = invites
        .entry(w.invite.sid.clone())
        .or_insert_with(|| {
            Arc::new(InviteInfo {
                sid: w.invite.sid,
                account_sid: w.invite.account,
                call_sid: w.invite.call,
                to_identity: w.invite.to,
                caller: w.invite.caller,
                params: w.invite.params,
                expires_at: w.invite.expires_at,
                date_created: w.invite.created,
            })
        })
        .clone();
    Some(DeliveryJob {
        delivery_id: Uuid::parse_str(&w.id).ok()?,
        invite,
        registration_sid: w.registration,
        credential_sid: w.credential,
        device_token: w.token,
        environment: parse_environment(&w.environment),
        attempts: w.attempts,
    })
}
