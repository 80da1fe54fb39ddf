//! What APNs answers about tokens and credentials, acted on: dead tokens retired (unless
//! refreshed since), sandbox tokens found and remembered, tokens of another topic marked
//! invalid, and a credential APNs refuses no longer used.

use pushgate::clock::now_ms;
use pushgate::mock_apns::{FaultSpec, GoneReason, Unregistration};
use serde_json::json;

use crate::helpers::{Backend, device_token, spawn_app_with_apns, store_tests};

async fn dead_tokens_retire_only_if_not_refreshed_since(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    let (stale, fresh) = (device_token(1), device_token(2));
    for t in [&stale, &fresh] {
        apns.register(t, "production");
    }
    let before = now_ms() as u64 - 60_000;
    let stale_sid = app.register_device("alice", &stale).await;
    let fresh_sid = app.register_device("alice", &fresh).await;
    // APNs learned of `stale` after its last refresh; of `fresh` before it re-registered.
    let after = now_ms() as u64 + 1;
    let gone = |ts| Unregistration {
        timestamp_ms: Some(ts),
        reason: Some(GoneReason::Unregistered),
    };
    apns.production
        .unregister_token(&stale, &gone(after))
        .unwrap();
    apns.production
        .unregister_token(&fresh, &gone(before))
        .unwrap();
    let (_, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "failed", "{settled}");
    for d in settled["deliveries"].as_array().unwrap() {
        assert_eq!(
            (d["apns_status"].as_i64(), d["apns_reason"].as_str()),
            (Some(410), Some("Unregistered"))
        );
    }
    let (_, list) = app.get_json("/v1/registrations?identity=alice").await;
    let left: Vec<&str> = list["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        left,
        vec![fresh_sid.as_str()],
        "stale {stale_sid} retired, fresh kept"
    );
}

async fn a_sandbox_token_is_found_and_remembered(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    let token = device_token(7);
    apns.register(&token, "sandbox");
    let reg = app.register_device("alice", &token).await;
    let (_, invite) = app
        .invite(json!({"to": "alice", "from": "+15551234567"}))
        .await;
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    let d = &settled["deliveries"][0];
    assert_eq!(
        (d["status"].as_str(), d["environment"].as_str()),
        (Some("accepted"), Some("sandbox")),
        "{d}"
    );
    assert_eq!(d["attempts"], 2);
    let (_, r) = app.get_json(&format!("/v1/registrations/{reg}")).await;
    assert_eq!(r["environment"], "sandbox");
    // The next call goes straight to the sandbox.
    let (_, second) = app
        .invite(json!({"to": "alice", "from": "+15551234567"}))
        .await;
    let settled = app.settled(second["sid"].as_str().unwrap()).await;
    assert_eq!(settled["deliveries"][0]["attempts"], 1);
    assert_eq!(
        apns.pushes("production").len(),
        1,
        "production tried once, for the first call"
    );
    assert_eq!(apns.pushes("sandbox").len(), 2);
}

async fn a_token_for_another_topic_marks_the_registration_invalid(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    let token = device_token(3);
    apns.production
        .register_token(&pushgate::mock_apns::TokenRegistration {
            token: token.clone(),
            topic: "com.other.app.voip".into(),
            environment: pushgate::mock_apns::Environment::Production,
        })
        .unwrap();
    let reg = app.register_device("alice", &token).await;
    let (_, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    assert_eq!(
        settled["deliveries"][0]["apns_reason"],
        "DeviceTokenNotForTopic"
    );
    let (status, r) = app.get_json(&format!("/v1/registrations/{reg}")).await;
    assert_eq!(
        (status, r["state"].as_str()),
        (200, Some("invalid")),
        "kept, not deleted"
    );
    let (status, body) = app
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (404, Some(21201)),
        "no longer rung"
    );
}

async fn a_credential_apns_refuses_stops_being_used(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    apns.register(&device_token(8), "production");
    app.register_device("alice", &device_token(8)).await;
    apns.production
        .add_fault(&FaultSpec {
            status: Some(403),
            reason: Some("BadCertificate".into()),
            count: Some(1),
            ..FaultSpec::default()
        })
        .unwrap();
    let (_, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "failed");
    let (_, cred) = app
        .get_json(&format!("/v1/credentials/{}", app.credential))
        .await;
    assert_eq!(
        (cred["health"].as_str(), cred["health_reason"].as_str()),
        (Some("rejected"), Some("BadCertificate"))
    );
    let (_, second) = app
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    let settled = app.settled(second["sid"].as_str().unwrap()).await;
    let reason = settled["deliveries"][0]["apns_reason"].as_str().unwrap();
    assert!(reason.starts_with("credential_rejected"), "{reason}");
    assert_eq!(apns.pushes("production").len(), 1, "APNs is not hammered");
}

store_tests!(
    dead_tokens_retire_only_if_not_refreshed_since,
    a_sandbox_token_is_found_and_remembered,
    a_token_for_another_topic_marks_the_registration_invalid,
    a_credential_apns_refuses_stops_being_used,
);
