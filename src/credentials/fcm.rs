//! FCM credentials: the Firebase service-account JSON (Twilio's "FCM Secret").
//!
//! Owns: the JSON's shape (`type`, `project_id`, `client_email`, `private_key_id`,
//! `private_key`, `token_uri`), the key checks (unencrypted RSA of at least 2048 bits, what
//! RS256 assertions need), the token-endpoint allow-list, the public-key fingerprint and the
//! normalized PKCS#8 PEM that is sealed at rest. Everything else in the file (client id,
//! certificate URLs) is ignored.

use openssl::pkey::{Id, PKey};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::error::CredentialError;
use super::fcm_error::ServiceAccountError;
use super::validate::{
    CredentialKind, Environments, FcmAccount, SecretMaterial, ValidateOptions, ValidatedCredential,
    check_size, secret_from_pem, sha256_hex,
};

/// Smallest RSA key accepted.
const MIN_RSA_BITS: u32 = 2048;

/// The fields read; unknown ones are ignored, as Google adds fields over time.
#[derive(Deserialize)]
struct Fields {
    #[serde(rename = "type")]
    kind: Option<Value>,
    project_id: Option<Value>,
    client_email: Option<Value>,
    private_key_id: Option<Value>,
    private_key: Option<Value>,
    token_uri: Option<Value>,
}

/// Validates a service-account JSON.
pub(crate) fn from_service_account(
    json: &SecretString,
    opts: &ValidateOptions,
) -> Result<ValidatedCredential, CredentialError> {
    let text = json.expose_secret();
    check_size(text.len())?;
    let fields: Fields = match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => {
            serde_json::from_value(v).map_err(|_| ServiceAccountError::NotJson)?
        }
        _ => return Err(ServiceAccountError::NotJson.into()),
    };
    let kind = string(&fields.kind, "type").unwrap_or_default();
    if kind != "service_account" {
        return Err(ServiceAccountError::WrongType {
            found: kind.chars().take(40).collect(),
        }
        .into());
    }
    let project_id = string(&fields.project_id, "project_id")?;
    if !is_project_id(&project_id) {
        return Err(ServiceAccountError::InvalidProjectId.into());
    }
    let client_email = string(&fields.client_email, "client_email")?;
    if !is_service_account_email(&client_email) {
        return Err(ServiceAccountError::InvalidEmail.into());
    }
    let key_id = string(&fields.private_key_id, "private_key_id")?;
    if key_id.len() != 40 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ServiceAccountError::InvalidKeyId.into());
    }
    let token_uri = string(&fields.token_uri, "token_uri")?;
    check_token_uri(&token_uri, &opts.fcm_token_hosts)?;
    let pem = SecretString::from(string(&fields.private_key, "private_key")?);
    let key = PKey::private_key_from_pem_passphrase(pem.expose_secret().as_bytes(), b"")
        .map_err(|_| ServiceAccountError::KeyParse)?;
    match key.id() {
        Id::RSA => {}
        Id::EC => return Err(ServiceAccountError::KeyNotRsa { found: "EC" }.into()),
        Id::ED25519 => return Err(ServiceAccountError::KeyNotRsa { found: "Ed25519" }.into()),
        _ => return Err(ServiceAccountError::KeyNotRsa { found: "non-RSA" }.into()),
    }
    if key.bits() < MIN_RSA_BITS {
        return Err(ServiceAccountError::KeyTooSmall { bits: key.bits() }.into());
    }
    let fingerprint = sha256_hex(&key.public_key_to_der()?)?;
    let private_key_pem = secret_from_pem(key.private_key_to_pem_pkcs8()?)?;
    Ok(ValidatedCredential {
        kind: CredentialKind::ServiceAccount,
        bundle_id: String::new(),
        voip_topic: String::new(),
        topics: Vec::new(),
        environments: Environments {
            development: false,
            production: true,
        },
        not_before: None,
        not_after: None,
        fingerprint,
        key_id: Some(key_id),
        team_id: None,
        warnings: Vec::new(),
        fcm: Some(FcmAccount {
            project_id,
            client_email,
            token_uri,
        }),
        material: SecretMaterial::ServiceAccount { private_key_pem },
    })
}

/// The field as a non-empty string.
fn string(v: &Option<Value>, field: &'static str) -> Result<String, ServiceAccountError> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(ServiceAccountError::MissingField { field }),
    }
}

/// Google Cloud project ids: 6–30 of `[a-z0-9-]`, a letter first, no trailing hyphen.
fn is_project_id(s: &str) -> bool {
    (6..=30).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `name@project.iam.gserviceaccount.com` (and Google's older `…gserviceaccount.com` forms).
fn is_service_account_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && domain.len() > ".gserviceaccount.com".len()
        && domain.ends_with(".gserviceaccount.com")
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// `https`, a host in `allowed` (exact, case-insensitive), no credentials in the URL.
fn check_token_uri(uri: &str, allowed: &[String]) -> Result<(), ServiceAccountError> {
    let url = url::Url::parse(uri).map_err(|_| ServiceAccountError::TokenUriNotHttps)?;
    if url.scheme() != "https" || !url.username().is_empty() || url.password().is_some() {
        return Err(ServiceAccountError::TokenUriNotHttps);
    }
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(host)) {
        Ok(())
    } else {
        Err(ServiceAccountError::TokenUriNotAllowed {
            host: host.chars().take(64).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids() {
        assert!(is_project_id("pushgate-demo"));
        assert!(is_project_id("my-app-12345"));
        for bad in [
            "",
            "short",
            "Upper-case1",
            "1starts-digit",
            "ends-",
            "has_underscore",
        ] {
            assert!(!is_project_id(bad), "{bad}");
        }
    }

    #[test]
    fn service_account_emails() {
        assert!(is_service_account_email(
            "firebase-adminsdk-x1@my-app.iam.gserviceaccount.com"
        ));
        assert!(is_service_account_email(
            "my-app@appspot.gserviceaccount.com"
        ));
        for bad in [
            "alice@gmail.com",
            "@my-app.iam.gserviceaccount.com",
            "a@gserviceaccount.com",
            "a b@my-app.iam.gserviceaccount.com",
            "no-at-sign",
        ] {
            assert!(!is_service_account_email(bad), "{bad}");
        }
    }

    #[test]
    fn token_uris() {
        let google = vec![super::super::GOOGLE_TOKEN_HOST.to_owned()];
        assert!(check_token_uri("https://oauth2.googleapis.com/token", &google).is_ok());
        assert_eq!(
            check_token_uri("http://oauth2.googleapis.com/token", &google),
            Err(ServiceAccountError::TokenUriNotHttps)
        );
        assert_eq!(
            check_token_uri("https://u:p@oauth2.googleapis.com/token", &google),
            Err(ServiceAccountError::TokenUriNotHttps)
        );
        assert!(matches!(
            check_token_uri("https://127.0.0.1:8443/token", &google),
            Err(ServiceAccountError::TokenUriNotAllowed { .. })
        ));
        let local = vec!["127.0.0.1".to_owned()];
        assert!(check_token_uri("https://127.0.0.1:8443/token", &local).is_ok());
        assert_eq!(
            check_token_uri("not a url", &local),
            Err(ServiceAccountError::TokenUriNotHttps)
        );
    }
}
