//! Recently verified API keys, kept for a few seconds so a busy backend's requests don't each
//! cost a store read and an AES-GCM open. Only keys found active are kept; a key revoked
//! through this process's API is forgotten at once, one revoked elsewhere (another replica,
//! the CLI) stops working here within the cache's lifetime (`api_key_cache_seconds`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::api_keys::{AuthError, active_key_secret};
use crate::domain::ApiKeySid;
use crate::secrets::MasterKey;
use crate::store::{ApiKeyRecord, Store};

/// Most keys kept; past it the cache starts over (accounts rarely have many keys).
const MAX_ENTRIES: usize = 10_000;

type Entry = (ApiKeyRecord, SecretString, Instant);

/// The cache, with what it needs to load a key.
pub struct KeyCache {
    store: Store,
    master: Arc<MasterKey>,
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl KeyCache {
    /// A cache keeping keys for `ttl` (zero: no caching).
    pub fn new(store: Store, master: Arc<MasterKey>, ttl: Duration) -> Self {
        Self {
            store,
            master,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// An active key and its secret; `None` if unknown or revoked.
    pub async fn active(
        &self,
        sid: &ApiKeySid,
    ) -> Result<Option<(ApiKeyRecord, SecretString)>, AuthError> {
        if let Some((record, secret, at)) = self.lock().get(sid.as_str())
            && at.elapsed() < self.ttl
        {
            return Ok(Some((record.clone(), secret.clone())));
        }
        let found = active_key_secret(&self.store, &self.master, sid).await?;
        if let Some((record, secret)) = &found
            && !self.ttl.is_zero()
        {
            let mut entries = self.lock();
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(
                sid.to_string(),
                (record.clone(), secret.clone(), Instant::now()),
            );
        }
        Ok(found)
    }

    /// Forgets `sid` (it was just revoked).
    pub fn forget(&self, sid: &ApiKeySid) {
        self.lock().remove(sid.as_str());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
