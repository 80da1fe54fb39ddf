//! [`ServiceAccount`]: the parts of a Google service-account key file FCM needs.
//!
//! Validating an operator's upload (required fields, key type, project) is the credentials
//! module's job; this is the already-accepted input the provider library works from.
//! [`ServiceAccount::from_json`] is a small convenience for tests and the CLI, not intake.

use std::fmt;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// Google's OAuth2 token endpoint, the `token_uri` of every real service-account key file.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A Google service account allowed to send FCM messages. `Debug` never shows the key.
#[derive(Clone)]
pub struct ServiceAccount {
    /// The Firebase project messages are sent for (`/v1/projects/{project_id}/messages:send`).
    pub project_id: String,
    /// The account's email: the `iss` of the OAuth2 assertion.
    pub client_email: String,
    /// The key's id: the `kid` header of the assertion.
    pub private_key_id: String,
    /// RSA private key, PEM (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`).
    pub private_key: SecretString,
    /// Where assertions are exchanged for access tokens (also the assertion's `aud`).
    pub token_uri: Url,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("private_key", &"[REDACTED]")
            .field("token_uri", &self.token_uri.as_str())
            .finish()
    }
}

/// Why [`ServiceAccount::from_json`] failed. Never includes the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountJsonError {
    /// Not JSON, or a required field is missing or not a string.
    #[error("not a service account key file: {0}")]
    Shape(String),
    /// `token_uri` is not an absolute URL.
    #[error("token_uri is not a URL")]
    TokenUri,
}

#[derive(Deserialize)]
struct KeyFile {
    project_id: String,
    client_email: String,
    private_key_id: String,
    private_key: SecretString,
    token_uri: Option<String>,
}

impl ServiceAccount {
    /// Reads the fields FCM needs from a service-account key file (the JSON Google's console
    /// downloads). A missing `token_uri` means Google's ([`GOOGLE_TOKEN_URI`]). Nothing else
    /// is checked: the key is only parsed when a token is first needed.
    pub fn from_json(json: &str) -> Result<Self, AccountJsonError> {
        let file: KeyFile = serde_json::from_str(json)
            .map_err(|e| AccountJsonError::Shape(shape_error(&e).to_owned()))?;
        let token_uri = file.token_uri.as_deref().unwrap_or(GOOGLE_TOKEN_URI);
        let token_uri = Url::parse(token_uri).map_err(|_| AccountJsonError::TokenUri)?;
        Ok(Self {
            project_id: file.project_id,
            client_email: file.client_email,
            private_key_id: file.private_key_id,
            private_key: file.private_key,
            token_uri,
        })
    }
}

/// What went wrong, without serde's text (which could quote part of the key).
fn shape_error(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not valid JSON",
        serde_json::error::Category::Data => {
            "project_id, client_email, private_key_id or private_key missing or not a string"
        }
    }
}
