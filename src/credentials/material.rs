//! Opening a stored credential's sealed key material: for the APNs client ([`apns_auth`]),
//! and for the FCM client ([`service_account_json`]).

use secrecy::{ExposeSecret, SecretString};

use super::SecretMaterial;
use crate::apns::ApnsAuth;
use crate::domain::CredentialType;
use crate::secrets::{MasterKey, SecretsError};
use crate::store::CredentialRecord;

/// Opens a stored credential's key material.
pub fn open_material(
    master: &MasterKey,
    c: &CredentialRecord,
) -> Result<SecretMaterial, SecretsError> {
    let key = master.open_string(&c.secret_sealed, c.sid.as_str())?;
    Ok(match (&c.cert_chain_pem, c.kind) {
        (_, CredentialType::Fcm) => SecretMaterial::ServiceAccount {
            private_key_pem: key,
        },
        (Some(chain), _) => SecretMaterial::Certificate {
            cert_chain_pem: chain.clone(),
            private_key_pem: key,
        },
        (None, _) => SecretMaterial::Token { p8_pem: key },
    })
}

/// The APNs client authentication for a stored credential; `None` for an FCM credential.
pub fn apns_auth(
    master: &MasterKey,
    c: &CredentialRecord,
) -> Result<Option<ApnsAuth>, SecretsError> {
    Ok(match open_material(master, c)? {
        SecretMaterial::Certificate {
            cert_chain_pem,
            private_key_pem,
        } => Some(ApnsAuth::Certificate {
            cert_chain_pem,
            private_key_pem,
        }),
        SecretMaterial::Token { p8_pem } => Some(ApnsAuth::Token {
            p8_pem,
            key_id: c.key_id.clone().unwrap_or_default(),
            team_id: c.team_id.clone().unwrap_or_default(),
        }),
        SecretMaterial::ServiceAccount { .. } => None,
    })
}

/// A stored FCM credential as the service-account JSON Google issued (only the fields the
/// OAuth exchange uses), or `None` for an APNs credential.
pub fn service_account_json(
    master: &MasterKey,
    c: &CredentialRecord,
) -> Result<Option<SecretString>, SecretsError> {
    let Some(fcm) = &c.fcm else {
        return Ok(None);
    };
    let key = master.open_string(&c.secret_sealed, c.sid.as_str())?;
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": fcm.project_id,
        "private_key_id": c.key_id.clone().unwrap_or_default(),
        "private_key": key.expose_secret(),
        "client_email": fcm.client_email,
        "token_uri": fcm.token_uri,
    });
    Ok(Some(SecretString::from(json.to_string())))
}
