//! Managing an account's API keys, as the API (`/v1/keys`) and the console both do: creating
//! one (the secret returned once) and revoking one (never the account's last active key).
//! A revocation drops the key from this process's cache at once and ends its console
//! sessions.

use super::api_keys::{AuthError, CreatedKey, create_key};
use super::key_cache::KeyCache;
use crate::clock::now_ms;
use crate::domain::{AccountSid, ApiKeySid};
use crate::secrets::MasterKey;
use crate::store::{RevokeOutcome, Store, StoreError};

/// Longest friendly name accepted.
pub const MAX_NAME: usize = 64;

/// What the CLI and the console say when they show a new key's secret.
pub const SECRET_ONCE: &str = "The secret is shown only once: store it now.";

/// Why the last active key can't be revoked (409, 21010).
pub const LAST_KEY: &str =
    "this is the account's last active API key; create another before revoking it";

/// Why a key could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateKeyError {
    #[error("friendly_name must be at most 64 characters")]
    NameTooLong,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Creates a key named `name` for `account`; it works in this process at once.
pub async fn create(
    store: &Store,
    master: &MasterKey,
    keys: &KeyCache,
    account: &AccountSid,
    name: &str,
) -> Result<CreatedKey, CreateKeyError> {
    if name.chars().count() > MAX_NAME {
        return Err(CreateKeyError::NameTooLong);
    }
    let created = create_key(store, master, account, name).await?;
    keys.created(&created.record.sid);
    Ok(created)
}

/// Revokes the account's key `sid` unless it is the last active one; a revoked key's console
/// sessions end with it.
pub async fn revoke(
    store: &Store,
    keys: &KeyCache,
    account: &AccountSid,
    sid: &ApiKeySid,
) -> Result<RevokeOutcome, StoreError> {
    let outcome = store.revoke_api_key(account, sid, now_ms()).await?;
    if outcome == RevokeOutcome::Revoked {
        keys.forget(sid);
        store.delete_console_sessions_of(sid).await?;
    }
    Ok(outcome)
}
