//! [`CredentialError`]: every reason a credential can be rejected, each with a stable
//! numeric code (21100–21149) and an operator-facing message.
//!
//! Messages are safe to return in HTTP responses: they say what to fix and never
//! contain key material, passwords or other secret input. Codes are part of the API
//! and must never be renumbered; add new variants with new codes.

use thiserror::Error;

/// Why a credential was rejected.
///
/// [`code`](Self::code) is stable across releases; [`message`](Self::message) (also the
/// `Display` output) tells the operator what to change. Neither contains secret data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// A certificate block is present but is not a parseable X.509 certificate.
    #[error(
        "The certificate could not be parsed: paste the PEM certificate exactly as exported \
         (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)."
    )]
    CertificateParse,
    /// A private-key block is present but OpenSSL cannot parse it.
    #[error(
        "The private key could not be parsed: provide an unencrypted PEM key \
         (BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)."
    )]
    PrivateKeyParse,
    /// No certificate anywhere in the input.
    #[error(
        "No certificate was found: include the push certificate in PEM form \
         (-----BEGIN CERTIFICATE-----), or upload the .p12 file exported from Keychain."
    )]
    NoCertificate,
    /// No private key anywhere in the input.
    #[error(
        "No private key was found: include the certificate's private key in PEM form, \
         or upload the .p12 file that contains both certificate and key."
    )]
    NoPrivateKey,
    /// More than one private key was supplied.
    #[error(
        "More than one private key was supplied: include only the key that belongs to the \
         push certificate."
    )]
    MultiplePrivateKeys,
    /// The PEM private key is encrypted with a passphrase.
    #[error(
        "The private key is protected by a passphrase: upload an unencrypted key \
         (e.g. `openssl pkey -in key.pem -out key-plain.pem`), or upload a .p12 file \
         together with its password."
    )]
    EncryptedPrivateKey,
    /// The key is neither RSA nor EC (e.g. Ed25519, DSA, OpenSSH format).
    #[error(
        "The private key type is not supported: APNs certificates use RSA or EC keys \
         in PEM (PKCS#1, SEC1 or PKCS#8) form."
    )]
    UnsupportedKeyType,
    /// No supplied certificate has the same public key as the private key.
    #[error(
        "The private key does not belong to the certificate: upload the key that was \
         created together with this certificate's signing request."
    )]
    KeyMismatch,
    /// The certificate's notAfter is before the validation time.
    #[error(
        "The certificate expired on {}: create a new push certificate in the Apple \
         Developer portal and upload it.",
        format_unix_utc(*.not_after)
    )]
    CertificateExpired {
        /// notAfter, Unix seconds.
        not_after: i64,
    },
    /// The certificate's notBefore is after the validation time.
    #[error(
        "The certificate is not valid before {}: check the server clock, or upload the \
         certificate once it becomes valid.",
        format_unix_utc(*.not_before)
    )]
    CertificateNotYetValid {
        /// notBefore, Unix seconds.
        not_before: i64,
    },
    /// The certificate subject has no UID attribute.
    #[error(
        "The certificate has no UID (bundle id) in its subject: upload an Apple push \
         certificate (\"Apple Push Services\" or \"VoIP Services\")."
    )]
    MissingBundleId,
    /// The bundle id (from the certificate UID or the token request) is malformed.
    #[error(
        "The bundle id is invalid: use the app's reverse-DNS bundle id (letters, digits, \
         '.' and '-', at most 155 characters), e.g. com.example.app."
    )]
    InvalidBundleId,
    /// A production-only certificate was submitted for the sandbox environment.
    #[error(
        "This certificate is for the production APNs environment only, but the credential \
         is marked sandbox: mark it as production or upload a development/universal \
         certificate."
    )]
    CertificateNotForSandbox,
    /// A development-only certificate was submitted for the production environment.
    #[error(
        "This certificate is for the development (sandbox) APNs environment only, but the \
         credential is marked production: mark it as sandbox or upload a production/universal \
         certificate."
    )]
    CertificateNotForProduction,
    /// OpenSSL parsed the certificate but its DER structure could not be walked.
    #[error(
        "The certificate's structure is malformed: export it again from Keychain Access or \
         the Apple Developer portal."
    )]
    InvalidCertificate,
    /// The uploaded data exceeds the size limit.
    #[error(
        "The uploaded credential is too large (limit {max_bytes} bytes): upload only the certificate, key or key file."
    )]
    InputTooLarge {
        /// The limit that was exceeded.
        max_bytes: usize,
    },
    /// The `.p12` bytes are not a PKCS#12 archive (or are damaged).
    #[error(
        "The file is not a valid .p12 (PKCS#12) archive or it is damaged: export the \
         certificate with its private key from Keychain Access as a .p12 file."
    )]
    P12Malformed,
    /// The `.p12` password does not verify (MAC check failed).
    #[error(
        "The .p12 password is incorrect: enter the password that was chosen when the \
         .p12 file was exported. If the password is right, the file was damaged in \
         transfer; export it again."
    )]
    P12WrongPassword,
    /// The `.p12` uses an algorithm OpenSSL cannot decrypt here.
    #[error(
        "The .p12 file uses an encryption algorithm this server cannot read: re-export it \
         with AES-256 encryption (e.g. `openssl pkcs12 -export`), or convert it to PEM."
    )]
    P12UnsupportedEncryption,
    /// The `.p12` asks for more key-derivation iterations than the server spends on a file.
    #[error(
        "The .p12 file asks for more key-derivation iterations than this server accepts (at \
         most {max} per derivation and {max_total} per file): export it again with standard \
         settings (Keychain Access, or `openssl pkcs12 -export`, which uses 2048)."
    )]
    P12IterationsTooHigh {
        /// Most iterations accepted for one derivation.
        max: u64,
        /// Most iterations accepted over all of one file's derivations.
        max_total: u64,
    },
    /// The `.p8` text is not a parseable PEM private key.
    #[error(
        "The .p8 key could not be parsed: upload the AuthKey_XXXXXXXXXX.p8 file from the \
         Apple Developer portal unchanged (-----BEGIN PRIVATE KEY-----)."
    )]
    TokenKeyParse,
    /// The `.p8` key is not an EC key.
    #[error(
        "The .p8 key type is {found}, but APNs token keys are EC P-256 (ES256) keys: \
         create an APNs key under Certificates, Identifiers & Profiles > Keys."
    )]
    TokenKeyNotEc {
        /// Key algorithm found (e.g. "RSA").
        found: &'static str,
    },
    /// The `.p8` key is EC but not on P-256.
    #[error(
        "The .p8 key uses the wrong elliptic curve: APNs token keys must use P-256 \
         (prime256v1)."
    )]
    TokenKeyWrongCurve,
    /// The key id is not 10 characters of `[A-Z0-9]`.
    #[error(
        "The key id must be exactly 10 characters of A-Z and 0-9: copy the Key ID shown \
         for the key in the Apple Developer portal."
    )]
    InvalidKeyId,
    /// The team id is not 10 characters of `[A-Z0-9]`.
    #[error(
        "The team id must be exactly 10 characters of A-Z and 0-9: copy the Team ID from \
         Membership details in the Apple Developer portal."
    )]
    InvalidTeamId,
    /// An unexpected OpenSSL failure while normalizing already-validated material.
    #[error("The credential could not be processed because of an internal error; try again.")]
    Internal,
    /// An FCM service-account JSON was refused (codes 21136–21146).
    #[error(transparent)]
    ServiceAccount(#[from] super::fcm_error::ServiceAccountError),
}

impl CredentialError {
    /// Stable numeric code in 21100–21149.
    pub fn code(&self) -> u16 {
        match self {
            Self::CertificateParse => 21100,
            Self::PrivateKeyParse => 21101,
            Self::NoCertificate => 21102,
            Self::NoPrivateKey => 21103,
            Self::MultiplePrivateKeys => 21104,
            Self::EncryptedPrivateKey => 21105,
            Self::UnsupportedKeyType => 21106,
            Self::KeyMismatch => 21107,
            Self::CertificateExpired { .. } => 21108,
            Self::CertificateNotYetValid { .. } => 21109,
            Self::MissingBundleId => 21110,
            Self::InvalidBundleId => 21111,
            Self::CertificateNotForSandbox => 21112,
            Self::CertificateNotForProduction => 21113,
            Self::InvalidCertificate => 21114,
            Self::InputTooLarge { .. } => 21115,
            Self::P12Malformed => 21120,
            Self::P12WrongPassword => 21121,
            Self::P12UnsupportedEncryption => 21122,
            Self::P12IterationsTooHigh { .. } => 21123,
            Self::TokenKeyParse => 21130,
            Self::TokenKeyNotEc { .. } => 21131,
            Self::TokenKeyWrongCurve => 21132,
            Self::InvalidKeyId => 21133,
            Self::InvalidTeamId => 21134,
            Self::Internal => 21149,
            Self::ServiceAccount(e) => e.code(),
        }
    }

    /// Operator-facing, HTTP-safe explanation of what to fix (same as `Display`).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl From<openssl::error::ErrorStack> for CredentialError {
    /// OpenSSL failures that reach this conversion happen after the input was parsed,
    /// so they are internal; parse paths map their errors to specific variants.
    fn from(_: openssl::error::ErrorStack) -> Self {
        Self::Internal
    }
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp (`2025-01-31T00:00:00Z`).
pub(crate) fn format_unix_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant), valid for the whole i64 day range we can see.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        (rem % 3_600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(format_unix_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix_utc(1_735_689_599), "2024-12-31T23:59:59Z");
        assert_eq!(format_unix_utc(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn codes_are_in_range_and_unique() {
        let all = [
            CredentialError::CertificateParse,
            CredentialError::PrivateKeyParse,
            CredentialError::NoCertificate,
            CredentialError::NoPrivateKey,
            CredentialError::MultiplePrivateKeys,
            CredentialError::EncryptedPrivateKey,
            CredentialError::UnsupportedKeyType,
            CredentialError::KeyMismatch,
            CredentialError::CertificateExpired { not_after: 0 },
            CredentialError::CertificateNotYetValid { not_before: 0 },
            CredentialError::MissingBundleId,
            CredentialError::InvalidBundleId,
            CredentialError::CertificateNotForSandbox,
            CredentialError::CertificateNotForProduction,
            CredentialError::InvalidCertificate,
            CredentialError::InputTooLarge { max_bytes: 1 },
            CredentialError::P12Malformed,
            CredentialError::P12WrongPassword,
            CredentialError::P12UnsupportedEncryption,
            CredentialError::P12IterationsTooHigh {
                max: 1,
                max_total: 2,
            },
            CredentialError::TokenKeyParse,
            CredentialError::TokenKeyNotEc { found: "RSA" },
            CredentialError::TokenKeyWrongCurve,
            CredentialError::InvalidKeyId,
            CredentialError::InvalidTeamId,
            CredentialError::Internal,
        ];
        let mut codes: Vec<u16> = all.iter().map(CredentialError::code).collect();
        assert!(codes.iter().all(|c| (21100..=21149).contains(c)));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert!(all.iter().all(|e| !e.message().is_empty()));
    }
}
