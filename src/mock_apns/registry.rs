//! Registries the simulator checks pushes against: device tokens per
//! (topic, environment), provider-token keys, and the per-key history of
//! distinct provider tokens (for TooManyProviderTokenUpdates).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use openssl::pkey::{PKey, Public};
use serde::{Deserialize, Serialize};

use super::config::{Environment, Error};
use super::provider_token::load_public_key;

/// `POST /tokens`: a device token valid for one topic in one environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRegistration {
    /// Hex device token (case-insensitive).
    pub token: String,
    /// The topic (bundle id, `.voip` suffix for VoIP) the token belongs to.
    pub topic: String,
    /// The environment that issued the token.
    pub environment: Environment,
}

/// The 410 reason an unregistered token answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum GoneReason {
    /// The app was removed or notifications disabled.
    #[default]
    Unregistered,
    /// The token expired.
    ExpiredToken,
}

impl GoneReason {
    /// Apple's reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            GoneReason::Unregistered => "Unregistered",
            GoneReason::ExpiredToken => "ExpiredToken",
        }
    }
}

/// `POST /tokens/{token}/unregister`: mark a token as no longer valid.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Unregistration {
    /// When APNs learned the token is invalid (epoch ms); default: now.
    #[serde(default)]
    pub timestamp_ms: Option<u64>,
    /// Reason reported with the 410; default `Unregistered`.
    #[serde(default)]
    pub reason: Option<GoneReason>,
}

/// `POST /keys`: a provider-token signing key (.p8) known to the simulator.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyRegistration {
    /// The 10-character key id (`kid`).
    pub key_id: String,
    /// The team id tokens signed with this key must carry as `iss`.
    pub team_id: String,
    /// `BEGIN PUBLIC KEY` PEM of the key.
    #[serde(default)]
    pub public_key_pem: Option<String>,
    /// Or the .p8 `BEGIN PRIVATE KEY` PEM itself (the public half is used).
    #[serde(default, alias = "p8")]
    pub private_key_pem: Option<String>,
    /// Restrict the key to one environment (BadEnvironmentKeyIdInToken).
    #[serde(default)]
    pub environment: Option<Environment>,
    /// Restrict the key to these topics (TopicDisallowed otherwise).
    #[serde(default)]
    pub topics: Option<Vec<String>>,
}

/// What is known about one device token.
#[derive(Debug, Clone)]
pub(crate) struct TokenEntry {
    pub topic: Option<String>,
    pub environment: Option<Environment>,
    pub gone: Option<(u64, GoneReason)>,
}

/// A registered provider key.
#[derive(Debug)]
pub(crate) struct ProviderKey {
    pub team_id: String,
    pub public: PKey<Public>,
    pub environment: Option<Environment>,
    pub topics: Option<BTreeSet<String>>,
}

/// Device tokens, keys and provider-token history.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    tokens: RwLock<HashMap<String, TokenEntry>>,
    tokens_active: AtomicBool,
    keys: RwLock<HashMap<String, Arc<ProviderKey>>>,
    keys_active: AtomicBool,
    /// Bumped whenever keys change, invalidating per-connection auth caches.
    key_generation: AtomicU64,
    /// Per key id: last distinct accepted token and when it was first seen.
    token_history: Mutex<HashMap<String, (String, SystemTime)>>,
}

/// Normalises and checks a device token given to the control API.
fn normalize_token(token: &str) -> Result<String, Error> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::InvalidInput(format!(
            "device token {token:?} is not hex"
        )));
    }
    Ok(token.to_ascii_lowercase())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    /// Registers (or re-registers, clearing any 410 state) a device token.
    pub fn register_token(&self, reg: &TokenRegistration) -> Result<(), Error> {
        let token = normalize_token(&reg.token)?;
        if reg.topic.is_empty() {
            return Err(Error::InvalidInput("topic must not be empty".into()));
        }
        let entry = TokenEntry {
            topic: Some(reg.topic.clone()),
            environment: Some(reg.environment),
            gone: None,
        };
        write(&self.tokens).insert(token, entry);
        self.tokens_active.store(true, Ordering::Release);
        Ok(())
    }

    /// Marks a token unregistered; returns the 410 timestamp (epoch ms).
    pub fn unregister_token(
        &self,
        token: &str,
        req: &Unregistration,
        now_ms: u64,
    ) -> Result<u64, Error> {
        let token = normalize_token(token)?;
        let ts = req.timestamp_ms.unwrap_or(now_ms);
        let gone = Some((ts, req.reason.unwrap_or_default()));
        write(&self.tokens)
            .entry(token)
            .and_modify(|e| e.gone = gone)
            .or_insert(TokenEntry {
                topic: None,
                environment: None,
                gone,
            });
        self.tokens_active.store(true, Ordering::Release);
        Ok(ts)
    }

    /// Whether device-token checks apply without strict mode.
    pub fn tokens_active(&self) -> bool {
        self.tokens_active.load(Ordering::Acquire)
    }

    /// Looks up a device token (any case).
    pub fn token(&self, token: &str) -> Option<TokenEntry> {
        let tokens = read(&self.tokens);
        match tokens.get(token) {
            Some(e) => Some(e.clone()),
            None => tokens.get(&token.to_ascii_lowercase()).cloned(),
        }
    }

    /// Registers a provider key, replacing one with the same id.
    pub fn register_key(&self, reg: &KeyRegistration) -> Result<(), Error> {
        if reg.key_id.is_empty() || reg.team_id.is_empty() {
            return Err(Error::InvalidInput(
                "key_id and team_id are required".into(),
            ));
        }
        let pem = match (&reg.public_key_pem, &reg.private_key_pem) {
            (Some(p), None) | (None, Some(p)) => p,
            _ => {
                return Err(Error::InvalidInput(
                    "give exactly one of public_key_pem and private_key_pem".into(),
                ));
            }
        };
        let key = ProviderKey {
            team_id: reg.team_id.clone(),
            public: load_public_key(pem)?,
            environment: reg.environment,
            topics: reg.topics.as_ref().map(|t| t.iter().cloned().collect()),
        };
        write(&self.keys).insert(reg.key_id.clone(), Arc::new(key));
        self.keys_active.store(true, Ordering::Release);
        self.key_generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Whether key checks apply without strict mode.
    pub fn keys_active(&self) -> bool {
        self.keys_active.load(Ordering::Acquire)
    }

    /// The current key generation (see `key_generation`).
    pub fn key_generation(&self) -> u64 {
        self.key_generation.load(Ordering::Acquire)
    }

    /// A registered key by id.
    pub fn key(&self, key_id: &str) -> Option<Arc<ProviderKey>> {
        read(&self.keys).get(key_id).cloned()
    }

    /// Records that `token` (already verified) is used for `key_id`.
    /// Returns false when it replaces the previous distinct token of that key
    /// sooner than `min_refresh` after that one was first seen.
    pub fn note_token_use(
        &self,
        key_id: &str,
        token: &str,
        now: SystemTime,
        min_refresh: Duration,
    ) -> bool {
        let mut history = self.token_history.lock().unwrap_or_else(|e| e.into_inner());
        match history.get_mut(key_id) {
            Some((last, _)) if last == token => true,
            Some((last, since)) => {
                let age = now.duration_since(*since).unwrap_or(Duration::ZERO);
                if age < min_refresh {
                    return false;
                }
                *last = token.to_string();
                *since = now;
                true
            }
            None => {
                history.insert(key_id.to_string(), (token.to_string(), now));
                true
            }
        }
    }

    /// Forgets every token, key and token history.
    pub fn reset(&self) {
        write(&self.tokens).clear();
        self.tokens_active.store(false, Ordering::Release);
        write(&self.keys).clear();
        self.keys_active.store(false, Ordering::Release);
        self.key_generation.fetch_add(1, Ordering::AcqRel);
        self.token_history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
