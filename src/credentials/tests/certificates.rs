//! PEM certificate credentials: key formats, chains, environments, topics, validity.

use openssl::pkey::PKey;
use openssl::symm::Cipher;
use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::credentials::{
    CredentialKind, DEFAULT_EXPIRY_WARNING_SECS, Environments, ValidateOptions, validate_with,
};

const DEV_ONLY: Environments = Environments {
    development: true,
    production: false,
};
const PROD_ONLY: Environments = Environments {
    development: false,
    production: true,
};

#[test]
fn pem_certificate_with_pkcs1_rsa_key() {
    let leaf = issue(&LeafOptions::voip(BUNDLE, NOW)); // RSA 2048
    let key = leaf.key_traditional_pem().unwrap();
    assert!(key.expose_secret().contains("BEGIN RSA PRIVATE KEY"));
    let v = ok(pem_input(leaf.cert_pem().unwrap(), key), true);
    assert_eq!(v.kind, CredentialKind::Certificate);
    assert_eq!(v.bundle_id, BUNDLE);
    assert_eq!(v.voip_topic, "com.example.app.voip");
    assert_eq!(v.environments, Environments::BOTH);
    assert_eq!(v.fingerprint, cert_fingerprint(&leaf));
    assert_eq!(v.fingerprint.len(), 64);
    assert_eq!(v.key_id, None);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    let (chain, key) = cert_material(&v);
    assert_eq!(chain, leaf.cert_pem().unwrap());
    // Normalized to PKCS#8 and still the same key.
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    let parsed = PKey::private_key_from_pem(key.as_bytes()).unwrap();
    assert!(parsed.public_eq(&leaf.key));
}

#[test]
fn pem_certificate_with_pkcs8_and_sec1_ec_keys() {
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    let v = ok(leaf_input(&leaf), false);
    assert_eq!(v.not_before, Some(NOW - DAY));
    assert_eq!(v.not_after, Some(NOW + 365 * DAY));
    let sec1 = leaf.key_traditional_pem().unwrap();
    assert!(sec1.expose_secret().contains("BEGIN EC PRIVATE KEY"));
    let v2 = ok(pem_input(leaf.cert_pem().unwrap(), sec1), false);
    assert_eq!(cert_material(&v2).1, cert_material(&v).1);
}

#[test]
fn key_pem_containing_the_chain_and_any_order() {
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    let ca_pem = ca().cert_pem().unwrap();
    let leaf_pem = leaf.cert_pem().unwrap();
    // Key field: key + leaf + CA; certificate field: CA before leaf (wrong order).
    let key = format!(
        "{}{leaf_pem}{ca_pem}",
        leaf.key_pkcs8_pem().unwrap().expose_secret()
    );
    let v = ok(
        pem_input(format!("{ca_pem}\n{leaf_pem}"), SecretString::from(key)),
        true,
    );
    let (chain, _) = cert_material(&v);
    assert_eq!(
        chain,
        format!("{leaf_pem}{ca_pem}"),
        "leaf first, deduplicated"
    );
    assert_eq!(v.fingerprint, cert_fingerprint(&leaf));

    // Everything pasted into the certificate field, key field empty.
    let all = format!(
        "{leaf_pem}{}",
        leaf.key_pkcs8_pem().unwrap().expose_secret()
    );
    ok(pem_input(all, SecretString::from("")), true);
}

#[test]
fn environments_against_sandbox_flag() {
    let dev = leaf_input(&issue(&voip_opts(AppleEnvironment::Development)));
    assert_eq!(ok(dev, true).environments, DEV_ONLY);
    let dev = leaf_input(&issue(&voip_opts(AppleEnvironment::Development)));
    assert_eq!(
        err(dev, false),
        CredentialError::CertificateNotForProduction
    );

    let prod = issue(&voip_opts(AppleEnvironment::Production));
    assert_eq!(ok(leaf_input(&prod), false).environments, PROD_ONLY);
    let e = err(leaf_input(&prod), true);
    assert_eq!(e, CredentialError::CertificateNotForSandbox);
    assert_eq!(e.code(), 21112);

    let universal = issue(&voip_opts(AppleEnvironment::Universal));
    for sandbox in [true, false] {
        let v = ok(leaf_input(&universal), sandbox);
        assert!(v.environments.is_universal());
        assert!(v.warnings.is_empty());
    }
}

#[test]
fn unmarked_certificates() {
    // Self-made: no environment OIDs, not VoIP Services → accepted with a warning, for
    // the declared environment only.
    let opts = LeafOptions {
        common_name: "pushgate self-made test".into(),
        ..voip_opts(AppleEnvironment::Unmarked)
    };
    let leaf = issue(&opts);
    let v = ok(leaf_input(&leaf), true);
    assert_eq!(v.environments, DEV_ONLY);
    assert!(v.warnings.iter().any(|w| w.contains("self-made")), "{v:?}");
    let v = ok(leaf_input(&leaf), false);
    assert_eq!(v.environments, PROD_ONLY);
    assert_eq!(v.warnings.len(), 1);

    // VoIP Services certificates work in both environments even without the OIDs, and
    // are still flagged as self-made.
    let voip = issue(&voip_opts(AppleEnvironment::Unmarked));
    for sandbox in [true, false] {
        let v = ok(leaf_input(&voip), sandbox);
        assert_eq!(v.environments, Environments::BOTH);
        assert!(
            v.warnings.iter().any(|w| w.contains("self-made")),
            "{:?}",
            v.warnings
        );
    }
}

#[test]
fn voip_uid_with_and_without_suffix() {
    let with = ok(
        leaf_input(&issue(&voip_opts(AppleEnvironment::Universal))),
        true,
    );
    assert_eq!(with.bundle_id, BUNDLE);
    assert_eq!(with.voip_topic, "com.example.app.voip");
    assert_eq!(with.topics, ["com.example.app.voip"]);

    let opts = LeafOptions {
        uid: BUNDLE.into(),
        ..voip_opts(AppleEnvironment::Universal)
    };
    let without = ok(leaf_input(&issue(&opts)), true);
    assert_eq!(without.bundle_id, BUNDLE);
    assert_eq!(without.voip_topic, "com.example.app.voip");
    assert_eq!(without.topics, ["com.example.app", "com.example.app.voip"]);
    assert!(without.warnings.is_empty());
}

#[test]
fn topics_extension_is_extracted() {
    let opts = LeafOptions {
        key: KeyKind::EcP256,
        topics: vec![
            BUNDLE.into(),
            "com.example.app.voip".into(),
            "com.example.app.watchkitapp.complication".into(),
        ],
        ..LeafOptions::apple_push(BUNDLE, NOW)
    };
    let v = ok(leaf_input(&issue(&opts)), false);
    assert_eq!(v.bundle_id, BUNDLE);
    assert_eq!(v.topics, opts.topics);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);

    // A topic list without the VoIP topic is accepted with a warning.
    let opts = LeafOptions {
        topics: vec![BUNDLE.into()],
        ..opts
    };
    let v = ok(leaf_input(&issue(&opts)), false);
    assert_eq!(v.topics, [BUNDLE]);
    assert!(v.warnings.iter().any(|w| w.contains("TopicDisallowed")));
}

#[test]
fn validity_window() {
    let expired = LeafOptions {
        not_before: NOW - 400 * DAY,
        not_after: NOW - DAY,
        ..voip_opts(AppleEnvironment::Universal)
    };
    let e = err(leaf_input(&issue(&expired)), true);
    assert_eq!(
        e,
        CredentialError::CertificateExpired {
            not_after: NOW - DAY
        }
    );
    assert_eq!(e.code(), 21108);
    assert!(e.message().contains("2025-06-14"), "{}", e.message());

    let future = LeafOptions {
        not_before: NOW + DAY,
        not_after: NOW + 400 * DAY,
        ..voip_opts(AppleEnvironment::Universal)
    };
    assert_eq!(
        err(leaf_input(&issue(&future)), true),
        CredentialError::CertificateNotYetValid {
            not_before: NOW + DAY
        }
    );
}

#[test]
fn expiry_warning_window() {
    let soon = issue(&LeafOptions {
        not_after: NOW + 10 * DAY,
        ..voip_opts(AppleEnvironment::Universal)
    });
    let v = ok(leaf_input(&soon), true);
    assert_eq!(v.warnings.len(), 1);
    assert!(v.warnings[0].contains("10 days left"), "{:?}", v.warnings);
    assert_eq!(DEFAULT_EXPIRY_WARNING_SECS, 30 * DAY);

    let narrow = ValidateOptions {
        expiry_warning_secs: 5 * DAY,
        ..ValidateOptions::new(true, NOW)
    };
    let v = validate_with(leaf_input(&soon), &narrow).unwrap();
    assert!(v.warnings.is_empty());
}

#[test]
fn key_problems() {
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    let other = issue(&voip_opts(AppleEnvironment::Universal));
    let mismatched = pem_input(leaf.cert_pem().unwrap(), other.key_pkcs8_pem().unwrap());
    assert_eq!(err(mismatched, true), CredentialError::KeyMismatch);

    let no_key = pem_input(leaf.cert_pem().unwrap(), SecretString::from(""));
    assert_eq!(err(no_key, true), CredentialError::NoPrivateKey);

    let no_cert = pem_input(String::new(), leaf.key_pkcs8_pem().unwrap());
    assert_eq!(err(no_cert, true), CredentialError::NoCertificate);

    let two = format!(
        "{}{}",
        leaf.key_pkcs8_pem().unwrap().expose_secret(),
        other.key_pkcs8_pem().unwrap().expose_secret()
    );
    let two = pem_input(leaf.cert_pem().unwrap(), SecretString::from(two));
    assert_eq!(err(two, true), CredentialError::MultiplePrivateKeys);

    let pkcs8_enc = leaf
        .key
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"hunter2")
        .unwrap();
    let enc = pem_input(
        leaf.cert_pem().unwrap(),
        SecretString::from(String::from_utf8(pkcs8_enc).unwrap()),
    );
    assert_eq!(err(enc, true), CredentialError::EncryptedPrivateKey);

    let rsa_leaf = issue(&LeafOptions::voip(BUNDLE, NOW));
    let pkcs1_enc = rsa_leaf
        .key
        .rsa()
        .unwrap()
        .private_key_to_pem_passphrase(Cipher::aes_128_cbc(), b"hunter2")
        .unwrap();
    let enc = pem_input(
        rsa_leaf.cert_pem().unwrap(),
        SecretString::from(String::from_utf8(pkcs1_enc).unwrap()),
    );
    assert_eq!(err(enc, true), CredentialError::EncryptedPrivateKey);

    let ed = PKey::generate_ed25519().unwrap();
    let ed_pem = devcerts::pkcs8_pem(&ed).unwrap();
    let ed = pem_input(leaf.cert_pem().unwrap(), ed_pem);
    assert_eq!(err(ed, true), CredentialError::UnsupportedKeyType);
}

#[test]
fn bundle_id_problems() {
    let no_uid = LeafOptions {
        uid: String::new(),
        ..voip_opts(AppleEnvironment::Universal)
    };
    assert_eq!(
        err(leaf_input(&issue(&no_uid)), true),
        CredentialError::MissingBundleId
    );
    let bad_uid = LeafOptions {
        uid: "com example app".into(),
        ..voip_opts(AppleEnvironment::Universal)
    };
    assert_eq!(
        err(leaf_input(&issue(&bad_uid)), true),
        CredentialError::InvalidBundleId
    );
}

#[test]
fn garbage_pem() {
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    let key = || leaf.key_pkcs8_pem().unwrap();
    let cert = || leaf.cert_pem().unwrap();
    let cases: Vec<(CredentialInput, CredentialError)> = vec![
        (
            pem_input("not a certificate".into(), key()),
            CredentialError::CertificateParse,
        ),
        (
            pem_input(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
                key(),
            ),
            CredentialError::CertificateParse,
        ),
        (
            pem_input(cert()[..cert().len() / 2].to_owned(), key()),
            CredentialError::CertificateParse,
        ),
        (
            pem_input(cert(), SecretString::from("garbage key")),
            CredentialError::PrivateKeyParse,
        ),
        (
            pem_input(
                cert(),
                SecretString::from("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
            ),
            CredentialError::PrivateKeyParse,
        ),
        (
            pem_input("x".repeat(crate::credentials::MAX_INPUT_BYTES + 1), key()),
            CredentialError::InputTooLarge {
                max_bytes: crate::credentials::MAX_INPUT_BYTES,
            },
        ),
    ];
    for (input, expected) in cases {
        let e = err(input, true);
        assert_eq!(e, expected);
        // Messages never echo the input.
        for echoed in ["AAAA", "garbage", "not a cert", "xxxx"] {
            assert!(!e.message().contains(echoed), "{}", e.message());
        }
    }
}

#[test]
fn debug_output_is_redacted() {
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    let key = leaf.key_pkcs8_pem().unwrap();
    let key_body: String = key.expose_secret().lines().nth(1).unwrap().to_owned();
    let input = leaf_input(&leaf);
    assert_redacted(&input, &[&key_body]);
    let v = ok(input, true);
    let (_, normalized) = cert_material(&v);
    let normalized_body = normalized.lines().nth(1).unwrap().to_owned();
    assert_redacted(&v, &[&key_body, &normalized_body]);
    assert_redacted(&v.material, &[&normalized_body]);
    assert_redacted(&leaf, &[&key_body]);
}
