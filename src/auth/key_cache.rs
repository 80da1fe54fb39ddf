//! Recently looked-up API keys, kept for a few seconds so a busy backend's requests don't each
//! cost a store read and an AES-GCM open, and so a flood of unknown (well-formed) `SK…` SIDs
//! costs one store read per SID per window rather than one per request.
//!
//! Keys found active are kept for `api_key_cache_seconds`; SIDs found unknown or revoked are
//! remembered as absent for the same time (bounded, oldest evicted first). A key revoked
//! through this process's API is forgotten at once, one revoked elsewhere (another replica, the
//! CLI) stops working here within the cache's lifetime; a key created through this process's
//! API clears any absent entry for its SID at once.
//!
//! Revocation and creation bump a generation counter: a lookup stores its result only if no
//! bump happened while it was reading the store, so a read that started before a revocation
//! can't put the revoked key back.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::api_keys::{AuthError, active_key_secret};
use crate::domain::ApiKeySid;
use crate::metrics::Metrics;
use crate::secrets::MasterKey;
use crate::store::{ApiKeyRecord, Store};

/// Most active keys kept; past it the cache starts over (accounts rarely have many keys).
const MAX_ENTRIES: usize = 10_000;
/// Most absent SIDs remembered; past it the oldest are evicted first.
const MAX_ABSENT: usize = 50_000;

/// What a lookup found: an active key and its opened secret, or nothing.
pub type Found = Option<(ApiKeyRecord, SecretString)>;
/// The future a [`KeyLoader`] returns.
pub type LoadFuture<'a> = Pin<Box<dyn Future<Output = Result<Found, AuthError>> + Send + 'a>>;

/// Where the cache reads keys from (the store in production; tests wrap it).
pub trait KeyLoader: Send + Sync {
    /// The active key `sid` and its secret; `None` if unknown or revoked.
    fn load<'a>(&'a self, sid: &'a ApiKeySid) -> LoadFuture<'a>;
}

/// Reads keys from the store and opens their secrets with the master key.
pub struct StoreLoader {
    pub store: Store,
    pub master: Arc<MasterKey>,
}

impl KeyLoader for StoreLoader {
    fn load<'a>(&'a self, sid: &'a ApiKeySid) -> LoadFuture<'a> {
        Box::pin(active_key_secret(&self.store, &self.master, sid))
    }
}

type Entry = (ApiKeyRecord, SecretString, Instant);

#[derive(Default)]
struct State {
    generation: u64,
    active: HashMap<String, Entry>,
    absent: HashMap<String, Instant>,
    /// Absent SIDs in insertion order, for eviction (may hold SIDs already removed).
    absent_order: VecDeque<String>,
}

/// The cache, with what it needs to load a key.
pub struct KeyCache {
    loader: Box<dyn KeyLoader>,
    ttl: Duration,
    metrics: Metrics,
    state: Mutex<State>,
}

impl KeyCache {
    /// A cache over the store keeping keys for `ttl` (zero: no caching); store reads are
    /// counted in `metrics`.
    pub fn new(store: Store, master: Arc<MasterKey>, ttl: Duration, metrics: Metrics) -> Self {
        Self::with_loader(Box::new(StoreLoader { store, master }), ttl, metrics)
    }

    /// A cache over any loader.
    pub fn with_loader(loader: Box<dyn KeyLoader>, ttl: Duration, metrics: Metrics) -> Self {
        Self {
            loader,
            ttl,
            metrics,
            state: Mutex::new(State::default()),
        }
    }

    /// An active key and its secret; `None` if unknown or revoked.
    pub async fn active(&self, sid: &ApiKeySid) -> Result<Found, AuthError> {
        let generation = {
            let mut state = self.lock();
            if let Some((record, secret, at)) = state.active.get(sid.as_str())
                && at.elapsed() < self.ttl
            {
                return Ok(Some((record.clone(), secret.clone())));
            }
            match state.absent.get(sid.as_str()) {
                Some(at) if at.elapsed() < self.ttl => return Ok(None),
                Some(_) => {
                    state.absent.remove(sid.as_str());
                }
                None => {}
            }
            state.generation
        };
        let found = self.loader.load(sid).await?;
        self.metrics
            .api_key_lookups
            .with_label_values(&[if found.is_some() { "found" } else { "absent" }])
            .inc();
        if self.ttl.is_zero() {
            return Ok(found);
        }
        let mut state = self.lock();
        // Revoked or created while we were reading: what we read may be stale, keep nothing.
        if state.generation != generation {
            return Ok(found);
        }
        match &found {
            Some((record, secret)) => {
                if state.active.len() >= MAX_ENTRIES {
                    state.active.clear();
                }
                state.active.insert(
                    sid.to_string(),
                    (record.clone(), secret.clone(), Instant::now()),
                );
            }
            None => state.remember_absent(sid.as_str(), self.ttl),
        }
        Ok(found)
    }

    /// Forgets `sid` (it was just revoked); lookups already in flight won't re-cache it.
    pub fn forget(&self, sid: &ApiKeySid) {
        let mut state = self.lock();
        state.generation += 1;
        state.active.remove(sid.as_str());
    }

    /// Forgets that `sid` was absent (it was just created).
    pub fn created(&self, sid: &ApiKeySid) {
        let mut state = self.lock();
        state.generation += 1;
        state.absent.remove(sid.as_str());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn remember_absent(&mut self, sid: &str, ttl: Duration) {
        if self.absent.len() >= MAX_ABSENT {
            self.absent.retain(|_, at| at.elapsed() < ttl);
        }
        while self.absent.len() >= MAX_ABSENT {
            let Some(oldest) = self.absent_order.pop_front() else {
                break;
            };
            self.absent.remove(&oldest);
        }
        if self.absent.insert(sid.to_owned(), Instant::now()).is_none() {
            self.absent_order.push_back(sid.to_owned());
        }
        // The order queue holds stale names of expired or removed entries: keep it bounded.
        if self.absent_order.len() > 2 * MAX_ABSENT {
            let absent = &self.absent;
            self.absent_order.retain(|s| absent.contains_key(s));
        }
    }
}

#[cfg(test)]
#[path = "key_cache_tests.rs"]
mod tests;
