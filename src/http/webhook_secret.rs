//! `/v1/webhook-secret`: the caller's account's status callback signing secret, replaced and
//! shown once per request.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiKeyAuth;
use super::{ApiError, AppState};
use crate::invites::webhook_secret::{self, WebhookSecretError};

/// A webhook signing secret just made: the only response that includes it.
#[derive(Serialize, ToSchema)]
pub struct WebhookSecretView {
    pub account_sid: String,
    /// Shown once; store it now. Status callbacks are signed with it from now on.
    pub secret: String,
}

/// Query of `POST /v1/webhook-secret`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RotateQuery {
    /// Keep the replaced secret signing beside the new one for this many seconds (a second
    /// `v1=` in `X-Pushgate-Signature`), so receivers can switch without a gap; 0 or absent:
    /// it stops at once. At most 604800 (7 days).
    #[param(nullable = false, minimum = 0, maximum = 604800)]
    pub overlap_seconds: Option<u32>,
}

/// Replaces the account's webhook signing secret; callbacks sent from now on are signed with
/// the new one (the old one stops at once, or after `overlap_seconds`).
#[utoipa::path(post, path = "/v1/webhook-secret", tag = "webhooks", security(("api_key" = [])),
    params(RotateQuery),
    responses((status = 201, description = "the new secret, shown this once",
               body = WebhookSecretView),
              (status = 400, description = "overlap_seconds is not a whole number 0-604800 \
                (code 20001)", body = ApiError),
              (status = 401, description = "API key missing, invalid or revoked", body = ApiError),
              (status = 429, description = "too many failed authentications from this address \
                (code 20429); see Retry-After", body = ApiError),
              (status = 503, description = "the database is unavailable; retry shortly",
               body = ApiError)))]
pub async fn rotate(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    query: Result<Query<RotateQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let overlap = query
        .overlap_seconds
        .map(|s| std::time::Duration::from_secs(s.into()));
    if overlap.is_some_and(|o| o > webhook_secret::MAX_OVERLAP) {
        return Err(ApiError::invalid(
            "overlap_seconds must be at most 604800 (7 days)",
        ));
    }
    let secret = webhook_secret::rotate(&state.store, &state.master_key, &caller.account, overlap)
        .await
        .map_err(|e| match e {
            WebhookSecretError::Store(store) => ApiError::from(store),
            other => ApiError::internal(&other),
        })?;
    tracing::info!(account = %caller.account, by = %caller.key, "webhook signing secret replaced");
    let view = WebhookSecretView {
        account_sid: caller.account.to_string(),
        secret: secret.expose_secret().to_owned(),
    };
    Ok((StatusCode::CREATED, axum::Json(view)))
}
