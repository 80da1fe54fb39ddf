//! Console sessions: an operator signs in with an API key SID and secret and gets a random
//! session id (the cookie). The store keeps only the id's SHA-256 (so sessions work across
//! replicas and a database reader can't sign in); the CSRF token is the SHA-256 of the id
//! under another label, so it is never stored either. A session ends at sign-out, after
//! `console_idle_minutes` without a request, or when its key is revoked (checked on every
//! request through the key cache). Failed sign-ins count against the failed-authentication
//! limiter like failed API authentications.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::api_keys::{ApiKeyPrincipal, AuthError};
use super::failures::FailureLimiter;
use super::key_cache::KeyCache;
use crate::clock::now_ms;
use crate::domain::{ApiKeySid, random_bytes};
use crate::store::{ConsoleSessionRecord, Store, StoreError};

/// `last_seen` is written at most this often per session (not on every request).
const TOUCH_EVERY_MS: i64 = 60_000;

/// A signed-in operator.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub principal: ApiKeyPrincipal,
    /// The synchronizer token every state-changing form carries.
    pub csrf: String,
    id_hash: String,
}

/// A new session: its id goes in the cookie, once.
pub struct NewSession {
    pub id: String,
    pub session: ConsoleSession,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession").finish_non_exhaustive()
    }
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("unknown or revoked API key, or wrong secret")]
    Failed,
    #[error("too many failed sign-ins from this address; retry in {} s", .0.as_secs())]
    Limited(Duration),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a request's session is not (or no longer) valid.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("not signed in")]
    Missing,
    #[error("the session ended after {0} minutes without a request")]
    Expired(u32),
    #[error("the session's API key was revoked")]
    KeyRevoked,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The console's sessions over the store, the key cache and the failure limiter.
pub struct Sessions<'a> {
    pub store: &'a Store,
    pub keys: &'a KeyCache,
    pub failures: &'a FailureLimiter,
    /// `console_idle_minutes`.
    pub idle_minutes: u32,
}

impl Sessions<'_> {
    fn idle_ms(&self) -> i64 {
        i64::from(self.idle_minutes) * 60_000
    }

    /// Checks `sid`/`secret` (secret compared in constant time) and opens a session;
    /// a failure from `client` is counted (and refused once over the limit).
    pub async fn sign_in(
        &self,
        sid: &str,
        secret: &str,
        client: Option<IpAddr>,
    ) -> Result<NewSession, SignInError> {
        let principal = match self.check(sid, secret).await? {
            Some(principal) => principal,
            None => {
                return Err(match self.failures.failed(client, Instant::now()) {
                    Ok(()) => SignInError::Failed,
                    Err(limited) => SignInError::Limited(limited.retry_after),
                });
            }
        };
        let now = now_ms();
        // Sign-ins are rare: a good moment to forget sessions nobody came back to.
        self.store
            .prune_console_sessions(now - self.idle_ms())
            .await?;
        let id = hex::encode(random_bytes::<32>());
        let id_hash = hash_id(&id);
        self.store
            .insert_console_session(&ConsoleSessionRecord {
                id_hash: id_hash.clone(),
                account_sid: principal.account.clone(),
                api_key_sid: principal.key.clone(),
                last_seen: now,
                date_created: now,
            })
            .await?;
        let csrf = csrf_of(&id);
        Ok(NewSession {
            id,
            session: ConsoleSession {
                principal,
                csrf,
                id_hash,
            },
        })
    }

    async fn check(&self, sid: &str, secret: &str) -> Result<Option<ApiKeyPrincipal>, AuthError> {
        let Ok(sid) = ApiKeySid::parse(sid.trim()) else {
            return Ok(None);
        };
        let Some((record, stored)) = self.keys.active(&sid).await? else {
            return Ok(None);
        };
        let matches: bool = stored
            .expose_secret()
            .as_bytes()
            .ct_eq(secret.trim().as_bytes())
            .into();
        Ok(matches.then_some(ApiKeyPrincipal {
            account: record.account_sid,
            key: record.sid,
        }))
    }

    /// The session whose id is `id`, if it is still valid; records the request.
    pub async fn open(&self, id: &str) -> Result<ConsoleSession, SessionError> {
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SessionError::Missing);
        }
        let id_hash = hash_id(id);
        let record = self
            .store
            .console_session(&id_hash)
            .await?
            .ok_or(SessionError::Missing)?;
        let now = now_ms();
        if now - record.last_seen > self.idle_ms() {
            self.store.delete_console_session(&id_hash).await?;
            return Err(SessionError::Expired(self.idle_minutes));
        }
        // Revoked here, on another replica or by the CLI: the cache knows within its lifetime.
        match self.keys.active(&record.api_key_sid).await? {
            Some((key, _)) if key.account_sid == record.account_sid => {}
            _ => {
                self.store.delete_console_session(&id_hash).await?;
                return Err(SessionError::KeyRevoked);
            }
        }
        if now - record.last_seen >= TOUCH_EVERY_MS {
            self.store.touch_console_session(&id_hash, now).await?;
        }
        Ok(ConsoleSession {
            principal: ApiKeyPrincipal {
                account: record.account_sid,
                key: record.api_key_sid,
            },
            csrf: csrf_of(id),
            id_hash,
        })
    }

    /// Ends `session` (sign-out).
    pub async fn end(&self, session: &ConsoleSession) -> Result<(), StoreError> {
        self.store.delete_console_session(&session.id_hash).await
    }
}

impl ConsoleSession {
    /// Whether `token` is this session's CSRF token (constant-time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        self.csrf.as_bytes().ct_eq(token.as_bytes()).into()
    }
}

fn hash_id(id: &str) -> String {
    hex::encode(openssl::sha::sha256(id.as_bytes()))
}

fn csrf_of(id: &str) -> String {
    let mut h = openssl::sha::Sha256::new();
    h.update(b"pushgate console csrf\0");
    h.update(id.as_bytes());
    hex::encode(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_hash_and_the_csrf_token_differ_from_the_id_and_each_other() {
        let id = hex::encode([7u8; 32]);
        let (hash, csrf) = (hash_id(&id), csrf_of(&id));
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, csrf);
        assert_ne!(hash, id);
        assert_eq!(csrf, csrf_of(&id), "derived, stable");
    }
}
