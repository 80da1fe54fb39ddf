//! One APNs client per credential, built once and reused by every push; rebuilt only when
//! the credential is rotated (noticed by re-reading its row at most every few seconds, or at
//! once through [`Clients::invalidate`]). Never a connection per push.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::apns::{
    ApnsAuth, ApnsClient, ApnsConfig, Environment, ProviderTokenSigner, RedisTokenSource,
};
use crate::credentials::material::apns_auth;
use crate::domain::{AccountSid, CredentialSid};
use crate::secrets::MasterKey;
use crate::store::{CredentialRecord, Store, StoreError};

/// How long a cached credential is trusted before its row is checked for a rotation.
const RECHECK: Duration = Duration::from_secs(5);

/// A credential's client and what pushes need to know about it.
pub struct Entry {
    pub client: ApnsClient,
    pub record: CredentialRecord,
    checked: Mutex<Instant>,
}

impl Entry {
    /// The environment pushes go to unless the registration is known to be elsewhere.
    pub fn default_environment(&self) -> Environment {
        if self.record.sandbox {
            Environment::Sandbox
        } else {
            Environment::Production
        }
    }

    /// Whether the credential works in both environments (so a BadDeviceToken may mean the
    /// token belongs to the other one).
    pub fn universal(&self) -> bool {
        self.record.env_development && self.record.env_production
    }
}

/// Why no client is available for a credential.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("credential deleted")]
    Deleted,
    #[error("credential rejected by APNs: {0}")]
    Rejected(String),
    #[error("credential unusable: {0}")]
    Unusable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The per-credential clients of this process.
pub struct Clients {
    store: Store,
    redis: Option<(redis::aio::ConnectionManager, String)>,
    master: Arc<MasterKey>,
    config: ApnsConfig,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    build: tokio::sync::Mutex<()>,
}

impl Clients {
    /// An empty registry building clients with `config`; with `redis` (a connection and a
    /// key prefix), `.p8` provider tokens are shared with the other replicas.
    pub fn new(
        store: Store,
        master: Arc<MasterKey>,
        config: ApnsConfig,
        redis: Option<(redis::aio::ConnectionManager, String)>,
    ) -> Self {
        Self {
            store,
            redis,
            master,
            config,
            entries: Mutex::new(HashMap::new()),
            build: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, sid: &str) -> Option<Arc<Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sid)
            .cloned()
    }

    /// The client for `sid`, building or rebuilding it when needed.
    pub async fn get(
        &self,
        account: &AccountSid,
        sid: &CredentialSid,
    ) -> Result<Arc<Entry>, ClientError> {
        if let Some(entry) = self.cached(sid.as_str()) {
            let mut checked = entry.checked.lock().unwrap_or_else(|p| p.into_inner());
            if checked.elapsed() < RECHECK {
                drop(checked);
                return usable(entry);
            }
            // Claim the re-check so concurrent pushes don't all read the row.
            *checked = Instant::now();
        }
        let _building = self.build.lock().await;
        let record = self.store.credential(account, sid).await?;
        let Some(record) = record else {
            self.invalidate(sid.as_str());
            return Err(ClientError::Deleted);
        };
        let unchanged = self
            .cached(sid.as_str())
            .filter(|e| e.record.date_updated == record.date_updated);
        if let Some(entry) = unchanged {
            let refreshed = Arc::new(Entry {
                client: entry.client.clone(),
                record,
                checked: Mutex::new(Instant::now()),
            });
            self.insert(refreshed.clone());
            return usable(refreshed);
        }
        let auth = apns_auth(&self.master, &record)
            .map_err(|e| ClientError::Unusable(e.to_string()))?
            .ok_or_else(|| ClientError::Unusable("not an APNs credential".into()))?;
        let client = self
            .build_client(&record.account_sid, auth)
            .map_err(|e| ClientError::Unusable(e.to_string()))?;
        tracing::info!(credential = %record.sid, "APNs client built");
        let entry = Arc::new(Entry {
            client,
            record,
            checked: Mutex::new(Instant::now()),
        });
        self.insert(entry.clone());
        usable(entry)
    }

    fn build_client(
        &self,
        account: &AccountSid,
        auth: ApnsAuth,
    ) -> Result<ApnsClient, crate::apns::ApnsError> {
        let mut builder = ApnsClient::builder(auth.clone()).config(self.config.clone());
        if let (
            Some((redis, prefix)),
            ApnsAuth::Token {
                p8_pem,
                key_id,
                team_id,
            },
        ) = (&self.redis, &auth)
        {
            let signer = ProviderTokenSigner::new(p8_pem, key_id, team_id)?;
            builder = builder.token_source(Arc::new(RedisTokenSource::new(
                redis.clone(),
                prefix,
                account,
                signer,
                Arc::new(crate::clock::SystemClock),
                self.config.token_refresh_after,
            )));
        }
        builder.build()
    }

    fn insert(&self, entry: Arc<Entry>) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.record.sid.to_string(), entry);
    }

    /// The Redis connection, when replicas share state through Redis.
    pub fn redis(&self) -> Option<&redis::aio::ConnectionManager> {
        self.redis.as_ref().map(|(conn, _)| conn)
    }

    /// Open connections and in-flight requests of every client, per environment.
    pub fn stats(&self) -> Vec<(String, Environment, crate::apns::PoolStats)> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .flat_map(|(sid, entry)| {
                [Environment::Production, Environment::Sandbox]
                    .map(|env| (sid.clone(), env, entry.client.stats(env)))
            })
            .collect()
    }

    /// Forgets a credential's client (after rotation or deletion).
    pub fn invalidate(&self, sid: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sid);
    }

    /// Marks a cached credential rejected so pushes stop at once, before the store says so.
    pub fn mark_rejected(&self, sid: &CredentialSid, reason: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = entries.get(sid.as_str()) {
            let mut record = entry.record.clone();
            record.rejected_reason = Some(reason.to_owned());
            let replaced = Arc::new(Entry {
                client: entry.client.clone(),
                record,
                checked: Mutex::new(Instant::now()),
            });
            entries.insert(sid.to_string(), replaced);
        }
    }
}

fn usable(entry: Arc<Entry>) -> Result<Arc<Entry>, ClientError> {
    match &entry.record.rejected_reason {
        Some(reason) => Err(ClientError::Rejected(reason.clone())),
        None => Ok(entry),
    }
}
