//! Firebase-style service-account JSON files with a fresh RSA key, for tests, the demo and
//! the bench (the FCM simulator learns their public keys).

use secrecy::{ExposeSecret, SecretString};

use super::{KeyKind, Result, generate_key, pkcs8_pem};

/// A service-account JSON for `project_id` whose assertions go to `token_uri`, with a new
/// RSA-2048 key: every field Google's files carry.
pub fn service_account_json(project_id: &str, token_uri: &str) -> Result<SecretString> {
    let key = generate_key(KeyKind::Rsa2048)?;
    let pem = pkcs8_pem(&key)?;
    let key_id = hex::encode(crate::domain::random_bytes::<20>());
    let email = format!("firebase-adminsdk-pg@{project_id}.iam.gserviceaccount.com");
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": key_id,
        "private_key": pem.expose_secret(),
        "client_email": email,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": format!(
            "https://www.googleapis.com/robot/v1/metadata/x509/{}",
            email.replace('@', "%40")
        ),
        "universe_domain": "googleapis.com",
    });
    Ok(SecretString::from(
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    ))
}
