//! Notifications signed by Twilio's own libraries ring every device of `twi_to`, iPhone and
//! Android, with Twilio's body unchanged.

use serde_json::Value;

use super::{AUTH_TOKEN, base, call_sid, link, notification, post_signed, sign_node, sign_python};
use crate::helpers::{Backend, TestApp, device_token, fcm_token, spawn_app_with_fcm, store_tests};

type Signer = fn(&str, &str, &str) -> (String, String);

async fn rings_with_the_body_unchanged(b: Backend, sign: Signer, seed: u8) {
    let (app, apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    link(&app, 30).await;
    apns.register(&device_token(1), "production");
    app.register_device("alice", &device_token(1)).await;
    fcm.register(&fcm_token(1));
    app.register_android("alice", &fcm.credential, &fcm_token(1))
        .await;
    let call = call_sid(seed);
    // Pretty-printed, as a proxy or Twilio might send it: the bytes are what the phone gets.
    let body = serde_json::to_string_pretty(&notification("alice", &call)).unwrap();
    let (url, sig) = sign(AUTH_TOKEN, &base(&app), &body);
    let res = post_signed(&app, &url, &body, &sig).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let invite: Value = res.json().await.unwrap();
    assert_eq!(invite["kind"], "twilio_webhook");
    assert_eq!(invite["call_sid"], call.as_str());
    assert_eq!(invite["devices"], 2);
    let settled = settled(&app, invite["sid"].as_str().unwrap()).await;
    let deliveries = settled["deliveries"].as_array().unwrap();
    assert!(
        deliveries.iter().all(|d| d["status"] == "accepted"),
        "{settled}"
    );

    let sent: Value = serde_json::from_str(&body).unwrap();
    let pushes = apns.pushes("production");
    assert_eq!(pushes.len(), 1);
    let push = &pushes[0];
    assert_eq!(
        push.payload.as_ref(),
        Some(&sent),
        "APNs payload = Twilio's body"
    );
    assert_eq!(push.payload_bytes, body.len(), "byte for byte");
    assert_eq!(push.headers["apns-push-type"], "voip");
    assert_eq!(push.headers["apns-collapse-id"], call);
    assert_eq!(push.headers["apns-priority"], "10");
    let expiration: i64 = push.headers["apns-expiration"].parse().unwrap();
    let now = pushgate::clock::now_ms() / 1000;
    assert!((now + 25..=now + 31).contains(&expiration), "{expiration}");

    let pushes = fcm.pushes();
    assert_eq!(pushes.len(), 1);
    let data = pushes[0].data.as_ref().unwrap();
    assert_eq!(data, &sent, "FCM data = Twilio's body, key for key");
    let android = pushes[0].android.as_ref().unwrap();
    assert_eq!(android["priority"], "HIGH");
    assert_eq!(android["collapse_key"], call.as_str());
    app.stop().await.unwrap();
}

async fn settled(app: &TestApp, sid: &str) -> Value {
    app.settled(sid).await
}

async fn signed_by_twilio_python_rings(b: Backend) {
    rings_with_the_body_unchanged(b, sign_python, 1).await;
}

async fn signed_by_twilio_node_rings(b: Backend) {
    rings_with_the_body_unchanged(b, sign_node, 2).await;
}

store_tests!(signed_by_twilio_python_rings, signed_by_twilio_node_rings);
