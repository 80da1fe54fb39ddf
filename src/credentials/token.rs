//! Token credentials: APNs auth keys (`AuthKey_XXXXXXXXXX.p8`).
//!
//! Owns: key id / team id / bundle id syntax, checking that the key is an unencrypted
//! EC P-256 key (what ES256 provider tokens need), the public-key fingerprint, and the
//! normalized PKCS#8 PEM.

use openssl::nid::Nid;
use openssl::pkey::{Id, PKey};
use secrecy::{ExposeSecret, SecretString};

use super::apple;
use super::error::CredentialError;
use super::pem::{self, BlockKind};
use super::validate::{
    CredentialKind, Environments, SecretMaterial, ValidatedCredential, check_size, secret_from_pem,
    sha256_hex,
};

/// Length of Apple Key IDs and Team IDs.
const APPLE_ID_LEN: usize = 10;

/// True for exactly 10 characters of `[A-Z0-9]`.
fn is_apple_id(s: &str) -> bool {
    s.len() == APPLE_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Validates a `.p8` token key with its ids.
pub(crate) fn from_p8(
    p8_pem: &SecretString,
    key_id: String,
    team_id: String,
    bundle_id: &str,
) -> Result<ValidatedCredential, CredentialError> {
    let text = p8_pem.expose_secret();
    check_size(text.len())?;
    if !is_apple_id(&key_id) {
        return Err(CredentialError::InvalidKeyId);
    }
    if !is_apple_id(&team_id) {
        return Err(CredentialError::InvalidTeamId);
    }
    let (bundle_id, voip_topic) =
        apple::bundle_and_voip_topic(bundle_id).ok_or(CredentialError::InvalidBundleId)?;

    let blocks = pem::blocks(text).map_err(|_| CredentialError::TokenKeyParse)?;
    let mut keys = blocks.iter().filter(|b| b.kind.is_key());
    let block = keys.next().ok_or(CredentialError::TokenKeyParse)?;
    if keys.next().is_some() {
        return Err(CredentialError::MultiplePrivateKeys);
    }
    let mut warnings = Vec::new();
    match block.kind {
        BlockKind::EncryptedKey => return Err(CredentialError::EncryptedPrivateKey),
        BlockKind::RsaKey => return Err(CredentialError::TokenKeyNotEc { found: "RSA" }),
        BlockKind::OtherKey => return Err(CredentialError::TokenKeyNotEc { found: "non-EC" }),
        BlockKind::EcKey => warnings.push(
            "The key was in SEC1 form (BEGIN EC PRIVATE KEY) rather than Apple's PKCS#8 .p8 \
             form; it was accepted and stored as PKCS#8."
                .to_owned(),
        ),
        _ => {}
    }
    let key = PKey::private_key_from_pem_passphrase(block.text.as_bytes(), b"")
        .map_err(|_| CredentialError::TokenKeyParse)?;
    match key.id() {
        Id::EC => {}
        Id::RSA | Id::RSA_PSS => return Err(CredentialError::TokenKeyNotEc { found: "RSA" }),
        Id::ED25519 => return Err(CredentialError::TokenKeyNotEc { found: "Ed25519" }),
        _ => return Err(CredentialError::TokenKeyNotEc { found: "non-EC" }),
    }
    let curve = key.ec_key()?.group().curve_name();
    if curve != Some(Nid::X9_62_PRIME256V1) {
        return Err(CredentialError::TokenKeyWrongCurve);
    }

    let fingerprint = sha256_hex(&key.public_key_to_der()?)?;
    let p8_pem = secret_from_pem(key.private_key_to_pem_pkcs8()?)?;
    Ok(ValidatedCredential {
        kind: CredentialKind::Token,
        topics: vec![bundle_id.clone(), voip_topic.clone()],
        bundle_id,
        voip_topic,
        environments: Environments::BOTH,
        not_before: None,
        not_after: None,
        fingerprint,
        key_id: Some(key_id),
        team_id: Some(team_id),
        warnings,
        fcm: None,
        material: SecretMaterial::Token { p8_pem },
    })
}

#[cfg(test)]
mod tests {
    use super::is_apple_id;

    #[test]
    fn apple_ids() {
        assert!(is_apple_id("ABCDE12345"));
        for bad in [
            "",
            "ABCDE1234",
            "ABCDE123456",
            "abcde12345",
            "ABCDE-1234",
            "ÄBCDE1234",
        ] {
            assert!(!is_apple_id(bad), "{bad}");
        }
    }
}
