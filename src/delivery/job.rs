//! What a worker needs to send one push, without reading the store.

use std::sync::Arc;

use uuid::Uuid;

use crate::apns::Environment;
use crate::store::{DeliveryRecord, InviteRecord};

/// The invite a delivery belongs to, shared by all its deliveries.
#[derive(Debug)]
pub struct InviteInfo {
    pub sid: String,
    pub account_sid: String,
    pub call_sid: String,
    pub to_identity: String,
    pub caller: String,
    pub params: Option<String>,
    /// Epoch milliseconds.
    pub expires_at: i64,
    pub date_created: i64,
}

impl From<&InviteRecord> for InviteInfo {
    fn from(r: &InviteRecord) -> Self {
        Self {
            sid: r.sid.to_string(),
            account_sid: r.account_sid.to_string(),
            call_sid: r.call_sid.to_string(),
            to_identity: r.to_identity.to_string(),
            caller: r.caller.clone(),
            params: r.params.clone(),
            expires_at: r.expires_at,
            date_created: r.date_created,
        }
    }
}

/// One push to one registration.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    /// Also the push's `apns-id` and `twi_message_id`.
    pub delivery_id: Uuid,
    pub invite: Arc<InviteInfo>,
    pub registration_sid: String,
    pub credential_sid: String,
    pub device_token: String,
    pub environment: Environment,
    /// Attempts made so far.
    pub attempts: u32,
}

impl DeliveryJob {
    /// The job for a stored delivery of `invite`.
    pub fn from_record(d: &DeliveryRecord, invite: Arc<InviteInfo>) -> Option<Self> {
        Some(Self {
            delivery_id: Uuid::parse_str(&d.id).ok()?,
            invite,
            registration_sid: d.registration_sid.clone(),
            credential_sid: d.credential_sid.clone(),
            device_token: d.device_token.clone(),
            environment: parse_environment(&d.environment),
            attempts: u32::try_from(d.attempts).unwrap_or(0),
        })
    }
}

/// `sandbox` → sandbox, anything else → production.
pub fn parse_environment(s: &str) -> Environment {
    if s == Environment::Sandbox.as_str() {
        Environment::Sandbox
    } else {
        Environment::Production
    }
}

/// The jobs for stored deliveries, reading each invite once; deliveries whose invite is gone
/// are left out.
pub async fn jobs_from_store(
    store: &crate::store::Store,
    deliveries: &[DeliveryRecord],
) -> Result<Vec<DeliveryJob>, crate::store::StoreError> {
    let mut invites: std::collections::HashMap<&str, Option<Arc<InviteInfo>>> =
        std::collections::HashMap::new();
    let mut jobs = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        if !invites.contains_key(d.invite_sid.as_str()) {
            let info = store
                .invite_by_sid(&d.invite_sid)
                .await?
                .map(|r| Arc::new(InviteInfo::from(&r)));
            invites.insert(&d.invite_sid, info);
        }
        if let Some(Some(info)) = invites.get(d.invite_sid.as_str()) {
            jobs.extend(DeliveryJob::from_record(d, info.clone()));
        }
    }
    Ok(jobs)
}

/// A job for unit tests: an invite expiring in a minute, one production token.
#[cfg(test)]
pub fn test_job() -> DeliveryJob {
    let now = crate::clock::now_ms();
    DeliveryJob {
        delivery_id: Uuid::new_v4(),
        invite: Arc::new(InviteInfo {
            sid: format!("IV{}", "0".repeat(32)),
            account_sid: format!("AC{}", "0".repeat(32)),
            call_sid: format!("CA{}", "0".repeat(32)),
            to_identity: "alice".into(),
            caller: "client:bob".into(),
            params: None,
            expires_at: now + 60_000,
            date_created: now,
        }),
        registration_sid: format!("BR{}", "0".repeat(32)),
        credential_sid: format!("CR{}", "0".repeat(32)),
        device_token: "ab".repeat(32),
        environment: Environment::Production,
        attempts: 0,
    }
}
