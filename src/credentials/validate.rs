//! Public credential types (the entry point is [`super::validate`]).
//!
//! Owns the input type ([`CredentialInput`]), the result type
//! ([`ValidatedCredential`] with its [`SecretMaterial`]), validation options, and the
//! small helpers shared by the certificate, `.p12` and `.p8` paths (size limit,
//! fingerprints, turning OpenSSL PEM output into a [`SecretString`]).

use std::fmt;

use openssl::hash::{MessageDigest, hash};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};

use super::error::CredentialError;
pub use crate::domain::FcmAccount;

/// Default window before `not_after` in which a certificate is accepted with a warning.
pub const DEFAULT_EXPIRY_WARNING_SECS: i64 = 30 * 86_400;

/// Google's OAuth 2.0 token endpoint host, the default of `fcm_token_hosts`.
pub const GOOGLE_TOKEN_HOST: &str = "oauth2.googleapis.com";

/// Largest accepted input (each PEM field, `.p12` file or `.p8` text), in bytes.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;

/// A credential as uploaded by an operator.
///
/// `Debug` never prints secret fields.
pub enum CredentialInput {
    /// PEM certificate (optionally followed by its chain) and PEM private key (RSA or EC,
    /// PKCS#1/SEC1 or PKCS#8, unencrypted). Either field may also contain the chain.
    CertificatePem {
        /// PEM text with one or more `CERTIFICATE` blocks.
        certificate: String,
        /// PEM text with exactly one private key (and optionally certificates).
        private_key: SecretString,
    },
    /// A PKCS#12 (`.p12`) file, modern (AES/PBKDF2) or legacy (RC2-40/3DES) encrypted.
    P12 {
        /// The raw `.p12` bytes.
        der: Vec<u8>,
        /// The export password (may be empty).
        password: SecretString,
    },
    /// An APNs auth key (`AuthKey_XXXXXXXXXX.p8`) for token-based authentication.
    TokenKey {
        /// PEM text of the `.p8` file (PKCS#8 EC P-256).
        p8_pem: SecretString,
        /// 10-character Key ID.
        key_id: String,
        /// 10-character Team ID.
        team_id: String,
        /// The app's bundle id (a trailing `.voip` is accepted and stripped).
        bundle_id: String,
    },
    /// A Firebase service-account JSON (an `fcm` credential).
    ServiceAccount {
        /// The JSON text as downloaded from the Firebase console.
        json: SecretString,
    },
}

impl fmt::Debug for CredentialInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CertificatePem { certificate, .. } => f
                .debug_struct("CertificatePem")
                .field("certificate_len", &certificate.len())
                .field("private_key", &"[REDACTED]")
                .finish(),
            Self::P12 { der, .. } => f
                .debug_struct("P12")
                .field("der_len", &der.len())
                .field("password", &"[REDACTED]")
                .finish(),
            Self::TokenKey {
                key_id,
                team_id,
                bundle_id,
                ..
            } => f
                .debug_struct("TokenKey")
                .field("p8_pem", &"[REDACTED]")
                .field("key_id", key_id)
                .field("team_id", team_id)
                .field("bundle_id", bundle_id)
                .finish(),
            Self::ServiceAccount { json } => f
                .debug_struct("ServiceAccount")
                .field("json_len", &json.expose_secret().len())
                .finish(),
        }
    }
}

/// Knobs for [`validate_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateOptions {
    /// The environment the credential is registered for: `true` = development/sandbox.
    pub sandbox: bool,
    /// Validation time, Unix seconds.
    pub now_unix: i64,
    /// Warn when a certificate expires within this many seconds of `now_unix`.
    pub expiry_warning_secs: i64,
    /// Hosts an FCM service account's `token_uri` may name (exact, case-insensitive).
    pub fcm_token_hosts: Vec<String>,
}

impl ValidateOptions {
    /// Options with the default expiry-warning window ([`DEFAULT_EXPIRY_WARNING_SECS`]).
    pub fn new(sandbox: bool, now_unix: i64) -> Self {
        Self {
            sandbox,
            now_unix,
            expiry_warning_secs: DEFAULT_EXPIRY_WARNING_SECS,
            fcm_token_hosts: vec![GOOGLE_TOKEN_HOST.to_owned()],
        }
    }
}

/// How the gateway authenticates to APNs with this credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// Client certificate over mutual TLS.
    Certificate,
    /// ES256 provider token signed with a `.p8` key.
    Token,
    /// FCM: OAuth 2.0 access tokens obtained with a service account's RS256 assertions.
    ServiceAccount,
}

/// APNs environments a credential may be used with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Environments {
    /// `api.sandbox.push.apple.com`.
    pub development: bool,
    /// `api.push.apple.com`.
    pub production: bool,
}

impl Environments {
    /// Both environments.
    pub const BOTH: Self = Self {
        development: true,
        production: true,
    };

    /// True if both environments are allowed.
    pub fn is_universal(&self) -> bool {
        self.development && self.production
    }

    /// True if the environment named by `sandbox` is allowed.
    pub fn allows(&self, sandbox: bool) -> bool {
        if sandbox {
            self.development
        } else {
            self.production
        }
    }
}

/// Normalized secret material, ready to be encrypted at rest by the caller.
///
/// `Debug` prints only a summary; private keys are never shown.
#[derive(Clone)]
pub enum SecretMaterial {
    /// Certificate credential.
    Certificate {
        /// PEM certificates, leaf first, then issuers in chain order.
        cert_chain_pem: String,
        /// Unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`) of the leaf's key.
        private_key_pem: SecretString,
    },
    /// Token credential.
    Token {
        /// Unencrypted PKCS#8 PEM of the EC P-256 key.
        p8_pem: SecretString,
    },
    /// FCM service account.
    ServiceAccount {
        /// Unencrypted PKCS#8 PEM of the RSA key.
        private_key_pem: SecretString,
    },
}

impl fmt::Debug for SecretMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate { cert_chain_pem, .. } => f
                .debug_struct("Certificate")
                .field(
                    "cert_chain_pem",
                    &format_args!(
                        "<{} certificate(s)>",
                        cert_chain_pem
                            .matches("-----BEGIN CERTIFICATE-----")
                            .count()
                    ),
                )
                .field("private_key_pem", &"[REDACTED]")
                .finish(),
            Self::Token { .. } => f
                .debug_struct("Token")
                .field("p8_pem", &"[REDACTED]")
                .finish(),
            Self::ServiceAccount { .. } => f
                .debug_struct("ServiceAccount")
                .field("private_key_pem", &"[REDACTED]")
                .finish(),
        }
    }
}

/// A credential that passed every check, with what it may be used for.
#[derive(Debug, Clone)]
pub struct ValidatedCredential {
    /// Certificate or token.
    pub kind: CredentialKind,
    /// App bundle id (UID without a trailing `.voip`).
    pub bundle_id: String,
    /// `apns-topic` for VoIP pushes (`<bundle_id>.voip`).
    pub voip_topic: String,
    /// Topics the credential may push to: the certificate's topic extension, else its UID
    /// (plus the VoIP topic for VoIP Services certificates); for tokens bundle and VoIP
    /// topic.
    pub topics: Vec<String>,
    /// Environments the credential can be used with.
    pub environments: Environments,
    /// Certificate notBefore, Unix seconds (`None` for tokens).
    pub not_before: Option<i64>,
    /// Certificate notAfter, Unix seconds (`None` for tokens).
    pub not_after: Option<i64>,
    /// Lowercase hex SHA-256 of the leaf certificate DER, or of the `.p8` public key DER.
    pub fingerprint: String,
    /// Token Key ID.
    pub key_id: Option<String>,
    /// Token Team ID.
    pub team_id: Option<String>,
    /// Non-fatal findings for the operator (expiring soon, unmarked test cert, …).
    pub warnings: Vec<String>,
    /// FCM: the project, account and token endpoint (`None` for APNs credentials).
    pub fcm: Option<FcmAccount>,
    /// Normalized secret material for storage.
    pub material: SecretMaterial,
}

/// Rejects inputs larger than [`MAX_INPUT_BYTES`].
pub(crate) fn check_size(len: usize) -> Result<(), CredentialError> {
    if len > MAX_INPUT_BYTES {
        Err(CredentialError::InputTooLarge {
            max_bytes: MAX_INPUT_BYTES,
        })
    } else {
        Ok(())
    }
}

/// Lowercase hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> Result<String, CredentialError> {
    let digest = hash(MessageDigest::sha256(), data)?;
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Moves OpenSSL PEM output into a [`SecretString`], wiping the buffer on failure.
pub(crate) fn secret_from_pem(pem: Vec<u8>) -> Result<SecretString, CredentialError> {
    match String::from_utf8(pem) {
        Ok(s) => Ok(SecretString::from(s)),
        Err(e) => {
            e.into_bytes().zeroize();
            Err(CredentialError::Internal)
        }
    }
}
