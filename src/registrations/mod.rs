//! Registrations (bindings): which device token rings which identity under which push
//! credential. Phones register, refresh and remove their own with an access token; operators
//! read, list and remove the account's with an API key. The per-identity limit retires the
//! least recently refreshed; dead tokens are retired by delivery outcomes and unused ones by
//! the engine's sweeper.

use crate::clock::now_ms;
use crate::domain::{AccountSid, CredentialSid, DeviceToken, Identity, Platform, RegistrationSid};
use crate::metrics::Metrics;
use crate::store::{
    AccountRegistrationCounts, NewRegistration, Registration, RegistrationPage, Store, StoreError,
    Upserted,
};

/// Why a token's push credential is refused (a bad grant of the access token, 20106).
pub const UNKNOWN_CREDENTIAL: &str =
    "grants.voice.push_credential_sid is not a credential of this account";

/// The registrations service.
#[derive(Clone)]
pub struct Registrations {
    store: Store,
    /// `max_registrations_per_identity`.
    max_per_identity: u32,
    metrics: Metrics,
}

/// A phone's request to ring here, from a verified access token and a parsed body.
#[derive(Debug, Clone)]
pub struct Register {
    pub account: AccountSid,
    /// The access token's `push_credential_sid`.
    pub credential: CredentialSid,
    pub identity: Identity,
    pub platform: Platform,
    pub device_token: DeviceToken,
}

/// Whose registrations a caller may see: an API key sees the account's, a phone only its
/// identity's.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub account: &'a AccountSid,
    pub identity: Option<&'a Identity>,
}

/// Why a registration operation did not happen; mapped once to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The access token names a push credential the account does not have.
    #[error("{}", UNKNOWN_CREDENTIAL)]
    UnknownCredential,
    /// The device's platform is not the push credential's (an FCM token under an APNs
    /// credential, or the reverse).
    #[error(
        "channel type {device} does not match the access token's push credential, which is \
         for {credential}: mint the token with the {device} credential's SID"
    )]
    PlatformMismatch {
        device: Platform,
        credential: Platform,
    },
    /// No such registration in the caller's scope.
    #[error("registration not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Registrations {
    /// The service over `store`, keeping at most `max_per_identity` per identity and
    /// counting changes in `metrics`.
    pub fn new(store: Store, max_per_identity: u32, metrics: Metrics) -> Self {
        Self {
            store,
            max_per_identity,
            metrics,
        }
    }

    /// Registers the device token, or refreshes (and possibly moves) its registration.
    pub async fn register(&self, r: Register) -> Result<Upserted, RegistrationError> {
        let kind = self
            .store
            .credential_type(&r.account, &r.credential)
            .await?
            .ok_or(RegistrationError::UnknownCredential)?;
        if kind.platform() != r.platform {
            return Err(RegistrationError::PlatformMismatch {
                device: r.platform,
                credential: kind.platform(),
            });
        }
        let new = NewRegistration {
            account_sid: r.account,
            credential_sid: r.credential,
            identity: r.identity,
            platform: r.platform,
            device_token: r.device_token,
        };
        let upserted = self
            .store
            .upsert_registration(&new, self.max_per_identity, now_ms())
            .await?;
        let reg = &upserted.registration;
        let change = match (&upserted.moved_from, upserted.created) {
            (Some(_), _) => "moved",
            (None, true) => "registered",
            (None, false) => "refreshed",
        };
        let changes = &self.metrics.registration_changes;
        changes.with_label_values(&[change]).inc();
        changes
            .with_label_values(&["retired_identity_limit"])
            .inc_by(upserted.retired.len() as u64);
        tracing::info!(
            registration = %reg.sid, identity = %reg.identity, token = %reg.device_token,
            created = upserted.created, moved_from = ?upserted.moved_from, "device registered"
        );
        for retired in &upserted.retired {
            tracing::info!(
                registration = %retired.sid, identity = %retired.identity,
                token = %retired.device_token, reason = "identity_limit", "registration retired"
            );
        }
        Ok(upserted)
    }

    /// One registration in the caller's scope.
    pub async fn get(
        &self,
        scope: Scope<'_>,
        sid: &RegistrationSid,
    ) -> Result<Registration, RegistrationError> {
        match self.store.registration(scope.account, sid).await? {
            Some(r) if scope.identity.is_none_or(|i| *i == r.identity) => Ok(r),
            _ => Err(RegistrationError::NotFound),
        }
    }

    /// Removes a registration in the caller's scope (another identity's is "not found").
    pub async fn remove(
        &self,
        scope: Scope<'_>,
        sid: &RegistrationSid,
    ) -> Result<(), RegistrationError> {
        if !self
            .store
            .delete_registration(scope.account, sid, scope.identity)
            .await?
        {
            return Err(RegistrationError::NotFound);
        }
        self.metrics
            .registration_changes
            .with_label_values(&["unregistered"])
            .inc();
        tracing::info!(registration = %sid, reason = "unregistered", "registration removed");
        Ok(())
    }

    /// The account's registrations by platform, environment and state, counting at most
    /// `cap` rows (the console's overview; `truncated` past it).
    pub async fn counts(
        &self,
        account: &AccountSid,
        cap: i64,
    ) -> Result<AccountRegistrationCounts, RegistrationError> {
        Ok(self.store.account_registration_counts(account, cap).await?)
    }

    /// One page of the account's registrations, optionally one identity's, after `after`.
    pub async fn list(
        &self,
        account: &AccountSid,
        identity: Option<&Identity>,
        after: Option<&RegistrationSid>,
        page_size: u32,
    ) -> Result<RegistrationPage, RegistrationError> {
        Ok(self
            .store
            .registrations(account, identity, after, page_size)
            .await?)
    }
}
