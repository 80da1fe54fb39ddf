//! Runs `certs/make-test-certs.sh` (the openssl command-line twin of `devcerts`) into a
//! temporary directory and validates every file it produces. Fails, rather than
//! skipping, when `bash` or `openssl` is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::credentials::{CredentialKind, Environments};

/// Removes the directory when dropped, also on assertion failure.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn pem(dir: &Path, cert: &str, key: &str) -> CredentialInput {
    pem_input(read(dir, cert), SecretString::from(read(dir, key)))
}

fn p12(dir: &Path, name: &str, password: &str) -> CredentialInput {
    CredentialInput::P12 {
        der: std::fs::read(dir.join(name)).unwrap(),
        password: SecretString::from(password),
    }
}

fn p8(dir: &Path, name: &str) -> CredentialInput {
    CredentialInput::TokenKey {
        p8_pem: SecretString::from(read(dir, name)),
        key_id: "ABC123DEFG".into(),
        team_id: "TEAM123456".into(),
        bundle_id: BUNDLE.into(),
    }
}

#[test]
fn script_outputs_validate() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let tmp = TempDir(
        std::env::temp_dir().join(format!("pushgate-certs-{}-{nanos}", std::process::id())),
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/make-test-certs.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(&tmp.0)
        .output()
        .expect("bash must be installed");
    assert!(
        output.status.success(),
        "script failed (is the openssl CLI installed?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = tmp.0.as_path();
    // After the script ran: its certificates start "now" (the openssl CLI default).
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let check = |input, sandbox| validate(input, sandbox, now);

    // Development-only VoIP certificate, EC PKCS#8 key.
    let v = check(pem(dir, "voip-dev.pem", "voip-dev.key"), true).unwrap();
    assert_eq!(v.bundle_id, BUNDLE);
    assert_eq!(v.voip_topic, "com.example.app.voip");
    assert_eq!(
        v.environments,
        Environments {
            development: true,
            production: false
        }
    );
    assert_eq!(
        check(pem(dir, "voip-dev.pem", "voip-dev.key"), false).unwrap_err(),
        CredentialError::CertificateNotForProduction
    );

    // Production-only, RSA PKCS#8 key.
    let v = check(pem(dir, "voip-prod.pem", "voip-prod.key"), false).unwrap();
    assert!(v.environments.production && !v.environments.development);
    assert_eq!(
        check(pem(dir, "voip-prod.pem", "voip-prod.key"), true).unwrap_err(),
        CredentialError::CertificateNotForSandbox
    );

    // Universal with topic list, PKCS#1 RSA key; key field also carrying the chain.
    let key_and_chain = format!("{}{}", read(dir, "voip-universal.key"), read(dir, "ca.pem"));
    let v = check(
        pem_input(
            read(dir, "voip-universal.pem"),
            SecretString::from(key_and_chain),
        ),
        false,
    )
    .unwrap();
    assert_eq!(v.environments, Environments::BOTH);
    assert_eq!(v.topics, [BUNDLE, "com.example.app.voip"]);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    let (chain, key) = cert_material(&v);
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
    assert!(chain.starts_with(&read(dir, "voip-universal.pem")));
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    let universal_fingerprint = v.fingerprint.clone();

    // No Apple OIDs: accepted with a warning.
    let v = check(pem(dir, "self-made.pem", "self-made.key"), true).unwrap();
    assert_eq!(v.voip_topic, "com.example.app.voip");
    assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
    assert!(v.warnings[0].contains("self-made"));

    // Validity and key mismatch.
    assert!(matches!(
        check(pem(dir, "expired.pem", "expired.key"), true),
        Err(CredentialError::CertificateExpired { .. })
    ));
    assert!(matches!(
        check(pem(dir, "not-yet-valid.pem", "not-yet-valid.key"), true),
        Err(CredentialError::CertificateNotYetValid { .. })
    ));
    assert_eq!(
        check(pem(dir, "voip-universal.pem", "mismatched.key"), true).unwrap_err(),
        CredentialError::KeyMismatch
    );

    // .p12: modern, legacy spelled out, legacy via -legacy; wrong password.
    for name in ["modern.p12", "legacy.p12", "legacy-flag.p12"] {
        let v = check(p12(dir, name, "pushgate"), true).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.fingerprint, universal_fingerprint, "{name}");
        assert_eq!(
            check(p12(dir, name, "not-the-password"), true).unwrap_err(),
            CredentialError::P12WrongPassword,
            "{name}"
        );
    }

    // Token keys.
    let v = check(p8(dir, "AuthKey_ABC123DEFG.p8"), true).unwrap();
    assert_eq!(v.kind, CredentialKind::Token);
    match &v.material {
        crate::credentials::SecretMaterial::Token { p8_pem } => {
            assert_eq!(p8_pem.expose_secret(), read(dir, "AuthKey_ABC123DEFG.p8"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        check(p8(dir, "p384.p8"), true).unwrap_err(),
        CredentialError::TokenKeyWrongCurve
    );
    assert_eq!(
        check(p8(dir, "rsa.p8"), true).unwrap_err(),
        CredentialError::TokenKeyNotEc { found: "RSA" }
    );
}
