//! `.p8` provider tokens shared through Redis are isolated per account and key: same team id
//! and key id never share a token, and a token planted under a victim's key is refused.

use std::sync::Arc;

use pushgate::apns::{
    ApnsAuth, ApnsClient, DEFAULT_TOKEN_REFRESH_AFTER, Environment, ProviderTokenSigner,
    ProviderTokenSource, RedisTokenSource, SystemClock,
};
use pushgate::domain::AccountSid;
use pushgate::mock_apns::SimulatorConfig;

use crate::apns::support::*;
use crate::helpers::{redis_prefix, redis_url};

fn source(
    redis: &redis::aio::ConnectionManager,
    prefix: &str,
    account: &AccountSid,
    p8: &secrecy::SecretString,
) -> RedisTokenSource {
    let signer = ProviderTokenSigner::new(p8, KEY_ID, TEAM_ID).expect("signer");
    RedisTokenSource::new(
        redis.clone(),
        prefix,
        account,
        signer,
        Arc::new(SystemClock),
        DEFAULT_TOKEN_REFRESH_AFTER,
    )
}

#[tokio::test]
async fn accounts_never_share_provider_tokens_and_planted_ones_are_refused() {
    let redis = redis::Client::open(redis_url())
        .unwrap()
        .get_connection_manager()
        .await
        .expect("Redis is required for tests");
    let prefix = redis_prefix();
    let s = start(SimulatorConfig {
        log_pushes: true,
        ..sim_config()
    })
    .await;
    // The victim's key is the one APNs knows; the attacker uploads another P-256 key under
    // the same team id and key id.
    let victim_auth = token_auth(&[&s]);
    let ApnsAuth::Token {
        p8_pem: victim_p8, ..
    } = &victim_auth
    else {
        panic!("token auth")
    };
    let (attacker_p8, _) = p8();
    let (victim, attacker) = (AccountSid::generate(), AccountSid::generate());

    let attacker_source = source(&redis, &prefix, &attacker, &attacker_p8);
    let victim_source = source(&redis, &prefix, &victim, victim_p8);
    assert_ne!(attacker_source.redis_key(), victim_source.redis_key());
    let planted = attacker_source.current().await.unwrap();
    let own = victim_source.current().await.unwrap();
    assert_ne!(planted.expose_jwt(), own.expose_jwt(), "no shared token");

    // The attacker writes its token under the victim's key.
    let iat = planted
        .issued_at()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let poison = serde_json::json!({"jwt": planted.expose_jwt(), "iat": iat}).to_string();
    let mut conn = redis.clone();
    let _: () = redis::cmd("SET")
        .arg(victim_source.redis_key())
        .arg(&poison)
        .query_async(&mut conn)
        .await
        .unwrap();

    // A victim replica reading it refuses it, replaces it, and its pushes go through.
    let fresh: Arc<dyn ProviderTokenSource> = Arc::new(source(&redis, &prefix, &victim, victim_p8));
    let token = fresh.current().await.unwrap();
    assert_ne!(token.expose_jwt(), planted.expose_jwt());
    let stored: String = redis::cmd("GET")
        .arg(victim_source.redis_key())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        !stored.contains(planted.expose_jwt()),
        "the planted token was replaced"
    );
    let client = ApnsClient::builder(victim_auth.clone())
        .config(client_config(&s))
        .token_source(fresh)
        .build()
        .expect("client");
    let outcome = client
        .send(invite(&device_token(1), Environment::Production))
        .await;
    assert!(outcome.is_accepted(), "{outcome:?}");
}
