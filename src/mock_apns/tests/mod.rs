//! Tests that run the simulator in-process on port 0 and drive it with a
//! real HTTP/2-over-TLS client (see `client`), plus fixtures: client
//! certificates with Apple's OIDs, provider keys and tokens, and a tiny
//! HTTP/1.1 client for the control API.

mod auth_tests;
mod client;
mod control_tests;
mod fault_tests;
mod validation_tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use openssl::pkey::{PKey, Private};
use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::provider_token::sign;
use super::{EnvironmentMode, ManualClock, PemSource, Simulator, SimulatorConfig, start};
use crate::credentials::devcerts::{
    self, AppleEnvironment, DevCert, KeyKind, LeafOptions, VoipPair,
};

pub use client::{Client, Reply, request};

/// A device token (64 hex digits) derived from `n`.
pub fn device_token(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

/// A small VoIP payload.
pub const PAYLOAD: &[u8] = br#"{"aps":{},"call_id":"c-1","caller":"Alice"}"#;

/// Test config: port 0, generated TLS, manual clock.
pub fn config(mode: EnvironmentMode, clock: &Arc<ManualClock>) -> SimulatorConfig {
    SimulatorConfig {
        tls_listen: "127.0.0.1:0".parse().expect("addr"),
        environment: mode,
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

/// Seconds since the epoch according to `clock`.
pub fn now_secs(clock: &ManualClock) -> i64 {
    use super::Clock;
    clock
        .now()
        .duration_since(UNIX_EPOCH)
        .expect("after epoch")
        .as_secs() as i64
}

/// A provider key with its id and team.
pub struct Key {
    pub key: PKey<Private>,
    pub key_id: String,
    pub team_id: String,
}

impl Key {
    /// A fresh P-256 key.
    pub fn new(key_id: &str, team_id: &str) -> Key {
        Key {
            key: devcerts::generate_key(KeyKind::EcP256).expect("key"),
            key_id: key_id.into(),
            team_id: team_id.into(),
        }
    }

    /// A token issued at `iat` (raw JWS signature unless `der`).
    pub fn token(&self, iat: i64, der: bool) -> String {
        sign(&self.key, &self.key_id, &self.team_id, iat, der)
    }

    /// The .p8 (PKCS#8 PEM) of the key.
    pub fn p8(&self) -> String {
        let pem = devcerts::pkcs8_pem(&self.key).expect("pem");
        pem.expose_secret().to_owned()
    }

    /// The public key PEM.
    pub fn public_pem(&self) -> String {
        String::from_utf8(self.key.public_key_to_pem().expect("pem")).expect("utf8")
    }
}

/// Headers of a well-formed VoIP push with token auth.
pub fn voip_headers(bearer: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("bearer {bearer}")),
        ("apns-topic", "com.example.app.voip".into()),
        ("apns-push-type", "voip".into()),
        ("apns-priority", "10".into()),
        ("apns-expiration", "0".into()),
    ]
}

/// Sends a push to `token` with `headers` and the standard payload.
pub async fn push(c: &Client, token: &str, headers: &[(&str, String)]) -> Reply {
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let path = format!("/3/device/{token}");
    c.send(request("POST", &path, &h), PAYLOAD)
        .await
        .expect("push")
}

/// A CA for client certificates (with a VoIP certificate it signed).
pub fn client_ca() -> VoipPair {
    VoipPair::issue("com.example.app").expect("ca")
}

/// `client_ca` as a config value.
pub fn ca_source(ca: &VoipPair) -> Option<PemSource> {
    Some(PemSource::Pem(ca.ca_pem().expect("ca pem")))
}

/// An Apple-style push client certificate signed by `ca`: subject UID `uid`,
/// environment OIDs (`dev`, `prod`), optional topic list.
pub fn apple_cert(ca: &VoipPair, uid: &str, dev: bool, prod: bool, topics: &[&str]) -> DevCert {
    let opts = LeafOptions::apple_push(uid, crate::clock::now_secs())
        .with_key(KeyKind::EcP256)
        .with_environment(AppleEnvironment::from_flags(dev, prod))
        .with_topics(topics);
    ca.sibling(&opts).expect("client cert")
}

/// A control API call over plain HTTP/1.1: (status, JSON body).
pub async fn control(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
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
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.into()));
    (status, json)
}
