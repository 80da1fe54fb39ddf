//! `/v1/invites`: the backend says "call alice". The invite and one delivery per registration
//! are written in one transaction before the 202; then every phone rings at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::code;
use super::extract::{ApiKeyAuth, Json};
use super::{ApiError, AppState};
use crate::apns::MAX_VOIP_PAYLOAD;
use crate::auth::ApiKeyPrincipal;
use crate::clock::{now_ms, rfc3339};
use crate::delivery::{DeliveryJob, InviteInfo, call_payload, params_query};
use crate::domain::{CallSid, CredentialSid, Identity, InviteSid};
use crate::store::{CreateInvite, DeliveryRecord, InviteRecord};

const DEFAULT_TTL: u32 = 30;
const MAX_TTL: u32 = 300;
const MAX_WAIT_MS: u64 = 10_000;
/// The longest `?wait=` a request may hold.
pub const MAX_WAIT: Duration = Duration::from_millis(MAX_WAIT_MS);

/// Body of `POST /v1/invites`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInviteBody {
    /// The identity to ring (`alice`, or `client:alice`): 1–256 characters without control
    /// characters, after the optional `client:` prefix.
    #[schema(pattern = r"^(client:)?[^\u0000-\u001f\u007f-\u009f]{1,256}$")]
    pub to: String,
    /// The caller, e.g. `client:bob` or `+15551234567`: 1–256 characters without control
    /// characters.
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]{1,256}$")]
    pub from: String,
    /// `CA` + 32 hex; generated when absent. Posting the same one again returns the existing
    /// invite and sends nothing new.
    #[schema(pattern = "^CA[0-9a-f]{32}$")]
    pub call_sid: Option<String>,
    /// Custom parameters, delivered as `twi_params` (a URL query string). The whole push must
    /// fit APNs's 5120-byte VoIP limit (else 400, code 21202).
    pub params: Option<BTreeMap<String, String>>,
    /// Seconds the call may ring (default 30, at most 300).
    #[schema(minimum = 1, maximum = 300)]
    pub ttl: Option<u32>,
    /// URL that receives the invite's state changes (http or https, at most 2048 bytes);
    /// loopback, private and link-local address literals and `localhost` are refused unless
    /// listed in `status_callback_allowed_hosts`.
    #[schema(max_length = 2048)]
    pub status_callback: Option<String>,
    /// `voip` to also send legacy `twilio.voice.cancel` VoIP pushes when the call ends
    /// (for apps on the older pattern; see the README for Apple's rule). Default `none`.
    #[schema(value_type = Option<CancelPush>)]
    pub cancel_push: Option<String>,
}

/// Values of `cancel_push` (documentation only; the field is read as text).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum CancelPush {
    Voip,
    None,
}

/// One device's part of an invite.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub registration_sid: String,
    pub environment: String,
    /// `queued`, `retrying`, `accepted`, `failed` or `expired`.
    pub status: String,
    pub attempts: i64,
    pub apns_status: Option<i64>,
    pub apns_reason: Option<String>,
    pub apns_id: Option<String>,
    /// Milliseconds from the invite's acceptance to APNs accepting this push.
    pub latency_ms: Option<i64>,
}

/// An invite.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteView {
    pub sid: String,
    pub call_sid: String,
    pub account_sid: String,
    /// `queued`, `sending`, `delivered` (a device accepted it), `failed` or `expired`.
    pub status: String,
    pub to: String,
    pub from: String,
    /// How many devices the invite targets.
    pub devices: usize,
    pub date_created: String,
    pub expires_at: String,
    pub url: String,
    /// Per-device outcomes (on reads; not in the 202).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<Vec<DeliveryView>>,
}

fn view(invite: &InviteRecord, deliveries: &[DeliveryRecord], with_deliveries: bool) -> InviteView {
    InviteView {
        sid: invite.sid.to_string(),
        call_sid: invite.call_sid.to_string(),
        account_sid: invite.account_sid.to_string(),
        status: invite.status.clone(),
        to: invite.to_identity.to_string(),
        from: invite.caller.clone(),
        devices: deliveries.len(),
        date_created: rfc3339(invite.date_created),
        expires_at: rfc3339(invite.expires_at),
        url: format!("/v1/invites/{}", invite.sid),
        deliveries: with_deliveries.then(|| {
            deliveries
                .iter()
                .map(|d| DeliveryView {
                    registration_sid: d.registration_sid.clone(),
                    environment: d.environment.clone(),
                    status: d.status.clone(),
                    attempts: d.attempts,
                    apns_status: d.apns_status,
                    apns_reason: d.apns_reason.clone(),
                    apns_id: d.apns_id.clone(),
                    latency_ms: d.accepted_at.map(|t| t - invite.date_created),
                })
                .collect()
        }),
    }
}

fn invalid_field(message: impl Into<String>) -> ApiError {
    ApiError::invalid(message)
}

/// Rings every registered device of `to`.
#[utoipa::path(post, path = "/v1/invites", tag = "invites", request_body = CreateInviteBody,
    security(("api_key" = [])),
    responses((status = 202, description = "accepted and durable: the invite", body = InviteView,
               headers(("Location" = String, description = "the invite's URL"))),
              (status = 400, description = "invalid field (20001, 20xxx), or the push would \
                  exceed APNs's VoIP payload limit (21202)", body = ApiError),
              (status = 404, description = "no registrations for `to` (21201)", body = ApiError)))]
pub async fn create(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Json(body): Json<CreateInviteBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (invite, deliveries) = place(&state, &caller, body).await?;
    let body = view(&invite, &deliveries, false);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, body.url.clone())],
        axum::Json(body),
    ))
}

/// Validates and places an invite for `caller`: the existing one for a known call SID, or a
/// new one written with its deliveries and handed to the delivery engine.
pub async fn place(
    state: &AppState,
    caller: &ApiKeyPrincipal,
    body: CreateInviteBody,
) -> Result<(InviteRecord, Vec<DeliveryRecord>), ApiError> {
    // `client:` alone is the identity "client:", as the description's pattern reads it.
    let to = body
        .to
        .strip_prefix("client:")
        .filter(|rest| !rest.is_empty())
        .unwrap_or(&body.to);
    let to = Identity::parse(to)?;
    let from_len = body.from.chars().count();
    if from_len == 0 || from_len > 256 || body.from.chars().any(char::is_control) {
        return Err(invalid_field(
            "from must be 1-256 printable characters, e.g. client:bob",
        ));
    }
    let call_sid = match &body.call_sid {
        Some(s) => CallSid::parse(s)?,
        None => CallSid::generate(),
    };
    let ttl = body.ttl.unwrap_or(DEFAULT_TTL);
    if !(1..=MAX_TTL).contains(&ttl) {
        return Err(invalid_field("ttl must be between 1 and 300 seconds"));
    }
    let status_callback = match &body.status_callback {
        Some(url) => Some(
            crate::calls::callbacks::check_url(url, &state.config.status_callback_allowed_hosts)
                .map_err(invalid_field)?,
        ),
        None => None,
    };
    let cancel_push = match body.cancel_push.as_deref() {
        None | Some("none") => None,
        Some("voip") => Some("voip".to_owned()),
        Some(_) => return Err(invalid_field("cancel_push must be \"voip\" or \"none\"")),
    };
    // A repeated call SID is caught by the insert itself (no lookup on the hot path).
    let registrations = state
        .store
        .active_registrations(&caller.account, &to)
        .await?;
    if registrations.is_empty() {
        if let Some(existing) = state
            .store
            .invite_by_call(&caller.account, &call_sid)
            .await?
        {
            return existing_invite(state, existing).await;
        }
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            code::NO_REGISTRATIONS,
            format!("{to} has no registered devices"),
        ));
    }
    let now = now_ms();
    let invite = InviteRecord {
        sid: InviteSid::generate(),
        account_sid: caller.account.clone(),
        call_sid,
        to_identity: to,
        caller: body.from,
        params: body.params.as_ref().and_then(params_query),
        status: "queued".into(),
        status_callback: status_callback.map(|url| url.as_str().to_owned()),
        api_key_sid: Some(caller.key.to_string()),
        answered_by: None,
        cancel_push,
        expires_at: now + i64::from(ttl) * 1000,
        date_created: now,
        date_updated: now,
    };
    let mut deliveries = Vec::with_capacity(registrations.len());
    for r in &registrations {
        let environment = match &r.environment {
            Some(env) => env.clone(),
            None => default_environment(state, &caller.account, &r.credential_sid).await,
        };
        deliveries.push(DeliveryRecord {
            id: Uuid::new_v4().to_string(),
            invite_sid: invite.sid.to_string(),
            registration_sid: r.sid.to_string(),
            credential_sid: r.credential_sid.to_string(),
            device_token: r.device_token.as_hex().to_owned(),
            environment,
            status: "queued".into(),
            attempts: 0,
            apns_status: None,
            apns_reason: None,
            apns_id: None,
            accepted_at: None,
            date_updated: now,
        });
    }
    let info = Arc::new(InviteInfo::from(&invite));
    let jobs: Vec<DeliveryJob> = deliveries
        .iter()
        .filter_map(|d| DeliveryJob::from_record(d, info.clone()))
        .collect();
    check_payload_size(state, &jobs)?;
    match state.store.create_invite(&invite, &deliveries).await? {
        CreateInvite::Existing(existing) => return existing_invite(state, *existing).await,
        CreateInvite::Created => {
            state.metrics.invites_accepted.inc();
            state.engine.enqueue(jobs);
            state
                .calls
                .schedule_expiry(invite.sid.to_string(), invite.expires_at);
        }
    }
    tracing::info!(invite = %invite.sid, call = %invite.call_sid, to = %invite.to_identity,
        devices = deliveries.len(), "invite accepted");
    Ok((invite, deliveries))
}

async fn existing_invite(
    state: &AppState,
    invite: InviteRecord,
) -> Result<(InviteRecord, Vec<DeliveryRecord>), ApiError> {
    let deliveries = state.store.deliveries(&invite.sid).await?;
    Ok((invite, deliveries))
}

async fn default_environment(
    state: &AppState,
    account: &crate::domain::AccountSid,
    credential: &CredentialSid,
) -> String {
    match state.engine.clients().get(account, credential).await {
        Ok(entry) => entry.default_environment().as_str().to_owned(),
        // The delivery will fail with the credential's problem; the environment is moot.
        Err(_) => crate::apns::Environment::Production.as_str().to_owned(),
    }
}

/// Refuses an invite whose push would exceed APNs's VoIP payload limit.
fn check_payload_size(state: &AppState, jobs: &[DeliveryJob]) -> Result<(), ApiError> {
    // Every device's payload has the same size (SIDs and UUIDs are fixed-length): one suffices.
    if let Some(job) = jobs.first() {
        let token = state.engine.bridge().sign(
            &job.invite.sid,
            &job.registration_sid,
            job.invite.expires_at,
        );
        let size = call_payload(job, &token).len();
        if size > MAX_VOIP_PAYLOAD {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                code::PAYLOAD_TOO_LARGE,
                format!(
                    "the push would be {size} bytes, over APNs's {MAX_VOIP_PAYLOAD}-byte VoIP limit: \
                     shorten params or from"
                ),
            ));
        }
    }
    Ok(())
}

/// Query of `GET /v1/invites/{sid}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Hold the reply up to this many milliseconds until every device has a final outcome;
    /// values over 10000 wait 10000.
    #[param(nullable = false, minimum = 0, maximum = 18446744073709551615_u64)]
    pub wait: Option<u64>,
}

/// The invite with each device's outcome.
#[utoipa::path(get, path = "/v1/invites/{sid}", tag = "invites",
    params(("sid" = String, Path, description = "invite SID (IV…) or call SID (CA…)",
            pattern = "^(IV|CA)[0-9a-f]{32}$"), WaitQuery),
    security(("api_key" = [])),
    responses((status = 200, description = "the invite", body = InviteView),
              (status = 400, description = "invalid query parameter", body = ApiError),
              (status = 404, description = "no such invite in the account", body = ApiError)))]
pub async fn fetch(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Path(sid): Path<String>,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<InviteView>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let sid = super::calls::account_invite(&state, &caller.account, &sid)
        .await?
        .sid;
    let wait = Duration::from_millis(query.wait.unwrap_or(0).min(MAX_WAIT_MS));
    let deadline = tokio::time::Instant::now() + wait;
    // Subscribe before reading so no change slips between the read and the wait.
    let mut changes = state.engine.subscribe();
    loop {
        // Deliveries first: the invite's status is updated in the same transaction as the
        // deliveries, so the invite read after them is at least as fresh.
        let deliveries = state.store.deliveries(&sid).await?;
        let invite = state
            .store
            .invite(&caller.account, &sid)
            .await?
            .ok_or_else(|| ApiError::not_found("invite"))?;
        let open = deliveries
            .iter()
            .any(|d| d.status == "queued" || d.status == "retrying");
        if !open || tokio::time::Instant::now() >= deadline {
            return Ok(axum::Json(view(&invite, &deliveries, true)));
        }
        loop {
            match tokio::time::timeout_at(deadline, changes.recv()).await {
                Err(_) => break,
                Ok(Ok(change)) if change.invite_sid != sid.as_str() => continue,
                Ok(_) => break,
            }
        }
    }
}
