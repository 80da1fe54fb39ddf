//! `/v1/registrations`: phones register and unregister their VoIP device tokens with an
//! access token; operators list and remove registrations with an API key.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::error::code;
use super::extract::{ApiKeyAuth, Caller, Json, PhoneAuth, token_refused};
use super::{ApiError, AppState};
use crate::auth::TokenError;
use crate::clock::rfc3339;
use crate::domain::{DeviceToken, Identity, Platform, RegistrationSid};
use crate::registrations::{Register, RegistrationError, Scope};
use crate::store::Registration;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 1000;

/// Body of `POST /v1/registrations`: the mobile SDK's wire format
/// (`channel_type` + `data.registration_id`) or the plain form (`binding_type` + `address`).
/// Read field by field (see [`RegisterDevice::read`]) so that what is accepted is exactly what
/// the schema below describes: `null` is the same as absent, other fields are ignored.
pub struct RegisterDevice {
    platform: Platform,
    device_token: DeviceToken,
}

/// A hex APNs device token (32–100 bytes) or an FCM registration token (32–4096 of
/// `A-Za-z0-9-_:`), surrounding ASCII whitespace ignored.
const DEVICE_TOKEN_PATTERN: &str =
    r"^[\t\n\f\r ]*(([0-9a-fA-F]{2}){32,100}|[A-Za-z0-9_:-]{32,4096})[\t\n\f\r ]*$";

impl RegisterDevice {
    /// The body's JSON Schema (utoipa's schema types cannot say `anyOf` of `required`s).
    pub fn schema() -> serde_json::Value {
        let token = |description: &str| {
            json!({"type": ["string", "null"], "pattern": DEVICE_TOKEN_PATTERN,
                   "description": description})
        };
        let present = |name: &str, schema: serde_json::Value| json!({"required": [name], "properties": {name: schema}});
        json!({
            "type": "object",
            "description": "The SDK form `{\"channel_type\":\"apn\",\"data\":{\"registration_id\":…}}` \
                or the plain form `{\"binding_type\":\"apn\",\"address\":…}`. `null` counts as \
                absent; when both names of a value are given, both must be valid and the SDK's wins.",
            "properties": {
                "channel_type": {"description": "`apn` or `fcm` (SDK form)", "enum": ["apn", "fcm", null]},
                "binding_type": {"description": "`apn` or `fcm` (plain form)", "enum": ["apn", "fcm", null]},
                "message_types": {"type": ["array", "null"], "items": {"type": "string"},
                                  "description": "e.g. `[\"twilio.voice.call\"]`; not used"},
                "data": {"type": ["object", "null"],
                         "properties": {"registration_id": token("the APNs hex device token or the FCM registration token (SDK form)")}},
                "address": token("the device token (plain form)"),
                "version": {"type": ["string", "null"],
                            "description": "wire format version sent by the SDK, e.g. `\"3\"`; not used"},
            },
            "allOf": [
                {"anyOf": [present("channel_type", json!({"type": "string"})),
                           present("binding_type", json!({"type": "string"}))]},
                {"anyOf": [present("data", json!({"type": "object",
                               "required": ["registration_id"],
                               "properties": {"registration_id": {"type": "string"}}})),
                           present("address", json!({"type": "string"}))]},
            ],
            "example": {"channel_type": "apn", "message_types": ["twilio.voice.call"],
                        "data": {"registration_id": "ab".repeat(32)}, "version": "3"},
        })
    }
}

/// A field that must be a string when present; `null` is absent.
fn opt_str<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<Option<&'a str>, ApiError> {
    match map.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            code::MALFORMED_JSON,
            format!("{key} must be a string"),
        )),
    }
}

impl RegisterDevice {
    /// Reads and validates the body.
    fn read(body: &serde_json::Map<String, serde_json::Value>) -> Result<Self, ApiError> {
        let malformed =
            |m: &str| ApiError::new(StatusCode::BAD_REQUEST, code::MALFORMED_JSON, m.to_owned());
        match body.get("message_types") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Array(items)) if items.iter().all(|i| i.is_string()) => {}
            Some(_) => return Err(malformed("message_types must be an array of strings")),
        }
        opt_str(body, "version")?;
        let data = match body.get("data") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Object(data)) => opt_str(data, "registration_id")?,
            Some(_) => return Err(malformed("data must be an object")),
        };
        let types = [
            opt_str(body, "channel_type")?,
            opt_str(body, "binding_type")?,
        ];
        let mut platforms = Vec::with_capacity(2);
        for t in types.iter().flatten() {
            platforms.push(t.parse::<Platform>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    code::UNSUPPORTED_BINDING_TYPE,
                    format!("channel type {t:?} is not supported: use \"apn\" or \"fcm\""),
                )
            })?);
        }
        let platform = *platforms.first().ok_or_else(|| {
            ApiError::invalid("channel_type (or binding_type) is required: \"apn\" or \"fcm\"")
        })?;
        if platforms.iter().any(|p| *p != platform) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                code::UNSUPPORTED_BINDING_TYPE,
                "channel_type and binding_type name different platforms",
            ));
        }
        let tokens = [data, opt_str(body, "address")?];
        let mut parsed = Vec::with_capacity(2);
        for raw in tokens.into_iter().flatten() {
            parsed.push(DeviceToken::parse_for(platform, raw)?);
        }
        let device_token = parsed.into_iter().next().ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                code::INVALID_DEVICE_TOKEN,
                "device token missing: send data.registration_id (or address)",
            )
        })?;
        Ok(Self {
            platform,
            device_token,
        })
    }
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
            binding_type: r.platform.as_str().to_owned(),
            address: r.device_token.short(),
            environment: r.environment.map(|e| e.as_str().to_owned()),
            state: r.state.as_str().to_owned(),
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
    request_body(description = "RegisterDevice (schema in openapi.rs)",
        content(("application/json"))),
    security(("access_token" = []), ("access_token_bearer" = [])),
    responses((status = 201, description = "created: the registration", body = RegistrationView,
               headers(("Location" = String, description = "the registration's URL"))),
              (status = 400, description = "invalid body: unsupported channel type (21005), \
                  device token missing or invalid (21004)", body = ApiError),
              (status = 401, description = "access token missing or invalid (201xx), or its \
                  push credential is not the account's (20106)", body = ApiError)))]
pub async fn register(
    State(state): State<AppState>,
    PhoneAuth(phone): PhoneAuth,
    Json(body): Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<impl IntoResponse, ApiError> {
    let RegisterDevice {
        platform,
        device_token,
    } = RegisterDevice::read(&body)?;
    let upserted = state
        .registrations
        .register(Register {
            account: phone.account,
            credential: phone.push_credential,
            identity: phone.identity,
            platform,
            device_token,
        })
        .await
        .map_err(|e| match e {
            // A refused access token grant, counted like every token rejection.
            RegistrationError::UnknownCredential => token_refused(
                &state,
                TokenError::BadGrants(crate::registrations::UNKNOWN_CREDENTIAL),
            ),
            other => other.into(),
        })?;
    let r = &upserted.registration;
    let view = RegistrationView::from(r);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location(&r.sid))],
        axum::Json(view),
    ))
}

/// Fetches one registration: the owning phone's, or any of the account's with an API key.
#[utoipa::path(get, path = "/v1/registrations/{sid}", tag = "registrations",
    params(("sid" = String, Path, description = "registration SID (BS…)", pattern = "^BS[0-9a-f]{32}$")),
    security(("access_token" = []), ("access_token_bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "the registration", body = RegistrationView),
              (status = 404, description = "no such registration, or another identity's",
               body = ApiError)))]
pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<axum::Json<RegistrationView>, ApiError> {
    let sid = RegistrationSid::parse(&sid).map_err(|_| ApiError::not_found("registration"))?;
    let r = state.registrations.get(scope(&caller), &sid).await?;
    Ok(axum::Json(RegistrationView::from(&r)))
}

/// Removes a registration: the owning phone's own (access token), or any of the account's
/// (API key). Another identity's registration is reported as not found.
#[utoipa::path(delete, path = "/v1/registrations/{sid}", tag = "registrations",
    params(("sid" = String, Path, description = "registration SID (BS…)", pattern = "^BS[0-9a-f]{32}$")),
    security(("access_token" = []), ("access_token_bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "removed"),
              (status = 404, description = "no such registration, or another identity's",
               body = ApiError)))]
pub async fn unregister(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sid = RegistrationSid::parse(&sid).map_err(|_| ApiError::not_found("registration"))?;
    state.registrations.remove(scope(&caller), &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn scope(caller: &Caller) -> Scope<'_> {
    match caller {
        Caller::Phone(phone) => Scope {
            account: &phone.account,
            identity: Some(&phone.identity),
        },
        Caller::ApiKey(key) => Scope {
            account: &key.account,
            identity: None,
        },
    }
}

/// Query of `GET /v1/registrations`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this identity's registrations.
    #[param(
        nullable = false,
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub identity: Option<String>,
    /// Page size, 1–1000 (default 50).
    #[param(nullable = false, minimum = 1, maximum = 1000)]
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    #[param(nullable = false, pattern = "^BS[0-9a-f]{32}$")]
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
    responses((status = 200, description = "one page of registrations", body = RegistrationList),
              (status = 400, description = "invalid query parameter", body = ApiError)))]
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
        .registrations
        .list(
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
