//! What a worker needs to send one push, without reading the store.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::{
    AccountSid, CallSid, CredentialSid, DeliveryId, DeviceToken, Environment, Identity, InviteKind,
    InviteSid, Platform, RegistrationSid,
};
use crate::store::{DeliveryRecord, InviteRecord};

/// The invite a delivery belongs to, shared by all its deliveries.
#[derive(Debug, Clone)]
pub struct InviteInfo {
    pub sid: InviteSid,
    pub account_sid: AccountSid,
    pub call_sid: CallSid,
    pub to_identity: Identity,
    pub caller: String,
    pub params: Option<String>,
    /// Epoch milliseconds.
    pub expires_at: i64,
    pub date_created: i64,
    /// A relayed Twilio notification: what its phones get instead of pushgate's payload.
    pub relayed: Option<Relayed>,
}

/// A Twilio call notification's body, sent to each phone unchanged: the text as the APNs
/// payload, its string values as FCM's `data`.
#[derive(Debug, Clone)]
pub struct Relayed {
    pub body: Arc<str>,
    pub fields: Arc<BTreeMap<String, String>>,
}

impl Relayed {
    /// The notification body as stored (checked when it was received; a value that is not a
    /// string, which intake refuses, is carried as its JSON text).
    pub fn from_stored(body: &str) -> Self {
        let fields = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(body)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect();
        Self {
            body: body.into(),
            fields: Arc::new(fields),
        }
    }
}

impl From<&InviteRecord> for InviteInfo {
    fn from(r: &InviteRecord) -> Self {
        Self {
            sid: r.sid.clone(),
            account_sid: r.account_sid.clone(),
            call_sid: r.call_sid.clone(),
            to_identity: r.to_identity.clone(),
            caller: r.caller.clone(),
            params: r.params.clone(),
            expires_at: r.expires_at,
            date_created: r.date_created,
            relayed: match r.kind {
                InviteKind::Call => None,
                InviteKind::TwilioWebhook => r.payload.as_deref().map(Relayed::from_stored),
            },
        }
    }
}

/// One push to one registration.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    /// Also the push's `apns-id` and `twi_message_id`.
    pub delivery_id: DeliveryId,
    pub invite: Arc<InviteInfo>,
    pub registration_sid: RegistrationSid,
    pub credential_sid: CredentialSid,
    pub platform: Platform,
    pub device_token: DeviceToken,
    pub environment: Environment,
    /// Attempts made so far.
    pub attempts: u32,
}

impl DeliveryJob {
    /// The job for a stored delivery of `invite`.
    pub fn from_record(d: &DeliveryRecord, invite: Arc<InviteInfo>) -> Self {
        Self {
            delivery_id: d.id,
            invite,
            registration_sid: d.registration_sid.clone(),
            credential_sid: d.credential_sid.clone(),
            platform: d.platform,
            device_token: d.device_token.clone(),
            environment: d.environment,
            attempts: u32::try_from(d.attempts).unwrap_or(0),
        }
    }
}

/// The jobs for stored deliveries, reading each invite once; deliveries whose invite is gone
/// are left out.
pub async fn jobs_from_store(
    store: &crate::store::Store,
    deliveries: &[DeliveryRecord],
) -> Result<Vec<DeliveryJob>, crate::store::StoreError> {
    let mut invites: std::collections::HashMap<&InviteSid, Option<Arc<InviteInfo>>> =
        std::collections::HashMap::new();
    let mut jobs = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        if !invites.contains_key(&d.invite_sid) {
            let info = store
                .invite_by_sid(&d.invite_sid)
                .await?
                .map(|r| Arc::new(InviteInfo::from(&r)));
            invites.insert(&d.invite_sid, info);
        }
        if let Some(Some(info)) = invites.get(&d.invite_sid) {
            jobs.push(DeliveryJob::from_record(d, info.clone()));
        }
    }
    Ok(jobs)
}

/// A job for unit tests: an invite expiring in a minute, one production token.
#[cfg(test)]
pub fn test_job() -> DeliveryJob {
    DeliveryJob::standalone(
        Identity::parse("alice").expect("an identity"),
        "client:bob",
        60_000,
    )
}

impl DeliveryJob {
    /// A job of its own invite (fresh SIDs, no store): `to` called by `caller`, expiring in
    /// `ttl_ms`, one production token. For the bench's ceiling and for tests.
    pub fn standalone(to: Identity, caller: &str, ttl_ms: i64) -> Self {
        let now = crate::clock::now_ms();
        Self {
            delivery_id: DeliveryId::generate(),
            invite: Arc::new(InviteInfo {
                sid: InviteSid::generate(),
                account_sid: AccountSid::generate(),
                call_sid: CallSid::generate(),
                to_identity: to,
                caller: caller.to_owned(),
                params: None,
                expires_at: now + ttl_ms,
                date_created: now,
                relayed: None,
            }),
            registration_sid: RegistrationSid::generate(),
            credential_sid: CredentialSid::generate(),
            platform: Platform::Apns,
            device_token: DeviceToken::trusted("ab".repeat(32)),
            environment: Environment::Production,
            attempts: 0,
        }
    }
}
