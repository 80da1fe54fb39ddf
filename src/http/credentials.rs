//! `/v1/credentials`: APNs push credentials of the caller's account. Responses describe a
//! credential (topics, environments, expiry, fingerprint, health) and never reveal key
//! material, passwords or `.p12` bytes.

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::credential_form::read_patch;
use super::extract::ApiKeyAuth;
use super::{ApiError, AppState};
use crate::clock::{now_secs, rfc3339};
use crate::credentials::manage::{self, CredentialPatch, ManageError, health};
use crate::domain::{AccountSid, CredentialSid};
use crate::store::CredentialRecord;

/// A credential as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialView {
    pub sid: String,
    pub account_sid: String,
    /// `apn` (certificate), `apn_token` (.p8 signing key) or `fcm` (service account).
    pub r#type: String,
    pub friendly_name: String,
    /// Whether pushes default to the development (sandbox) environment.
    pub sandbox: bool,
    pub bundle_id: String,
    /// The topic VoIP pushes are sent to (`<bundle>.voip`).
    pub voip_topic: String,
    /// Topics the credential may push to.
    pub topics: Vec<String>,
    /// `development` and/or `production`.
    pub environments: Vec<String>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    /// SHA-256 of the certificate (or of the .p8 public key), hex.
    pub fingerprint: String,
    /// The .p8 Key ID, or the service account's `private_key_id`.
    pub key_id: Option<String>,
    pub team_id: Option<String>,
    /// FCM: the Firebase project id.
    pub project_id: Option<String>,
    /// FCM: the service account's address.
    pub client_email: Option<String>,
    /// `ok`, `expiring`, `expired` or `rejected`.
    pub health: String,
    /// Why the provider (APNs, or FCM's token endpoint) rejected the credential, when it did.
    pub health_reason: Option<String>,
    pub warnings: Vec<String>,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
}

/// The account's credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialList {
    pub credentials: Vec<CredentialView>,
}

fn view(c: &CredentialRecord, window: i64) -> CredentialView {
    let mut environments = Vec::new();
    if c.env_development {
        environments.push("development".to_owned());
    }
    if c.env_production {
        environments.push("production".to_owned());
    }
    CredentialView {
        sid: c.sid.to_string(),
        account_sid: c.account_sid.to_string(),
        r#type: c.kind.as_str().to_owned(),
        friendly_name: c.friendly_name.clone(),
        sandbox: c.sandbox,
        bundle_id: c.bundle_id.clone(),
        voip_topic: c.voip_topic.clone(),
        topics: c.topics.clone(),
        environments,
        not_before: c.not_before.map(|s| rfc3339(s * 1000)),
        not_after: c.not_after.map(|s| rfc3339(s * 1000)),
        fingerprint: c.fingerprint.clone(),
        key_id: c.key_id.clone(),
        team_id: c.team_id.clone(),
        project_id: c.fcm.as_ref().map(|f| f.project_id.clone()),
        client_email: c.fcm.as_ref().map(|f| f.client_email.clone()),
        health: health(c, now_secs(), window).as_str().to_owned(),
        health_reason: c.rejected_reason.clone(),
        warnings: c.warnings.clone(),
        date_created: rfc3339(c.date_created),
        date_updated: rfc3339(c.date_updated),
        url: format!("/v1/credentials/{}", c.sid),
    }
}

/// 503: every credential validation slot is taken (`max_concurrent_credential_validations`).
pub const VALIDATION_BUSY: u32 = 21148;

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Invalid(e) => {
                ApiError::new(StatusCode::BAD_REQUEST, u32::from(e.code()), e.message())
            }
            ManageError::BadRequest(message) => ApiError::invalid(message),
            ManageError::NotFound => ApiError::not_found("credential"),
            ManageError::Store(e) => e.into(),
            ManageError::Secrets(e) => ApiError::internal(&e),
            ManageError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                VALIDATION_BUSY,
                ManageError::Busy.to_string(),
            )
            .retry_after(crate::credentials::limit::RETRY_AFTER_SECS),
        }
    }
}

fn parse_sid(sid: &str) -> Result<CredentialSid, ApiError> {
    CredentialSid::parse(sid).map_err(|_| ApiError::not_found("credential"))
}

/// Uploads a credential: JSON, multipart form (file parts) or Twilio form fields.
#[utoipa::path(post, path = "/v1/credentials", tag = "credentials",
    request_body(description = "JSON, multipart/form-data (p12 as a file part) or Twilio-style \
        x-www-form-urlencoded fields; schemas in openapi.rs (CredentialUpload)",
        content(("application/json"), ("multipart/form-data"),
                ("application/x-www-form-urlencoded"))),
    security(("api_key" = [])),
    responses((status = 201, description = "created: the credential", body = CredentialView,
               headers(("Location" = String, description = "the credential's URL"))),
              (status = 400, description = "invalid body or key material (20001, 211xx)",
               body = ApiError)))]
pub async fn create(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    req: Request,
) -> Result<impl IntoResponse, ApiError> {
    let patch = read_patch(req).await?;
    let window = state.config.expiry_warning_secs();
    let record = manage::create(
        &state.store,
        &state.master_key,
        &caller.account,
        patch,
        &state.config.intake_rules(),
    )
    .await?;
    tracing::info!(credential = %record.sid, kind = %record.kind, bundle = %record.bundle_id,
        fingerprint = %record.fingerprint, by = %caller.key, "credential created");
    let body = view(&record, window);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, body.url.clone())],
        axum::Json(body),
    ))
}

/// Lists the account's credentials.
#[utoipa::path(get, path = "/v1/credentials", tag = "credentials", security(("api_key" = [])),
    responses((status = 200, description = "the account's credentials", body = CredentialList)))]
pub async fn list(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
) -> Result<axum::Json<CredentialList>, ApiError> {
    let window = state.config.expiry_warning_secs();
    let records = state.store.credentials(&caller.account).await?;
    Ok(axum::Json(CredentialList {
        credentials: records.iter().map(|c| view(c, window)).collect(),
    }))
}

/// Describes one credential.
#[utoipa::path(get, path = "/v1/credentials/{sid}", tag = "credentials",
    params(("sid" = String, Path, description = "credential SID (CR…)", pattern = "^CR[0-9a-f]{32}$")),
    security(("api_key" = [])),
    responses((status = 200, description = "the credential", body = CredentialView),
              (status = 404, description = "no such credential in the account", body = ApiError)))]
pub async fn fetch(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Path(sid): Path<String>,
) -> Result<axum::Json<CredentialView>, ApiError> {
    let sid = parse_sid(&sid)?;
    let record = state
        .store
        .credential(&caller.account, &sid)
        .await?
        .ok_or_else(|| ApiError::not_found("credential"))?;
    Ok(axum::Json(view(
        &record,
        state.config.expiry_warning_secs(),
    )))
}

/// Rotates a credential: new key material and/or flags; registrations are kept.
#[utoipa::path(post, path = "/v1/credentials/{sid}", tag = "credentials",
    params(("sid" = String, Path, description = "credential SID (CR…)", pattern = "^CR[0-9a-f]{32}$")),
    request_body(description = "the same fields as creation; absent fields keep their value",
        content(("application/json"), ("multipart/form-data"),
                ("application/x-www-form-urlencoded"))),
    security(("api_key" = [])),
    responses((status = 200, description = "the credential", body = CredentialView),
              (status = 400, description = "invalid body or key material (20001, 211xx)",
               body = ApiError),
              (status = 404, description = "no such credential in the account", body = ApiError)))]
pub async fn rotate(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Path(sid): Path<String>,
    req: Request,
) -> Result<axum::Json<CredentialView>, ApiError> {
    let sid = parse_sid(&sid)?;
    let patch = read_patch(req).await?;
    let window = state.config.expiry_warning_secs();
    let record = state
        .rotate_credential(&caller.account, &sid, patch)
        .await?;
    tracing::info!(credential = %record.sid, fingerprint = %record.fingerprint,
        by = %caller.key, "credential rotated");
    Ok(axum::Json(view(&record, window)))
}

/// Deletes a credential and its registrations.
#[utoipa::path(delete, path = "/v1/credentials/{sid}", tag = "credentials",
    params(("sid" = String, Path, description = "credential SID (CR…)", pattern = "^CR[0-9a-f]{32}$")),
    security(("api_key" = [])),
    responses((status = 204, description = "deleted with its registrations"),
              (status = 404, description = "no such credential in the account", body = ApiError)))]
pub async fn remove(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Path(sid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sid = parse_sid(&sid)?;
    match state.delete_credential(&caller.account, &sid).await? {
        Some(registrations) => {
            tracing::info!(credential = %sid, registrations, by = %caller.key,
                "credential deleted with its registrations");
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(ApiError::not_found("credential")),
    }
}

/// What the API and the console both do to an account's credentials, with the engine told
/// when its clients must be rebuilt.
impl AppState {
    /// Rotates `sid` (new material and/or flags); its provider clients are rebuilt.
    pub async fn rotate_credential(
        &self,
        account: &AccountSid,
        sid: &CredentialSid,
        patch: CredentialPatch,
    ) -> Result<CredentialRecord, ManageError> {
        let record = manage::rotate(
            &self.store,
            &self.master_key,
            account,
            sid,
            patch,
            &self.config.intake_rules(),
        )
        .await?;
        self.engine.invalidate_credential(record.sid.as_str());
        Ok(record)
    }

    /// Deletes `sid` with its registrations; `None` if the account has no such credential.
    pub async fn delete_credential(
        &self,
        account: &AccountSid,
        sid: &CredentialSid,
    ) -> Result<Option<u64>, crate::store::StoreError> {
        let deleted = self.store.delete_credential(account, sid).await?;
        if let Some(registrations) = deleted {
            self.engine.invalidate_credential(sid.as_str());
            self.metrics
                .registration_changes
                .with_label_values(&["deleted_with_credential"])
                .inc_by(registrations);
        }
        Ok(deleted)
    }
}
