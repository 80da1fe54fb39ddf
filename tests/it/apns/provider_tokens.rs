//! Provider-token lifecycle over real TLS against the simulator: an expired
//! token is re-signed and retried once on a new connection, and replicas that
//! share a token source never trip TooManyProviderTokenUpdates.

use std::sync::Arc;
use std::time::Duration;

use super::support::*;
use pushgate::apns::{
    ApnsAuth, ApnsClient, DEFAULT_TOKEN_REFRESH_AFTER, Environment, InMemoryTokenSource,
    ManualClock, Outcome, ProviderTokenSigner, ProviderTokenSource, RetryCause,
};
use pushgate::mock_apns::{self as sim, AuthInfo, SimulatorConfig};

#[tokio::test]
async fn expired_provider_token_is_re_signed_and_retried_on_a_new_connection() {
    let sim_clock = Arc::new(sim::ManualClock::new(epoch()));
    let s = start(SimulatorConfig {
        clock: sim_clock.clone(),
        ..logged()
    })
    .await;
    let clock = Arc::new(ManualClock::new(epoch()));
    let client = client_with_clock(&s, token_auth(&[&s]), clock.clone());
    let token = device_token(7);
    assert!(
        client
            .send(invite(&token, Environment::Production))
            .await
            .is_accepted()
    );

    // Our token is 30 minutes old (we would keep it), but APNs's clock says 61.
    clock.advance(Duration::from_secs(30 * 60));
    sim_clock.advance(Duration::from_secs(61 * 60));
    let outcome = client.send(invite(&token, Environment::Production)).await;
    assert!(outcome.is_accepted(), "{outcome:?}");

    let pushes = s.pushes(0);
    let statuses: Vec<_> = pushes
        .iter()
        .map(|p| (p.status, p.reason.clone()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (200, None),
            (403, Some("ExpiredProviderToken".into())),
            (200, None)
        ]
    );
    assert_ne!(
        pushes[1].connection_id, pushes[2].connection_id,
        "retried on a new connection"
    );
    let iat = |i: usize| match &pushes[i].auth {
        AuthInfo::Token { issued_at, .. } => *issued_at,
        other => panic!("{other:?}"),
    };
    assert_eq!(iat(2) - iat(0), 30 * 60, "a freshly signed token");
}

#[tokio::test]
async fn expired_provider_token_twice_surfaces_as_retry() {
    let sim_clock = Arc::new(sim::ManualClock::new(epoch()));
    let s = start(SimulatorConfig {
        clock: sim_clock.clone(),
        ..logged()
    })
    .await;
    let clock = Arc::new(ManualClock::new(epoch()));
    let client = client_with_clock(&s, token_auth(&[&s]), clock.clone());
    assert!(
        client
            .send(invite(&device_token(1), Environment::Production))
            .await
            .is_accepted()
    );
    clock.advance(Duration::from_secs(30 * 60));
    sim_clock.advance(Duration::from_secs(300 * 60));
    let outcome = client
        .send(invite(&device_token(1), Environment::Production))
        .await;
    assert!(
        matches!(
            outcome,
            Outcome::Retry {
                cause: RetryCause::ExpiredProviderToken,
                ..
            }
        ),
        "{outcome:?}"
    );
    // One retry only: the first push, then exactly two rejected attempts.
    assert_eq!(s.pushes(0).len(), 3);
}

#[tokio::test]
async fn replicas_sharing_a_token_source_avoid_too_many_token_updates() {
    let sim_clock = Arc::new(sim::ManualClock::new(epoch()));
    let s = start(SimulatorConfig {
        clock: sim_clock.clone(),
        ..sim_config()
    })
    .await;
    let auth = token_auth(&[&s]);
    let replica = |clock: Arc<ManualClock>, source: Option<Arc<dyn ProviderTokenSource>>| {
        let mut builder = ApnsClient::builder(auth.clone())
            .config(client_config(&s))
            .clock(clock);
        if let Some(source) = source {
            builder = builder.token_source(source);
        }
        builder.build().expect("client")
    };

    // Two replicas minting their own tokens a few seconds apart: APNs objects.
    let first = replica(Arc::new(ManualClock::new(epoch())), None);
    let second = replica(
        Arc::new(ManualClock::new(epoch() + Duration::from_secs(5))),
        None,
    );
    assert!(
        first
            .send(invite(&device_token(1), Environment::Production))
            .await
            .is_accepted()
    );
    let outcome = second
        .send(invite(&device_token(2), Environment::Production))
        .await;
    assert!(
        matches!(
            outcome,
            Outcome::Retry {
                cause: RetryCause::TooManyProviderTokenUpdates,
                ..
            }
        ),
        "{outcome:?}"
    );

    // Replicas sharing one source (as a Redis-backed one would) send one token.
    sim_clock.advance(Duration::from_secs(25 * 60));
    let clock = Arc::new(ManualClock::new(epoch() + Duration::from_secs(25 * 60)));
    let (p8_pem, key_id, team_id) = match &auth {
        ApnsAuth::Token {
            p8_pem,
            key_id,
            team_id,
        } => (p8_pem, key_id, team_id),
        other => panic!("{other:?}"),
    };
    let signer = ProviderTokenSigner::new(p8_pem, key_id, team_id).expect("signer");
    let shared: Arc<dyn ProviderTokenSource> = Arc::new(InMemoryTokenSource::new(
        signer,
        clock.clone(),
        DEFAULT_TOKEN_REFRESH_AFTER,
    ));
    let a = replica(clock.clone(), Some(shared.clone()));
    let b = replica(clock.clone(), Some(shared));
    for i in 0..5 {
        assert!(
            a.send(invite(&device_token(i), Environment::Production))
                .await
                .is_accepted()
        );
        clock.advance(Duration::from_secs(1));
        assert!(
            b.send(invite(&device_token(i), Environment::Production))
                .await
                .is_accepted()
        );
    }
}

#[tokio::test]
async fn three_replicas_share_one_token_through_redis() {
    let redis_url = std::env::var("PUSHGATE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = redis::Client::open(redis_url.as_str())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap_or_else(|e| panic!("Redis at {redis_url} is required for tests: {e}"));
    let prefix = format!("pushgate-test:{}:", uuid::Uuid::new_v4());
    let sim_clock = Arc::new(sim::ManualClock::new(epoch()));
    let s = start(SimulatorConfig {
        clock: sim_clock.clone(),
        log_pushes: true,
        ..sim_config()
    })
    .await;
    let auth = token_auth(&[&s]);
    let ApnsAuth::Token {
        p8_pem,
        key_id,
        team_id,
    } = &auth
    else {
        panic!("token auth")
    };
    let account = pushgate::domain::AccountSid::generate();
    // Each replica has its own clock, a few seconds apart, as real machines do.
    let clocks: Vec<Arc<ManualClock>> = (0..3)
        .map(|i| Arc::new(ManualClock::new(epoch() + Duration::from_secs(i * 3))))
        .collect();
    let replicas: Vec<ApnsClient> = clocks
        .iter()
        .map(|clock| {
            let signer = ProviderTokenSigner::new(p8_pem, key_id, team_id).expect("signer");
            let source: Arc<dyn ProviderTokenSource> =
                Arc::new(pushgate::apns::RedisTokenSource::new(
                    redis.clone(),
                    &prefix,
                    &account,
                    signer,
                    clock.clone(),
                    DEFAULT_TOKEN_REFRESH_AFTER,
                ));
            ApnsClient::builder(auth.clone())
                .config(client_config(&s))
                .clock(clock.clone())
                .token_source(source)
                .build()
                .expect("client")
        })
        .collect();
    // Two hours of simulated time, a round of pushes from every replica each minute.
    for minute in 0..120u64 {
        for (i, replica) in replicas.iter().enumerate() {
            let outcome = replica
                .send(invite(
                    &device_token(minute as u32),
                    Environment::Production,
                ))
                .await;
            assert!(
                outcome.is_accepted(),
                "minute {minute}, replica {i}: {outcome:?}"
            );
        }
        sim_clock.advance(Duration::from_secs(60));
        for clock in &clocks {
            clock.advance(Duration::from_secs(60));
        }
    }
    // The simulator saw the token change at most once per 20 minutes of its time.
    let mut changes = Vec::new();
    let mut last = None;
    for push in s.pushes(0) {
        let sim::AuthInfo::Token { issued_at, .. } = push.auth else {
            continue;
        };
        if last != Some(issued_at) {
            changes.push(push.received_at_ms);
            last = Some(issued_at);
        }
    }
    assert!(
        changes.len() >= 2,
        "the token was replaced on schedule: {changes:?}"
    );
    for pair in changes.windows(2) {
        assert!(
            pair[1] - pair[0] >= 20 * 60 * 1000,
            "replaced too soon: {changes:?}"
        );
    }
}
