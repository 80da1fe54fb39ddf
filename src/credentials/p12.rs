//! `.p12` (PKCS#12) intake and the OpenSSL legacy provider.
//!
//! Owns: loading OpenSSL 3's `legacy` provider once per process (so RC2-40 encrypted
//! files exported by macOS Keychain can be read), parsing the archive, telling a wrong
//! password apart from a damaged file or an unsupported algorithm, and handing the
//! certificate, chain and key to the shared certificate checks.

use std::sync::OnceLock;

use openssl::error::ErrorStack;
use openssl::pkcs12::Pkcs12;
use openssl::provider::Provider;
use openssl::x509::X509;
use secrecy::{ExposeSecret, SecretString};

use super::certificate;
use super::error::CredentialError;
use super::validate::{ValidateOptions, ValidatedCredential, check_size};

/// The loaded legacy provider, kept alive for the life of the process.
static LEGACY_PROVIDER: OnceLock<Option<Provider>> = OnceLock::new();

/// Loads OpenSSL's `legacy` provider (once; the default provider stays active) and
/// reports whether it is available. Legacy `.p12` files (RC2-40) need it.
pub fn legacy_provider_available() -> bool {
    LEGACY_PROVIDER
        .get_or_init(|| Provider::try_load(None, "legacy", true).ok())
        .is_some()
}

/// Validates a `.p12` archive with `password`.
pub(crate) fn from_p12(
    der: &[u8],
    password: &SecretString,
    opts: &ValidateOptions,
) -> Result<ValidatedCredential, CredentialError> {
    check_size(der.len())?;
    // Before OpenSSL derives anything: a file may ask for minutes of key derivation.
    super::p12_params::check_iterations(der)?;
    let archive = Pkcs12::from_der(der).map_err(|_| CredentialError::P12Malformed)?;
    let password = password.expose_secret();
    if password.contains('\0') {
        // Cannot be a PKCS#12 password, and OpenSSL's C API could not take it.
        return Err(CredentialError::P12WrongPassword);
    }
    legacy_provider_available();
    let parsed = archive.parse2(password).map_err(|e| classify(&e))?;
    let key = parsed.pkey.ok_or(CredentialError::NoPrivateKey)?;
    let cert = parsed.cert.ok_or(CredentialError::NoCertificate)?;
    let mut chain: Vec<X509> = parsed
        .ca
        .map(|s| s.into_iter().collect())
        .unwrap_or_default();
    certificate::check_key_type(&key)?;

    // PKCS12_parse pairs cert and key by localKeyID; fall back to a public-key match.
    let (leaf, others) = if public_matches(&cert, &key) {
        (cert, chain)
    } else if let Some(i) = chain.iter().position(|c| public_matches(c, &key)) {
        let leaf = chain.remove(i);
        chain.push(cert);
        (leaf, chain)
    } else {
        return Err(CredentialError::KeyMismatch);
    };
    certificate::finish(leaf, others, key, opts)
}

fn public_matches(cert: &X509, key: &openssl::pkey::PKeyRef<openssl::pkey::Private>) -> bool {
    cert.public_key().is_ok_and(|pk| pk.public_eq(key))
}

/// Maps a `PKCS12_parse` failure to the most specific error OpenSSL lets us tell.
///
/// OpenSSL verifies the MAC before decrypting anything, so "mac verify failure" means
/// the password is wrong (or the MAC itself is damaged, which looks identical).
/// Algorithm-lookup failures mean an encryption scheme we cannot read. A decryption
/// failure after a good MAC (key bag encrypted with a different password) is also
/// reported as a wrong password. Anything else is a damaged archive.
fn classify(stack: &ErrorStack) -> CredentialError {
    let reasons: Vec<String> = stack
        .errors()
        .iter()
        .filter_map(|e| e.reason().map(str::to_ascii_lowercase))
        .collect();
    let any = |needle: &str| reasons.iter().any(|r| r.contains(needle));
    if any("mac verify failure") || any("bad decrypt") {
        CredentialError::P12WrongPassword
    } else if any("unsupported") || any("unknown cipher") || any("unknown algorithm") {
        CredentialError::P12UnsupportedEncryption
    } else {
        CredentialError::P12Malformed
    }
}
