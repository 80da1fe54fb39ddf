//! Tests of [`validate`](super::validate) against [`devcerts`](super::devcerts) material
//! and against files made by `certs/make-test-certs.sh`.
//!
//! Split by input kind: `certificates` (PEM), `p12`, `token` (.p8), `generated` (devcerts
//! output checked by OpenSSL's own verifier), `hostile` (malformed input must fail
//! cleanly), `script` (the OpenSSL command-line script).

mod certificates;
mod fcm;
mod generated;
mod hostile;
mod p12;
mod p12_bomb;
mod script;
mod token;

use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};

use super::devcerts::{self, AppleEnvironment, DevCert, KeyKind, LeafOptions, VoipPair};
use super::{CredentialError, CredentialInput, ValidatedCredential, validate};

/// Fixed validation time for devcerts-based tests (2025-06-15).
pub(super) const NOW: i64 = 1_750_000_000;
pub(super) const BUNDLE: &str = "com.example.app";
pub(super) const DAY: i64 = 86_400;

/// One CA (with a VoIP leaf) shared by all tests (generation is not free).
fn pair() -> &'static VoipPair {
    static PAIR: OnceLock<VoipPair> = OnceLock::new();
    PAIR.get_or_init(|| {
        VoipPair::issue_with(&voip_opts(AppleEnvironment::Universal), NOW).expect("CA")
    })
}

/// The shared CA.
pub(super) fn ca() -> &'static DevCert {
    &pair().ca
}

/// A VoIP Services leaf with an EC key (fast) and the given environment.
pub(super) fn voip_opts(env: AppleEnvironment) -> LeafOptions {
    VoipPair::voip(BUNDLE, NOW).with_environment(env)
}

/// A leaf as `opts` describe, signed by the shared CA.
pub(super) fn issue(opts: &LeafOptions) -> DevCert {
    pair().sibling(opts).expect("leaf")
}

pub(super) fn pem_input(certificate: String, key: SecretString) -> CredentialInput {
    CredentialInput::CertificatePem {
        certificate,
        private_key: key,
    }
}

/// PEM input of `leaf` with its PKCS#8 key.
pub(super) fn leaf_input(leaf: &DevCert) -> CredentialInput {
    pem_input(leaf.cert_pem().unwrap(), leaf.key_pkcs8_pem().unwrap())
}

pub(super) fn ok(input: CredentialInput, sandbox: bool) -> ValidatedCredential {
    match validate(input, sandbox, NOW) {
        Ok(v) => v,
        Err(e) => panic!("expected Ok, got {} {e:?}", e.code()),
    }
}

pub(super) fn err(input: CredentialInput, sandbox: bool) -> CredentialError {
    match validate(input, sandbox, NOW) {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

/// Certificate-credential secret parts.
pub(super) fn cert_material(v: &ValidatedCredential) -> (&str, &str) {
    match &v.material {
        super::SecretMaterial::Certificate {
            cert_chain_pem,
            private_key_pem,
        } => (cert_chain_pem, private_key_pem.expose_secret()),
        other => panic!("not a certificate: {other:?}"),
    }
}

/// Asserts the Debug output of `value` leaks nothing secret.
pub(super) fn assert_redacted(value: &impl std::fmt::Debug, secrets: &[&str]) {
    let dbg = format!("{value:?}");
    let alt = format!("{value:#?}");
    for text in [&dbg, &alt] {
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        for secret in secrets {
            assert!(!text.contains(secret), "Debug leaked a secret: {text}");
        }
    }
}

/// Lowercase hex SHA-256 of the leaf certificate.
pub(super) fn cert_fingerprint(leaf: &DevCert) -> String {
    let digest = leaf
        .cert
        .digest(openssl::hash::MessageDigest::sha256())
        .unwrap();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
