//! One invite rings an identity's iPhones and Android phones; the Android push is FCM's
//! high-priority data message with the call's `twi_*` keys as strings.

use pushgate::domain::RegistrationSid;
use serde_json::json;

use crate::helpers::{Backend, device_token, fcm_token, spawn_app_with_fcm, store_tests};

async fn one_invite_rings_iphones_and_android_phones(b: Backend) {
    let (app, apns, fcm) = spawn_app_with_fcm(b, |c| c.metrics_refresh_seconds = 1).await;
    apns.register(&device_token(1), "production");
    app.register_device("alice", &device_token(1)).await;
    fcm.register(&fcm_token(1));
    fcm.register(&fcm_token(2));
    let android = app
        .register_android("alice", &fcm.credential, &fcm_token(1))
        .await;
    app.register_android("alice", &fcm.credential, &fcm_token(2))
        .await;

    let (status, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob", "params": {"note": "hi"}, "ttl": 40}))
        .await;
    assert_eq!(status, 202, "{invite}");
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "delivered");
    let deliveries = settled["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    assert!(
        deliveries.iter().all(|d| d["status"] == "accepted"),
        "{settled}"
    );
    let platforms: Vec<&str> = deliveries
        .iter()
        .map(|d| d["platform"].as_str().unwrap())
        .collect();
    assert_eq!(
        platforms.iter().filter(|p| **p == "fcm").count(),
        2,
        "{settled}"
    );
    assert_eq!(platforms.iter().filter(|p| **p == "apn").count(), 1);
    let on_android = deliveries
        .iter()
        .find(|d| d["registration_sid"] == android.as_str())
        .unwrap();
    assert_eq!(on_android["provider_status"], 200);
    assert!(
        on_android["provider_id"]
            .as_str()
            .unwrap()
            .starts_with("projects/pushgate-demo/messages/")
    );
    assert!(on_android["apns_id"].is_null());

    // The FCM message: every value a string, high priority, the call's time left as ttl.
    let pushes = fcm.pushes();
    assert_eq!(pushes.len(), 2);
    let push = pushes.iter().find(|p| p.token == fcm_token(1)).unwrap();
    assert_eq!(push.status, 200);
    assert_eq!(push.protocol, "HTTP/2");
    let data = push.data.as_ref().unwrap();
    assert_eq!(data["twi_message_type"], "twilio.voice.call");
    assert_eq!(data["twi_call_sid"], invite["call_sid"]);
    assert_eq!(data["twi_to"], "client:alice");
    assert_eq!(data["twi_from"], "client:bob");
    assert_eq!(data["twi_params"], "note=hi");
    assert!(
        data.as_object().unwrap().values().all(|v| v.is_string()),
        "{data}"
    );
    assert!(data["twi_bridge_token"].as_str().unwrap().len() > 20);
    let android_fields = push.android.as_ref().unwrap();
    assert_eq!(android_fields["priority"], "HIGH");
    assert_eq!(android_fields["collapse_key"], invite["call_sid"]);
    let ttl: u64 = android_fields["ttl"]
        .as_str()
        .unwrap()
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!((38..=40).contains(&ttl), "ttl {ttl}");
    // The iPhone got its VoIP push as before.
    assert_eq!(apns.pushes("production").len(), 1);

    // Registration listings show the platform; the token is never shown whole.
    let (_, list) = app.get_json("/v1/registrations?identity=alice").await;
    let text = list.to_string();
    assert!(!text.contains(&fcm_token(1)));
    assert_eq!(
        text.matches("\"binding_type\":\"fcm\"").count(),
        2,
        "{text}"
    );
    // Pushing touched the Android registration.
    let reg = app
        .store
        .registration(&app.account, &RegistrationSid::parse(&android).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(reg.last_used.is_some());

    // Metrics: the sends, by status; one access token for both pushes.
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("pushgate_fcm_requests_total{error=\"\",status=\"200\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("pushgate_fcm_token_exchanges_total{result=\"issued\"} 1"));
    // The registration gauge counts them by platform (refreshed every second here).
    let android_active =
        "pushgate_registrations{environment=\"default\",platform=\"fcm\",state=\"active\"} 2";
    let mut text = String::new();
    for _ in 0..50 {
        text = app.metrics_text().await;
        if text.contains(android_active) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(text.contains(android_active), "{text}");
    assert!(text.contains(
        "pushgate_registrations{environment=\"default\",platform=\"apns\",state=\"active\"} 1"
    ));
}

async fn an_invite_too_large_for_fcm_is_refused_before_anything_is_sent(b: Backend) {
    let (app, _apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    fcm.register(&fcm_token(1));
    app.register_android("alice", &fcm.credential, &fcm_token(1))
        .await;
    // Under APNs's 5,120 bytes but over FCM's 4,096 for data.
    let big = "x".repeat(4_200);
    let (status, body) = app
        .invite(json!({"to": "alice", "from": "client:bob", "params": {"big": big}}))
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(21202)),
        "{body}"
    );
    assert!(fcm.pushes().is_empty());
}

store_tests!(
    one_invite_rings_iphones_and_android_phones,
    an_invite_too_large_for_fcm_is_refused_before_anything_is_sent,
);
