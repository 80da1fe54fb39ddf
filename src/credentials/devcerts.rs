//! Runtime generation of Apple-like push credentials for tests and the demo.
//!
//! Owns: a throwaway CA ([`generate_ca`]), push client certificates signed by it that
//! look like Apple's ([`issue_leaf`] with [`LeafOptions`]: UID, CN, environment
//! extensions, topic list, any validity window, RSA or EC key), the one CA + VoIP
//! certificate set-up that the demo, the benchmark and the tests share ([`VoipPair`]),
//! TLS server certificates
//! for loopback test servers ([`issue_server`]), `.p12` export in modern or
//! Keychain-style legacy encryption ([`DevCert::to_p12`]), and loose keys in the formats
//! operators upload ([`generate_key`], [`pkcs8_pem`], [`traditional_pem`],
//! [`generate_p8`]), and Firebase service-account files ([`service_account_json`]). An APNs simulator can trust the CA certificate to accept
//! credentials made here, and clients can trust it to reach a server issued here.
//! Nothing here is suitable for production trust.

mod issue;
mod service_account;
mod voip;

use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{Id, PKey, PKeyRef, Private};
use openssl::rsa::Rsa;
use openssl::stack::Stack;
use openssl::x509::X509;
use secrecy::SecretString;

pub use issue::{generate_ca, issue_leaf, issue_server};
pub use service_account::service_account_json;
pub use voip::{LeafOptions, VoipPair};

use super::p12::legacy_provider_available;
use super::validate::secret_from_pem;

/// Failure while generating test material.
#[derive(Debug, thiserror::Error)]
pub enum DevCertError {
    /// OpenSSL reported an error.
    #[error("openssl error: {0}")]
    OpenSsl(#[from] ErrorStack),
    /// An option cannot be encoded (e.g. contains a NUL byte).
    #[error("invalid option: {0}")]
    InvalidOption(&'static str),
}

type Result<T> = std::result::Result<T, DevCertError>;

/// Key algorithm for generated keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA 2048 (what Apple issues push certificates for).
    Rsa2048,
    /// EC P-256 (prime256v1); also the `.p8` token key type.
    EcP256,
    /// EC P-384: valid for certificates, invalid as an APNs token key.
    EcP384,
}

/// Which Apple environment extensions a leaf carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppleEnvironment {
    /// Only `1.2.840.113635.100.6.3.1`.
    Development,
    /// Only `1.2.840.113635.100.6.3.2`.
    Production,
    /// Both (a universal certificate).
    Universal,
    /// Neither (looks like a self-made certificate).
    Unmarked,
}

impl AppleEnvironment {
    /// The variant that carries the development extension if `development` and the
    /// production extension if `production`.
    pub fn from_flags(development: bool, production: bool) -> Self {
        match (development, production) {
            (true, false) => Self::Development,
            (false, true) => Self::Production,
            (true, true) => Self::Universal,
            (false, false) => Self::Unmarked,
        }
    }

    /// (development extension present, production extension present).
    fn flags(self) -> (bool, bool) {
        match self {
            Self::Development => (true, false),
            Self::Production => (false, true),
            Self::Universal => (true, true),
            Self::Unmarked => (false, false),
        }
    }
}

/// `.p12` encryption style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P12Encryption {
    /// AES-256-CBC with PBKDF2 for key and certificates, SHA-256 MAC (OpenSSL 3 default).
    Modern,
    /// PBE-SHA1-3DES for the key, PBE-SHA1-RC2-40 for certificates, SHA-1 MAC
    /// (macOS Keychain style; needs OpenSSL's legacy provider).
    Legacy,
}

/// A certificate with its private key.
pub struct DevCert {
    /// The certificate.
    pub cert: X509,
    /// Its private key.
    pub key: PKey<Private>,
}

impl std::fmt::Debug for DevCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCert")
            .field("subject", &self.cert.subject_name())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl DevCert {
    /// The certificate as PEM.
    pub fn cert_pem(&self) -> Result<String> {
        String::from_utf8(self.cert.to_pem()?).map_err(|_| DevCertError::InvalidOption("pem"))
    }

    /// The key as unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub fn key_pkcs8_pem(&self) -> Result<SecretString> {
        pkcs8_pem(&self.key)
    }

    /// The key as PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`) PEM.
    pub fn key_traditional_pem(&self) -> Result<SecretString> {
        traditional_pem(&self.key)
    }

    /// Exports certificate, `chain` and key as a `.p12` protected by `password`.
    pub fn to_p12(
        &self,
        chain: &[&X509],
        password: &str,
        encryption: P12Encryption,
    ) -> Result<Vec<u8>> {
        self.to_p12_with_iterations(chain, password, encryption, 2048, 2048)
    }

    /// [`to_p12`](Self::to_p12) with explicit MAC and encryption iteration counts.
    pub fn to_p12_with_iterations(
        &self,
        chain: &[&X509],
        password: &str,
        encryption: P12Encryption,
        mac_iter: u32,
        key_iter: u32,
    ) -> Result<Vec<u8>> {
        if password.contains('\0') {
            return Err(DevCertError::InvalidOption("password contains NUL"));
        }
        let mut builder = Pkcs12::builder();
        builder
            .name("pushgate")
            .pkey(&self.key)
            .cert(&self.cert)
            .mac_iter(mac_iter)
            .key_iter(key_iter);
        if !chain.is_empty() {
            let mut stack = Stack::new()?;
            for cert in chain {
                stack.push((*cert).to_owned())?;
            }
            builder.ca(stack);
        }
        match encryption {
            P12Encryption::Modern => builder
                .key_algorithm(Nid::AES_256_CBC)
                .cert_algorithm(Nid::AES_256_CBC)
                .mac_md(MessageDigest::sha256()),
            P12Encryption::Legacy => {
                legacy_provider_available();
                builder
                    .key_algorithm(Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC)
                    .cert_algorithm(Nid::PBE_WITHSHA1AND40BITRC2_CBC)
                    .mac_md(MessageDigest::sha1())
            }
        };
        Ok(builder.build2(password)?.to_der()?)
    }
}

/// Generates a fresh private key.
pub fn generate_key(kind: KeyKind) -> Result<PKey<Private>> {
    Ok(match kind {
        KeyKind::Rsa2048 => PKey::from_rsa(Rsa::generate(2048)?)?,
        KeyKind::EcP256 => ec_key(Nid::X9_62_PRIME256V1)?,
        KeyKind::EcP384 => ec_key(Nid::SECP384R1)?,
    })
}

fn ec_key(curve: Nid) -> Result<PKey<Private>> {
    let group = EcGroup::from_curve_name(curve)?;
    Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
}

/// Unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`) of any key.
pub fn pkcs8_pem(key: &PKeyRef<Private>) -> Result<SecretString> {
    secret_from_pem(key.private_key_to_pem_pkcs8()?).map_err(|_| DevCertError::InvalidOption("pem"))
}

/// PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`) PEM of an RSA or EC
/// key.
pub fn traditional_pem(key: &PKeyRef<Private>) -> Result<SecretString> {
    let pem = match key.id() {
        Id::RSA => key.rsa()?.private_key_to_pem()?,
        Id::EC => key.ec_key()?.private_key_to_pem()?,
        _ => return Err(DevCertError::InvalidOption("key must be RSA or EC")),
    };
    secret_from_pem(pem).map_err(|_| DevCertError::InvalidOption("pem"))
}

/// A new APNs-style `.p8` token key: EC P-256 as PKCS#8 PEM.
pub fn generate_p8() -> Result<SecretString> {
    let key = generate_key(KeyKind::EcP256)?;
    pkcs8_pem(&key)
}

/// `der` with every INTEGER equal to `from` replaced by `to`, looking inside constructed
/// values and inside OCTET STRINGs that hold DER (as a `.p12`'s AuthenticatedSafe and
/// SafeContents do): a `.p12` asking for any iteration count, without spending it to build.
pub fn patch_der_integers(der: &[u8], from: u64, to: u64) -> Vec<u8> {
    fn int_bytes(v: u64) -> Vec<u8> {
        let mut bytes: Vec<u8> = v
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        if bytes.first().is_none_or(|b| b & 0x80 != 0) {
            bytes.insert(0, 0);
        }
        bytes
    }
    fn walk(data: &[u8], from: &[u8], to: &[u8], depth: usize) -> Option<Vec<u8>> {
        let mut reader = super::der::DerReader::new(data);
        let mut out = Vec::new();
        while !reader.is_empty() {
            let tlv = reader.read().ok()?;
            let content = match tlv.tag {
                0x02 if tlv.content == from => to.to_vec(),
                t if depth > 0 && (t & 0x20 != 0 || t == 0x04) => {
                    walk(tlv.content, from, to, depth - 1).unwrap_or(tlv.content.to_vec())
                }
                _ => tlv.content.to_vec(),
            };
            out.extend(super::der::encode(tlv.tag, &content));
        }
        Some(out)
    }
    walk(der, &int_bytes(from), &int_bytes(to), 16).unwrap_or_else(|| der.to_vec())
}
