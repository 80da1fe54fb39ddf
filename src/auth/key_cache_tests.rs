//! The key cache's interleavings, driven step by step through a gated loader.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, Semaphore};

use super::*;
use crate::domain::AccountSid;

/// A loader answering from a switchable "store", counting reads; when gated, each read
/// announces itself on `started` and waits for a permit on `gate` before answering.
struct Scripted {
    key: Mutex<Option<ApiKeyRecord>>,
    reads: AtomicUsize,
    gated: bool,
    started: Notify,
    gate: Semaphore,
}

impl Scripted {
    fn new(key: Option<ApiKeyRecord>, gated: bool) -> Arc<Self> {
        Arc::new(Self {
            key: Mutex::new(key),
            reads: AtomicUsize::new(0),
            gated,
            started: Notify::new(),
            gate: Semaphore::new(0),
        })
    }
}

struct Shared(Arc<Scripted>);

impl KeyLoader for Shared {
    fn load<'a>(&'a self, _sid: &'a ApiKeySid) -> LoadFuture<'a> {
        Box::pin(async move {
            let s = &self.0;
            // The store's answer is read when the lookup starts, as a query would.
            let answer = s.key.lock().unwrap().clone();
            s.reads.fetch_add(1, Ordering::SeqCst);
            if s.gated {
                s.started.notify_one();
                s.gate.acquire().await.unwrap().forget();
            }
            Ok(answer.map(|r| (r, SecretString::from("secret"))))
        })
    }
}

fn record(sid: &ApiKeySid) -> ApiKeyRecord {
    ApiKeyRecord {
        sid: sid.clone(),
        account_sid: AccountSid::generate(),
        friendly_name: String::new(),
        secret_sealed: Vec::new(),
        date_created: 0,
        date_revoked: None,
    }
}

#[tokio::test]
async fn a_lookup_in_flight_during_revocation_does_not_recache_the_key() {
    let sid = ApiKeySid::generate();
    let script = Scripted::new(Some(record(&sid)), true);
    let cache = Arc::new(KeyCache::with_loader(
        Box::new(Shared(script.clone())),
        Duration::from_secs(60),
        Metrics::new(),
    ));
    // 1. A lookup starts and reads the (still active) key from the store.
    let lookup = tokio::spawn({
        let (cache, sid) = (cache.clone(), sid.clone());
        async move { cache.active(&sid).await.unwrap().is_some() }
    });
    script.started.notified().await;
    // 2. The key is revoked through the API before the lookup finishes.
    *script.key.lock().unwrap() = None;
    cache.forget(&sid);
    // 3. The lookup completes with what it read before the revocation.
    script.gate.add_permits(1);
    assert!(
        lookup.await.unwrap(),
        "the in-flight lookup saw the old row"
    );
    // 4. The next request must not be served the revoked key from the cache.
    script.gate.add_permits(1);
    assert!(cache.active(&sid).await.unwrap().is_none());
    assert_eq!(
        script.reads.load(Ordering::SeqCst),
        2,
        "read again, not cached"
    );
}

#[tokio::test]
async fn unknown_sids_are_read_once_per_window_and_creation_clears_them() {
    let sid = ApiKeySid::generate();
    let script = Scripted::new(None, false);
    let cache = KeyCache::with_loader(
        Box::new(Shared(script.clone())),
        Duration::from_secs(60),
        Metrics::new(),
    );
    for _ in 0..20 {
        assert!(cache.active(&sid).await.unwrap().is_none());
    }
    assert_eq!(script.reads.load(Ordering::SeqCst), 1);
    // The key is created (through the API): the absent entry goes at once.
    *script.key.lock().unwrap() = Some(record(&sid));
    cache.created(&sid);
    assert!(cache.active(&sid).await.unwrap().is_some());
    assert!(cache.active(&sid).await.unwrap().is_some());
    assert_eq!(script.reads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn absent_entries_are_bounded() {
    let script = Scripted::new(None, false);
    let cache = KeyCache::with_loader(
        Box::new(Shared(script.clone())),
        Duration::from_secs(60),
        Metrics::new(),
    );
    for _ in 0..MAX_ABSENT + 10 {
        cache.active(&ApiKeySid::generate()).await.unwrap();
    }
    let state = cache.lock();
    assert_eq!(state.absent.len(), MAX_ABSENT);
    assert!(state.absent_order.len() <= 2 * MAX_ABSENT);
}

#[tokio::test]
async fn zero_ttl_caches_nothing() {
    let sid = ApiKeySid::generate();
    let script = Scripted::new(None, false);
    let metrics = Metrics::new();
    let cache = KeyCache::with_loader(
        Box::new(Shared(script.clone())),
        Duration::ZERO,
        metrics.clone(),
    );
    cache.active(&sid).await.unwrap();
    cache.active(&sid).await.unwrap();
    assert_eq!(script.reads.load(Ordering::SeqCst), 2);
    // Each store read is counted in this cache's registry.
    let absent = metrics.api_key_lookups.with_label_values(&["absent"]).get();
    assert_eq!(absent, 2);
}
