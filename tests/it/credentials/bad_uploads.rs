//! A specific 400 for every bad credential upload.

use pushgate::clock::now_secs;
use pushgate::credentials::devcerts::{
    self, AppleEnvironment, KeyKind, LeafOptions, P12Encryption,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::support::{P12_PASSWORD, b64, created, leaf, pem_body, post_json, voip};
use crate::helpers::{Backend, spawn_app, store_tests};

async fn bad_uploads_get_their_own_400(b: Backend) {
    let app = spawn_app(b).await;
    let now = now_secs();
    let good = leaf(voip("com.example.app"));
    let other = leaf(voip("com.example.app"));
    let p12 = good
        .to_p12(&[], P12_PASSWORD, P12Encryption::Modern)
        .unwrap();
    let cert_with = |opts: LeafOptions, sandbox: bool| pem_body(&leaf(opts), sandbox);
    let p8 = |pem: String, key_id: &str, team_id: &str| {
        json!({"type": "apn_token", "p8": pem, "key_id": key_id, "team_id": team_id,
               "bundle_id": "com.example.app"})
    };
    let p384 = devcerts::pkcs8_pem(&devcerts::generate_key(KeyKind::EcP384).unwrap()).unwrap();
    let rsa = devcerts::pkcs8_pem(&devcerts::generate_key(KeyKind::Rsa2048).unwrap()).unwrap();
    let good_p8 = devcerts::generate_p8().unwrap().expose_secret().to_owned();
    let good_key = good.key_pkcs8_pem().unwrap();
    let secret_line = good_key.expose_secret().lines().nth(1).unwrap().to_owned();
    let mut mismatched = pem_body(&good, false);
    mismatched["private_key"] = json!(other.key_pkcs8_pem().unwrap().expose_secret());
    let cases: Vec<(&str, Value, u64)> = vec![
        (
            "garbage certificate",
            json!({"certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "private_key": good.key_pkcs8_pem().unwrap().expose_secret()}),
            21100,
        ),
        (
            "garbage key",
            json!({"certificate": good.cert_pem().unwrap(), "private_key": "not a key"}),
            21101,
        ),
        ("key of another certificate", mismatched, 21107),
        (
            "expired",
            cert_with(
                LeafOptions {
                    not_before: now - 400 * 86_400,
                    not_after: now - 86_400,
                    ..voip("com.example.app")
                },
                false,
            ),
            21108,
        ),
        (
            "not yet valid",
            cert_with(
                LeafOptions {
                    not_before: now + 86_400,
                    not_after: now + 400 * 86_400,
                    ..voip("com.example.app")
                },
                false,
            ),
            21109,
        ),
        (
            "production-only cert marked sandbox",
            cert_with(
                LeafOptions {
                    environment: AppleEnvironment::Production,
                    ..LeafOptions::apple_push("com.example.app", now)
                },
                true,
            ),
            21112,
        ),
        (
            "development-only cert marked production",
            cert_with(
                LeafOptions {
                    environment: AppleEnvironment::Development,
                    ..LeafOptions::apple_push("com.example.app", now)
                },
                false,
            ),
            21113,
        ),
        (
            "garbage p12",
            json!({"p12": b64(b"definitely not pkcs12"), "password": "x"}),
            21120,
        ),
        (
            "wrong p12 password",
            json!({"p12": b64(&p12), "password": "wrong"}),
            21121,
        ),
        (
            "RSA .p8",
            p8(rsa.expose_secret().to_owned(), "ABC123DEFG", "TEAM123456"),
            21131,
        ),
        (
            "P-384 .p8",
            p8(p384.expose_secret().to_owned(), "ABC123DEFG", "TEAM123456"),
            21132,
        ),
        (
            "bad key id",
            p8(good_p8.clone(), "abc", "TEAM123456"),
            21133,
        ),
        (
            "bad team id",
            p8(good_p8.clone(), "ABC123DEFG", "team-12345"),
            21134,
        ),
        (
            "certificate without key",
            json!({"certificate": good.cert_pem().unwrap()}),
            20001,
        ),
        ("no key material", json!({"friendly_name": "x"}), 20001),
        (
            "two kinds of material",
            json!({"p12": b64(&p12), "p8": good_p8}),
            20001,
        ),
        (
            "type contradicts material",
            json!({"type": "apn_token", "p12": b64(&p12)}),
            20001,
        ),
        (
            "unknown type",
            json!({"type": "fcm", "p12": b64(&p12)}),
            20001,
        ),
        ("unknown field", json!({"certifcate": "typo"}), 20001),
        (
            "sandbox not a boolean",
            json!({"p12": b64(&p12), "password": P12_PASSWORD, "sandbox": "maybe"}),
            20001,
        ),
        (
            "name too long",
            json!({"p12": b64(&p12), "password": P12_PASSWORD, "friendly_name": "x".repeat(65)}),
            20001,
        ),
    ];
    for (what, body, code) in cases {
        let res = post_json(&app, "/v1/credentials", &body).await;
        let status = res.status().as_u16();
        let error: Value = res.json().await.unwrap();
        assert_eq!(
            (status, error["code"].as_u64()),
            (400, Some(code)),
            "{what}: {error}"
        );
        assert!(
            !error.to_string().contains(&secret_line),
            "{what} echoes key material"
        );
    }
    let (_, list) = app.get_json("/v1/credentials").await;
    assert_eq!(
        list["credentials"].as_array().unwrap().len(),
        1,
        "nothing written"
    );

    // A self-made certificate without Apple's OIDs is accepted with a warning.
    let unmarked = cert_with(
        LeafOptions {
            environment: AppleEnvironment::Unmarked,
            ..voip("com.example.app")
        },
        false,
    );
    let c = created(post_json(&app, "/v1/credentials", &unmarked).await, &[]).await;
    assert!(!c["warnings"].as_array().unwrap().is_empty(), "{c}");
}

store_tests!(bad_uploads_get_their_own_400,);
