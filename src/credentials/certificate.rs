//! Certificate credentials: PEM intake and the checks shared with `.p12` input.
//!
//! Owns: collecting certificates and the single private key from pasted PEM, picking
//! the leaf (the certificate whose public key matches the key), chain ordering,
//! validity-window checks, environment rules, topic selection, warnings, and producing
//! the normalized leaf-first chain PEM plus PKCS#8 key PEM.

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::pkey::{Id, PKey, Private};
use openssl::x509::{X509, X509VerifyResult};
use secrecy::{ExposeSecret, SecretString};

use super::apple;
use super::error::{CredentialError, format_unix_utc};
use super::pem::{self, BlockKind};
use super::validate::{
    CredentialKind, Environments, SecretMaterial, ValidateOptions, ValidatedCredential, check_size,
    secret_from_pem, sha256_hex,
};

/// Validates a PEM certificate + PEM key pair (either field may also hold the chain).
pub(crate) fn from_pem(
    certificate: &str,
    private_key: &SecretString,
    opts: &ValidateOptions,
) -> Result<ValidatedCredential, CredentialError> {
    let key_text = private_key.expose_secret();
    check_size(certificate.len())?;
    check_size(key_text.len())?;
    let cert_blocks = pem::blocks(certificate).map_err(|_| CredentialError::CertificateParse)?;
    if pem::is_non_pem(certificate, &cert_blocks) {
        return Err(CredentialError::CertificateParse);
    }
    let key_blocks = pem::blocks(key_text).map_err(|_| CredentialError::PrivateKeyParse)?;
    if pem::is_non_pem(key_text, &key_blocks) {
        return Err(CredentialError::PrivateKeyParse);
    }
    let all_blocks = || cert_blocks.iter().chain(key_blocks.iter());

    let mut certs: Vec<X509> = Vec::new();
    for block in all_blocks().filter(|b| b.kind == BlockKind::Certificate) {
        let cert =
            X509::from_pem(block.text.as_bytes()).map_err(|_| CredentialError::CertificateParse)?;
        push_unique_cert(&mut certs, cert)?;
    }

    let mut keys: Vec<PKey<Private>> = Vec::new();
    for block in all_blocks().filter(|b| b.kind.is_key()) {
        match block.kind {
            BlockKind::EncryptedKey => return Err(CredentialError::EncryptedPrivateKey),
            BlockKind::OtherKey => return Err(CredentialError::UnsupportedKeyType),
            _ => {}
        }
        // An empty passphrase keeps OpenSSL from ever prompting on a terminal.
        let key = PKey::private_key_from_pem_passphrase(block.text.as_bytes(), b"")
            .map_err(|_| CredentialError::PrivateKeyParse)?;
        if !keys.iter().any(|k| k.public_eq(&key)) {
            keys.push(key);
        }
    }

    if certs.is_empty() {
        return Err(CredentialError::NoCertificate);
    }
    let key = match keys.len() {
        0 => return Err(CredentialError::NoPrivateKey),
        1 => keys.remove(0),
        _ => return Err(CredentialError::MultiplePrivateKeys),
    };
    let leaf_index = certs
        .iter()
        .position(|c| c.public_key().is_ok_and(|pk| pk.public_eq(&key)));
    check_key_type(&key)?;
    let leaf = certs.remove(leaf_index.ok_or(CredentialError::KeyMismatch)?);
    finish(leaf, certs, key, opts)
}

/// Only RSA and EC keys are used for APNs client certificates.
pub(crate) fn check_key_type(key: &PKey<Private>) -> Result<(), CredentialError> {
    match key.id() {
        Id::RSA | Id::EC => Ok(()),
        _ => Err(CredentialError::UnsupportedKeyType),
    }
}

fn push_unique_cert(certs: &mut Vec<X509>, cert: X509) -> Result<(), CredentialError> {
    let der = cert.to_der()?;
    for existing in certs.iter() {
        if existing.to_der()? == der {
            return Ok(());
        }
    }
    certs.push(cert);
    Ok(())
}

/// Checks a leaf whose key is already known to match, and builds the result.
pub(crate) fn finish(
    leaf: X509,
    others: Vec<X509>,
    key: PKey<Private>,
    opts: &ValidateOptions,
) -> Result<ValidatedCredential, CredentialError> {
    let mut warnings = Vec::new();
    let not_before = asn1_to_unix(leaf.not_before())?;
    let not_after = asn1_to_unix(leaf.not_after())?;
    if not_after < opts.now_unix {
        return Err(CredentialError::CertificateExpired { not_after });
    }
    if not_before > opts.now_unix {
        return Err(CredentialError::CertificateNotYetValid { not_before });
    }

    let info = apple::inspect(&leaf).map_err(|_| CredentialError::InvalidCertificate)?;
    let uid = info.uid.clone().ok_or(CredentialError::MissingBundleId)?;
    let (bundle_id, voip_topic) =
        apple::bundle_and_voip_topic(&uid).ok_or(CredentialError::InvalidBundleId)?;

    let environments = match (info.development, info.production) {
        (true, true) => Environments::BOTH,
        (true, false) => Environments {
            development: true,
            production: false,
        },
        (false, true) => Environments {
            development: false,
            production: true,
        },
        (false, false) => {
            // Apple always marks its certificates; an unmarked one is self-made. A VoIP
            // Services certificate works in both environments, any other only in the one asked.
            let environments = if info.is_voip_services() {
                Environments::BOTH
            } else {
                Environments {
                    development: opts.sandbox,
                    production: !opts.sandbox,
                }
            };
            warnings.push(format!(
                "The certificate has no Apple environment extension (OID {} or {}); it looks \
                 self-made. It is accepted for {}, and real APNs servers will reject it.",
                apple::apple_oid_text(apple::ARC_DEVELOPMENT),
                apple::apple_oid_text(apple::ARC_PRODUCTION),
                if environments.is_universal() {
                    "both environments".to_owned()
                } else {
                    format!("the {} environment only", env_name(opts.sandbox))
                }
            ));
            environments
        }
    };
    if !environments.allows(opts.sandbox) {
        return Err(if opts.sandbox {
            CredentialError::CertificateNotForSandbox
        } else {
            CredentialError::CertificateNotForProduction
        });
    }

    let topics = select_topics(&info, &uid, &voip_topic, &mut warnings);
    if !topics.contains(&voip_topic) {
        warnings.push(format!(
            "The certificate does not cover the VoIP topic {voip_topic} (its topics: {}); APNs \
             will reject VoIP pushes with TopicDisallowed. Use a VoIP Services certificate \
             for this app.",
            topics.join(", ")
        ));
    }
    if not_after - opts.now_unix < opts.expiry_warning_secs {
        warnings.push(format!(
            "The certificate expires on {} ({} days left): create a new one in the Apple \
             Developer portal before then.",
            format_unix_utc(not_after),
            (not_after - opts.now_unix) / 86_400
        ));
    }
    for cert in &others {
        if asn1_to_unix(cert.not_after())? < opts.now_unix {
            warnings.push(
                "A chain (issuer) certificate has expired; it was kept, but consider \
                 removing it or replacing it with Apple's current intermediate."
                    .to_owned(),
            );
        }
    }

    let fingerprint = sha256_hex(&leaf.to_der()?)?;
    let mut cert_chain_pem = String::new();
    for cert in order_chain(leaf, others) {
        cert_chain_pem.push_str(std::str::from_utf8(&cert.to_pem()?).map_err(|_| {
            CredentialError::Internal // OpenSSL PEM output is ASCII.
        })?);
    }
    let private_key_pem = secret_from_pem(key.private_key_to_pem_pkcs8()?)?;

    Ok(ValidatedCredential {
        kind: CredentialKind::Certificate,
        bundle_id,
        voip_topic,
        topics,
        environments,
        not_before: Some(not_before),
        not_after: Some(not_after),
        fingerprint,
        key_id: None,
        team_id: None,
        warnings,
        fcm: None,
        material: SecretMaterial::Certificate {
            cert_chain_pem,
            private_key_pem,
        },
    })
}

fn env_name(sandbox: bool) -> &'static str {
    if sandbox { "development" } else { "production" }
}

/// The topic extension's topics if it had any, else the UID (plus the VoIP topic for
/// VoIP Services certificates).
fn select_topics(
    info: &apple::AppleInfo,
    uid: &str,
    voip_topic: &str,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    if info.topics_malformed {
        warnings.push(
            "The certificate's topic extension is malformed; only the readable topics were \
             used."
                .to_owned(),
        );
    }
    match &info.topics {
        Some(list) if !list.is_empty() => list.clone(),
        _ => {
            let mut topics = vec![uid.to_owned()];
            if info.is_voip_services() && uid != voip_topic {
                topics.push(voip_topic.to_owned());
            }
            topics
        }
    }
}

/// Leaf first, then each certificate's issuer where found, then any leftovers.
fn order_chain(leaf: X509, mut rest: Vec<X509>) -> Vec<X509> {
    let mut chain = vec![leaf];
    while let Some(i) = chain.last().and_then(|last| {
        rest.iter()
            .position(|c| c.issued(last) == X509VerifyResult::OK)
    }) {
        chain.push(rest.remove(i));
    }
    chain.extend(rest);
    chain
}

/// Converts an ASN.1 time to Unix seconds.
pub(crate) fn asn1_to_unix(t: &Asn1TimeRef) -> Result<i64, CredentialError> {
    let epoch = Asn1Time::from_unix(0)?;
    let diff = epoch.diff(t)?;
    Ok(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
}
