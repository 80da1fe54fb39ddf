//! A delivery job as it travels through Redis: everything a worker needs to send the push,
//! so no replica reads the store per push.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::delivery::job::{DeliveryJob, InviteInfo, Relayed};
use crate::domain::{
    AccountSid, CallSid, CredentialSid, DeliveryId, DeviceToken, Environment, Identity, InviteSid,
    Platform, RegistrationSid,
};

#[derive(Serialize, Deserialize)]
struct WireInvite {
    sid: InviteSid,
    account: AccountSid,
    call: CallSid,
    to: String,
    caller: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    params: Option<String>,
    expires_at: i64,
    created: i64,
    /// A relayed Twilio notification's body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    relayed: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct WireJob {
    id: DeliveryId,
    invite: WireInvite,
    registration: RegistrationSid,
    credential: CredentialSid,
    /// Absent in jobs written before platforms existed: APNs.
    #[serde(default = "apns", skip_serializing_if = "is_apns")]
    platform: Platform,
    token: String,
    environment: Environment,
    attempts: u32,
}

fn apns() -> Platform {
    Platform::Apns
}

fn is_apns(p: &Platform) -> bool {
    *p == Platform::Apns
}

/// The JSON of `job`.
pub fn encode(job: &DeliveryJob) -> String {
    let i = &job.invite;
    let wire = WireJob {
        id: job.delivery_id,
        invite: WireInvite {
            sid: i.sid.clone(),
            account: i.account_sid.clone(),
            call: i.call_sid.clone(),
            to: i.to_identity.as_str().to_owned(),
            caller: i.caller.clone(),
            params: i.params.clone(),
            expires_at: i.expires_at,
            created: i.date_created,
            relayed: i.relayed.as_ref().map(|r| r.body.to_string()),
        },
        registration: job.registration_sid.clone(),
        credential: job.credential_sid.clone(),
        platform: job.platform,
        token: job.device_token.as_hex().to_owned(),
        environment: job.environment,
        attempts: job.attempts,
    };
    serde_json::to_string(&wire).expect("a job always serializes")
}

/// Decodes a job read from the stream; jobs of one invite decoded with the same `invites` map
/// share their [`InviteInfo`].
pub fn decode(json: &str, invites: &mut HashMap<String, Arc<InviteInfo>>) -> Option<DeliveryJob> {
    let w: WireJob = serde_json::from_str(json).ok()?;
    // Our own writes, like the store's rows: trusted as written.
    let to = Identity::trusted(w.invite.to);
    let token = DeviceToken::trusted(w.token);
    let invite = invites
        .entry(w.invite.sid.to_string())
        .or_insert_with(|| {
            Arc::new(InviteInfo {
                sid: w.invite.sid,
                account_sid: w.invite.account,
                call_sid: w.invite.call,
                to_identity: to,
                caller: w.invite.caller,
                params: w.invite.params,
                expires_at: w.invite.expires_at,
                date_created: w.invite.created,
                relayed: w.invite.relayed.as_deref().map(Relayed::from_stored),
            })
        })
        .clone();
    Some(DeliveryJob {
        delivery_id: w.id,
        invite,
        registration_sid: w.registration,
        credential_sid: w.credential,
        platform: w.platform,
        device_token: token,
        environment: w.environment,
        attempts: w.attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::job::test_job;

    #[test]
    fn a_relayed_notification_travels_whole() {
        let mut job = test_job();
        let body = r#"{ "twi_to": "client:alice", "twi_call_sid": "CA1" }"#;
        let mut invite = InviteInfo::clone(&job.invite);
        invite.relayed = Some(Relayed::from_stored(body));
        job.invite = Arc::new(invite);
        let back = decode(&encode(&job), &mut HashMap::new()).unwrap();
        let relayed = back.invite.relayed.as_ref().unwrap();
        assert_eq!(&*relayed.body, body);
        assert_eq!(relayed.fields["twi_to"], "client:alice");
        // pushgate's own calls carry no body.
        let plain = decode(&encode(&test_job()), &mut HashMap::new()).unwrap();
        assert!(plain.invite.relayed.is_none());
    }
}
