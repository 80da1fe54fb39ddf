//! Linking a Twilio account to a pushgate account: the Twilio account's call notifications then
//! ring that pushgate account's registrations, and its Auth Token (sealed at rest, never shown)
//! checks their `X-Twilio-Signature`. A Twilio account is linked to at most one pushgate
//! account; linking it again from the same account replaces the token and the ring timeout.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::clock::now_ms;
use crate::domain::AccountSid;
use crate::invites::{DEFAULT_TTL, MAX_TTL};
use crate::secrets::{MasterKey, SecretsError};
use crate::store::{Store, StoreError, TwilioLinkRecord};

/// A link, as the API and the CLI show it (never the token).
#[derive(Debug, Clone)]
pub struct TwilioLink {
    pub twilio_account: AccountSid,
    pub account: AccountSid,
    /// How long each notification's phones ring (the pushes' expiry), seconds.
    pub ring_timeout_secs: u32,
    pub date_created: i64,
    pub date_updated: i64,
}

/// What to link.
pub struct NewLink {
    pub twilio_account: AccountSid,
    /// The Twilio account's Auth Token: 32 hexadecimal characters.
    pub auth_token: SecretString,
    /// Default [`DEFAULT_TTL`]; 1–[`MAX_TTL`].
    pub ring_timeout_secs: Option<u32>,
}

/// Why a link operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error("this Twilio account is linked to another pushgate account")]
    LinkedElsewhere,
    #[error("this Twilio account is not linked to the account")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// The links service.
pub struct TwilioLinks {
    store: Store,
    master: Arc<MasterKey>,
}

impl From<&TwilioLinkRecord> for TwilioLink {
    fn from(r: &TwilioLinkRecord) -> Self {
        Self {
            twilio_account: r.twilio_account.clone(),
            account: r.account.clone(),
            ring_timeout_secs: r.ring_timeout_secs,
            date_created: r.date_created,
            date_updated: r.date_updated,
        }
    }
}

impl TwilioLinks {
    pub fn new(store: Store, master: Arc<MasterKey>) -> Arc<Self> {
        Arc::new(Self { store, master })
    }

    /// Links `new.twilio_account` to `account` (or updates the link it already has).
    pub async fn link(&self, account: &AccountSid, new: NewLink) -> Result<TwilioLink, LinkError> {
        let token = new.auth_token.expose_secret();
        if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(LinkError::Invalid(
                "auth_token must be the Twilio account's Auth Token: 32 hexadecimal characters",
            ));
        }
        let ring = new.ring_timeout_secs.unwrap_or(DEFAULT_TTL);
        if !(1..=MAX_TTL).contains(&ring) {
            return Err(LinkError::Invalid(
                "ring_timeout must be between 1 and 300 seconds",
            ));
        }
        let sealed = self
            .master
            .seal(token.as_bytes(), new.twilio_account.as_str())?;
        let now = now_ms();
        let record = TwilioLinkRecord {
            twilio_account: new.twilio_account.clone(),
            account: account.clone(),
            auth_token_sealed: sealed,
            ring_timeout_secs: ring,
            date_created: now,
            date_updated: now,
        };
        if !self.store.put_twilio_link(&record).await? {
            return Err(LinkError::LinkedElsewhere);
        }
        let stored = self
            .store
            .twilio_link(&new.twilio_account)
            .await?
            .ok_or(LinkError::NotFound)?;
        tracing::info!(twilio_account = %new.twilio_account, account = %account, "twilio account linked");
        Ok(TwilioLink::from(&stored))
    }

    /// The Twilio accounts linked to `account`.
    pub async fn list(&self, account: &AccountSid) -> Result<Vec<TwilioLink>, LinkError> {
        Ok(self
            .store
            .twilio_links(account)
            .await?
            .iter()
            .map(TwilioLink::from)
            .collect())
    }

    /// Removes `account`'s link of `twilio_account`.
    pub async fn unlink(
        &self,
        account: &AccountSid,
        twilio_account: &AccountSid,
    ) -> Result<(), LinkError> {
        if self
            .store
            .delete_twilio_link(account, twilio_account)
            .await?
        {
            Ok(())
        } else {
            Err(LinkError::NotFound)
        }
    }

    /// The link of `twilio_account` with its Auth Token opened, if it is linked.
    pub async fn resolve(
        &self,
        twilio_account: &AccountSid,
    ) -> Result<Option<(TwilioLink, SecretString)>, LinkError> {
        let Some(record) = self.store.twilio_link(twilio_account).await? else {
            return Ok(None);
        };
        let token = self
            .master
            .open_string(&record.auth_token_sealed, twilio_account.as_str())?;
        Ok(Some((TwilioLink::from(&record), token)))
    }
}
