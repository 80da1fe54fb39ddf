//! The FCM side of the per-credential registry: one pooled [`FcmClient`] for every push (FCM
//! is one endpoint), and per credential its service account's access-token source, built once
//! and rebuilt only when the credential is rotated (its row is re-read at most every few
//! seconds, or at once through [`FcmCredentials::invalidate`]). With Redis, access tokens are
//! shared by every replica.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use secrecy::ExposeSecret;

use super::clients::ClientError;
use crate::credentials::material::service_account_json;
use crate::domain::{AccountSid, CredentialSid};
use crate::fcm::{
    AccessTokenFuture, AccessTokenSource, FcmClient, InMemoryAccessTokenSource,
    RedisAccessTokenSource, ServiceAccount, SystemClock, TokenError, TokenExchange,
};
use crate::metrics::Metrics;
use crate::secrets::MasterKey;
use crate::store::{CredentialRecord, Store};

/// How long a cached credential is trusted before its row is checked for a rotation.
const RECHECK: Duration = Duration::from_secs(5);

/// A credential's token source and what pushes need to know about it.
pub struct FcmEntry {
    pub tokens: Arc<dyn AccessTokenSource>,
    pub record: CredentialRecord,
    checked: Mutex<Instant>,
}

impl FcmEntry {
    /// The Firebase project the credential sends for.
    pub fn project_id(&self) -> &str {
        self.record
            .fcm
            .as_ref()
            .map_or("", |f| f.project_id.as_str())
    }
}

/// The FCM client and per-credential token sources of this process.
pub struct FcmCredentials {
    client: FcmClient,
    store: Store,
    master: Arc<MasterKey>,
    redis: Option<(redis::aio::ConnectionManager, String)>,
    metrics: Metrics,
    entries: Mutex<HashMap<String, Arc<FcmEntry>>>,
    build: tokio::sync::Mutex<()>,
}

impl FcmCredentials {
    /// An empty registry sending through `client`; with `redis` (a connection and a key
    /// prefix), access tokens are shared with the other replicas.
    pub fn new(
        client: FcmClient,
        store: Store,
        master: Arc<MasterKey>,
        redis: Option<(redis::aio::ConnectionManager, String)>,
        metrics: Metrics,
    ) -> Self {
        Self {
            client,
            store,
            master,
            redis,
            metrics,
            entries: Mutex::new(HashMap::new()),
            build: tokio::sync::Mutex::new(()),
        }
    }

    /// The pooled client.
    pub fn client(&self) -> &FcmClient {
        &self.client
    }

    fn cached(&self, sid: &str) -> Option<Arc<FcmEntry>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(sid).cloned()
    }

    /// The token source for `sid`, building or rebuilding it when needed.
    pub async fn get(
        &self,
        account: &AccountSid,
        sid: &CredentialSid,
    ) -> Result<Arc<FcmEntry>, ClientError> {
        if let Some(entry) = self.cached(sid.as_str()) {
            let mut checked = entry.checked.lock().unwrap_or_else(|p| p.into_inner());
            if checked.elapsed() < RECHECK {
                drop(checked);
                return usable(entry);
            }
            *checked = Instant::now();
        }
        let _building = self.build.lock().await;
        let Some(record) = self.store.credential(account, sid).await? else {
            self.invalidate(sid.as_str());
            return Err(ClientError::Deleted);
        };
        if let Some(entry) = self
            .cached(sid.as_str())
            .filter(|e| e.record.date_updated == record.date_updated)
        {
            return usable(self.insert(entry.tokens.clone(), record));
        }
        let tokens = self.token_source(&record)?;
        tracing::info!(credential = %record.sid, "FCM token source built");
        usable(self.insert(tokens, record))
    }

    fn token_source(
        &self,
        record: &CredentialRecord,
    ) -> Result<Arc<dyn AccessTokenSource>, ClientError> {
        let unusable = |e: String| ClientError::Unusable(e);
        let json = service_account_json(&self.master, record)
            .map_err(|e| unusable(e.to_string()))?
            .ok_or_else(|| unusable("not an FCM credential".into()))?;
        let account =
            ServiceAccount::from_json(json.expose_secret()).map_err(|e| unusable(e.to_string()))?;
        let exchange = self
            .client
            .token_exchange(&account)
            .map_err(|e| unusable(e.to_string()))?;
        let exchange: Arc<dyn TokenExchange> = Arc::new(Counted {
            inner: exchange,
            metrics: self.metrics.clone(),
        });
        let clock = Arc::new(SystemClock);
        Ok(match &self.redis {
            Some((redis, prefix)) => Arc::new(RedisAccessTokenSource::new(
                redis.clone(),
                prefix,
                &record.account_sid,
                exchange,
                clock,
            )),
            None => Arc::new(InMemoryAccessTokenSource::new(exchange, clock)),
        })
    }

    fn insert(
        &self,
        tokens: Arc<dyn AccessTokenSource>,
        record: CredentialRecord,
    ) -> Arc<FcmEntry> {
        let entry = Arc::new(FcmEntry {
            tokens,
            record,
            checked: Mutex::new(Instant::now()),
        });
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(entry.record.sid.to_string(), entry.clone());
        entry
    }

    /// Forgets a credential's token source (after rotation or deletion).
    pub fn invalidate(&self, sid: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(sid);
    }

    /// Marks a cached credential rejected so pushes stop at once, before the store says so.
    pub fn mark_rejected(&self, sid: &CredentialSid, reason: &str) {
        let Some(entry) = self.cached(sid.as_str()) else {
            return;
        };
        let mut record = entry.record.clone();
        record.rejected_reason = Some(reason.to_owned());
        self.insert(entry.tokens.clone(), record);
    }
}

fn usable(entry: Arc<FcmEntry>) -> Result<Arc<FcmEntry>, ClientError> {
    match &entry.record.rejected_reason {
        Some(reason) => Err(ClientError::Rejected(reason.clone())),
        None => Ok(entry),
    }
}

/// A token exchange that counts its results in `pushgate_fcm_token_exchanges_total`.
#[derive(Debug)]
struct Counted<E> {
    inner: E,
    metrics: Metrics,
}

impl<E: TokenExchange> TokenExchange for Counted<E> {
    fn exchange(&self, now: SystemTime) -> AccessTokenFuture<'_> {
        Box::pin(async move {
            let result = self.inner.exchange(now).await;
            let label = match &result {
                Ok(_) => "issued",
                Err(e) if e.is_transient() => "failed",
                Err(TokenError::Refused { .. } | TokenError::Malformed { .. }) => "refused",
                Err(_) => "failed",
            };
            self.metrics
                .fcm_token_exchanges
                .with_label_values(&[label])
                .inc();
            result
        })
    }

    fn key_fingerprint(&self) -> &str {
        self.inner.key_fingerprint()
    }
}
