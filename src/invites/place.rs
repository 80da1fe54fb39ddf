//! Placing an invite: one delivery per active registration, written with the invite in one
//! transaction (the outbox) before anyone hears "accepted"; then every phone rings at once.
//! A repeated call SID returns the existing invite and sends nothing new.

use std::sync::Arc;

use super::{InviteError, Invites, NewInvite};
use crate::apns::MAX_VOIP_PAYLOAD;
use crate::auth::ApiKeyPrincipal;
use crate::clock::now_ms;
use crate::delivery::{DeliveryJob, InviteInfo, apns_payload, call_message, params_query};
use crate::domain::{
    AccountSid, CallSid, CredentialSid, DeliveryId, DeliveryStatus, Environment, InviteKind,
    InviteSid, InviteStatus, Platform,
};
use crate::store::{CreateInvite, DeliveryRecord, InviteRecord, Registration};

/// An invite and its deliveries, as placed.
#[derive(Debug)]
pub struct Placed {
    pub invite: InviteRecord,
    pub deliveries: Vec<DeliveryRecord>,
    /// False when the call SID was already known: the existing invite, nothing sent.
    pub created: bool,
}

impl Invites {
    /// Places `new` for the API key `caller`: the existing invite for a known call SID, or a
    /// new one written with its deliveries and handed to the delivery engine.
    pub async fn place(
        self: &Arc<Self>,
        caller: &ApiKeyPrincipal,
        new: NewInvite,
    ) -> Result<Placed, InviteError> {
        let status_callback = match &new.status_callback {
            Some(url) => Some(
                super::callbacks::check_url(url, &self.callback_hosts)
                    .map_err(InviteError::Callback)?,
            ),
            None => None,
        };
        let call_sid = new
            .call_sid
            .clone()
            .unwrap_or_else(CallSid::generate_ordered);
        // A repeated call SID is caught by the insert itself (no lookup on the hot path).
        let registrations = self
            .store
            .active_registrations(&caller.account, &new.to)
            .await?;
        if registrations.is_empty() {
            if let Some(existing) = self
                .store
                .invite_by_call(&caller.account, &call_sid)
                .await?
            {
                return self.existing(existing).await;
            }
            return Err(InviteError::NoRegistrations(new.to));
        }
        let now = now_ms();
        let invite = InviteRecord {
            sid: InviteSid::generate_ordered(),
            account_sid: caller.account.clone(),
            call_sid,
            to_identity: new.to,
            caller: new.from,
            params: params_query(&new.params),
            status: InviteStatus::Queued,
            status_callback: status_callback.map(|url| url.as_str().to_owned()),
            api_key_sid: Some(caller.key.clone()),
            answered_by: None,
            cancel_push: new.cancel_push,
            kind: InviteKind::Call,
            payload: None,
            expires_at: now + i64::from(new.ttl_secs) * 1000,
            date_created: now,
            date_updated: now,
        };
        self.ring(invite, &registrations).await
    }

    /// Writes `invite` with one delivery per registration in one transaction and hands them
    /// to the delivery engine; an invite already stored for the call is returned instead.
    pub(super) async fn ring(
        self: &Arc<Self>,
        invite: InviteRecord,
        registrations: &[Registration],
    ) -> Result<Placed, InviteError> {
        let now = invite.date_created;
        let mut deliveries = Vec::with_capacity(registrations.len());
        for r in registrations {
            let environment = match (r.environment, r.platform) {
                (Some(env), _) => env,
                // FCM has no environments: the column keeps its default.
                (None, Platform::Fcm) => Environment::Production,
                (None, Platform::Apns) => {
                    self.default_environment(&invite.account_sid, &r.credential_sid)
                        .await
                }
            };
            deliveries.push(DeliveryRecord {
                id: DeliveryId::generate(),
                invite_sid: invite.sid.clone(),
                registration_sid: r.sid.clone(),
                credential_sid: r.credential_sid.clone(),
                platform: r.platform,
                device_token: r.device_token.clone(),
                environment,
                status: DeliveryStatus::Queued,
                attempts: 0,
                apns_status: None,
                apns_reason: None,
                apns_id: None,
                accepted_at: None,
                date_updated: now,
            });
        }
        let info = Arc::new(InviteInfo::from(&invite));
        let jobs: Vec<DeliveryJob> = deliveries
            .iter()
            .map(|d| DeliveryJob::from_record(d, info.clone()))
            .collect();
        self.check_payload_size(&jobs)?;
        match self.store.create_invite(&invite, &deliveries).await? {
            CreateInvite::Existing(existing) => return self.existing(*existing).await,
            CreateInvite::Created => {
                self.metrics.invites_accepted.inc();
                self.engine.enqueue(jobs);
            }
        }
        tracing::info!(invite = %invite.sid, call = %invite.call_sid, to = %invite.to_identity,
            kind = invite.kind.as_str(), devices = deliveries.len(), "invite accepted");
        Ok(Placed {
            invite,
            deliveries,
            created: true,
        })
    }

    pub(super) async fn existing(&self, invite: InviteRecord) -> Result<Placed, InviteError> {
        let deliveries = self.store.deliveries(&invite.sid).await?;
        Ok(Placed {
            invite,
            deliveries,
            created: false,
        })
    }

    /// The environment of a registration that has not learned its own: the credential's.
    async fn default_environment(
        &self,
        account: &AccountSid,
        credential: &CredentialSid,
    ) -> Environment {
        match self.engine.clients().get(account, credential).await {
            Ok(entry) => entry.default_environment(),
            // The delivery will fail with the credential's problem; the environment is moot.
            Err(_) => Environment::Production,
        }
    }

    /// Refuses an invite whose push would exceed a provider's limit: APNs's VoIP payload
    /// limit, FCM's data limit.
    fn check_payload_size(&self, jobs: &[DeliveryJob]) -> Result<(), InviteError> {
        // Every device's payload of one platform has the same size (SIDs and UUIDs are
        // fixed-length): one per platform suffices.
        for platform in Platform::ALL {
            let Some(job) = jobs.iter().find(|j| j.platform == *platform) else {
                continue;
            };
            let (size, limit) = match platform {
                Platform::Apns => (
                    apns_payload(job, self.engine.bridge()).len(),
                    MAX_VOIP_PAYLOAD,
                ),
                // Each payload signs its own bridge token (none for a relayed notification).
                Platform::Fcm => (
                    call_message(job, self.engine.bridge()).data_size(),
                    crate::fcm::MAX_DATA_BYTES,
                ),
            };
            if size > limit {
                return Err(InviteError::PayloadTooLarge { size, limit });
            }
        }
        Ok(())
    }
}
