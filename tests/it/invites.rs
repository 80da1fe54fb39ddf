//! Call invites end to end against the APNs simulators over real TLS: fan-out, the push's
//! headers and payload, retries within the ttl, the token lifecycle, idempotency, and refusals.

use pushgate::clock::now_ms;
use pushgate::mock_apns::{FaultSpec, GoneReason, Unregistration};
use serde_json::{Value, json};

use crate::helpers::{Backend, TOPIC, device_token, spawn_app_with_apns, store_tests};

fn call_sid(n: u8) -> String {
    format!("CA{}", format!("{n:02x}").repeat(16))
}

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

async fn reposting_a_call_sid_sends_nothing_new(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    apns.register(&device_token(6), "production");
    let registration = app.register_device("alice", &device_token(6)).await;
    let body = json!({"to": "alice", "from": "client:bob", "call_sid": call_sid(9)});
    let (_, first) = app.invite(body.clone()).await;
    app.settled(first["sid"].as_str().unwrap()).await;
    let (status, again) = app.invite(body.clone()).await;
    assert_eq!(status, 202);
    assert_eq!(again["sid"], first["sid"]);
    assert_eq!(apns.pushes("production").len(), 1);
    // Still the same invite once the device is gone (not "no registered devices").
    let res = app
        .client
        .delete(app.url(&format!("/v1/registrations/{registration}")))
        .header("X-Twilio-Token", app.token("alice"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let (status, again) = app.invite(body).await;
    assert_eq!(status, 202);
    assert_eq!(again["sid"], first["sid"]);
}

/// Concurrent invites are committed together (group commit): duplicates of one call SID in
/// the same batch still make one invite, and every other invite is its own.
async fn concurrent_invites_are_each_written_once(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    apns.register(&device_token(7), "production");
    app.register_device("alice", &device_token(7)).await;
    let mut posts = tokio::task::JoinSet::new();
    for n in 0..40u8 {
        // Half repeat call SID 100; the others are 101…120.
        let call = if n % 2 == 0 { 100 } else { 100 + n / 2 + 1 };
        let body = json!({"to": "alice", "from": "client:bob", "call_sid": call_sid(call)});
        let (client, url, auth) = (app.client.clone(), app.url("/v1/invites"), app.basic());
        posts.spawn(async move {
            let res = client
                .post(url)
                .header("Authorization", auth)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let invite: Value = res.json().await.unwrap();
            (status, call, invite["sid"].as_str().unwrap().to_owned())
        });
    }
    let mut sids: std::collections::HashMap<u8, std::collections::HashSet<String>> =
        std::collections::HashMap::new();
    while let Some(done) = posts.join_next().await {
        let (status, call, sid) = done.unwrap();
        assert_eq!(status, 202);
        sids.entry(call).or_default().insert(sid);
    }
    assert_eq!(sids.len(), 21, "{sids:?}");
    assert!(
        sids.values().all(|s| s.len() == 1),
        "one invite per call SID: {sids:?}"
    );
    for sid in sids.values().flatten() {
        assert_eq!(app.settled(sid).await["status"], "delivered");
    }
    assert_eq!(apns.pushes("production").len(), 21);
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

async fn bad_invites_are_refused(b: Backend) {
    let (app, _apns) = spawn_app_with_apns(b, |_| {}).await;
    app.register_device("alice", &device_token(1)).await;
    let (status, body) = app
        .invite(json!({"to": "nobody", "from": "client:bob"}))
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (404, Some(21201)),
        "{body}"
    );
    let big = json!({"to": "alice", "from": "client:bob", "params": {"blob": "x".repeat(6000)}});
    let (status, body) = app.invite(big).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(21202)),
        "{body}"
    );
    for bad in [
        json!({"to": "alice", "from": "client:bob", "ttl": 301}),
        json!({"to": "alice", "from": "client:bob", "ttl": 0}),
        json!({"to": "alice", "from": "client:bob", "call_sid": "CA123"}),
        json!({"to": "alice", "from": ""}),
        json!({"to": "alice", "from": "client:bob", "status_callback": "ftp://x"}),
        json!({"to": "", "from": "client:bob"}),
    ] {
        let (status, body) = app.invite(bad.clone()).await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    let (status, body) = app.invite(json!({"to": "alice"})).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(21001)));
    let (status, _) = app.get_json("/v1/invites/IVnope").await;
    assert_eq!(status, 404);
    let count: Value = app.get_json("/v1/registrations").await.1;
    assert_eq!(count["registrations"].as_array().unwrap().len(), 1);
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
    open_deliveries_never_queued_are_adopted,
    three_devices_ring_at_once,
    dead_tokens_retire_only_if_not_refreshed_since,
    a_sandbox_token_is_found_and_remembered,
    a_token_for_another_topic_marks_the_registration_invalid,
    a_transient_error_is_retried_and_delivered_once,
    a_fault_outlasting_the_ttl_expires_the_invite,
    reposting_a_call_sid_sends_nothing_new,
    concurrent_invites_are_each_written_once,
    a_credential_apns_refuses_stops_being_used,
    bad_invites_are_refused,
);
