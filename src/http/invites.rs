//! `/v1/invites`: the backend says "call alice". Parses the request into a [`NewInvite`],
//! calls the invites service and renders the invite; the rules live in [`crate::invites`].

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiKeyAuth, Json};
use super::{ApiError, AppState};
use crate::clock::rfc3339;
use crate::domain::Platform;
use crate::invites::{InviteError, InviteFields, NewInvite};
use crate::store::{DeliveryRecord, InviteRecord};

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
    /// `apn` (an iPhone, through APNs) or `fcm` (an Android phone, through FCM).
    pub platform: String,
    /// The APNs environment (`production` for FCM deliveries).
    pub environment: String,
    /// `queued`, `retrying`, `accepted`, `failed` or `expired`.
    pub status: String,
    pub attempts: i64,
    /// The provider's last HTTP status.
    pub provider_status: Option<i64>,
    /// The provider's reason: APNs `reason`, FCM `errorCode`, or pushgate's outcome label.
    pub provider_reason: Option<String>,
    /// The provider's id of the push: APNs `apns-id`, FCM message `name`.
    pub provider_id: Option<String>,
    /// `provider_status` of an APNs delivery (null for FCM).
    pub apns_status: Option<i64>,
    /// `provider_reason` of an APNs delivery (null for FCM).
    pub apns_reason: Option<String>,
    /// `provider_id` of an APNs delivery (null for FCM).
    pub apns_id: Option<String>,
    /// Milliseconds from the invite's acceptance to the provider accepting this push.
    pub latency_ms: Option<i64>,
}

/// An invite.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteView {
    pub sid: String,
    pub call_sid: String,
    pub account_sid: String,
    /// `call` (pushgate's own), or `twilio_webhook` (a notification from Twilio's Call
    /// Notification webhook, relayed unchanged).
    pub kind: String,
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

pub(super) fn view(
    invite: &InviteRecord,
    deliveries: &[DeliveryRecord],
    with_deliveries: bool,
) -> InviteView {
    InviteView {
        sid: invite.sid.to_string(),
        call_sid: invite.call_sid.to_string(),
        account_sid: invite.account_sid.to_string(),
        kind: invite.kind.as_str().to_owned(),
        status: invite.status.as_str().to_owned(),
        to: invite.to_identity.to_string(),
        from: invite.caller.clone(),
        devices: deliveries.len(),
        date_created: rfc3339(invite.date_created),
        expires_at: rfc3339(invite.expires_at),
        url: format!("/v1/invites/{}", invite.sid),
        deliveries: with_deliveries.then(|| {
            deliveries
                .iter()
                .map(|d| {
                    let apns = d.platform == Platform::Apns;
                    DeliveryView {
                        registration_sid: d.registration_sid.to_string(),
                        platform: d.platform.as_str().to_owned(),
                        environment: d.environment.as_str().to_owned(),
                        status: d.status.as_str().to_owned(),
                        attempts: d.attempts,
                        provider_status: d.apns_status,
                        provider_reason: d.apns_reason.clone(),
                        provider_id: d.apns_id.clone(),
                        apns_status: d.apns_status.filter(|_| apns),
                        apns_reason: d.apns_reason.clone().filter(|_| apns),
                        apns_id: d.apns_id.clone().filter(|_| apns),
                        latency_ms: d.accepted_at.map(|t| t - invite.date_created),
                    }
                })
                .collect()
        }),
    }
}

impl From<CreateInviteBody> for InviteFields {
    fn from(b: CreateInviteBody) -> Self {
        Self {
            to: b.to,
            from: b.from,
            call_sid: b.call_sid,
            params: b.params,
            ttl: b.ttl,
            status_callback: b.status_callback,
            cancel_push: b.cancel_push,
        }
    }
}

/// Rings every registered device of `to`.
#[utoipa::path(post, path = "/v1/invites", tag = "invites", request_body = CreateInviteBody,
    security(("api_key" = [])),
    responses((status = 202, description = "accepted and durable: the invite", body = InviteView,
               headers(("Location" = String, description = "the invite's URL"))),
              (status = 400, description = "invalid field (20001, 20xxx), or the push would \
                  exceed APNs's VoIP payload limit (21202)", body = ApiError),
              (status = 404, description = "no registrations for `to` (21201)", body = ApiError),
              (status = 503, description = "the database is unavailable, or too many invites \
                  are waiting for it (20503); retry after `Retry-After` when given", body = ApiError,
               headers(("Retry-After" = u32, description = "seconds, when too many invites are waiting")))))]
pub async fn create(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Json(body): Json<CreateInviteBody>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewInvite::try_from(InviteFields::from(body)).map_err(InviteError::from)?;
    let placed = state.invites.place(&caller, new).await?;
    let body = view(&placed.invite, &placed.deliveries, false);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, body.url.clone())],
        axum::Json(body),
    ))
}

/// Query of `GET /v1/invites/{sid}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Hold the reply up to this many milliseconds until every device has a final outcome;
    /// values over 10000 wait 10000.
    #[param(nullable = false, minimum = 0, maximum = 9223372036854775807_i64)]
    pub wait: Option<i64>,
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
    let wait = match query.wait {
        Some(ms) if ms < 0 => return Err(ApiError::invalid("wait must be 0 or more milliseconds")),
        ms => Duration::from_millis(ms.unwrap_or(0).unsigned_abs()),
    };
    let (invite, deliveries) = state
        .invites
        .wait_settled(&caller.account, &sid, wait)
        .await?;
    Ok(axum::Json(view(&invite, &deliveries, true)))
}
