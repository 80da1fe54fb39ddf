//! Access tokens shared through a real Redis (`PUSHGATE_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`). Never skipped: an unreachable Redis fails the test.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use redis::aio::ConnectionManager;

use super::{FakeExchange, start};
use crate::domain::AccountSid;
use crate::fcm::{AccessTokenSource, ManualClock, RedisAccessTokenSource};

async fn redis() -> ConnectionManager {
    let url = std::env::var("PUSHGATE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    crate::redis_conn::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("Redis at {url} is required for this test: {e}"))
}

fn prefix() -> String {
    format!("pushgate-test-{}:", uuid::Uuid::new_v4().simple())
}

struct Replica {
    source: RedisAccessTokenSource,
    exchange: Arc<FakeExchange>,
}

fn replica(
    redis: &ConnectionManager,
    prefix: &str,
    account: &AccountSid,
    fingerprint: &str,
    name: &str,
    clock: &Arc<ManualClock>,
) -> Replica {
    let mut fake = FakeExchange::new(Duration::from_secs(3600), Duration::from_millis(100));
    fake.fingerprint = fingerprint.into();
    fake.name = name.into();
    let exchange = Arc::new(fake);
    let source = RedisAccessTokenSource::new(
        redis.clone(),
        prefix,
        account,
        exchange.clone(),
        clock.clone(),
    );
    Replica { source, exchange }
}

async fn ttl_ms(redis: &ConnectionManager, key: &str) -> i64 {
    let mut redis = redis.clone();
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut redis)
        .await
        .unwrap()
}

async fn cleanup(redis: &ConnectionManager, keys: &[&str]) {
    let mut redis = redis.clone();
    let _: i64 = redis::cmd("DEL")
        .arg(keys)
        .query_async(&mut redis)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_run_one_exchange() {
    let redis = redis().await;
    let prefix = prefix();
    let account = AccountSid::generate();
    let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()));
    let fp = "a".repeat(64);
    let replicas: Vec<_> = ["r1", "r2", "r3"]
        .iter()
        .map(|name| replica(&redis, &prefix, &account, &fp, name, &clock))
        .collect();
    let key = replicas[0].source.redis_key().to_owned();
    assert_eq!(key, format!("{prefix}fcm-token:{account}:{fp}"));

    // Each replica has 10 concurrent senders asking at once.
    let asks = replicas
        .iter()
        .flat_map(|r| (0..10).map(move |_| r.source.token()));
    let tokens = join_all(asks).await;
    let total: usize = replicas.iter().map(|r| r.exchange.calls()).sum();
    assert_eq!(total, 1, "exactly one exchange across three replicas");
    let first = tokens[0].as_ref().unwrap().clone();
    assert!(tokens.iter().all(|t| t.as_ref().unwrap() == &first));

    // The shared value expires with the token.
    let ttl = ttl_ms(&redis, &key).await;
    assert!((3_590_000..=3_600_000).contains(&ttl), "PTTL {ttl}");

    // FCM refused it on r2: every replica moves to one replacement.
    replicas[1].source.invalidate(&first).await;
    for r in &replicas {
        r.source.invalidate(&first).await;
    }
    let tokens = join_all(replicas.iter().map(|r| r.source.token())).await;
    let total: usize = replicas.iter().map(|r| r.exchange.calls()).sum();
    assert_eq!(total, 2, "one more exchange after the invalidation");
    let second = tokens[0].as_ref().unwrap().clone();
    assert_ne!(second, first);
    assert!(tokens.iter().all(|t| t.as_ref().unwrap() == &second));
    cleanup(&redis, &[&key, &format!("{key}:lock")]).await;
}

#[tokio::test]
async fn replicas_refresh_near_expiry_once() {
    let redis = redis().await;
    let prefix = prefix();
    let account = AccountSid::generate();
    let clock = Arc::new(ManualClock::new(start()));
    let fp = "b".repeat(64);
    let a = replica(&redis, &prefix, &account, &fp, "a", &clock);
    let b = replica(&redis, &prefix, &account, &fp, "b", &clock);
    let first = a.source.token().await.unwrap();
    assert_eq!(b.source.token().await.unwrap(), first, "b reads a's token");
    assert_eq!(a.exchange.calls() + b.exchange.calls(), 1);
    clock.advance(Duration::from_secs(55 * 60));
    let (ta, tb) = tokio::join!(a.source.token(), b.source.token());
    assert_eq!(ta.unwrap(), tb.unwrap());
    assert_eq!(a.exchange.calls() + b.exchange.calls(), 2);
    cleanup(&redis, &[a.source.redis_key()]).await;
}

#[tokio::test]
async fn accounts_and_keys_never_share_a_token() {
    let redis = redis().await;
    let prefix = prefix();
    let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()));
    let (one, two) = (AccountSid::generate(), AccountSid::generate());
    let fp1 = "c".repeat(64);
    let fp2 = "d".repeat(64);
    let a = replica(&redis, &prefix, &one, &fp1, "a", &clock);
    let other_account = replica(&redis, &prefix, &two, &fp1, "b", &clock);
    let other_key = replica(&redis, &prefix, &one, &fp2, "c", &clock);
    let ta = a.source.token().await.unwrap();
    let tb = other_account.source.token().await.unwrap();
    let tc = other_key.source.token().await.unwrap();
    assert_ne!(ta, tb);
    assert_ne!(ta, tc);
    assert_eq!(
        a.exchange.calls() + other_account.exchange.calls() + other_key.exchange.calls(),
        3
    );
    cleanup(
        &redis,
        &[
            a.source.redis_key(),
            other_account.source.redis_key(),
            other_key.source.redis_key(),
        ],
    )
    .await;
}

#[tokio::test]
async fn falls_back_to_memory_when_redis_fails() {
    let redis = redis().await;
    let prefix = prefix();
    let clock = Arc::new(ManualClock::new(start()));
    let r = replica(
        &redis,
        &prefix,
        &AccountSid::generate(),
        &"e".repeat(64),
        "m",
        &clock,
    );
    // A list where the token should be: every GET fails (WRONGTYPE), like an unusable Redis.
    let mut conn = redis.clone();
    let _: i64 = redis::cmd("RPUSH")
        .arg(r.source.redis_key())
        .arg("x")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        r.source.token().await.unwrap().expose(),
        "m-1",
        "served from memory"
    );
    assert_eq!(
        r.source.token().await.unwrap().expose(),
        "m-1",
        "and cached there"
    );
    assert_eq!(r.exchange.calls(), 1);
    cleanup(&redis, &[r.source.redis_key()]).await;
}
