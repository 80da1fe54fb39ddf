//! The validation entry point: one uploaded credential in, the checked and normalized
//! credential (or a precise error) out, dispatching to the certificate, `.p12` and `.p8`
//! readers.

use secrecy::zeroize::Zeroize;

use super::error::CredentialError;
use super::validate::{CredentialInput, ValidateOptions, ValidatedCredential};
use super::{certificate, fcm, p12, token};

/// Validates `input` for the environment named by `sandbox` at time `now_unix`, with the
/// default expiry-warning window. See [`validate_with`].
pub fn validate(
    input: CredentialInput,
    sandbox: bool,
    now_unix: i64,
) -> Result<ValidatedCredential, CredentialError> {
    validate_with(input, &ValidateOptions::new(sandbox, now_unix))
}

/// Validates and normalizes `input`.
///
/// Certificates (PEM or `.p12`) must parse, contain one key that matches a certificate,
/// be valid at `now_unix`, carry a UID bundle id, and be usable in the requested
/// environment. Token keys must be PKCS#8 EC P-256 with well-formed key/team/bundle ids.
pub fn validate_with(
    input: CredentialInput,
    opts: &ValidateOptions,
) -> Result<ValidatedCredential, CredentialError> {
    match input {
        CredentialInput::CertificatePem {
            certificate,
            private_key,
        } => certificate::from_pem(&certificate, &private_key, opts),
        CredentialInput::P12 { mut der, password } => {
            let result = p12::from_p12(&der, &password, opts);
            der.zeroize();
            result
        }
        CredentialInput::TokenKey {
            p8_pem,
            key_id,
            team_id,
            bundle_id,
        } => token::from_p8(&p8_pem, key_id, team_id, &bundle_id),
        CredentialInput::ServiceAccount { json } => fcm::from_service_account(&json, opts),
    }
}
