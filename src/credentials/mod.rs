//! Push credential intake: parsing, checking and normalizing the push credentials an
//! operator uploads (APNs: PEM certificate + key, `.p12` bundle, or `.p8` token key; FCM:
//! a Firebase service-account JSON).
//!
//! The entry point is [`validate`] (or [`validate_with`] for a custom expiry-warning
//! window). It turns a [`CredentialInput`] into a [`ValidatedCredential`] that records
//! what the credential may be used for (bundle id, VoIP topic, environments, validity)
//! and carries the normalized secret material ready to be encrypted at rest. Every
//! rejection is a [`CredentialError`] with a stable numeric code and an operator-facing
//! message that never contains secret material.
//!
//! [`devcerts`] generates Apple-like test and demo material (CA, push certificates,
//! TLS server certificates, `.p12`, `.p8`) at runtime.
//!
//! Layout:
//! - `validate`: public input/output types and the top-level dispatch;
//! - `certificate`: checks shared by PEM and `.p12` certificate credentials;
//! - `p12`: PKCS#12 parsing and the OpenSSL legacy provider;
//! - `token`: `.p8` token-key checks;
//! - `fcm` (+ `fcm_error`): FCM service-account checks;
//! - `apple`: Apple-specific certificate fields (UID, environment OIDs, topics);
//! - `pem`: PEM block splitting; `der`: a small bounds-checked DER reader/writer;
//! - `error`: [`CredentialError`] and its code table.

mod apple;
mod certificate;
mod der;
pub mod devcerts;
mod entry;
mod error;
mod fcm;
mod fcm_error;
pub mod limit;
pub mod manage;
pub mod material;
mod p12;
mod p12_params;
mod pem;
mod token;
mod validate;

#[cfg(test)]
mod tests;

pub use entry::{validate, validate_with};
pub use error::CredentialError;
pub use fcm_error::ServiceAccountError;
pub use p12::legacy_provider_available;
pub use validate::{
    CredentialInput, CredentialKind, DEFAULT_EXPIRY_WARNING_SECS, Environments, FcmAccount,
    GOOGLE_TOKEN_HOST, MAX_INPUT_BYTES, SecretMaterial, ValidateOptions, ValidatedCredential,
};
