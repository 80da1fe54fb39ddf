//! A call's life with Android phones in it is the same as with iPhones: the first accept
//! wins wherever it happens, a cancel reaches the Android phone as a legacy cancel message
//! when asked for, and an unanswered call expires.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, device_token, fcm_token, spawn_app_with_fcm, store_tests};

async fn post(app: &TestApp, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut req = app.client.post(app.url(path));
    req = match bearer {
        Some(token) => req.bearer_auth(token),
        None => req.header("Authorization", app.basic()),
    };
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn an_android_phone_answers_and_the_iphone_hears_it(b: Backend) {
    let (app, apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    apns.register(&device_token(1), "production");
    app.register_device("alice", &device_token(1)).await;
    fcm.register(&fcm_token(1));
    app.register_android("alice", &fcm.credential, &fcm_token(1))
        .await;
    let (_, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "delivered");
    let call = invite["call_sid"].as_str().unwrap();
    let android_bridge = fcm.pushes()[0].data.as_ref().unwrap()["twi_bridge_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let iphone_bridge = apns.pushes("production")[0].payload.as_ref().unwrap()["twi_bridge_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = post(
        &app,
        &format!("/v1/invites/{call}/accept"),
        Some(&android_bridge),
    )
    .await;
    assert_eq!(
        (status, body["this_device"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let (status, body) = post(
        &app,
        &format!("/v1/invites/{call}/accept"),
        Some(&iphone_bridge),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (409, Some(21310)),
        "{body}"
    );
    let (_, read) = app
        .get_json(&format!("/v1/invites/{}", invite["sid"].as_str().unwrap()))
        .await;
    assert_eq!(read["status"], "answered");
}

async fn a_cancel_reaches_android_as_a_cancel_message(b: Backend) {
    let (app, _apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    fcm.register(&fcm_token(1));
    app.register_android("alice", &fcm.credential, &fcm_token(1))
        .await;
    let (_, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob", "cancel_push": "voip"}))
        .await;
    app.settled(invite["sid"].as_str().unwrap()).await;
    let call = invite["call_sid"].as_str().unwrap();
    let (status, body) = post(&app, &format!("/v1/invites/{call}/cancel"), None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("canceled")),
        "{body}"
    );
    let mut cancel = None;
    for _ in 0..100 {
        cancel = fcm.pushes().into_iter().find(|p| {
            p.data
                .as_ref()
                .is_some_and(|d| d["twi_message_type"] == "twilio.voice.cancel")
        });
        if cancel.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cancel = cancel.expect("a cancel message reached the Android phone");
    assert_eq!(cancel.status, 200);
    let data = cancel.data.unwrap();
    assert_eq!(data["twi_call_sid"], call);
    assert!(data.get("twi_bridge_token").is_none());
    assert_eq!(cancel.android.unwrap()["priority"], "HIGH");
}

async fn an_unanswered_android_call_expires(b: Backend) {
    let (app, _apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    fcm.register(&fcm_token(1));
    app.register_android("alice", &fcm.credential, &fcm_token(1))
        .await;
    let (_, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob", "ttl": 1}))
        .await;
    let sid = invite["sid"].as_str().unwrap();
    app.settled(sid).await;
    let mut status = Value::Null;
    for _ in 0..60 {
        let (_, read) = app.get_json(&format!("/v1/invites/{sid}")).await;
        status = read["status"].clone();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "expired");
}

store_tests!(
    an_android_phone_answers_and_the_iphone_hears_it,
    a_cancel_reaches_android_as_a_cancel_message,
    an_unanswered_android_call_expires,
);
