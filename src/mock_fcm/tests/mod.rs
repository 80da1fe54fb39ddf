//! Tests that run the simulator in-process on port 0 and drive it over real TLS: HTTP/2
//! with `h2` (see `client`) for sends, HTTP/1.1 with reqwest for the token endpoint (as
//! Google's Python library does), and a tiny HTTP/1.1 client for the control API. Plus
//! fixtures: assertions signed with `jsonwebtoken`, a manual clock. `fcm_client_tests`
//! drives the simulator with pushgate's own FCM client.

mod client;
mod control_tests;
mod fault_tests;
mod fcm_client_tests;
mod oauth_tests;
mod send_tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Clock, ManualClock, ServiceAccountJson, Simulator, SimulatorConfig, start};

pub use client::{H2, Reply};

/// The FCM scope.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// The project of the generated service account in tests.
pub const PROJECT: &str = "pushgate-test";

/// A registration token shaped like FCM's, derived from `n`.
pub fn fcm_token(n: u32) -> String {
    format!("d{n:021}:APA91b{}", "Xy_z-0".repeat(24))
}

/// Test config: port 0, control API on port 0, manual clock, log on.
pub fn config(clock: &Arc<ManualClock>) -> SimulatorConfig {
    SimulatorConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        control_listen: Some("127.0.0.1:0".parse().expect("addr")),
        project_id: PROJECT.into(),
        log_pushes: true,
        clock: clock.clone(),
        ..SimulatorConfig::default()
    }
}

/// A manual clock at the current time.
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(SystemTime::now()))
}

/// Starts a simulator that runs until the test's runtime ends.
pub async fn run(config: SimulatorConfig) -> Simulator {
    start(config, std::future::pending()).await.expect("start")
}

/// A simulator with the default test config and its clock.
pub async fn sim() -> (Simulator, Arc<ManualClock>) {
    let clock = clock();
    (run(config(&clock)).await, clock)
}

/// Seconds since the epoch according to `clock`.
pub fn now_secs(clock: &ManualClock) -> i64 {
    clock
        .now()
        .duration_since(UNIX_EPOCH)
        .expect("after epoch")
        .as_secs() as i64
}

/// Claims of an assertion as Google's libraries build them.
pub fn claims(sa: &ServiceAccountJson, aud: &str, iat: i64) -> Value {
    json!({ "iss": sa.client_email, "scope": FCM_SCOPE, "aud": aud, "iat": iat, "exp": iat + 3600 })
}

/// `claims` signed with the account's key (RS256, `kid` = `private_key_id`).
pub fn sign(sa: &ServiceAccountJson, claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(sa.private_key.as_bytes()).expect("rsa key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(sa.private_key_id.clone());
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

/// A fresh, valid assertion for the simulator's own token URL.
pub fn assertion(sim: &Simulator, sa: &ServiceAccountJson, clock: &ManualClock) -> String {
    sign(sa, &claims(sa, sim.token_url(), now_secs(clock)))
}

/// An HTTP/1.1-only client (reqwest, native TLS) trusting the simulator's CA.
pub fn http1(sim: &Simulator) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).expect("ca");
    reqwest::Client::builder()
        .http1_only()
        .tls_certs_only([ca])
        .build()
        .expect("client")
}

/// Posts a form to the token endpoint: (status, JSON).
pub async fn token_request(sim: &Simulator, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = http1(sim)
        .post(sim.token_url())
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Exchanges an assertion of `sa` for an access token (panics unless 200).
pub async fn access_token(sim: &Simulator, sa: &ServiceAccountJson, clock: &ManualClock) -> String {
    let assertion = assertion(sim, sa, clock);
    let (status, body) = token_request(
        sim,
        &[
            ("grant_type", super::oauth::JWT_BEARER),
            ("assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// A well-formed send body to `token`.
pub fn message(token: &str) -> Value {
    json!({ "message": {
        "token": token,
        "data": { "call_sid": "CA1", "caller": "Alice" },
        "android": { "priority": "HIGH", "ttl": "30s", "collapse_key": "CA1" },
    } })
}

/// The send path of `project`.
pub fn send_path(project: &str) -> String {
    format!("/v1/projects/{project}/messages:send")
}

/// Sends `body` with `bearer` over a new HTTP/2 connection.
pub async fn send(sim: &Simulator, bearer: &str, body: &Value) -> Reply {
    let h2 = H2::connect(sim).await;
    h2.post(&send_path(PROJECT), bearer, body.to_string().as_bytes())
        .await
        .expect("send")
}

/// Asserts an FCM error body: code, status and the `FcmError` errorCode.
pub fn assert_fcm_error(reply: &Reply, code: u16, status: &str, error_code: &str) {
    let body = reply.json();
    assert_eq!(reply.status, code, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["status"], status, "{body}");
    let details = body["error"]["details"].as_array().expect("details");
    assert!(
        details.iter().any(
            |d| d["@type"] == "type.googleapis.com/google.firebase.fcm.v1.FcmError"
                && d["errorCode"] == error_code
        ),
        "{body}"
    );
}

/// A control API call over plain HTTP/1.1: (status, JSON body).
pub async fn control(sim: &Simulator, method: &str, path: &str, body: &str) -> (u16, Value) {
    let addr: SocketAddr = sim.control_addr().expect("control");
    let mut tcp = TcpStream::connect(addr).await.expect("connect control");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let json = serde_json::from_str(body).unwrap_or(Value::String(body.into()));
    (status, json)
}
