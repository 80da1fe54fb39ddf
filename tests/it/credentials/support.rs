//! What the credential tests share: self-made certificates ([`leaf`], [`voip`]), upload
//! bodies, posting them, and [`created`], which also checks a response reveals no secret.

use base64::Engine;
use pushgate::clock::now_secs;
use pushgate::credentials::devcerts::{DevCert, LeafOptions, VoipPair};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::helpers::TestApp;

pub(super) const P12_PASSWORD: &str = "correct horse battery";

/// A certificate as `opts` describe, signed by a fresh CA.
pub(super) fn leaf(opts: LeafOptions) -> DevCert {
    VoipPair::issue_with(&opts, now_secs()).unwrap().leaf
}

pub(super) fn voip(bundle: &str) -> LeafOptions {
    VoipPair::voip(bundle, now_secs())
}

pub(super) fn pem_body(cert: &DevCert, sandbox: bool) -> Value {
    json!({
        "type": "apn",
        "friendly_name": "voip",
        "certificate": cert.cert_pem().unwrap(),
        "private_key": cert.key_pkcs8_pem().unwrap().expose_secret(),
        "sandbox": sandbox,
    })
}

pub(super) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(super) async fn post_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("Authorization", app.basic())
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Asserts a credential response reveals nothing secret and returns its JSON.
pub(super) async fn created(res: reqwest::Response, secrets: &[&str]) -> Value {
    let status = res.status();
    let location = res.headers().get("location").cloned();
    let text = res.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    for secret in secrets {
        assert!(!text.contains(secret), "response leaks a secret: {text}");
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        location.unwrap().to_str().unwrap(),
        format!("/v1/credentials/{}", body["sid"].as_str().unwrap())
    );
    body
}
