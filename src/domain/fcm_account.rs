//! An FCM credential's public facts.

/// What an FCM service account is for, beside its key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FcmAccount {
    /// The Firebase project the app's tokens belong to.
    pub project_id: String,
    /// The service account's address (the assertion's `iss`).
    pub client_email: String,
    /// Where assertions are exchanged for access tokens.
    pub token_uri: String,
}
