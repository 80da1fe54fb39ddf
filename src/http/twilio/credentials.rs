//! Chat's push credentials in Twilio's shape (`/v2/Credentials`, what twilio-python's
//! `client.chat.v2.credentials` and twilio-node's `client.chat.v2.credentials` speak): the same
//! credential service, validation and upload parser as `/v1/credentials`, rendered as Twilio's
//! Credential resource (`sandbox` a string, ISO 8601 dates) in Twilio's paged lists.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::super::credential_form::read_patch;
use super::super::credentials as v1;
use super::super::error::code;
use super::super::extract::ApiKeyAuth;
use super::{ApiError, AppState, BaseUrl};
use crate::credentials::manage;
use crate::domain::{CredentialSid, CredentialType};
use crate::store::CredentialRecord;

/// Page size when `PageSize` is absent (Twilio's).
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest `PageSize` (Twilio's).
pub const MAX_PAGE_SIZE: usize = 1000;
/// The largest `Page` number.
pub const MAX_PAGE: usize = 1_000_000;

/// A push credential as Twilio's Chat v2 API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwilioCredential {
    /// `CR…`.
    pub sid: String,
    pub account_sid: String,
    /// Null when the credential has none.
    pub friendly_name: Option<String>,
    /// `apn` (a certificate or a .p8 key) or `fcm`.
    #[schema(pattern = "^(apn|fcm)$")]
    pub r#type: &'static str,
    /// `"true"` or `"false"`, a string as Twilio writes it.
    #[schema(pattern = "^(true|false)$")]
    pub sandbox: &'static str,
    /// ISO 8601, e.g. `2015-07-30T20:00:00Z`.
    pub date_created: String,
    pub date_updated: String,
    /// The credential's absolute URL.
    pub url: String,
}

/// The `meta` of a Twilio list page. The libraries follow `next_page_url` as given.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageMeta {
    pub page: usize,
    pub page_size: usize,
    pub first_page_url: String,
    pub previous_page_url: Option<String>,
    pub url: String,
    pub next_page_url: Option<String>,
    /// Always `credentials`: where the page's records are.
    pub key: &'static str,
}

/// One page of the account's credentials, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwilioCredentialPage {
    pub credentials: Vec<TwilioCredential>,
    pub meta: PageMeta,
}

/// ISO 8601 as Twilio's v2 APIs write it (whole seconds, `Z`).
fn iso8601(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn view(c: &CredentialRecord, base: &str) -> TwilioCredential {
    TwilioCredential {
        sid: c.sid.to_string(),
        account_sid: c.account_sid.to_string(),
        friendly_name: (!c.friendly_name.is_empty()).then(|| c.friendly_name.clone()),
        r#type: match c.kind {
            CredentialType::Apn | CredentialType::ApnToken => "apn",
            CredentialType::Fcm => "fcm",
        },
        sandbox: if c.sandbox { "true" } else { "false" },
        date_created: iso8601(c.date_created),
        date_updated: iso8601(c.date_updated),
        url: format!("{base}/v2/Credentials/{}", c.sid),
    }
}

/// Which records a list request asks for.
#[derive(Debug, PartialEq, Eq)]
struct PageRequest {
    page: usize,
    size: usize,
    /// Index of the page's first record.
    offset: usize,
}

fn page_error(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code::TWILIO_INVALID_PAGE, message)
}

/// A decimal number without sign, at most `max`.
fn number(raw: &str, max: usize) -> Option<usize> {
    raw.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| raw.parse().ok())
        .flatten()
        .filter(|n| *n <= max)
}

/// `PageSize`, `Page` and `PageToken` as the libraries send them (other parameters are
/// ignored). The token, `PA<offset>`, is what this server put in a `next_page_url`.
fn page_request(query: Option<&str>) -> Result<PageRequest, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| page_error("the query string could not be read"))?;
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let size = match get("PageSize") {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => number(raw, MAX_PAGE_SIZE)
            .filter(|n| *n >= 1)
            .ok_or_else(|| page_error("PageSize must be a whole number from 1 to 1000"))?,
    };
    let page = match get("Page") {
        None => 0,
        Some(raw) => number(raw, MAX_PAGE)
            .ok_or_else(|| page_error("Page must be a whole number from 0 to 1000000"))?,
    };
    let offset = match get("PageToken") {
        None => page * size,
        Some(raw) => raw
            .strip_prefix("PA")
            .filter(|n| !n.is_empty() && n.len() <= 9)
            .and_then(|n| number(n, usize::MAX))
            .ok_or_else(|| page_error("PageToken must be one from a next_page_url"))?,
    };
    Ok(PageRequest { page, size, offset })
}

fn page_url(base: &str, size: usize, page: usize, offset: usize) -> String {
    let mut url = format!("{base}/v2/Credentials?PageSize={size}&Page={page}");
    if page > 0 {
        url.push_str(&format!("&PageToken=PA{offset}"));
    }
    url
}

/// Uploads a push credential (Twilio's form fields; the same validation as `/v1/credentials`).
#[utoipa::path(post, path = "/v2/Credentials", tag = "twilio",
    request_body(description = "Twilio's form fields: Type, FriendlyName, Certificate, \
        PrivateKey, Sandbox, Secret (pushgate's own fields are read too); schema in \
        twilio/openapi.rs", content(("application/x-www-form-urlencoded"))),
    security(("api_key" = [])),
    responses((status = 201, description = "created: the credential", body = TwilioCredential),
              (status = 400, description = "invalid field or key material (20001, 211xx)",
               body = ApiError)))]
pub async fn create(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    BaseUrl(base): BaseUrl,
    req: Request,
) -> Result<impl IntoResponse, ApiError> {
    let patch = read_patch(req).await?;
    let record = manage::create(
        &state.store,
        &state.master_key,
        &caller.account,
        patch,
        &state.config.intake_rules(),
    )
    .await?;
    tracing::info!(credential = %record.sid, kind = %record.kind, bundle = %record.bundle_id,
        fingerprint = %record.fingerprint, by = %caller.key, "credential created (v2)");
    Ok((StatusCode::CREATED, axum::Json(view(&record, &base))))
}

/// One page of the account's credentials.
#[utoipa::path(get, path = "/v2/Credentials", tag = "twilio",
    params(("PageSize" = Option<u32>, Query, description = "records per page (default 50)",
            minimum = 1, maximum = 1000),
           ("Page" = Option<u32>, Query, description = "page number, from 0", minimum = 0,
            maximum = 1000000),
           ("PageToken" = Option<String>, Query, description = "from a next_page_url",
            pattern = "^PA[0-9]{1,9}$")),
    security(("api_key" = [])),
    responses((status = 200, description = "a page of credentials", body = TwilioCredentialPage),
              (status = 400, description = "invalid PageSize, Page or PageToken (21618)",
               body = ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    BaseUrl(base): BaseUrl,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<TwilioCredentialPage>, ApiError> {
    let PageRequest { page, size, offset } = page_request(query.as_deref())?;
    let records = state.store.credentials(&caller.account).await?;
    let credentials: Vec<TwilioCredential> = records
        .iter()
        .skip(offset)
        .take(size)
        .map(|c| view(c, &base))
        .collect();
    let more = records.len() > offset.saturating_add(size);
    let meta = PageMeta {
        page,
        page_size: size,
        first_page_url: page_url(&base, size, 0, 0),
        previous_page_url: (page > 0 && offset > 0)
            .then(|| page_url(&base, size, page - 1, offset.saturating_sub(size))),
        url: page_url(&base, size, page, offset),
        next_page_url: more.then(|| page_url(&base, size, page + 1, offset + size)),
        key: "credentials",
    };
    Ok(axum::Json(TwilioCredentialPage { credentials, meta }))
}

fn parse_sid(sid: &str) -> Result<CredentialSid, ApiError> {
    CredentialSid::parse(sid).map_err(|_| ApiError::not_found("credential"))
}

/// One credential.
#[utoipa::path(get, path = "/v2/Credentials/{Sid}", tag = "twilio",
    params(("Sid" = String, Path, description = "credential SID (CR…)",
            pattern = "^CR[0-9a-f]{32}$")),
    security(("api_key" = [])),
    responses((status = 200, description = "the credential", body = TwilioCredential),
              (status = 404, description = "no such credential in the account", body = ApiError)))]
pub async fn fetch(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    BaseUrl(base): BaseUrl,
    Path(sid): Path<String>,
) -> Result<axum::Json<TwilioCredential>, ApiError> {
    let sid = parse_sid(&sid)?;
    let record = state
        .store
        .credential(&caller.account, &sid)
        .await?
        .ok_or_else(|| ApiError::not_found("credential"))?;
    Ok(axum::Json(view(&record, &base)))
}

/// Updates a credential: its friendly name, sandbox flag or key material (validated again);
/// registrations are kept.
#[utoipa::path(post, path = "/v2/Credentials/{Sid}", tag = "twilio",
    params(("Sid" = String, Path, description = "credential SID (CR…)",
            pattern = "^CR[0-9a-f]{32}$")),
    request_body(description = "the same fields as creation; absent fields keep their value",
        content(("application/x-www-form-urlencoded"))),
    security(("api_key" = [])),
    responses((status = 200, description = "the credential", body = TwilioCredential),
              (status = 400, description = "invalid field or key material (20001, 211xx)",
               body = ApiError),
              (status = 404, description = "no such credential in the account", body = ApiError)))]
pub async fn update(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    BaseUrl(base): BaseUrl,
    Path(sid): Path<String>,
    req: Request,
) -> Result<axum::Json<TwilioCredential>, ApiError> {
    let sid = parse_sid(&sid)?;
    let patch = read_patch(req).await?;
    let record = state
        .rotate_credential(&caller.account, &sid, patch)
        .await?;
    tracing::info!(credential = %record.sid, fingerprint = %record.fingerprint,
        by = %caller.key, "credential updated (v2)");
    Ok(axum::Json(view(&record, &base)))
}

/// Deletes a credential and its registrations.
#[utoipa::path(delete, path = "/v2/Credentials/{Sid}", tag = "twilio",
    params(("Sid" = String, Path, description = "credential SID (CR…)",
            pattern = "^CR[0-9a-f]{32}$")),
    security(("api_key" = [])),
    responses((status = 204, description = "deleted with its registrations"),
              (status = 404, description = "no such credential in the account", body = ApiError)))]
pub async fn remove(
    state: State<AppState>,
    caller: ApiKeyAuth,
    sid: Path<String>,
) -> Result<StatusCode, ApiError> {
    v1::remove(state, caller, sid).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_as_the_libraries_ask_for_them() {
        let p = |q| page_request(Some(q)).map_err(|e| e.code);
        assert_eq!(
            page_request(None).unwrap(),
            PageRequest {
                page: 0,
                size: 50,
                offset: 0
            }
        );
        assert_eq!(
            p("PageSize=2&Page=1&PageToken=PA2"),
            Ok(PageRequest {
                page: 1,
                size: 2,
                offset: 2
            })
        );
        assert_eq!(
            p("PageSize=3&Page=2"),
            Ok(PageRequest {
                page: 2,
                size: 3,
                offset: 6
            })
        );
        for bad in [
            "PageSize=0",
            "PageSize=1001",
            "PageSize=-1",
            "Page=x",
            "PageToken=PB1",
            "PageToken=PA",
            "PageSize=+5",
        ] {
            assert_eq!(p(bad), Err(code::TWILIO_INVALID_PAGE), "{bad}");
        }
        assert_eq!(
            page_url("http://h", 2, 1, 2),
            "http://h/v2/Credentials?PageSize=2&Page=1&PageToken=PA2"
        );
        assert_eq!(iso8601(1_438_286_400_000), "2015-07-30T20:00:00Z");
    }
}
