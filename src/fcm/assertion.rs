//! The signed JWT assertion a service account trades for an access token (RFC 7523, Google's
//! "Using OAuth 2.0 for server to server applications"): RS256, header
//! `{"alg":"RS256","typ":"JWT","kid":private_key_id}`, claims `iss` = client email, `scope` =
//! [`FCM_SCOPE`], `aud` = token URI, `iat`, `exp` = `iat` + one hour (Google's maximum).

use std::fmt;
use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;

use super::access_token::TokenError;
use super::account::ServiceAccount;

/// The OAuth2 scope for sending FCM messages.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// How long an assertion is valid for (Google accepts at most one hour).
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// Signs assertions for one service account. `Debug` never shows the key.
#[derive(Clone)]
pub struct AssertionSigner {
    key: EncodingKey,
    fingerprint: String,
    key_id: String,
    client_email: String,
    token_uri: Url,
}

impl fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionSigner")
            .field("key", &"[REDACTED]")
            .field("key_id", &self.key_id)
            .field("client_email", &self.client_email)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl AssertionSigner {
    /// Parses the account's RSA key (PKCS#8 or PKCS#1 PEM) and checks that it signs.
    pub fn new(account: &ServiceAccount) -> Result<Self, TokenError> {
        let unusable = || TokenError::Signing("private_key is not an RSA private key PEM".into());
        let pem = account.private_key.expose_secret().as_bytes();
        let private = openssl::pkey::PKey::private_key_from_pem(pem).map_err(|_| unusable())?;
        let rsa = private.rsa().map_err(|_| unusable())?;
        let pkcs1 =
            secrecy::SecretBox::new(Box::new(rsa.private_key_to_der().map_err(|_| unusable())?));
        let spki = private.public_key_to_der().map_err(|_| unusable())?;
        let signer = Self {
            key: EncodingKey::from_rsa_der(pkcs1.expose_secret()),
            fingerprint: hex::encode(openssl::sha::sha256(&spki)),
            key_id: account.private_key_id.clone(),
            client_email: account.client_email.clone(),
            token_uri: account.token_uri.clone(),
        };
        signer.sign(SystemTime::UNIX_EPOCH)?;
        Ok(signer)
    }

    /// Hex SHA-256 of the public key (SPKI DER).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The `kid` assertions carry.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The `iss` assertions carry.
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// Where assertions go (their `aud`).
    pub fn token_uri(&self) -> &Url {
        &self.token_uri
    }

    /// An assertion issued at `now` (whole seconds), expiring [`ASSERTION_LIFETIME`] later.
    pub fn sign(&self, now: SystemTime) -> Result<SecretString, TokenError> {
        let iat = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.key_id.clone());
        let claims = Claims {
            iss: &self.client_email,
            scope: FCM_SCOPE,
            aud: self.token_uri.as_str(),
            iat,
            exp: iat + ASSERTION_LIFETIME.as_secs(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(SecretString::from)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }
}
