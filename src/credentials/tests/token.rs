//! `.p8` token credentials: key type, curve, ids, bundle id.

use openssl::pkey::PKey;
use openssl::symm::Cipher;
use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::credentials::{CredentialKind, Environments};

const KEY_ID: &str = "ABC123DEFG";
const TEAM_ID: &str = "TEAM123456";

fn token(p8: SecretString, key_id: &str, team_id: &str, bundle: &str) -> CredentialInput {
    CredentialInput::TokenKey {
        p8_pem: p8,
        key_id: key_id.into(),
        team_id: team_id.into(),
        bundle_id: bundle.into(),
    }
}

fn token_ok(p8: SecretString) -> CredentialInput {
    token(p8, KEY_ID, TEAM_ID, BUNDLE)
}

#[test]
fn p8_is_accepted() {
    let p8 = devcerts::generate_p8().unwrap();
    assert!(
        p8.expose_secret()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    let key = PKey::private_key_from_pem(p8.expose_secret().as_bytes()).unwrap();
    let v = ok(token_ok(p8.clone()), true);
    assert_eq!(v.kind, CredentialKind::Token);
    assert_eq!(v.bundle_id, BUNDLE);
    assert_eq!(v.voip_topic, "com.example.app.voip");
    assert_eq!(v.topics, [BUNDLE, "com.example.app.voip"]);
    assert_eq!(v.environments, Environments::BOTH);
    assert_eq!((v.not_before, v.not_after), (None, None));
    assert_eq!(v.key_id.as_deref(), Some(KEY_ID));
    assert_eq!(v.team_id.as_deref(), Some(TEAM_ID));
    assert!(v.warnings.is_empty());
    let digest = openssl::sha::sha256(&key.public_key_to_der().unwrap());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v.fingerprint, hex);
    match &v.material {
        crate::credentials::SecretMaterial::Token { p8_pem } => {
            assert_eq!(p8_pem.expose_secret(), p8.expose_secret());
        }
        other => panic!("{other:?}"),
    }
    // Production flag makes no difference for tokens.
    assert_eq!(ok(token_ok(p8), false).environments, Environments::BOTH);
}

#[test]
fn voip_suffix_on_bundle_is_stripped() {
    let p8 = devcerts::generate_p8().unwrap();
    let v = ok(token(p8, KEY_ID, TEAM_ID, "com.example.app.voip"), true);
    assert_eq!(v.bundle_id, BUNDLE);
    assert_eq!(v.voip_topic, "com.example.app.voip");
}

#[test]
fn sec1_p256_is_accepted_with_warning() {
    let key = devcerts::generate_key(KeyKind::EcP256).unwrap();
    let v = ok(token_ok(devcerts::traditional_pem(&key).unwrap()), true);
    assert_eq!(v.warnings.len(), 1);
}

#[test]
fn wrong_key_types_are_rejected() {
    let p384 = devcerts::generate_key(KeyKind::EcP384).unwrap();
    let e = err(token_ok(devcerts::pkcs8_pem(&p384).unwrap()), true);
    assert_eq!(e, CredentialError::TokenKeyWrongCurve);
    assert_eq!(e.code(), 21132);

    let rsa = devcerts::generate_key(KeyKind::Rsa2048).unwrap();
    let rsa_not_ec = CredentialError::TokenKeyNotEc { found: "RSA" };
    assert_eq!(
        err(token_ok(devcerts::pkcs8_pem(&rsa).unwrap()), true),
        rsa_not_ec
    );
    let pkcs1 = devcerts::traditional_pem(&rsa).unwrap();
    assert!(pkcs1.expose_secret().contains("BEGIN RSA PRIVATE KEY"));
    assert_eq!(err(token_ok(pkcs1), true), rsa_not_ec);

    let ed = PKey::generate_ed25519().unwrap();
    assert_eq!(
        err(token_ok(devcerts::pkcs8_pem(&ed).unwrap()), true),
        CredentialError::TokenKeyNotEc { found: "Ed25519" }
    );
}

#[test]
fn unreadable_keys_are_rejected() {
    let key = devcerts::generate_key(KeyKind::EcP256).unwrap();
    let enc = key
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"pw")
        .unwrap();
    let enc = SecretString::from(String::from_utf8(enc).unwrap());
    assert_eq!(
        err(token_ok(enc), true),
        CredentialError::EncryptedPrivateKey
    );

    for garbage in [
        "",
        "garbage",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49",
    ] {
        assert_eq!(
            err(token_ok(SecretString::from(garbage)), true),
            CredentialError::TokenKeyParse
        );
    }

    let two = format!(
        "{}{}",
        devcerts::generate_p8().unwrap().expose_secret(),
        devcerts::generate_p8().unwrap().expose_secret()
    );
    assert_eq!(
        err(token_ok(SecretString::from(two)), true),
        CredentialError::MultiplePrivateKeys
    );
}

#[test]
fn bad_ids_are_rejected() {
    let p8 = || devcerts::generate_p8().unwrap();
    for bad in [
        "",
        "abc123defg",
        "ABC123DEF",
        "ABC123DEFGH",
        "ABC 23DEFG",
        "ABC123DEF_",
    ] {
        assert_eq!(
            err(token(p8(), bad, TEAM_ID, BUNDLE), true),
            CredentialError::InvalidKeyId
        );
        assert_eq!(
            err(token(p8(), KEY_ID, bad, BUNDLE), true),
            CredentialError::InvalidTeamId
        );
    }
    let long = "a".repeat(156);
    for bad in ["", "com.example app", "com/example", ".voip", long.as_str()] {
        assert_eq!(
            err(token(p8(), KEY_ID, TEAM_ID, bad), true),
            CredentialError::InvalidBundleId,
            "{bad:?}"
        );
    }
}

#[test]
fn token_debug_is_redacted() {
    let p8 = devcerts::generate_p8().unwrap();
    let body = p8.expose_secret().lines().nth(1).unwrap().to_owned();
    let input = token_ok(p8);
    assert_redacted(&input, &[&body]);
    assert_redacted(&ok(input, true), &[&body]);
}
