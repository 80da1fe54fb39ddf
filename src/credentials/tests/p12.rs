//! `.p12` credentials: modern and legacy encryption, passwords, damaged files.

use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::credentials::der;
use crate::credentials::devcerts::P12Encryption;
use crate::credentials::legacy_provider_available;

const PASSWORD: &str = "correct horse battery";

fn p12_input(der: Vec<u8>, password: &str) -> CredentialInput {
    CredentialInput::P12 {
        der,
        password: SecretString::from(password),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// pbeWithSHA1And40BitRC2-CBC, pbeWithSHA1And3-KeyTripleDES-CBC, PBES2, aes256-CBC.
fn oid(arcs: &[u64]) -> Vec<u8> {
    der::oid_content(arcs)
}

#[test]
fn modern_p12_parses_and_normalizes() {
    let leaf = issue(&LeafOptions::voip(BUNDLE, NOW));
    let file = leaf
        .to_p12(&[&ca().cert], PASSWORD, P12Encryption::Modern)
        .unwrap();
    assert!(
        contains(&file, &oid(&[1, 2, 840, 113_549, 1, 5, 13])),
        "PBES2"
    );
    assert!(
        contains(&file, &oid(&[2, 16, 840, 1, 101, 3, 4, 1, 42])),
        "AES-256-CBC"
    );
    let v = ok(p12_input(file, PASSWORD), true);
    assert_eq!(v.bundle_id, BUNDLE);
    assert_eq!(v.fingerprint, cert_fingerprint(&leaf));
    let (chain, key) = cert_material(&v);
    assert_eq!(
        chain,
        format!("{}{}", leaf.cert_pem().unwrap(), ca().cert_pem().unwrap())
    );
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(key, leaf.key_pkcs8_pem().unwrap().expose_secret());
}

#[test]
fn legacy_p12_parses() {
    assert!(
        legacy_provider_available(),
        "OpenSSL legacy provider must load"
    );
    let leaf = issue(&LeafOptions::voip(BUNDLE, NOW));
    let file = leaf.to_p12(&[], PASSWORD, P12Encryption::Legacy).unwrap();
    assert!(
        contains(&file, &oid(&[1, 2, 840, 113_549, 1, 12, 1, 6])),
        "RC2-40"
    );
    assert!(
        contains(&file, &oid(&[1, 2, 840, 113_549, 1, 12, 1, 3])),
        "3DES"
    );
    let v = ok(p12_input(file, PASSWORD), false);
    assert_eq!(v.fingerprint, cert_fingerprint(&leaf));
    assert_eq!(cert_material(&v).0, leaf.cert_pem().unwrap());
}

#[test]
fn wrong_password_is_distinct() {
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    for encryption in [P12Encryption::Modern, P12Encryption::Legacy] {
        let file = leaf.to_p12(&[], PASSWORD, encryption).unwrap();
        let e = err(p12_input(file.clone(), "wrong"), true);
        assert_eq!(e, CredentialError::P12WrongPassword, "{encryption:?}");
        assert_eq!(e.code(), 21121);
        assert!(!e.message().contains("wrong\""));
        let e = err(p12_input(file.clone(), ""), true);
        assert_eq!(e, CredentialError::P12WrongPassword);
        let e = err(p12_input(file, "nul\0byte"), true);
        assert_eq!(e, CredentialError::P12WrongPassword);
    }
}

#[test]
fn empty_password_works() {
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    let file = leaf.to_p12(&[], "", P12Encryption::Modern).unwrap();
    ok(p12_input(file, ""), true);
}

#[test]
fn garbage_p12_is_malformed() {
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    let file = leaf.to_p12(&[], PASSWORD, P12Encryption::Modern).unwrap();
    for bad in [
        Vec::new(),
        b"definitely not a p12".to_vec(),
        file[..file.len() / 2].to_vec(),
        leaf.cert.to_der().unwrap(),
    ] {
        assert_eq!(
            err(p12_input(bad, PASSWORD), true),
            CredentialError::P12Malformed
        );
    }
}

#[test]
fn p12_runs_certificate_checks() {
    let expired = issue(&LeafOptions {
        not_before: NOW - 400 * DAY,
        not_after: NOW - DAY,
        ..voip_opts(AppleEnvironment::Universal)
    });
    let file = expired
        .to_p12(&[], PASSWORD, P12Encryption::Legacy)
        .unwrap();
    assert!(matches!(
        err(p12_input(file, PASSWORD), true),
        CredentialError::CertificateExpired { .. }
    ));

    let prod = issue(&voip_opts(AppleEnvironment::Production));
    let file = prod.to_p12(&[], PASSWORD, P12Encryption::Modern).unwrap();
    assert_eq!(
        err(p12_input(file, PASSWORD), true),
        CredentialError::CertificateNotForSandbox
    );
}

#[test]
fn p12_debug_is_redacted() {
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    let file = leaf.to_p12(&[], PASSWORD, P12Encryption::Modern).unwrap();
    let input = p12_input(file, PASSWORD);
    assert_redacted(&input, &[PASSWORD]);
    let v = ok(input, true);
    assert_redacted(&v, &[PASSWORD]);
}

/// Env var naming the legacy `.p12` the child process must fail to read.
const CHILD_P12_ENV: &str = "PUSHGATE_TEST_LEGACY_P12";

/// Without the legacy provider, an RC2-40 `.p12` is reported as unsupported encryption
/// (not as a wrong password or damaged file). Runs the check in a child process with
/// `OPENSSL_MODULES` pointing nowhere, since a loaded provider cannot be unloaded here.
#[test]
fn legacy_p12_without_provider_is_unsupported() {
    if let Some(path) = std::env::var_os(CHILD_P12_ENV) {
        let file = std::fs::read(path).unwrap();
        assert!(!legacy_provider_available());
        assert_eq!(
            err(p12_input(file, PASSWORD), true),
            CredentialError::P12UnsupportedEncryption
        );
        return;
    }
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    let file = leaf.to_p12(&[], PASSWORD, P12Encryption::Legacy).unwrap();
    let dir = std::env::temp_dir().join(format!("pushgate-p12-child-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("legacy.p12");
    std::fs::write(&path, file).unwrap();
    // libtest names omit the crate name that module_path! starts with.
    let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
    let test_name = format!("{module}::legacy_p12_without_provider_is_unsupported");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test_name, "--test-threads=1"])
        .env(CHILD_P12_ENV, &path)
        .env("OPENSSL_MODULES", dir.join("no-modules-here"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout}");
    assert!(stdout.contains("1 passed"), "child ran no test: {stdout}");
}
