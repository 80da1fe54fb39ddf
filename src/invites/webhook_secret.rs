//! Per-account webhook signing secrets: the HMAC key of status callback signatures
//! (`whsec_` + 32 random alphanumerics). Created on first need (the first callback) or by
//! [`rotate`], which replaces it at once and is the only time a secret is shown; sealed at
//! rest under the master key with the account SID as associated data.

use secrecy::{ExposeSecret, SecretString};

use crate::auth::api_keys::generate_secret;
use crate::clock::now_ms;
use crate::domain::AccountSid;
use crate::secrets::{MasterKey, SecretsError};
use crate::store::{Store, StoreError};

/// Prefix of every webhook secret, so one is recognisable in a customer's configuration.
pub const PREFIX: &str = "whsec_";

/// Why the secret could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum WebhookSecretError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("the webhook secret vanished while being created")]
    Vanished,
}

fn generate() -> SecretString {
    SecretString::from(format!("{PREFIX}{}", generate_secret().expose_secret()))
}

/// The account's secret in force, created (once, across replicas) if it has none yet.
pub async fn current(
    store: &Store,
    master: &MasterKey,
    account: &AccountSid,
) -> Result<SecretString, WebhookSecretError> {
    if let Some(sealed) = store.webhook_secret(account).await? {
        return Ok(master.open_string(&sealed, account.as_str())?);
    }
    let sealed = master.seal(generate().expose_secret().as_bytes(), account.as_str())?;
    store
        .insert_webhook_secret(account, &sealed, now_ms())
        .await?;
    let sealed = store
        .webhook_secret(account)
        .await?
        .ok_or(WebhookSecretError::Vanished)?;
    Ok(master.open_string(&sealed, account.as_str())?)
}

/// Replaces the account's secret with a new one and returns it (its only showing).
pub async fn rotate(
    store: &Store,
    master: &MasterKey,
    account: &AccountSid,
) -> Result<SecretString, WebhookSecretError> {
    let secret = generate();
    let sealed = master.seal(secret.expose_secret().as_bytes(), account.as_str())?;
    store
        .replace_webhook_secret(account, &sealed, now_ms())
        .await?;
    Ok(secret)
}
