//! `/v1/registrations`: phones register and unregister their VoIP device tokens with an
//! access token; operators list and remove registrations with an API key.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::code;
use super::extract::{ApiKeyAuth, Caller, Json, PhoneAuth};
use super::{ApiError, AppState};
use crate::auth::TokenError;
use crate::clock::{now_ms, rfc3339};
use crate::domain::{DeviceToken, Identity, RegistrationSid};
use crate::store::{NewRegistration, Registration};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 1000;

/// Body of `POST /v1/registrations`: the mobile SDK's wire format
/// (`channel_type` + `data.registration_id`) or the plain form (`binding_type` + `address`).
#[derive(Debug, Deserialize, ToSchema)]
// `message_types` and `version` are accepted for wire compatibility; pushgate relays calls only.
#[allow(dead_code)]
pub struct RegisterDevice {
    /// `apn` (SDK form).
    pub channel_type: Option<String>,
    /// `apn` (plain form).
    pub binding_type: Option<String>,
    /// e.g. `["twilio.voice.call"]`.
    pub message_types: Option<Vec<String>>,
    /// `{"registration_id": "<hex device token>"}` (SDK form).
    pub data: Option<RegistrationData>,
    /// The hex device token (plain form).
    pub address: Option<String>,
    /// Wire format version sent by the SDK (e.g. `"3"`).
    pub version: Option<String>,
}

/// `data` of the SDK wire format.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegistrationData {
    pub registration_id: Option<String>,
}

/// A registration as the API shows it; the device token only shortened.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationView {
    pub sid: String,
    pub account_sid: String,
    pub identity: String,
    pub credential_sid: String,
    pub binding_type: String,
    /// The device token, shortened (first 8 and last 4 hex characters).
    pub address: String,
    /// `production` / `sandbox` once learned from APNs, else null.
    pub environment: Option<String>,
    pub state: String,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
}

impl From<&Registration> for RegistrationView {
    fn from(r: &Registration) -> Self {
        Self {
            sid: r.sid.to_string(),
            account_sid: r.account_sid.to_string(),
            identity: r.identity.to_string(),
            credential_sid: r.credential_sid.to_string(),
            binding_type: r.binding_type.clone(),
            address: r.device_token.short(),
            environment: r.environment.clone(),
            state: r.state.clone(),
            date_created: rfc3339(r.date_created),
            date_updated: rfc3339(r.date_updated),
            url: location(&r.sid),
        }
    }
}

fn location(sid: &RegistrationSid) -> String {
    format!("/v1/registrations/{sid}")
}

/// Registers (or refreshes) the calling phone's device token for the token's identity and
/// push credential.
#[utoipa::path(post, path = "/v1/registrations", tag = "registrations",
    request_body = RegisterDevice, security(("access_token" = [])),
    responses((status = 201, body = RegistrationView,
               headers(("Location" = String, description = "the registration's URL"))),
              (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 415, body = ApiError)))]
pub async fn register(
    State(state): State<AppState>,
    PhoneAuth(phone): PhoneAuth,
    Json(body): Json<RegisterDevice>,
) -> Result<impl IntoResponse, ApiError> {
    let binding_type = body.channel_type.or(body.binding_type).ok_or_else(|| {
        ApiError::invalid("channel_type (or binding_type) is required: use \"apn\"")
    })?;
    if binding_type != "apn" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            code::UNSUPPORTED_BINDING_TYPE,
            format!("channel type {binding_type:?} is not supported: use \"apn\""),
        ));
    }
    let raw_token = body
        .data
        .and_then(|d| d.registration_id)
        .or(body.address)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                code::INVALID_DEVICE_TOKEN,
                "device token missing: send data.registration_id (or address)",
            )
        })?;
    let device_token = DeviceToken::parse(&raw_token)?;
    if !state
        .store
        .credential_exists(&phone.account, &phone.push_credential)
        .await?
    {
        return Err(TokenError::BadGrants(
            "grants.voice.push_credential_sid is not a credential of this account",
        )
        .into());
    }
    let new = NewRegistration {
        account_sid: phone.account,
        credential_sid: phone.push_credential,
        identity: phone.identity,
        binding_type,
        device_token,
    };
    let max = state.config.max_registrations_per_identity;
    let upserted = state.store.upsert_registration(&new, max, now_ms()).await?;
    let r = &upserted.registration;
    let change = match (&upserted.moved_from, upserted.created) {
        (Some(_), _) => "moved",
        (None, true) => "registered",
        (None, false) => "refreshed",
    };
    let changes = &crate::metrics::METRICS.registration_changes;
    changes.with_label_values(&[change]).inc();
    changes
        .with_label_values(&["retired_identity_limit"])
        .inc_by(upserted.retired.len() as u64);
    tracing::info!(
        registration = %r.sid, identity = %r.identity, token = %r.device_token,
        created = upserted.created, moved_from = ?upserted.moved_from, "device registered"
    );
    for retired in &upserted.retired {
        tracing::info!(
            registration = %retired.sid, identity = %retired.identity,
            token = %retired.device_token, reason = "identity_limit", "registration retired"
        );
    }
    let view = RegistrationView::from(r);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location(&r.sid))],
        axum::Json(view),
    ))
}

/// Fetches one registration: the owning phone's, or any of the account's with an API key.
#[utoipa::path(get, path = "/v1/registrations/{sid}", tag = "registrations",
    params(("sid" = String, Path, description = "registration SID (BS…)")),
    security(("access_token" = []), ("api_key" = [])),
    responses((status = 200, body = RegistrationView), (status = 404, body = ApiError)))]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<axum::Json<RegistrationView>, ApiError> {
    let sid = RegistrationSid::parse(&sid).map_err(|_| ApiError::not_found("registration"))?;
    let (account, identity) = scope(&caller);
    let found = state.store.registration(account, &sid).await?;
    match found {
        Some(r) if identity.is_none_or(|i| *i == r.identity) => {
            Ok(axum::Json(RegistrationView::from(&r)))
        }
        _ => Err(ApiError::not_found("registration")),
    }
}

/// Removes a registration: the owning phone's own (access token), or any of the account's
/// (API key). Another identity's registration is reported as not found.
#[utoipa::path(delete, path = "/v1/registrations/{sid}", tag = "registrations",
    params(("sid" = String, Path, description = "registration SID (BS…)")),
    security(("access_token" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = ApiError), (status = 401, body = ApiError)))]
pub async fn unregister(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sid = RegistrationSid::parse(&sid).map_err(|_| ApiError::not_found("registration"))?;
    let (account, identity) = scope(&caller);
    if !state
        .store
        .delete_registration(account, &sid, identity)
        .await?
    {
        return Err(ApiError::not_found("registration"));
    }
    crate::metrics::METRICS
        .registration_changes
        .with_label_values(&["unregistered"])
        .inc();
    tracing::info!(registration = %sid, reason = "unregistered", "registration removed");
    Ok(StatusCode::NO_CONTENT)
}

fn scope(caller: &Caller) -> (&crate::domain::AccountSid, Option<&Identity>) {
    match caller {
        Caller::Phone(phone) => (&phone.account, Some(&phone.identity)),
        Caller::ApiKey(key) => (&key.account, None),
    }
}

/// Query of `GET /v1/registrations`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this identity's registrations.
    pub identity: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// One page of registrations.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationList {
    pub registrations: Vec<RegistrationView>,
    pub meta: PageMeta,
}

/// Paging information.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageMeta {
    pub page_size: u32,
    /// Pass as `page_token` to get the next page; null on the last page.
    pub next_page_token: Option<String>,
}

/// Lists the account's registrations, optionally for one identity, paginated.
#[utoipa::path(get, path = "/v1/registrations", tag = "registrations", params(ListQuery),
    security(("api_key" = [])),
    responses((status = 200, body = RegistrationList), (status = 400, body = ApiError),
              (status = 401, body = ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<RegistrationList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let identity = query.identity.as_deref().map(Identity::parse).transpose()?;
    let page_size = query.page_size.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&page_size) {
        return Err(ApiError::invalid("page_size must be between 1 and 1000"));
    }
    let after = query
        .page_token
        .as_deref()
        .map(RegistrationSid::parse)
        .transpose()
        .map_err(|_| ApiError::invalid("page_token is not one this API returned"))?;
    let page = state
        .store
        .registrations(
            &caller.account,
            identity.as_ref(),
            after.as_ref(),
            page_size,
        )
        .await?;
    Ok(axum::Json(RegistrationList {
        registrations: page
            .registrations
            .iter()
            .map(RegistrationView::from)
            .collect(),
        meta: PageMeta {
            page_size,
            next_page_token: page.next_page_token,
        },
    }))
}
