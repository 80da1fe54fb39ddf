//! The device-token registry (strict mode), the push log, and the HTTP
//! control API.

use serde_json::json;

use super::*;
use crate::mock_apns::{Environment, EnvironmentMode, TokenRegistration, Unregistration};

fn reg(token: &str, topic: &str, environment: Environment) -> TokenRegistration {
    TokenRegistration {
        token: token.into(),
        topic: topic.into(),
        environment,
    }
}

const VOIP: &str = "com.example.app.voip";

#[tokio::test]
async fn strict_registry_reasons() {
    let clock = clock();
    let mut cfg = config(EnvironmentMode::Production, &clock);
    cfg.strict = true;
    let sim = run(cfg).await;
    let key = Key::new("STRICTKEY1", "TEAM000005");
    sim.register_key(&crate::mock_apns::KeyRegistration {
        key_id: key.key_id.clone(),
        team_id: key.team_id.clone(),
        private_key_pem: Some(key.p8()),
        ..Default::default()
    })
    .expect("key");
    let h = voip_headers(&key.token(now_secs(&clock), false));
    let c = Client::connect(&sim, None).await;
    let (good, dev, other_app) = (device_token(1), device_token(2), device_token(3));
    sim.register_token(&reg(&good.to_uppercase(), VOIP, Environment::Production))
        .expect("reg");
    sim.register_token(&reg(&dev, VOIP, Environment::Sandbox))
        .expect("reg");
    sim.register_token(&reg(
        &other_app,
        "com.other.app.voip",
        Environment::Production,
    ))
    .expect("reg");

    let check = |r: Reply, status: u16, reason: &str| {
        assert_eq!((r.status, r.reason()), (status, reason.to_string()));
    };
    check(push(&c, &good, &h).await, 200, "");
    check(push(&c, &device_token(9), &h).await, 400, "BadDeviceToken");
    check(push(&c, &dev, &h).await, 400, "BadDeviceToken");
    check(
        push(&c, &other_app, &h).await,
        400,
        "DeviceTokenNotForTopic",
    );

    let unreg = Unregistration {
        timestamp_ms: Some(1_700_000_000_123),
        reason: None,
    };
    let ts = sim.unregister_token(&good, &unreg).expect("unregister");
    assert_eq!(ts, 1_700_000_000_123);
    let r = push(&c, &good, &h).await;
    assert_eq!(r.status, 410);
    assert_eq!(
        r.json(),
        json!({"reason": "Unregistered", "timestamp": 1_700_000_000_123u64})
    );
    // Re-registration after the verdict makes the token valid again.
    sim.register_token(&reg(&good, VOIP, Environment::Production))
        .expect("reg");
    check(push(&c, &good, &h).await, 200, "");
}

#[tokio::test]
async fn both_mode_follows_the_token_environment() {
    let clock = clock();
    let sim = run(config(EnvironmentMode::Both, &clock)).await;
    let h = voip_headers(&Key::new("BOTHKEY001", "TEAM000006").token(now_secs(&clock), false));
    let c = Client::connect(&sim, None).await;
    sim.register_token(&reg(&device_token(1), VOIP, Environment::Sandbox))
        .expect("reg");
    sim.register_token(&reg(&device_token(2), VOIP, Environment::Production))
        .expect("reg");
    let r = push(&c, &device_token(1), &h).await;
    assert_eq!(r.status, 200);
    assert!(r.header("apns-unique-id").is_some());
    let r = push(&c, &device_token(2), &h).await;
    assert_eq!(r.status, 200);
    assert!(r.header("apns-unique-id").is_none());
    // Registry non-empty: unknown tokens are rejected even without strict.
    assert_eq!(
        push(&c, &device_token(3), &h).await.reason(),
        "BadDeviceToken"
    );
    let envs: Vec<_> = sim.pushes(0).iter().map(|p| p.environment).collect();
    assert_eq!(
        envs,
        [
            Some(Environment::Sandbox),
            Some(Environment::Production),
            None
        ]
    );
}

#[tokio::test]
async fn push_log_records_headers_payload_and_outcome() {
    let clock = clock();
    let sim = run(config(EnvironmentMode::Production, &clock)).await;
    let c = Client::connect(&sim, None).await;
    let mut h = voip_headers(&Key::new("LOGKEY0001", "TEAM000007").token(now_secs(&clock), false));
    h.push(("apns-id", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into()));
    assert_eq!(push(&c, &device_token(1), &h).await.status, 200);
    h.push(("apns-priority", "7".into()));
    h.retain(|(k, v)| *k != "apns-priority" || v == "7");
    assert_eq!(push(&c, &device_token(2), &h).await.reason(), "BadPriority");

    let log = sim.pushes(0);
    assert_eq!(log.len(), 2);
    let first = &log[0];
    assert_eq!(first.seq, 1);
    assert_eq!(first.device_token, device_token(1));
    assert_eq!(
        first.headers.get("apns-push-type").map(String::as_str),
        Some("voip")
    );
    assert_eq!(
        first.headers.get("apns-topic").map(String::as_str),
        Some(VOIP)
    );
    assert!(!first.headers.contains_key("authorization"));
    assert_eq!(
        first.payload.as_ref().map(|p| p["caller"].clone()),
        Some(json!("Alice"))
    );
    assert_eq!(first.apns_id, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    assert_eq!((first.status, first.reason.clone()), (200, None));
    assert_eq!(first.environment, Some(Environment::Production));
    assert!(first.received_at_ms > 0);
    assert_eq!(
        (log[1].status, log[1].reason.as_deref()),
        (400, Some("BadPriority"))
    );
    assert_eq!(sim.pushes(1).len(), 1, "since is exclusive");
}

#[tokio::test]
async fn control_api_over_http() {
    let clock = clock();
    let mut cfg = config(EnvironmentMode::Production, &clock);
    cfg.control_listen = Some("127.0.0.1:0".parse().expect("addr"));
    let sim = run(cfg).await;
    let addr = sim.control_addr().expect("control addr");
    let key = Key::new("HTTPKEY001", "TEAM000008");
    let body = json!({"key_id": key.key_id, "team_id": key.team_id, "private_key_pem": key.p8()});
    assert_eq!(
        control(addr, "POST", "/keys", &body.to_string()).await.0,
        200
    );
    let body = json!({"token": device_token(1), "topic": VOIP, "environment": "production"});
    assert_eq!(
        control(addr, "POST", "/tokens", &body.to_string()).await.0,
        200
    );
    let path = format!("/tokens/{}/unregister", device_token(1));
    let (status, body) = control(addr, "POST", &path, r#"{"timestamp_ms": 42}"#).await;
    assert_eq!((status, body), (200, json!({"timestamp_ms": 42})));
    let fault = json!({"status": 500, "count": 1, "match_token": device_token(2)});
    let (status, body) = control(addr, "POST", "/faults", &fault.to_string()).await;
    assert_eq!((status, body), (200, json!({"id": 1})));
    let (status, _) = control(addr, "POST", "/faults", r#"{"ratio": 2}"#).await;
    assert_eq!(status, 400);
    let (status, body) = control(addr, "GET", "/ca.pem", "").await;
    assert_eq!(status, 200);
    assert!(body.as_str().unwrap_or("").contains("BEGIN CERTIFICATE"));

    let c = Client::connect(&sim, None).await;
    let h = voip_headers(&key.token(now_secs(&clock), false));
    let r = push(&c, &device_token(1), &h).await;
    assert_eq!((r.status, r.json()["timestamp"].clone()), (410, json!(42)));
    let r = push(&c, &device_token(2), &h).await;
    assert_eq!((r.status, r.reason()), (500, "InternalServerError".into()));

    let (_, stats) = control(addr, "GET", "/stats", "").await;
    assert_eq!(stats["received"], json!(2));
    assert_eq!(stats["rejected_by_reason"]["Unregistered"], json!(1));
    assert_eq!(stats["connections_open"], json!(1));
    let (_, pushes) = control(addr, "GET", "/pushes?since=0", "").await;
    let list = pushes["pushes"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["auth"]["type"], json!("token"));
    assert_eq!(list[0]["auth"]["key_id"], json!("HTTPKEY001"));
    assert_eq!(list[1]["seq"], json!(2));
    assert_eq!(list[1]["reason"], json!("InternalServerError"));
    assert_eq!(list[1]["fault"], json!("respond"));
    assert_eq!(control(addr, "POST", "/reset", "").await.0, 200);
    let (_, stats) = control(addr, "GET", "/stats", "").await;
    assert_eq!(stats["received"], json!(0));
    assert_eq!(control(addr, "GET", "/nope", "").await.0, 404);
}
