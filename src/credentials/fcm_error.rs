//! [`ServiceAccountError`]: why a Firebase service-account JSON (an `fcm` credential's
//! secret) was refused, each reason with a stable code in 21136–21146. Messages name the
//! field to fix and never contain the key.

use thiserror::Error;

/// Why an FCM service-account JSON was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ServiceAccountError {
    /// Not a JSON object.
    #[error(
        "The FCM secret is not a JSON object: paste the service-account JSON file the Firebase \
         console downloads (Project settings > Service accounts > Generate new private key)."
    )]
    NotJson,
    /// `type` is not `service_account`.
    #[error(
        "The JSON's \"type\" is {found:?}, not \"service_account\": upload a service-account key \
         file, not google-services.json or an OAuth client file."
    )]
    WrongType {
        /// The `type` found (truncated), or empty when absent.
        found: String,
    },
    /// A required field is absent, empty or not a string.
    #[error("The service-account JSON has no {field:?} (a non-empty string is required).")]
    MissingField {
        /// The field's name.
        field: &'static str,
    },
    /// `project_id` is not a Google Cloud project id.
    #[error(
        "The project_id is not a Google Cloud project id (6-30 characters of a-z, 0-9 and '-', \
         starting with a letter)."
    )]
    InvalidProjectId,
    /// `client_email` is not a service-account address.
    #[error(
        "The client_email is not a service-account address (…@<project>.iam.gserviceaccount.com): \
         use the key of a service account, not a user's."
    )]
    InvalidEmail,
    /// `private_key_id` is not the 40 hex digits Google issues.
    #[error("The private_key_id must be the 40 hexadecimal digits Google issued with the key.")]
    InvalidKeyId,
    /// `private_key` does not parse as an unencrypted PEM private key.
    #[error(
        "The private_key could not be parsed: it must be the unencrypted PEM key \
         (-----BEGIN PRIVATE KEY-----) exactly as in the downloaded file."
    )]
    KeyParse,
    /// `private_key` is not RSA.
    #[error("The private_key is a {found} key, but Google service-account keys are RSA (RS256).")]
    KeyNotRsa {
        /// The algorithm found.
        found: &'static str,
    },
    /// `private_key` is RSA below 2048 bits.
    #[error("The private_key has {bits} bits; at least 2048 are required.")]
    KeyTooSmall {
        /// The key's size.
        bits: u32,
    },
    /// `token_uri` is not an https URL.
    #[error(
        "The token_uri must be an https URL (Google's is https://oauth2.googleapis.com/token)."
    )]
    TokenUriNotHttps,
    /// `token_uri`'s host is not one this gateway may send assertions to.
    #[error(
        "The token_uri host {host:?} is not allowed: this gateway exchanges tokens only with \
         the hosts in its fcm_token_hosts setting (default oauth2.googleapis.com)."
    )]
    TokenUriNotAllowed {
        /// The host (truncated).
        host: String,
    },
}

impl ServiceAccountError {
    /// Stable numeric code.
    pub fn code(&self) -> u16 {
        match self {
            Self::NotJson => 21136,
            Self::WrongType { .. } => 21137,
            Self::MissingField { .. } => 21138,
            Self::InvalidProjectId => 21139,
            Self::InvalidEmail => 21140,
            Self::InvalidKeyId => 21141,
            Self::KeyParse => 21142,
            Self::KeyNotRsa { .. } => 21143,
            Self::KeyTooSmall { .. } => 21144,
            Self::TokenUriNotHttps => 21145,
            Self::TokenUriNotAllowed { .. } => 21146,
        }
    }
}
