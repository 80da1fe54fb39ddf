//! `/v1/twilio/links`: the Twilio accounts whose call notifications ring the caller's account.
//! The Auth Token goes in once, sealed; no response ever includes it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::rfc3339;
use crate::domain::AccountSid;
use crate::http::error::code;
use crate::http::extract::{ApiKeyAuth, Json};
use crate::http::{ApiError, AppState};
use crate::twilio::{LinkError, NewLink, TwilioLink};

/// Body of `POST /v1/twilio/links`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLink {
    /// The Twilio account SID (`AC` + 32 hex) whose notifications are accepted.
    #[schema(pattern = "^AC[0-9a-f]{32}$")]
    pub twilio_account_sid: String,
    /// The Twilio account's Auth Token (32 hex): checks `X-Twilio-Signature`. Never shown.
    #[schema(value_type = String, pattern = "^[0-9a-fA-F]{32}$")]
    pub auth_token: SecretString,
    /// Seconds each notification's phones ring (default 30, at most 300).
    #[schema(minimum = 1, maximum = 300)]
    pub ring_timeout: Option<u32>,
}

/// A link (never the Auth Token).
#[derive(Serialize, ToSchema)]
pub struct LinkView {
    pub twilio_account_sid: String,
    pub account_sid: String,
    pub ring_timeout: u32,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
}

/// The account's links.
#[derive(Serialize, ToSchema)]
pub struct LinkList {
    pub links: Vec<LinkView>,
}

fn view(l: &TwilioLink) -> LinkView {
    LinkView {
        twilio_account_sid: l.twilio_account.to_string(),
        account_sid: l.account.to_string(),
        ring_timeout: l.ring_timeout_secs,
        date_created: rfc3339(l.date_created),
        date_updated: rfc3339(l.date_updated),
        url: format!("/v1/twilio/links/{}", l.twilio_account),
    }
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        let message = e.to_string();
        match e {
            LinkError::Invalid(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, code::TWILIO_LINK_INVALID, message)
            }
            LinkError::LinkedElsewhere => {
                ApiError::new(StatusCode::CONFLICT, code::TWILIO_LINKED_ELSEWHERE, message)
            }
            LinkError::NotFound => ApiError::not_found("twilio link"),
            LinkError::Store(store) => store.into(),
            LinkError::Secrets(s) => ApiError::internal(&s),
        }
    }
}

/// Links a Twilio account to the caller's account (again: replaces its token and timeout).
#[utoipa::path(post, path = "/v1/twilio/links", tag = "twilio", security(("api_key" = [])),
    request_body = CreateLink,
    responses((status = 201, description = "linked", body = LinkView),
              (status = 400, description = "invalid SID, token or timeout (21605)", body = ApiError),
              (status = 401, description = "API key missing, invalid or revoked", body = ApiError),
              (status = 409, description = "linked to another account (21606)", body = ApiError),
              (status = 429, description = "too many failed authentications (20429)", body = ApiError),
              (status = 503, description = "the database is unavailable", body = ApiError)))]
pub async fn create(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Json(body): Json<CreateLink>,
) -> Result<impl IntoResponse, ApiError> {
    let twilio_account = AccountSid::parse(&body.twilio_account_sid).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            code::TWILIO_LINK_INVALID,
            e.to_string(),
        )
    })?;
    let link = state
        .twilio_links
        .link(
            &caller.account,
            NewLink {
                twilio_account,
                auth_token: body.auth_token,
                ring_timeout_secs: body.ring_timeout,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(view(&link))))
}

/// The Twilio accounts linked to the caller's account.
#[utoipa::path(get, path = "/v1/twilio/links", tag = "twilio", security(("api_key" = [])),
    responses((status = 200, description = "the links", body = LinkList),
              (status = 401, description = "API key missing, invalid or revoked", body = ApiError),
              (status = 429, description = "too many failed authentications (20429)", body = ApiError),
              (status = 503, description = "the database is unavailable", body = ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
) -> Result<impl IntoResponse, ApiError> {
    let links = state.twilio_links.list(&caller.account).await?;
    Ok(axum::Json(LinkList {
        links: links.iter().map(view).collect(),
    }))
}

/// Unlinks a Twilio account: its notifications are refused (403) from now on.
#[utoipa::path(delete, path = "/v1/twilio/links/{sid}", tag = "twilio", security(("api_key" = [])),
    params(("sid" = String, Path, description = "the Twilio account SID")),
    responses((status = 204, description = "unlinked"),
              (status = 401, description = "API key missing, invalid or revoked", body = ApiError),
              (status = 404, description = "not linked to this account", body = ApiError),
              (status = 429, description = "too many failed authentications (20429)", body = ApiError),
              (status = 503, description = "the database is unavailable", body = ApiError)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Path(sid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let sid = AccountSid::parse(&sid).map_err(|_| ApiError::not_found("twilio link"))?;
    state.twilio_links.unlink(&caller.account, &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
