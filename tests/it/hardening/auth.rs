//! Hardening: authentication, and what the gateway does on a customer's behalf — access token
//! arithmetic, unknown keys and failed-authentication limits, status callback targets (SSRF)
//! and signatures, and provider tokens shared through Redis.

mod keys;
mod provider_tokens;
mod signatures;
mod ssrf;
mod tokens;

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::helpers::bin::metric_value;
use crate::helpers::{Apns, TestApp, device_token};

/// A status callback receiver: every request's headers and raw body.
#[derive(Default)]
pub struct Receiver {
    pub received: Mutex<Vec<(HeaderMap, String)>>,
    pub notify: tokio::sync::Notify,
}

impl Receiver {
    /// Starts one on 127.0.0.1; returns it and its port.
    pub async fn start() -> (Arc<Receiver>, u16) {
        let state = Arc::new(Receiver::default());
        let handler_state = state.clone();
        let app = axum::Router::new().route(
            "/cb",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = handler_state.clone();
                async move {
                    state.received.lock().unwrap().push((headers, body));
                    state.notify.notify_waiters();
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (state, port)
    }

    /// Waits (bounded) until `n` callbacks arrived; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<(HeaderMap, String)> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let notified = self.notify.notified();
            let received = self.received.lock().unwrap().clone();
            if received.len() >= n {
                return received;
            }
            tokio::time::timeout_at(deadline, notified)
                .await
                .expect("callbacks arrive");
        }
    }
}

/// Registers a phone for alice and rings it with `status_callback`; returns the invite body.
pub async fn ring_with_callback(app: &TestApp, apns: &Apns, url: &str) -> Value {
    apns.register(&device_token(1), "production");
    app.register_device("alice", &device_token(1)).await;
    let (status, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob", "status_callback": url}))
        .await;
    assert_eq!(status, 202, "{invite}");
    invite
}

/// The value of a counter sample `name{labels}` in the app's `/metrics` (0 if absent).
pub async fn metric(app: &TestApp, sample: &str) -> f64 {
    let (family, labels) = sample.split_once('{').unwrap_or((sample, "}"));
    let labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
    metric_value(&app.metrics_text().await, family, &labels)
}
