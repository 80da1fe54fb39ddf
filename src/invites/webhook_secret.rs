//! Per-account webhook signing secrets: the HMAC key of status callback signatures
//! (`whsec_` + 32 random alphanumerics). Created on first need (the first callback) or by
//! [`rotate`], which replaces it — at once, or keeping the replaced one signing beside it for
//! an overlap so receivers can switch without a gap — and is the only time a secret is shown;
//! sealed at rest under the master key with the account SID as associated data.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::auth::api_keys::generate_secret;
use crate::clock::now_ms;
use crate::domain::AccountSid;
use crate::secrets::{MasterKey, SecretsError};
use crate::store::{Store, StoreError};

/// Prefix of every webhook secret, so one is recognisable in a customer's configuration.
pub const PREFIX: &str = "whsec_";
/// The longest overlap a rotation may keep the replaced secret signing for.
pub const MAX_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

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

/// The secrets callbacks of the account are signed with now: the current one (created if
/// none yet), then the one it replaced while its overlap lasts.
pub async fn signing(
    store: &Store,
    master: &MasterKey,
    account: &AccountSid,
) -> Result<Vec<SecretString>, WebhookSecretError> {
    let mut secrets = vec![current(store, master, account).await?];
    if let Some(sealed) = store.previous_webhook_secret(account, now_ms()).await? {
        secrets.push(master.open_string(&sealed, account.as_str())?);
    }
    Ok(secrets)
}

/// Replaces the account's secret with a new one and returns it (its only showing). With an
/// `overlap` (at most [`MAX_OVERLAP`]), the replaced secret keeps signing beside the new one
/// for that long; without, it stops at once.
pub async fn rotate(
    store: &Store,
    master: &MasterKey,
    account: &AccountSid,
    overlap: Option<Duration>,
) -> Result<SecretString, WebhookSecretError> {
    let secret = generate();
    let sealed = master.seal(secret.expose_secret().as_bytes(), account.as_str())?;
    let now = now_ms();
    let keep_until = overlap
        .filter(|o| !o.is_zero())
        .map(|o| now + o.min(MAX_OVERLAP).as_millis() as i64);
    store
        .replace_webhook_secret(account, &sealed, now, keep_until)
        .await?;
    Ok(secret)
}
