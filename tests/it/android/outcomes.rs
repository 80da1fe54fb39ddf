//! FCM's answers, row by row as the README's table says: dead tokens retired (unless
//! refreshed since the send began), a token of another project marked invalid, our own bad
//! requests failed with the token kept, refused credentials stopped, and what is transient
//! retried within the call's ttl (Retry-After honoured), else expired.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, Fcm, TestApp, fcm_token, spawn_app_with_fcm, store_tests};

/// Rings alice's one Android phone `token` and returns the settled invite's only delivery.
async fn ring_once(app: &TestApp, extra: Value) -> (Value, Value) {
    let mut body = json!({"to": "alice", "from": "client:bob"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, invite) = app.invite(body).await;
    assert_eq!(status, 202, "{invite}");
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    let delivery = settled["deliveries"][0].clone();
    (settled, delivery)
}

async fn alice_registrations(app: &TestApp) -> Vec<Value> {
    let (_, list) = app.get_json("/v1/registrations?identity=alice").await;
    list["registrations"].as_array().unwrap().clone()
}

async fn android(app: &TestApp, fcm: &Fcm, seed: u8, known: bool) -> String {
    if known {
        fcm.register(&fcm_token(seed));
    }
    app.register_android("alice", &fcm.credential, &fcm_token(seed))
        .await
}

async fn dead_tokens_are_retired(b: Backend) {
    let (app, _apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    // Never registered with the (strict) simulator: UNREGISTERED.
    android(&app, &fcm, 1, false).await;
    let (settled, d) = ring_once(&app, json!({})).await;
    assert_eq!(settled["status"], "failed", "{settled}");
    assert_eq!(
        (d["status"].as_str(), d["provider_status"].as_i64()),
        (Some("failed"), Some(404))
    );
    assert_eq!(d["provider_reason"], "UNREGISTERED");
    assert!(alice_registrations(&app).await.is_empty(), "retired");

    // INVALID_ARGUMENT about the token: retired too.
    android(&app, &fcm, 2, true).await;
    fcm.fault(json!({"error_code": "INVALID_ARGUMENT", "match_token": fcm_token(2)}));
    let (_, d) = ring_once(&app, json!({})).await;
    assert_eq!(
        (d["provider_status"].as_i64(), d["provider_reason"].as_str()),
        (Some(400), Some("INVALID_ARGUMENT"))
    );
    assert!(alice_registrations(&app).await.is_empty(), "retired");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("pushgate_fcm_requests_total{error=\"UNREGISTERED\",status=\"404\"} 1"),
        "{metrics}"
    );
}

async fn a_token_refreshed_during_the_send_is_kept(b: Backend) {
    let (app, _apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    android(&app, &fcm, 1, true).await;
    // FCM answers UNREGISTERED only after the phone registered the token again.
    fcm.fault(json!({"error_code": "UNREGISTERED", "delay_ms": 1500, "count": 1}));
    let (status, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_millis(700)).await;
    app.register_android("alice", &fcm.credential, &fcm_token(1))
        .await;
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    assert_eq!(settled["deliveries"][0]["provider_reason"], "UNREGISTERED");
    assert_eq!(
        alice_registrations(&app).await.len(),
        1,
        "kept: refreshed after the send began"
    );
}

async fn our_bad_requests_fail_and_keep_the_token(b: Backend) {
    let (app, _apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    android(&app, &fcm, 1, true).await;
    fcm.fault(
        json!({"error_code": "INVALID_ARGUMENT", "field": "message.android.ttl", "count": 1}),
    );
    let (_, d) = ring_once(&app, json!({})).await;
    assert_eq!(
        (d["status"].as_str(), d["provider_status"].as_i64()),
        (Some("failed"), Some(400))
    );
    assert_eq!(d["attempts"], 1, "never retried");
    let regs = alice_registrations(&app).await;
    assert_eq!((regs.len(), regs[0]["state"].as_str()), (1, Some("active")));
}

async fn a_token_of_another_project_is_marked_invalid(b: Backend) {
    let (app, _apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    fcm.sim
        .register_token(&pushgate::mock_fcm::TokenRegistration {
            token: fcm_token(1),
            project_id: "another-project".into(),
        })
        .unwrap();
    android(&app, &fcm, 1, false).await;
    let (_, d) = ring_once(&app, json!({})).await;
    assert_eq!(
        (d["provider_status"].as_i64(), d["provider_reason"].as_str()),
        (Some(403), Some("SENDER_ID_MISMATCH"))
    );
    let regs = alice_registrations(&app).await;
    assert_eq!(
        (regs.len(), regs[0]["state"].as_str()),
        (1, Some("invalid")),
        "kept, not deleted"
    );
}

async fn a_refused_credential_is_rejected_and_no_longer_used(b: Backend) {
    let (app, _apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    android(&app, &fcm, 1, true).await;
    // Every bearer refused: one refresh, then the credential is rejected.
    fcm.fault(json!({"error_code": "UNAUTHENTICATED"}));
    let (_, d) = ring_once(&app, json!({})).await;
    assert_eq!(d["status"], "failed");
    assert_eq!(fcm.sim.stats().tokens_issued, 2, "refreshed exactly once");
    let (_, c) = app
        .get_json(&format!("/v1/credentials/{}", fcm.credential))
        .await;
    assert_eq!(c["health"], "rejected", "{c}");
    assert!(
        c["health_reason"]
            .as_str()
            .unwrap()
            .contains("UNAUTHENTICATED"),
        "{c}"
    );
    let sends = fcm.sim.stats().sends;
    let (_, d) = ring_once(&app, json!({})).await;
    assert_eq!(d["status"], "failed");
    assert!(
        d["provider_reason"]
            .as_str()
            .unwrap()
            .contains("credential_rejected"),
        "{d}"
    );
    assert_eq!(fcm.sim.stats().sends, sends, "nothing more sent with it");
}

async fn a_refused_service_account_is_rejected_with_the_reason(b: Backend) {
    let (app, _apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    android(&app, &fcm, 1, true).await;
    fcm.fault(json!({"target": "token", "error_code": "invalid_grant"}));
    let (_, d) = ring_once(&app, json!({})).await;
    assert_eq!(d["status"], "failed");
    assert_eq!(fcm.sim.stats().sends, 0);
    let (_, c) = app
        .get_json(&format!("/v1/credentials/{}", fcm.credential))
        .await;
    assert_eq!(c["health"], "rejected");
    assert!(
        c["health_reason"]
            .as_str()
            .unwrap()
            .contains("invalid_grant"),
        "{c}"
    );
}

async fn transient_answers_are_retried_within_the_ttl(b: Backend) {
    let (app, _apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    android(&app, &fcm, 1, true).await;
    // 429 with Retry-After: the retry waits for it.
    fcm.fault(json!({"error_code": "QUOTA_EXCEEDED", "retry_after_secs": 1, "count": 1}));
    let started = std::time::Instant::now();
    let (_, d) = ring_once(&app, json!({})).await;
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_i64()),
        (Some("accepted"), Some(2)),
        "{d}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After honoured"
    );
    // 503, 500 and a dropped connection: retried, then accepted.
    for fault in [
        json!({"error_code": "UNAVAILABLE", "count": 1}),
        json!({"error_code": "INTERNAL", "count": 1}),
        json!({"action": "drop_connection", "count": 1}),
        json!({"target": "token", "status": 503, "count": 1}),
    ] {
        fcm.fault(fault.clone());
        if fault["target"] == "token" {
            // A fresh token is needed for the token endpoint to be asked again.
            fcm.sim.expire_access_tokens();
        }
        let (_, d) = ring_once(&app, json!({})).await;
        assert_eq!(d["status"], "accepted", "{fault}: {d}");
        assert!(d["attempts"].as_i64().unwrap() >= 2, "{fault}: {d}");
    }
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("pushgate_fcm_retries_total{cause=\"quota_exceeded\"} 1"),
        "{metrics}"
    );
}

async fn a_fault_outlasting_the_ttl_expires_the_delivery(b: Backend) {
    let (app, _apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    android(&app, &fcm, 1, true).await;
    fcm.fault(json!({"error_code": "UNAVAILABLE"}));
    let (_, d) = ring_once(&app, json!({"ttl": 2})).await;
    assert_eq!(d["status"], "expired", "{d}");
    assert_eq!(d["provider_reason"], "UNAVAILABLE");
}

store_tests!(
    dead_tokens_are_retired,
    a_token_refreshed_during_the_send_is_kept,
    our_bad_requests_fail_and_keep_the_token,
    a_token_of_another_project_is_marked_invalid,
    a_refused_credential_is_rejected_and_no_longer_used,
    a_refused_service_account_is_rejected_with_the_reason,
    transient_answers_are_retried_within_the_ttl,
    a_fault_outlasting_the_ttl_expires_the_delivery,
);
