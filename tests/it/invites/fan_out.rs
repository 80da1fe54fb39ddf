//! An invite delivered: every device rung at once with the push's headers and payload,
//! transient errors retried within the ttl and delivered once, a fault outlasting the ttl
//! expiring the invite, and open deliveries never queued adopted.

use pushgate::mock_apns::FaultSpec;
use serde_json::json;

use super::call_sid;
use crate::helpers::{Backend, TOPIC, device_token, spawn_app_with_apns, store_tests};

async fn three_devices_ring_at_once(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    for seed in 1..=3 {
        apns.register(&device_token(seed), "production");
        app.register_device("alice", &device_token(seed)).await;
    }
    let (status, invite) = app
        .invite(
            json!({"to": "alice", "from": "client:bob", "call_sid": call_sid(1),
                       "params": {"caller_name": "Bob", "b": "x y"}, "ttl": 30}),
        )
        .await;
    assert_eq!(status, 202, "{invite}");
    assert_eq!(invite["devices"], 3);
    assert_eq!(invite["call_sid"], call_sid(1));
    let sid = invite["sid"].as_str().unwrap();
    let settled = app.settled(sid).await;
    assert_eq!(settled["status"], "delivered", "{settled}");
    let deliveries = settled["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    for d in deliveries {
        assert_eq!(d["status"], "accepted", "{d}");
        assert_eq!(d["apns_status"], 200);
        assert_eq!(d["attempts"], 1);
        assert!(d["latency_ms"].as_i64().unwrap() >= 0);
    }
    let pushes = apns.pushes("production");
    assert_eq!(pushes.len(), 3);
    let expires = invite["expires_at"].as_str().unwrap();
    for p in &pushes {
        assert_eq!(p.status, 200);
        assert_eq!(p.headers["apns-push-type"], "voip");
        assert_eq!(p.headers["apns-topic"], TOPIC);
        assert_eq!(p.headers["apns-priority"], "10");
        assert_eq!(p.headers["apns-collapse-id"], call_sid(1));
        let exp: i64 = p.headers["apns-expiration"].parse().unwrap();
        assert_eq!(pushgate::clock::rfc3339(exp * 1000)[..19], expires[..19]);
        let payload = p.payload.as_ref().unwrap();
        assert_eq!(payload["twi_message_type"], "twilio.voice.call");
        assert_eq!(payload["twi_call_sid"], call_sid(1));
        assert_eq!(payload["twi_account_sid"], app.account.as_str());
        assert_eq!(payload["twi_from"], "client:bob");
        assert_eq!(payload["twi_to"], "client:alice");
        assert_eq!(payload["twi_params"], "b=x+y&caller_name=Bob");
        assert_eq!(
            payload["twi_message_id"].as_str().unwrap(),
            p.headers["apns-id"]
        );
        assert!(payload["twi_bridge_token"].as_str().unwrap().len() > 20);
        assert!(
            deliveries
                .iter()
                .any(|d| d["apns_id"] == p.headers["apns-id"].as_str())
        );
    }
}

async fn a_transient_error_is_retried_and_delivered_once(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    apns.register(&device_token(4), "production");
    app.register_device("alice", &device_token(4)).await;
    apns.production
        .add_fault(&FaultSpec {
            status: Some(503),
            reason: Some("ServiceUnavailable".into()),
            count: Some(1),
            ..FaultSpec::default()
        })
        .unwrap();
    let (_, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    let d = &settled["deliveries"][0];
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_i64()),
        (Some("accepted"), Some(2)),
        "{d}"
    );
    let accepted = apns
        .pushes("production")
        .iter()
        .filter(|p| p.status == 200)
        .count();
    assert_eq!(accepted, 1);
}

async fn a_fault_outlasting_the_ttl_expires_the_invite(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    apns.register(&device_token(5), "production");
    app.register_device("alice", &device_token(5)).await;
    apns.production
        .add_fault(&FaultSpec {
            status: Some(500),
            reason: Some("InternalServerError".into()),
            ratio: Some(1.0),
            ..FaultSpec::default()
        })
        .unwrap();
    let (status, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob", "ttl": 1}))
        .await;
    assert_eq!(status, 202, "{invite}");
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "expired", "{settled}");
    let d = &settled["deliveries"][0];
    assert_eq!(d["status"], "expired");
    assert!(
        d["attempts"].as_i64().unwrap() >= 2,
        "retried within the ttl: {d}"
    );
    assert_eq!(d["apns_reason"], "InternalServerError");
}

/// An invite written although its commit reported an error (so never queued) is found among
/// the open deliveries and sent, without waiting for a restart.
async fn open_deliveries_never_queued_are_adopted(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |c| c.queue_sweep_after_ms = 1_000).await;
    apns.register(&device_token(8), "production");
    app.register_device("alice", &device_token(8)).await;
    let (_, first) = app
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    let first = first["sid"].as_str().unwrap().to_owned();
    app.settled(&first).await;
    let orphan = crate::helpers::copy_invite_unqueued(&app, &first, 3_000).await;
    let settled = app.settled(&orphan).await;
    assert_eq!(settled["status"], "delivered", "{settled}");
    assert_eq!(apns.pushes("production").len(), 2);
}

store_tests!(
    three_devices_ring_at_once,
    a_transient_error_is_retried_and_delivered_once,
    a_fault_outlasting_the_ttl_expires_the_invite,
    open_deliveries_never_queued_are_adopted,
);
