//! Access tokens shared through Redis, so replicas reuse one token per service account and
//! only one of them runs each refresh.
//!
//! Redis keys (prefix configurable, default `pushgate:`):
//! - `<prefix>fcm-token:<account SID>:<key fingerprint>` — the current token, JSON
//!   `{"access_token", "expires_at", "issued_at"}` (epoch seconds), expiring with the token.
//!   The fingerprint is the hex SHA-256 of the service account key's public key (SPKI DER).
//! - `<prefix>fcm-token:<account SID>:<key fingerprint>:lock` — held (SET NX PX, 15 s) by the
//!   replica refreshing the token; released only by its holder.
//!
//! Unlike an APNs provider token, an OAuth2 access token is opaque: a token read from Redis
//! can't be checked against the local key. So the key names both the account and the key
//! itself (not the operator-typed `private_key_id`), and nothing but this module writes there:
//! two accounts, or two keys of one account, never read each other's token.
//!
//! Each replica trusts what it read for a few seconds, so sends don't each cost a round trip.
//! A replica that finds another holding the lock waits for its token (up to 5 s), then
//! exchanges by itself — Google does not punish extra tokens, only delay matters. If Redis
//! can't be reached the source falls back to a per-process cache (logged).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use redis::aio::ConnectionManager;
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::AccountSid;

use super::access_token::{
    AccessToken, AccessTokenFuture, AccessTokenSource, InvalidateFuture, TokenError, TokenExchange,
};
use super::token::{Clock, InMemoryAccessTokenSource};

/// How long a replica trusts the token it last read from Redis.
const LOCAL_TTL: Duration = Duration::from_secs(5);
const LOCK_TTL_MS: u64 = 15_000;
/// How long to wait for another replica's refresh before exchanging ourselves.
const WAIT_FOR_HOLDER: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(25);

const RELEASE: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end"#;
/// Deletes the token only if it is still the rejected one.
const DELETE_IF: &str = r#"local v = redis.call("GET", KEYS[1])
if not v then return 0 end
local ok, t = pcall(cjson.decode, v)
if ok and type(t) == "table" and t.access_token == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0"#;

#[derive(Deserialize)]
struct Stored {
    access_token: SecretString,
    expires_at: u64,
    issued_at: Option<u64>,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// An access token source backed by Redis.
pub struct RedisAccessTokenSource {
    redis: ConnectionManager,
    exchange: Arc<dyn TokenExchange>,
    clock: Arc<dyn Clock>,
    key: String,
    lock: String,
    cached: Mutex<Option<(AccessToken, Instant)>>,
    /// One refresh per process at a time; the Redis lock extends that across replicas.
    refreshing: tokio::sync::Mutex<()>,
    fallback: InMemoryAccessTokenSource,
}

impl fmt::Debug for RedisAccessTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAccessTokenSource")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl RedisAccessTokenSource {
    /// A source for `account`'s service account behind `exchange`, sharing tokens under
    /// `prefix` in `redis`.
    pub fn new(
        redis: ConnectionManager,
        prefix: &str,
        account: &AccountSid,
        exchange: Arc<dyn TokenExchange>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let key = format!("{prefix}fcm-token:{account}:{}", exchange.key_fingerprint());
        Self {
            redis,
            lock: format!("{key}:lock"),
            key,
            fallback: InMemoryAccessTokenSource::new(exchange.clone(), clock.clone()),
            exchange,
            clock,
            cached: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The Redis key the token is shared under.
    pub fn redis_key(&self) -> &str {
        &self.key
    }

    fn cached(&self) -> Option<AccessToken> {
        let now = self.clock.now();
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|(token, read)| read.elapsed() < LOCAL_TTL && !token.needs_refresh_at(now))
            .map(|(token, _)| token.clone())
    }

    fn remember(&self, token: Option<&AccessToken>) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            token.map(|t| (t.clone(), Instant::now()));
    }

    /// The shared token, if there is one not yet due for refresh.
    async fn read_fresh(&self) -> redis::RedisResult<Option<AccessToken>> {
        let mut redis = self.redis.clone();
        let raw: Option<String> = redis::cmd("GET")
            .arg(&self.key)
            .query_async(&mut redis)
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        let Ok(stored) = serde_json::from_str::<Stored>(&raw) else {
            tracing::warn!(key = %self.key, "unreadable shared FCM access token in Redis; replacing it");
            return Ok(None);
        };
        let expires_at = at(stored.expires_at);
        let issued_at = at(stored
            .issued_at
            .unwrap_or_else(|| stored.expires_at.saturating_sub(3600)));
        let token = AccessToken::new(stored.access_token, issued_at, expires_at);
        Ok(Some(token).filter(|t| !t.needs_refresh_at(self.clock.now())))
    }

    async fn write(&self, token: &AccessToken) -> redis::RedisResult<()> {
        let ttl_ms = token.remaining_at(self.clock.now()).as_millis().max(1) as u64;
        let json = serde_json::json!({
            "access_token": token.expose(),
            "expires_at": secs(token.expires_at()),
            "issued_at": secs(token.issued_at()),
        })
        .to_string();
        let mut redis = self.redis.clone();
        redis::cmd("SET")
            .arg(&self.key)
            .arg(json)
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut redis)
            .await
    }

    async fn exchange_and_store(&self) -> redis::RedisResult<Result<AccessToken, TokenError>> {
        match self.exchange.exchange(self.clock.now()).await {
            Ok(token) => {
                match self.write(&token).await {
                    Ok(()) => tracing::info!(key = %self.key, "obtained shared FCM access token"),
                    // The token is good either way; other replicas will exchange their own.
                    Err(e) => tracing::warn!(key = %self.key, error = %e,
                        "obtained an FCM access token but could not share it through Redis"),
                }
                Ok(Ok(token))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    async fn shared(&self) -> redis::RedisResult<Result<AccessToken, TokenError>> {
        if let Some(token) = self.read_fresh().await? {
            return Ok(Ok(token));
        }
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
            // Another replica is refreshing: use its token once it is there.
            tokio::time::sleep(POLL).await;
            if let Some(token) = self.read_fresh().await? {
                return Ok(Ok(token));
            }
            if Instant::now() > deadline {
                tracing::warn!(key = %self.key,
                    "another replica's FCM token refresh is taking long; exchanging here");
                return self.exchange_and_store().await;
            }
        }
        let result = match self.read_fresh().await {
            Ok(Some(token)) => Ok(Ok(token)),
            Ok(None) => self.exchange_and_store().await,
            Err(e) => Err(e),
        };
        let released: redis::RedisResult<i64> = redis::Script::new(RELEASE)
            .key(&self.lock)
            .arg(&holder)
            .invoke_async(&mut redis)
            .await;
        if let Err(e) = released {
            tracing::debug!(error = %e, "could not release the FCM token lock; it expires by itself");
        }
        result
    }

    async fn token_shared(&self) -> Result<AccessToken, TokenError> {
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let _single = self.refreshing.lock().await;
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        match self.shared().await {
            Ok(result) => {
                if let Ok(token) = &result {
                    self.remember(Some(token));
                }
                result
            }
            Err(e) => {
                tracing::warn!(error = %e, "Redis unavailable: caching the FCM access token locally");
                self.fallback.token().await
            }
        }
    }

    async fn invalidate_shared(&self, rejected: &AccessToken) {
        {
            let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
            if cached.as_ref().is_some_and(|(t, _)| t == rejected) {
                *cached = None;
            }
        }
        self.fallback.invalidate(rejected).await;
        let mut redis = self.redis.clone();
        let deleted: redis::RedisResult<i64> = redis::Script::new(DELETE_IF)
            .key(&self.key)
            .arg(rejected.expose())
            .invoke_async(&mut redis)
            .await;
        match deleted {
            Ok(n) => tracing::info!(key = %self.key, deleted = n,
                "FCM refused the shared access token; it will be replaced"),
            Err(e) => tracing::warn!(error = %e, "could not drop the refused FCM token from Redis"),
        }
    }
}

impl AccessTokenSource for RedisAccessTokenSource {
    fn token(&self) -> AccessTokenFuture<'_> {
        Box::pin(self.token_shared())
    }

    fn invalidate<'a>(&'a self, rejected: &'a AccessToken) -> InvalidateFuture<'a> {
        Box::pin(self.invalidate_shared(rejected))
    }
}
