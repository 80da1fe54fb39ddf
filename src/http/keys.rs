//! `/v1/keys`: API keys of the caller's account. The secret is returned once, at creation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::code;
use super::extract::{ApiKeyAuth, Json};
use super::{ApiError, AppState};
use crate::auth::key_admin::{self, CreateKeyError};
use crate::clock::rfc3339;
use crate::domain::ApiKeySid;
use crate::store::{ApiKeyRecord, RevokeOutcome};

/// Body of `POST /v1/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A name to recognise the key by (at most 64 characters). `FriendlyName` is read too.
    #[serde(default, alias = "FriendlyName")]
    #[schema(max_length = 64)]
    pub friendly_name: Option<String>,
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: String,
    pub date_created: String,
    pub date_revoked: Option<String>,
}

/// A key just created: the only response that includes the secret.
#[derive(Serialize, ToSchema)]
pub struct CreatedKeyView {
    #[serde(flatten)]
    pub key: KeyView,
    /// Shown once; store it now.
    pub secret: String,
}

/// The account's keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

impl From<&ApiKeyRecord> for KeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            sid: k.sid.to_string(),
            account_sid: k.account_sid.to_string(),
            friendly_name: k.friendly_name.clone(),
            date_created: rfc3339(k.date_created),
            date_revoked: k.date_revoked.map(rfc3339),
        }
    }
}

/// Creates an API key for the caller's account.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKey,
    security(("api_key" = [])),
    responses((status = 201, description = "created: the key, with its secret (shown only here)", body = CreatedKeyView),
              (status = 400, description = "invalid body", body = ApiError)))]
pub async fn create(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Json(body): Json<CreateKey>,
) -> Result<impl IntoResponse, ApiError> {
    let name = body.friendly_name.unwrap_or_default();
    let created = key_admin::create(
        &state.store,
        &state.master_key,
        &state.keys,
        &caller.account,
        &name,
    )
    .await
    .map_err(|e| match e {
        CreateKeyError::NameTooLong => ApiError::invalid(e.to_string()),
        CreateKeyError::Auth(e) => e.into(),
    })?;
    tracing::info!(key = %created.record.sid, by = %caller.key, "API key created");
    let view = CreatedKeyView {
        key: KeyView::from(&created.record),
        secret: created.secret.expose_secret().to_owned(),
    };
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// Lists the account's API keys (secrets are never listed).
#[utoipa::path(get, path = "/v1/keys", tag = "keys", security(("api_key" = [])),
    responses((status = 200, description = "the account's keys (never secrets)", body = KeyList)))]
pub async fn list(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
) -> Result<axum::Json<KeyList>, ApiError> {
    let keys = state.store.api_keys(&caller.account).await?;
    Ok(axum::Json(KeyList {
        keys: keys.iter().map(KeyView::from).collect(),
    }))
}

/// Revokes an API key; tokens signed with it stop working at once.
#[utoipa::path(delete, path = "/v1/keys/{sid}", tag = "keys", security(("api_key" = [])),
    params(("sid" = String, Path, description = "API key SID (SK…)", pattern = "^SK[0-9a-f]{32}$")),
    responses((status = 204, description = "revoked"),
              (status = 404, description = "no such active key in the account", body = ApiError),
              (status = 409, description = "the account's last active key", body = ApiError)))]
pub async fn revoke(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Path(sid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sid = ApiKeySid::parse(&sid).map_err(|_| ApiError::not_found("API key"))?;
    match key_admin::revoke(&state.store, &state.keys, &caller.account, &sid).await? {
        RevokeOutcome::Revoked => {
            tracing::info!(key = %sid, by = %caller.key, "API key revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        RevokeOutcome::NotFound => Err(ApiError::not_found("API key")),
        RevokeOutcome::LastKey => Err(ApiError::new(
            StatusCode::CONFLICT,
            code::LAST_API_KEY,
            key_admin::LAST_KEY,
        )),
    }
}
