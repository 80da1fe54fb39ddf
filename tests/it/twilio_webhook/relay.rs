//! What a relayed notification becomes: an invite like any other (deliveries, expiry at the
//! link's ring timeout, metrics), idempotent per call leg, and Twilio's answers (404 for an
//! identity without devices, 409 for a call SID another invite holds).

use serde_json::{Value, json};

use super::{call_sid, link, notification, post_basic};
use crate::helpers::bin::metric_value;
use crate::helpers::{Backend, assert_error, device_token, spawn_app_with_apns, store_tests};

async fn a_retry_rings_nothing_new(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    link(&app, 30).await;
    apns.register(&device_token(1), "production");
    let registration = app.register_device("alice", &device_token(1)).await;
    let body = notification("alice", &call_sid(3)).to_string();
    let res = post_basic(&app, &body).await;
    assert_eq!(res.status(), 200);
    let first: Value = res.json().await.unwrap();
    app.settled(first["sid"].as_str().unwrap()).await;
    // Twilio retries the same request (same twi_message_id, same call leg).
    let res = post_basic(&app, &body).await;
    assert_eq!(res.status(), 200);
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["sid"], first["sid"]);
    assert_eq!(
        apns.pushes("production").len(),
        1,
        "no second round of pushes"
    );
    // Even once the device is gone, the retry finds the first relay.
    let res = app
        .client
        .delete(app.url(&format!("/v1/registrations/{registration}")))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = post_basic(&app, &body).await;
    assert_eq!(res.status(), 200);
    let late: Value = res.json().await.unwrap();
    assert_eq!(late["sid"], first["sid"]);
    let metrics = app.metrics_text().await;
    assert_eq!(
        metric_value(
            &metrics,
            "pushgate_twilio_notifications_total",
            &["result=\"relayed\""]
        ),
        1.0
    );
    assert_eq!(
        metric_value(
            &metrics,
            "pushgate_twilio_notifications_total",
            &["result=\"duplicate\""]
        ),
        2.0
    );
    app.stop().await.unwrap();
}

async fn an_identity_without_devices_is_404(b: Backend) {
    let (app, _apns) = spawn_app_with_apns(b, |_| {}).await;
    link(&app, 30).await;
    let res = post_basic(&app, &notification("nobody", &call_sid(4)).to_string()).await;
    assert_error(res, 404, 21201).await;
    app.stop().await.unwrap();
}

async fn the_ring_timeout_ends_the_call(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    link(&app, 1).await;
    apns.register(&device_token(1), "production");
    app.register_device("alice", &device_token(1)).await;
    let res = post_basic(&app, &notification("alice", &call_sid(5)).to_string()).await;
    assert_eq!(res.status(), 200);
    let invite: Value = res.json().await.unwrap();
    let sid = invite["sid"].as_str().unwrap();
    let expiration: i64 = apns_expiration(&apns).await;
    let created = chrono_secs(invite["date_created"].as_str().unwrap());
    assert!(
        (created..=created + 2).contains(&expiration),
        "{expiration} vs {created}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, now) = app.get_json(&format!("/v1/invites/{sid}")).await;
        if now["status"] == "expired" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never expired: {now}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    app.stop().await.unwrap();
}

async fn apns_expiration(apns: &crate::helpers::Apns) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if let Some(p) = apns.pushes("production").first() {
            return p.headers["apns-expiration"].parse().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no push");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn chrono_secs(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp()
}

async fn a_call_sid_held_by_another_invite_is_409(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    link(&app, 30).await;
    apns.register(&device_token(1), "production");
    apns.register(&device_token(2), "production");
    app.register_device("alice", &device_token(1)).await;
    app.register_device("bob", &device_token(2)).await;
    let call = call_sid(6);
    let res = post_basic(&app, &notification("alice", &call).to_string()).await;
    assert_eq!(res.status(), 200);
    // The same call SID for another identity is not a retry.
    let res = post_basic(&app, &notification("bob", &call).to_string()).await;
    assert_error(res, 409, 21604).await;
    // Nor is pushgate's own call with that SID.
    let (status, _) = app
        .invite(json!({"to": "bob", "from": "client:x", "call_sid": call_sid(7)}))
        .await;
    assert_eq!(status, 202);
    let res = post_basic(&app, &notification("bob", &call_sid(7)).to_string()).await;
    assert_error(res, 409, 21604).await;
    app.stop().await.unwrap();
}

store_tests!(
    a_retry_rings_nothing_new,
    an_identity_without_devices_is_404,
    the_ring_timeout_ends_the_call,
    a_call_sid_held_by_another_invite_is_409,
);
