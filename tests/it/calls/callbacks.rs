//! Status callbacks: sent in order, signed, retried after a failure, refused for internal
//! hosts unless allowed, a final callback lost with a stopped replica replayed by the next
//! one, and the invites called back at once bounded.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::support::{post, ring};
use crate::helpers::{Apns, Backend, TestApp, device_token, spawn_app_with_apns, store_tests};

/// A status callback receiver that fails its first request.
#[derive(Default)]
struct Receiver {
    /// (raw body, signature header).
    received: Mutex<Vec<(String, String)>>,
    attempts: Mutex<u32>,
    notify: tokio::sync::Notify,
}

async fn receiver() -> (Arc<Receiver>, String) {
    let state = Arc::new(Receiver::default());
    let handler_state = state.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let state = handler_state.clone();
            async move {
                let mut attempts = state.attempts.lock().unwrap();
                *attempts += 1;
                if *attempts == 1 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let signature = headers["x-pushgate-signature"].to_str().unwrap().to_owned();
                state.received.lock().unwrap().push((body, signature));
                state.notify.notify_waiters();
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (state, url)
}

/// A gateway that may call back 127.0.0.1, a callback receiver (its URL), and a call to `n`
/// devices with that status callback, answered on the last device.
async fn answered_with_callback(
    b: Backend,
    n: u8,
) -> (TestApp, Apns, Arc<Receiver>, String, String) {
    let (app, apns) = spawn_app_with_apns(b, |c| {
        c.status_callback_allowed_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let (receiver, url) = receiver().await;
    let (call, bridges) = ring(&app, &apns, n, json!({"status_callback": url})).await;
    post(
        &app,
        &format!("/v1/invites/{call}/accept"),
        Some(&bridges[usize::from(n) - 1]),
    )
    .await;
    (app, apns, receiver, url, call)
}

/// Waits (bounded) until `receiver` holds `n` callbacks; their events.
async fn callbacks(receiver: &Receiver, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let notified = receiver.notify.notified();
        let received = receiver.received.lock().unwrap().clone();
        if received.len() >= n {
            return received
                .iter()
                .map(|(body, _)| {
                    let body: Value = serde_json::from_str(body).unwrap();
                    body["event"].as_str().unwrap().to_owned()
                })
                .collect();
        }
        tokio::time::timeout_at(deadline, notified)
            .await
            .expect("callbacks");
    }
}

/// The invite's `callback_reported`, read straight from the store.
async fn callback_reported(app: &TestApp, sid: &str) -> Option<String> {
    use sqlx::Connection;
    let url = app.config.database_url.clone().unwrap();
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    let (reported,): (Option<String>,) =
        sqlx::query_as("SELECT callback_reported FROM invites WHERE sid = $1 OR call_sid = $1")
            .bind(sid)
            .fetch_one(&mut db)
            .await
            .unwrap();
    reported
}

/// `callback_reported` once set (waiting up to 2 s).
async fn reported_eventually(app: &TestApp, call: &str) -> Option<String> {
    for _ in 0..100 {
        if let Some(reported) = callback_reported(app, call).await {
            return Some(reported);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    None
}

async fn status_callbacks_arrive_in_order_signed_and_retried(b: Backend) {
    let (_app, _apns, receiver, url, call) = answered_with_callback(b, 2).await;
    callbacks(&receiver, 2).await;
    let raw = receiver.received.lock().unwrap().clone();
    let received: Vec<(Value, &str)> = raw
        .iter()
        .map(|(body, sig)| (serde_json::from_str(body).unwrap(), sig.as_str()))
        .collect();
    let events: Vec<&str> = received
        .iter()
        .map(|(b, _)| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["ringing", "answered"]);
    assert_eq!(received[1].0["sequence"], 2);
    assert_eq!(received[1].0["call_sid"], call.as_str());
    assert!(
        received[1].0["registration_sid"]
            .as_str()
            .unwrap()
            .starts_with("BS")
    );
    assert!(
        *receiver.attempts.lock().unwrap() >= 3,
        "the first attempt failed and was retried"
    );
    for (_, signature) in &raw {
        // Verified against the webhook secret in tests/it/hardening/auth/signatures.rs.
        assert!(signature.starts_with("v1="), "{signature}");
    }
    // Internal callback URLs are refused unless allowed.
    let (app2, _apns2) = spawn_app_with_apns(b, |_| {}).await;
    app2.register_device("alice", &device_token(1)).await;
    let (status, body) = app2
        .invite(json!({"to": "alice", "from": "x", "status_callback": url}))
        .await;
    assert_eq!(status, 400, "{body}");
}

/// A final callback lost with a stopped replica (ended, never reported) is sent by the next
/// replica that starts, and recorded as reported.
async fn lost_final_callbacks_are_replayed(b: Backend) {
    let (app, _apns, receiver, _, call) = answered_with_callback(b, 1).await;
    assert_eq!(callbacks(&receiver, 2).await, ["ringing", "answered"]);
    assert_eq!(
        reported_eventually(&app, &call).await.as_deref(),
        Some("answered")
    );

    // As if the process had stopped before sending it: ended two minutes ago, not reported.
    {
        use sqlx::Connection;
        let url = app.config.database_url.clone().unwrap();
        let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query(
            "UPDATE invites SET callback_reported = NULL, date_updated = $1 WHERE sid = $2 OR call_sid = $2",
        )
        .bind(pushgate::clock::now_ms() - 120_000)
        .bind(&call)
        .execute(&mut db)
        .await
        .unwrap();
    }
    let replica = app.spawn_replica().await;
    assert_eq!(
        callbacks(&receiver, 3).await,
        ["ringing", "answered", "answered"]
    );
    assert_eq!(
        reported_eventually(&app, &call).await.as_deref(),
        Some("answered")
    );
    replica.stop().await.unwrap();
}

/// A receiver that holds every request until released; how many it got.
async fn stalled_receiver() -> (Arc<tokio::sync::Semaphore>, Arc<Mutex<u32>>, String) {
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let got = Arc::new(Mutex::new(0u32));
    let (held, count) = (release.clone(), got.clone());
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move || {
            let (held, count) = (held.clone(), count.clone());
            async move {
                *count.lock().unwrap() += 1;
                let _ = held.acquire().await.map(|p| p.forget());
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (release, got, url)
}

/// With a receiver that does not answer, at most `max_invites_calling_back` invites hold a
/// callback in flight: the next invite's callback is dropped and counted, not queued.
async fn callbacks_to_a_stalled_receiver_are_bounded(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |c| {
        c.status_callback_allowed_hosts = vec!["127.0.0.1".into()];
        c.max_invites_calling_back = 1;
    })
    .await;
    let (release, got, url) = stalled_receiver().await;
    ring(&app, &apns, 1, json!({"status_callback": url})).await;
    ring(&app, &apns, 1, json!({"status_callback": url})).await;
    let dropped = r#"pushgate_status_callbacks_total{result="dropped"} 1"#;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !app.metrics_text().await.contains(dropped) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no callback dropped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(*got.lock().unwrap(), 1, "one invite's callback in flight");
    release.add_permits(16);
}

store_tests!(
    status_callbacks_arrive_in_order_signed_and_retried,
    lost_final_callbacks_are_replayed,
    callbacks_to_a_stalled_receiver_are_bounded,
);
