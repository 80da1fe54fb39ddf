//! `.p12` uploads asking for absurd key-derivation work are refused in milliseconds, real
//! ones still accepted, and concurrent validations are bounded (503 + `Retry-After`).

use std::time::{Duration, Instant};

use base64::Engine;
use pushgate::credentials::devcerts::{P12Encryption, VoipPair, patch_der_integers};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_error, spawn_app, spawn_app_with};

const PASSWORD: &str = "export password";
/// Distinct counts built into the file, then patched: MAC, then encryption.
const MAC: u32 = 3001;
const ENC: u32 = 3002;

fn p12(mac: u32, enc: u32, encryption: P12Encryption) -> Vec<u8> {
    let leaf = VoipPair::issue("com.example.app").unwrap().leaf;
    leaf.to_p12_with_iterations(&[], PASSWORD, encryption, mac, enc)
        .unwrap()
}

async fn upload(app: &TestApp, der: &[u8]) -> reqwest::Response {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    app.client
        .post(app.url("/v1/credentials"))
        .header("Authorization", app.basic())
        .json(&json!({"p12": b64, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn bombed_p12_is_refused_fast_with_its_code() {
    let app = spawn_app(Backend::Sqlite).await;
    // Connection set-up and the first key lookup are not what is measured.
    let (status, _) = app.get_json("/v1/credentials").await;
    assert_eq!(status, 200);
    for encryption in [P12Encryption::Modern, P12Encryption::Legacy] {
        let base = p12(MAC, ENC, encryption);
        for bomb in [30_000_000u64, (1 << 31) - 1] {
            for marker in [MAC, ENC] {
                let der = patch_der_integers(&base, u64::from(marker), bomb);
                let started = Instant::now();
                let res = upload(&app, &der).await;
                let took = started.elapsed();
                let body = assert_error(res, 400, 21123).await;
                assert!(
                    took < Duration::from_millis(100),
                    "{bomb} iterations at {marker}: {took:?}"
                );
                assert!(
                    body["message"].as_str().unwrap().contains("1000000"),
                    "{body}"
                );
            }
        }
    }
}

#[tokio::test]
async fn p12_with_real_iteration_counts_is_accepted() {
    let app = spawn_app(Backend::Sqlite).await;
    for iterations in [2_048, 100_000] {
        let res = upload(&app, &p12(iterations, iterations, P12Encryption::Modern)).await;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 201, "{iterations}: {body}");
    }
}

#[tokio::test]
async fn concurrent_validations_are_bounded_with_retry_after() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.max_concurrent_credential_validations = 1;
        c.credential_validation_wait_ms = 20;
    })
    .await;
    // At the bound: accepted by the check, then OpenSSL spends a 1M-iteration MAC (~0.1 s)
    // and finds it wrong (the count was patched after the MAC was made).
    let slow = patch_der_integers(&p12(MAC, ENC, P12Encryption::Modern), MAC.into(), 1_000_000);
    let responses = futures_util::future::join_all((0..4).map(|_| upload(&app, &slow))).await;
    let (mut busy, mut validated) = (0, 0);
    for res in responses {
        match res.status().as_u16() {
            503 => {
                let retry = res.headers()["retry-after"].to_str().unwrap().to_owned();
                assert_eq!(retry, "1");
                assert_error(res, 503, 21148).await;
                busy += 1;
            }
            _ => {
                assert_error(res, 400, 21121).await;
                validated += 1;
            }
        }
    }
    assert!(
        busy >= 1 && validated >= 1,
        "busy {busy}, validated {validated}"
    );
}
