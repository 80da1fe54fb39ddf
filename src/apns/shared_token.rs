//! Provider tokens shared through Redis, so every replica sends the same token for a `.p8`
//! key and only one of them replaces it — replicas minting their own tokens is what makes APNs
//! answer `TooManyProviderTokenUpdates`.
//!
//! Redis keys (prefix configurable, default `pushgate:`):
//! - `<prefix>apns-token:<account SID>:<key fingerprint>` — the current token, JSON
//!   `{"jwt", "iat"}`, expiring after an hour (APNs's own limit). The fingerprint is the hex
//!   SHA-256 of the `.p8` key's public key (SPKI DER): team id and key id are typed by an
//!   operator, so two accounts (or two keys) never share a token by naming the same ids.
//! - `<prefix>apns-token:<account SID>:<key fingerprint>:lock` — held (SET NX PX, 5 s) by the
//!   replica replacing the token; released only by its holder.
//!
//! A token read from Redis is used only if it verifies against the local key (ES256 signature,
//! `kid`, `iss`, `iat`); anything else there is ignored (logged) and replaced.
//!
//! Each replica keeps what it read for a few seconds, so pushes don't each cost a round trip.
//! If Redis can't be reached, the source falls back to minting locally (and logs it): pushes
//! keep flowing, at the risk of the very error this avoids.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::domain::AccountSid;

use super::token::{
    Clock, InMemoryTokenSource, MAX_TOKEN_REFRESH_AFTER, MIN_TOKEN_AGE_FOR_REFRESH, ProviderToken,
    ProviderTokenSigner, ProviderTokenSource, TokenError, TokenFuture,
};

/// How long a replica trusts the token it last read from Redis.
const LOCAL_TTL: Duration = Duration::from_secs(5);
const LOCK_TTL_MS: u64 = 5_000;
const TOKEN_TTL_SECS: u64 = 3_600;
/// How long to wait for another replica to finish replacing the token.
const WAIT_FOR_HOLDER: Duration = Duration::from_secs(3);

const RELEASE: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end"#;

#[derive(Serialize, Deserialize)]
struct Stored {
    jwt: String,
    iat: u64,
}

/// A provider token source backed by Redis.
pub struct RedisTokenSource {
    redis: ConnectionManager,
    signer: ProviderTokenSigner,
    clock: Arc<dyn Clock>,
    refresh_after: Duration,
    key: String,
    lock: String,
    cached: Mutex<Option<(ProviderToken, Instant)>>,
    fallback: InMemoryTokenSource,
}

impl std::fmt::Debug for RedisTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTokenSource")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl RedisTokenSource {
    /// A source for `account`'s key `signer`, sharing tokens under `prefix` in `redis`.
    pub fn new(
        redis: ConnectionManager,
        prefix: &str,
        account: &AccountSid,
        signer: ProviderTokenSigner,
        clock: Arc<dyn Clock>,
        refresh_after: Duration,
    ) -> Self {
        let key = format!("{prefix}apns-token:{account}:{}", signer.fingerprint());
        let fallback = InMemoryTokenSource::new(signer.clone(), clock.clone(), refresh_after);
        Self {
            redis,
            lock: format!("{key}:lock"),
            key,
            signer,
            clock,
            refresh_after: refresh_after.clamp(MIN_TOKEN_AGE_FOR_REFRESH, MAX_TOKEN_REFRESH_AFTER),
            cached: Mutex::new(None),
            fallback,
        }
    }

    /// The Redis key the token is shared under.
    pub fn redis_key(&self) -> &str {
        &self.key
    }

    fn cached(&self) -> Option<ProviderToken> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|(token, read)| {
                read.elapsed() < LOCAL_TTL && token.age_at(self.clock.now()) < self.refresh_after
            })
            .map(|(token, _)| token.clone())
    }

    fn remember(&self, token: &ProviderToken) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((token.clone(), Instant::now()));
    }

    async fn read(&self) -> redis::RedisResult<Option<ProviderToken>> {
        let mut redis = self.redis.clone();
        let raw: Option<String> = redis::cmd("GET")
            .arg(&self.key)
            .query_async(&mut redis)
            .await?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        match serde_json::from_str::<Stored>(&raw) {
            Ok(s) if self.signer.verify(&s.jwt, s.iat) => Ok(Some(ProviderToken::new(
                s.jwt,
                SystemTime::UNIX_EPOCH + Duration::from_secs(s.iat),
            ))),
            _ => {
                tracing::warn!(key_id = %self.signer.key_id(),
                    "the shared APNs provider token in Redis was not signed by this key; replacing it");
                Ok(None)
            }
        }
    }

    /// Replaces the shared token if `stale(current)` still holds once we hold the lock.
    async fn replace(
        &self,
        stale: impl Fn(Option<&ProviderToken>) -> bool,
    ) -> redis::RedisResult<Result<ProviderToken, TokenError>> {
        let mut redis = self.redis.clone();
        let holder = uuid::Uuid::new_v4().to_string();
        let deadline = Instant::now() + WAIT_FOR_HOLDER;
        loop {
            let locked: Option<String> = redis::cmd("SET")
                .arg(&self.lock)
                .arg(&holder)
                .arg("NX")
                .arg("PX")
                .arg(LOCK_TTL_MS)
                .query_async(&mut redis)
                .await?;
            if locked.is_some() {
                break;
            }
            // Another replica is replacing it: use theirs once it is there.
            tokio::time::sleep(Duration::from_millis(25)).await;
            if let Some(token) = self.read().await?.filter(|t| !stale(Some(t))) {
                return Ok(Ok(token));
            }
            if Instant::now() > deadline {
                return Ok(Err(TokenError::Unavailable(
                    "another replica holds the provider token lock".into(),
                )));
            }
        }
        let current = self.read().await?;
        let result = if stale(current.as_ref()) {
            match self.signer.sign(self.clock.now()) {
                Ok(token) => {
                    let stored = Stored {
                        jwt: token.expose_jwt().to_owned(),
                        iat: token
                            .issued_at()
                            .duration_since(SystemTime::UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_secs(),
                    };
                    let json = serde_json::to_string(&stored).unwrap_or_default();
                    let _: () = redis::cmd("SET")
                        .arg(&self.key)
                        .arg(json)
                        .arg("EX")
                        .arg(TOKEN_TTL_SECS)
                        .query_async(&mut redis)
                        .await?;
                    tracing::info!(key_id = %self.signer.key_id(), "minted shared APNs provider token");
                    Ok(token)
                }
                Err(e) => Err(e),
            }
        } else {
            current.ok_or_else(|| TokenError::Unavailable("provider token vanished".into()))
        };
        let _: i64 = redis::Script::new(RELEASE)
            .key(&self.lock)
            .arg(&holder)
            .invoke_async(&mut redis)
            .await?;
        Ok(result)
    }

    async fn current_shared(&self) -> Result<ProviderToken, TokenError> {
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let now = self.clock.now();
        let refresh_after = self.refresh_after;
        let fresh = |t: &ProviderToken| t.age_at(now) < refresh_after;
        let shared = async {
            if let Some(token) = self.read().await?.filter(fresh) {
                return Ok(Ok(token));
            }
            self.replace(|t| !t.is_some_and(fresh)).await
        };
        match shared.await {
            Ok(result) => {
                if let Ok(token) = &result {
                    self.remember(token);
                }
                result
            }
            Err(e) => {
                tracing::warn!(error = %e, "Redis unavailable: minting the provider token locally");
                self.fallback.current().await
            }
        }
    }

    async fn refresh_shared(&self, rejected: &ProviderToken) -> Result<ProviderToken, TokenError> {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let rejected_jwt = rejected.expose_jwt().to_owned();
        match self
            .replace(|t| t.is_none_or(|t| t.expose_jwt() == rejected_jwt))
            .await
        {
            Ok(result) => {
                if let Ok(token) = &result {
                    self.remember(token);
                }
                result
            }
            Err(e) => {
                tracing::warn!(error = %e, "Redis unavailable: replacing the provider token locally");
                self.fallback.refresh(rejected).await
            }
        }
    }
}

impl ProviderTokenSource for RedisTokenSource {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(self.current_shared())
    }

    fn refresh<'a>(&'a self, rejected: &'a ProviderToken) -> TokenFuture<'a> {
        Box::pin(self.refresh_shared(rejected))
    }
}
