//! The per-process access-token cache, driven by a [`ManualClock`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use super::{FakeExchange, start};
use crate::fcm::{
    AccessTokenSource, InMemoryAccessTokenSource, ManualClock, TokenError, TransientCause,
    refresh_margin,
};

const HOUR: Duration = Duration::from_secs(3600);

fn cache(
    delay: Duration,
) -> (
    InMemoryAccessTokenSource,
    Arc<FakeExchange>,
    Arc<ManualClock>,
) {
    let exchange = Arc::new(FakeExchange::new(HOUR, delay));
    let clock = Arc::new(ManualClock::new(start()));
    let source = InMemoryAccessTokenSource::new(exchange.clone(), clock.clone());
    (source, exchange, clock)
}

#[test]
fn refresh_margin_is_bounded() {
    assert_eq!(
        refresh_margin(HOUR),
        Duration::from_secs(360),
        "10 % of an hour"
    );
    assert_eq!(
        refresh_margin(Duration::from_secs(1200)),
        Duration::from_secs(300),
        "5 min floor"
    );
    assert_eq!(
        refresh_margin(Duration::from_secs(60)),
        Duration::from_secs(30),
        "half at most"
    );
}

#[tokio::test]
async fn reuses_the_token_until_shortly_before_expiry() {
    let (source, exchange, clock) = cache(Duration::ZERO);
    let first = source.token().await.unwrap();
    assert_eq!(first.expose(), "token-1");
    assert_eq!(first.expires_at(), start() + HOUR);
    clock.advance(Duration::from_secs(53 * 60));
    assert_eq!(
        source.token().await.unwrap(),
        first,
        "7 minutes left: reused"
    );
    assert_eq!(exchange.calls(), 1);
    clock.advance(Duration::from_secs(61));
    let second = source.token().await.unwrap();
    assert_eq!(
        second.expose(),
        "token-2",
        "under 6 minutes left: refreshed"
    );
    assert_eq!(
        second.issued_at(),
        start() + Duration::from_secs(54 * 60 + 1)
    );
    assert_eq!(source.token().await.unwrap(), second);
    assert_eq!(exchange.calls(), 2);
}

#[tokio::test]
async fn fifty_concurrent_callers_share_one_refresh() {
    let (source, exchange, _clock) = cache(Duration::from_millis(50));
    let tokens = join_all((0..50).map(|_| source.token())).await;
    assert_eq!(exchange.calls(), 1);
    for token in tokens {
        assert_eq!(token.unwrap().expose(), "token-1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_callers_on_threads_share_one_refresh() {
    let (source, exchange, _clock) = cache(Duration::from_millis(50));
    let source = Arc::new(source);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let source = source.clone();
            tokio::spawn(async move { source.token().await.map(|t| t.expose().to_owned()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), "token-1");
    }
    assert_eq!(exchange.calls(), 1);
}

#[tokio::test]
async fn invalidate_causes_exactly_one_refresh() {
    let (source, exchange, _clock) = cache(Duration::from_millis(20));
    let first = source.token().await.unwrap();
    // Many sends got 401 with the same token at once.
    join_all((0..10).map(|_| source.invalidate(&first))).await;
    let tokens = join_all((0..20).map(|_| source.token())).await;
    assert_eq!(exchange.calls(), 2);
    for token in tokens {
        assert_eq!(token.unwrap().expose(), "token-2");
    }
    // A late invalidation of the old token does not drop the new one.
    source.invalidate(&first).await;
    assert_eq!(source.token().await.unwrap().expose(), "token-2");
    assert_eq!(exchange.calls(), 2);
}

#[tokio::test]
async fn waiters_share_a_failed_refresh() {
    let (source, exchange, _clock) = cache(Duration::from_millis(30));
    let refused = TokenError::Refused {
        status: 400,
        error: crate::fcm::OAuthError::InvalidGrant,
        description: None,
    };
    exchange.fail_with(Some(refused.clone()));
    let results = join_all((0..20).map(|_| source.token())).await;
    assert_eq!(exchange.calls(), 1, "one exchange for everyone waiting");
    assert!(results.iter().all(|r| r.as_ref().err() == Some(&refused)));
    // A later call tries again.
    exchange.fail_with(None);
    assert_eq!(source.token().await.unwrap().expose(), "token-2");
}

#[tokio::test]
async fn transient_refresh_failure_keeps_the_valid_token() {
    let (source, exchange, clock) = cache(Duration::ZERO);
    let first = source.token().await.unwrap();
    clock.advance(Duration::from_secs(55 * 60));
    let transient = TokenError::transient(TransientCause::ServerError);
    exchange.fail_with(Some(transient.clone()));
    assert_eq!(
        source.token().await.unwrap(),
        first,
        "5 minutes left: still usable"
    );
    clock.advance(Duration::from_secs(5 * 60 - 20));
    assert_eq!(
        source.token().await,
        Err(transient),
        "20 s left: not handed out"
    );
    let refused = TokenError::Signing("bad".into());
    clock.set(start() + Duration::from_secs(55 * 60));
    exchange.fail_with(Some(refused.clone()));
    assert_eq!(
        source.token().await,
        Err(refused),
        "a refusal is never papered over"
    );
}
