//! Status callback targets: every internal form refused when the invite is created, a name
//! resolving to loopback refused when the callback is sent, listed hosts trusted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use pushgate::invites::callback_dns::{CallbackLookup, StaticLookup};
use serde_json::json;

use super::{Receiver, metric, ring_with_callback};
use crate::helpers::{Backend, assert_error, spawn_app, spawn_app_with_apns};

const REFUSED: &str = "pushgate_status_callbacks_total{result=\"refused\"}";

fn lookup(name: &str, ip: &str) -> CallbackLookup {
    let table: HashMap<String, Vec<IpAddr>> =
        HashMap::from([(name.to_owned(), vec![ip.parse().unwrap()])]);
    CallbackLookup(Some(Arc::new(StaticLookup(table))))
}

#[tokio::test]
async fn every_internal_form_is_refused_at_invite_creation() {
    let app = spawn_app(Backend::Sqlite).await;
    for url in [
        "http://[::ffff:127.0.0.1]:9/cb",
        "http://[::ffff:169.254.169.254]/latest",
        "http://[64:ff9b::7f00:1]/cb",
        "http://[64:ff9b::a9fe:a9fe]/cb",
        "http://[2002:7f00:1::1]/cb",
        "http://[::127.0.0.1]/cb",
        "http://100.64.0.1/cb",
        "http://0.0.0.0/cb",
        "http://0.1.2.3/cb",
        "http://255.255.255.255/cb",
        "http://224.0.0.1/cb",
        "http://[ff02::1]/cb",
        "http://[fec0::1]/cb",
        "http://[fd00::1]/cb",
        "http://localhost./cb",
        "http://2130706433/cb",
        "http://127.0.0.1/cb",
        "http://169.254.169.254/latest",
    ] {
        let res = app
            .client
            .post(app.url("/v1/invites"))
            .header("Authorization", app.basic())
            .json(&json!({"to": "alice", "from": "x", "status_callback": url}))
            .send()
            .await
            .unwrap();
        let body = assert_error(res, 400, 20001).await;
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("status_callback"),
            "{url}: {body}"
        );
    }
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_send_time() {
    let (receiver, port) = Receiver::start().await;
    let (app, apns) = spawn_app_with_apns(Backend::Sqlite, |c| {
        c.callback_lookup = lookup("evil.test", "127.0.0.1");
    })
    .await;
    let before = metric(&app, REFUSED).await;
    let invite = ring_with_callback(&app, &apns, &format!("http://evil.test:{port}/cb")).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while metric(&app, REFUSED).await <= before {
        assert!(tokio::time::Instant::now() < deadline, "refusal counted");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The call ends: its final callback is refused too, and nothing ever reached the listener.
    let (status, _) = app
        .client
        .post(app.url(&format!(
            "/v1/invites/{}/cancel",
            invite["sid"].as_str().unwrap()
        )))
        .header("Authorization", app.basic())
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);
    while metric(&app, REFUSED).await < before + 2.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "final refusal counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(receiver.received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn allow_listed_names_and_addresses_are_called_whatever_they_resolve_to() {
    let (receiver, port) = Receiver::start().await;
    let (app, apns) = spawn_app_with_apns(Backend::Sqlite, |c| {
        c.status_callback_allowed_hosts = vec!["hooks.test".into()];
        c.callback_lookup = lookup("hooks.test", "127.0.0.1");
    })
    .await;
    // Listed: only hooks.test may be called, even by address.
    let (status, _) = app
        .invite(json!({"to": "alice", "from": "x",
            "status_callback": format!("http://127.0.0.1:{port}/cb")}))
        .await;
    assert_eq!(status, 400);
    ring_with_callback(&app, &apns, &format!("http://HOOKS.test:{port}/cb")).await;
    let received = receiver.wait_for(1).await;
    assert!(received[0].1.contains("\"ringing\""), "{}", received[0].1);
}
