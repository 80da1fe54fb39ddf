//! API keys (`SK…` + secret): creation with a secret shown once, HTTP Basic verification,
//! and opening a key's secret to check or mint access tokens.

use secrecy::{ExposeSecret, SecretString};

use crate::clock::now_ms;
use crate::domain::{AccountSid, ApiKeySid, random_bytes};
use crate::secrets::{MasterKey, SecretsError};
use crate::store::{AccountRecord, ApiKeyRecord, Store, StoreError};

/// Length of generated key secrets.
const SECRET_LEN: usize = 32;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Why a request's API key was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required: use HTTP Basic with an API key SID and secret")]
    Missing,
    #[error("authentication failed: unknown or revoked API key, or wrong secret")]
    Failed,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// The caller an API key proved to be.
#[derive(Debug, Clone)]
pub struct ApiKeyPrincipal {
    pub account: AccountSid,
    pub key: ApiKeySid,
}

/// A newly created key: the only time its secret is available in clear.
pub struct CreatedKey {
    pub record: ApiKeyRecord,
    pub secret: SecretString,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// A new random secret of 32 alphanumeric characters (about 190 bits).
pub(crate) fn generate_secret() -> SecretString {
    let mut out = String::with_capacity(SECRET_LEN);
    while out.len() < SECRET_LEN {
        for b in random_bytes::<64>() {
            // Rejection sampling keeps the distribution uniform over the 62 characters.
            if (b as usize) < ALPHABET.len() * 4 && out.len() < SECRET_LEN {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    SecretString::from(out)
}

/// Builds a key record for `account` with a fresh secret sealed under `master`.
fn new_key(
    master: &MasterKey,
    account: &AccountSid,
    name: &str,
) -> Result<CreatedKey, SecretsError> {
    let sid = ApiKeySid::generate();
    let secret = generate_secret();
    let secret_sealed = master.seal(secret.expose_secret().as_bytes(), sid.as_str())?;
    Ok(CreatedKey {
        record: ApiKeyRecord {
            sid,
            account_sid: account.clone(),
            friendly_name: name.to_owned(),
            secret_sealed,
            date_created: now_ms(),
            date_revoked: None,
        },
        secret,
    })
}

/// Creates a key for an existing account.
pub async fn create_key(
    store: &Store,
    master: &MasterKey,
    account: &AccountSid,
    name: &str,
) -> Result<CreatedKey, AuthError> {
    let created = new_key(master, account, name)?;
    store.insert_api_key(&created.record).await?;
    Ok(created)
}

/// Creates an account together with its first key.
pub async fn create_account(
    store: &Store,
    master: &MasterKey,
    account_name: &str,
    key_name: &str,
) -> Result<(AccountRecord, CreatedKey), AuthError> {
    let account = AccountRecord {
        sid: AccountSid::generate(),
        friendly_name: account_name.to_owned(),
        date_created: now_ms(),
    };
    let key = new_key(master, &account.sid, key_name)?;
    store.create_account_with_key(&account, &key.record).await?;
    Ok((account, key))
}

/// An active key and its secret, opened from the store; `None` if unknown or revoked.
pub async fn active_key_secret(
    store: &Store,
    master: &MasterKey,
    sid: &ApiKeySid,
) -> Result<Option<(ApiKeyRecord, SecretString)>, AuthError> {
    let Some(record) = store.api_key(sid).await? else {
        return Ok(None);
    };
    if record.date_revoked.is_some() {
        return Ok(None);
    }
    let secret = master.open_string(&record.secret_sealed, record.sid.as_str())?;
    Ok(Some((record, secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_32_alphanumerics_and_differ() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.expose_secret().len(), 32);
        assert!(a.expose_secret().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
