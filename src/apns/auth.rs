//! Credentials an [`ApnsClient`](super::ApnsClient) authenticates with.
//!
//! APNs accepts either a client certificate over mutual TLS or a provider token
//! (an ES256 JWT signed with a `.p8` key) in the `authorization` header. This
//! module holds the credential material and turns it into what the TLS layer and
//! the token signer need. Secret material is kept in [`SecretString`] and never
//! appears in `Debug` output or logs.

use std::fmt;
use std::time::{Duration, SystemTime};

use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use secrecy::{ExposeSecret, SecretString};

use super::config::ApnsError;

/// A credential for talking to APNs; one [`ApnsClient`](super::ApnsClient) is built per credential.
#[derive(Clone)]
pub enum ApnsAuth {
    /// Certificate-based auth: mutual TLS with an Apple-issued client certificate.
    Certificate {
        /// PEM certificate chain, leaf first (intermediates may follow).
        cert_chain_pem: String,
        /// PEM private key of the leaf certificate (unencrypted PKCS#8 or traditional).
        private_key_pem: SecretString,
    },
    /// Token-based auth: ES256 provider tokens signed with a `.p8` key.
    Token {
        /// The `.p8` file contents: a PEM `BEGIN PRIVATE KEY` PKCS#8 EC P-256 key.
        p8_pem: SecretString,
        /// The 10-character key id (JWT header `kid`).
        key_id: String,
        /// The 10-character team id (JWT claim `iss`).
        team_id: String,
    },
}

impl fmt::Debug for ApnsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApnsAuth::Certificate { .. } => f
                .debug_struct("Certificate")
                .field("cert_chain_pem", &"[certificate]")
                .field("private_key_pem", &"[REDACTED]")
                .finish(),
            ApnsAuth::Token {
                key_id, team_id, ..
            } => f
                .debug_struct("Token")
                .field("p8_pem", &"[REDACTED]")
                .field("key_id", key_id)
                .field("team_id", team_id)
                .finish(),
        }
    }
}

/// Parsed client identity for mutual TLS.
pub(crate) struct ClientIdentity {
    pub(crate) leaf: X509,
    pub(crate) chain: Vec<X509>,
    pub(crate) key: PKey<Private>,
}

impl ApnsAuth {
    /// Short name of the auth kind (`"certificate"` or `"token"`), for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ApnsAuth::Certificate { .. } => "certificate",
            ApnsAuth::Token { .. } => "token",
        }
    }

    /// Parses the certificate chain and key; `None` for token auth.
    pub(crate) fn client_identity(&self) -> Result<Option<ClientIdentity>, ApnsError> {
        let ApnsAuth::Certificate {
            cert_chain_pem,
            private_key_pem,
        } = self
        else {
            return Ok(None);
        };
        let mut certs = X509::stack_from_pem(cert_chain_pem.as_bytes())
            .map_err(|e| ApnsError::Credential(format!("certificate chain: {e}")))?;
        if certs.is_empty() {
            return Err(ApnsError::Credential(
                "certificate chain PEM holds no certificate".into(),
            ));
        }
        let leaf = certs.remove(0);
        let key = PKey::private_key_from_pem(private_key_pem.expose_secret().as_bytes())
            .map_err(|_| ApnsError::Credential("private key PEM could not be parsed".into()))?;
        let leaf_key = leaf
            .public_key()
            .map_err(|e| ApnsError::Credential(format!("certificate public key: {e}")))?;
        if !key.public_eq(&leaf_key) {
            return Err(ApnsError::Credential(
                "private key does not match the leaf certificate".into(),
            ));
        }
        Ok(Some(ClientIdentity {
            leaf,
            chain: certs,
            key,
        }))
    }

    /// Facts about the client certificate (topic, expiry, environments); `None` for token auth.
    ///
    /// Certificate expiry is the most common silent APNs outage, so callers should
    /// export [`CertificateInfo::not_after`] as a metric.
    pub fn certificate_info(&self) -> Result<Option<CertificateInfo>, ApnsError> {
        let Some(identity) = self.client_identity()? else {
            return Ok(None);
        };
        let leaf = &identity.leaf;
        let uid = leaf
            .subject_name()
            .entries_by_nid(Nid::USERID)
            .next()
            .and_then(|e| e.data().to_string().ok());
        let epoch = Asn1Time::from_unix(0)
            .map_err(|e| ApnsError::Credential(format!("time conversion: {e}")))?;
        let not_after = epoch
            .diff(leaf.not_after())
            .ok()
            .and_then(|d| {
                let secs = i64::from(d.days) * 86_400 + i64::from(d.secs);
                u64::try_from(secs).ok()
            })
            .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        let der = leaf
            .to_der()
            .map_err(|e| ApnsError::Credential(format!("certificate encoding: {e}")))?;
        Ok(Some(CertificateInfo {
            topic_uid: uid,
            not_after,
            development: contains(&der, OID_DEVELOPMENT),
            production: contains(&der, OID_PRODUCTION),
        }))
    }
}

/// DER encoding of OID 1.2.840.113635.100.6.3.1 (APNs development).
const OID_DEVELOPMENT: &[u8] = &[
    0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x63, 0x64, 0x06, 0x03, 0x01,
];
/// DER encoding of OID 1.2.840.113635.100.6.3.2 (APNs production).
const OID_PRODUCTION: &[u8] = &[
    0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x63, 0x64, 0x06, 0x03, 0x02,
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What a client certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The subject `UID`, which Apple sets to the certificate's topic (bundle id).
    pub topic_uid: Option<String>,
    /// When the certificate expires.
    pub not_after: Option<SystemTime>,
    /// Carries the development-environment extension (`1.2.840.113635.100.6.3.1`).
    pub development: bool,
    /// Carries the production-environment extension (`1.2.840.113635.100.6.3.2`).
    pub production: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let token = ApnsAuth::Token {
            p8_pem: SecretString::from("-----BEGIN PRIVATE KEY-----SECRETKEY"),
            key_id: "ABC123DEFG".into(),
            team_id: "TEAM123456".into(),
        };
        let s = format!("{token:?}");
        assert!(!s.contains("SECRETKEY"), "{s}");
        assert!(s.contains("ABC123DEFG"));
        let cert = ApnsAuth::Certificate {
            cert_chain_pem: "CERTDATA".into(),
            private_key_pem: SecretString::from("KEYDATA"),
        };
        let s = format!("{cert:?}");
        assert!(!s.contains("KEYDATA") && !s.contains("CERTDATA"), "{s}");
    }

    #[test]
    fn garbage_certificate_is_a_credential_error() {
        let cert = ApnsAuth::Certificate {
            cert_chain_pem: "not a pem".into(),
            private_key_pem: SecretString::from("nope"),
        };
        assert!(matches!(
            cert.client_identity(),
            Err(ApnsError::Credential(_))
        ));
        assert_eq!(cert.kind(), "certificate");
    }
}
