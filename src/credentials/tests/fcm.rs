//! FCM service accounts: what is accepted, and each refusal with its code.

use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::super::devcerts::{self, KeyKind};
use super::super::{
    CredentialError, CredentialInput, CredentialKind, SecretMaterial, ServiceAccountError,
    ValidateOptions, validate_with,
};
use super::NOW;

const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// One generated service account (RSA generation is not free).
fn account() -> &'static Value {
    static ACCOUNT: OnceLock<Value> = OnceLock::new();
    ACCOUNT.get_or_init(|| {
        let json = devcerts::service_account_json("pushgate-test", TOKEN_URI).unwrap();
        serde_json::from_str(json.expose_secret()).unwrap()
    })
}

fn check(json: &str) -> Result<super::super::ValidatedCredential, CredentialError> {
    let input = CredentialInput::ServiceAccount {
        json: SecretString::from(json.to_owned()),
    };
    validate_with(input, &ValidateOptions::new(false, NOW))
}

fn with(field: &str, value: Value) -> String {
    let mut v = account().clone();
    v[field] = value;
    v.to_string()
}

fn refused(json: &str) -> ServiceAccountError {
    match check(json) {
        Err(CredentialError::ServiceAccount(e)) => e,
        other => panic!("expected a service-account error, got {other:?}"),
    }
}

#[test]
fn a_firebase_file_is_accepted_and_its_key_normalized() {
    let v = check(&account().to_string()).unwrap();
    assert_eq!(v.kind, CredentialKind::ServiceAccount);
    let fcm = v.fcm.as_ref().unwrap();
    assert_eq!(fcm.project_id, "pushgate-test");
    assert!(
        fcm.client_email
            .ends_with("@pushgate-test.iam.gserviceaccount.com")
    );
    assert_eq!(fcm.token_uri, TOKEN_URI);
    assert_eq!(v.key_id.as_deref(), account()["private_key_id"].as_str());
    assert_eq!(v.fingerprint.len(), 64);
    match &v.material {
        SecretMaterial::ServiceAccount { private_key_pem } => {
            assert!(
                private_key_pem
                    .expose_secret()
                    .starts_with("-----BEGIN PRIVATE KEY-----")
            );
        }
        other => panic!("{other:?}"),
    }
    // Debug never shows the key.
    assert!(!format!("{v:?}").contains("PRIVATE KEY"));
}

#[test]
fn a_pkcs1_rsa_key_is_accepted_too() {
    let key = devcerts::generate_key(KeyKind::Rsa2048).unwrap();
    let pem = devcerts::traditional_pem(&key).unwrap();
    assert!(check(&with("private_key", json!(pem.expose_secret()))).is_ok());
}

#[test]
fn each_refusal_has_its_code() {
    let cases: Vec<(String, u16)> = vec![
        ("not json".into(), 21136),
        ("[1,2]".into(), 21136),
        (with("type", json!("authorized_user")), 21137),
        (with("type", Value::Null), 21137),
        (with("project_id", json!("")), 21138),
        (with("client_email", json!(42)), 21138),
        (with("project_id", json!("Bad_Project")), 21139),
        (with("client_email", json!("alice@gmail.com")), 21140),
        (with("private_key_id", json!("abc")), 21141),
        (
            with(
                "private_key",
                json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            ),
            21142,
        ),
        (
            with("token_uri", json!("http://oauth2.googleapis.com/token")),
            21145,
        ),
        (
            with("token_uri", json!("https://evil.example/token")),
            21146,
        ),
    ];
    for (json, code) in cases {
        let e = refused(&json);
        assert_eq!(e.code(), code, "{e}");
        let as_credential = CredentialError::from(e.clone());
        assert_eq!(as_credential.code(), code);
        // Messages never carry the key.
        let key = account()["private_key"].as_str().unwrap();
        assert!(!as_credential.message().contains(&key[40..80]));
    }
}

#[test]
fn keys_that_are_not_rsa_2048_are_refused() {
    let ec = devcerts::pkcs8_pem(&devcerts::generate_key(KeyKind::EcP256).unwrap()).unwrap();
    assert_eq!(
        refused(&with("private_key", json!(ec.expose_secret()))),
        ServiceAccountError::KeyNotRsa { found: "EC" }
    );
    let small = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(1024).unwrap()).unwrap();
    let small = devcerts::pkcs8_pem(&small).unwrap();
    assert_eq!(
        refused(&with("private_key", json!(small.expose_secret()))),
        ServiceAccountError::KeyTooSmall { bits: 1024 }
    );
}

#[test]
fn the_token_host_allow_list_is_the_options() {
    let local = with("token_uri", json!("https://127.0.0.1:9443/token"));
    assert_eq!(refused(&local).code(), 21146);
    let opts = ValidateOptions {
        fcm_token_hosts: vec!["127.0.0.1".into()],
        ..ValidateOptions::new(false, NOW)
    };
    let input = CredentialInput::ServiceAccount {
        json: SecretString::from(local),
    };
    assert!(validate_with(input, &opts).is_ok());
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let huge = format!("{{\"x\":\"{}\"}}", "a".repeat(300 * 1024));
    assert_eq!(check(&huge).unwrap_err().code(), 21115);
}
