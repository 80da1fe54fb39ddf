//! Unknown `SK…` keys cost one store read per SID per window, and failed authentications are
//! limited per client address without ever slowing a client that authenticates.

use std::net::{IpAddr, Ipv4Addr};

use pushgate::domain::ApiKeySid;

use super::metric;
use crate::helpers::{Backend, assert_error, basic, spawn_app_with};

const ABSENT: &str = "pushgate_api_key_lookups_total{result=\"absent\"}";

#[tokio::test]
async fn unknown_keys_are_read_once_and_failures_are_limited_per_address() {
    const LIMIT: usize = 10;
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.auth_failures_per_minute = LIMIT as u32;
        c.api_key_cache_seconds = 60;
    })
    .await;
    let unknown = [ApiKeySid::generate(), ApiKeySid::generate()];
    let before = metric(&app, ABSENT).await;
    for i in 0..LIMIT {
        let res = app
            .client
            .get(app.url("/v1/keys"))
            .header("Authorization", basic(unknown[i % 2].as_str(), "guess"))
            .send()
            .await
            .unwrap();
        assert_error(res, 401, 20151).await;
    }
    let reads = metric(&app, ABSENT).await - before;
    assert!(reads <= 2.0, "{reads} store reads for 2 unknown SIDs");

    // The next failure from this address is limited; a bad access token counts the same.
    let res = app
        .client
        .post(app.url("/v1/registrations"))
        .header("X-Twilio-Token", "not.a.token")
        .json(&serde_json::json!({"binding_type": "apn", "address": "00"}))
        .send()
        .await
        .unwrap();
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_error(res, 429, 20429).await;

    // A client that authenticates from the same address is not slowed.
    let (status, _) = app.get_json("/v1/keys").await;
    assert_eq!(status, 200);

    // Another address is unaffected.
    let other = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .unwrap();
    let res = other
        .get(app.url("/v1/keys"))
        .header("Authorization", basic(unknown[0].as_str(), "guess"))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, 20151).await;
}

#[tokio::test]
async fn bad_bridge_tokens_count_as_failed_authentications() {
    const LIMIT: usize = 3;
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.auth_failures_per_minute = LIMIT as u32
    })
    .await;
    let accept = |app: &crate::helpers::TestApp| {
        app.client
            .post(app.url(&format!(
                "/v1/invites/{}/accept",
                pushgate::domain::CallSid::generate()
            )))
            .header("Authorization", "Bearer not-a-bridge-token")
            .send()
    };
    for _ in 0..LIMIT {
        assert_error(accept(&app).await.unwrap(), 401, 21301).await;
    }
    assert_error(accept(&app).await.unwrap(), 429, 20429).await;
}
