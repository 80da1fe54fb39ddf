//! `POST /v1/twilio/call-notifications`: the URL an operator gives Twilio as the Client Call
//! Notification webhook. Reads the raw body and the request's URL, hands them to the webhook
//! service, and answers as Twilio expects: 200 once the notification is stored for delivery
//! (or was already), 404 when the identity has no registered device; anything else Twilio
//! logs as error 13807, so other answers are kept for real faults.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::auth::ApiKeyPrincipal;
use crate::http::error::code;
use crate::http::extract::{ApiKeyAuth, ClientIp, body_too_large, failed_from};
use crate::http::invites::view;
use crate::http::{ApiError, AppState};
use crate::invites::InviteError;
use crate::twilio::{LinkError, WebhookError, WebhookRequest};

/// The caller's API key when the request carries HTTP Basic (verified), else `None`.
pub struct MaybeApiKey(pub Option<ApiKeyPrincipal>);

impl FromRequestParts<AppState> for MaybeApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(MaybeApiKey(None));
        }
        let ApiKeyAuth(principal) = ApiKeyAuth::from_request_parts(parts, state).await?;
        Ok(MaybeApiKey(Some(principal)))
    }
}

/// A call notification from Twilio (`twi_*` keys, every value a string); relayed to each
/// device unchanged.
#[utoipa::path(post, path = "/v1/twilio/call-notifications", tag = "twilio",
    security((), ("api_key" = [])),
    request_body(content = TwilioCallNotification, content_type = "application/json"),
    params(("X-Twilio-Signature" = Option<String>, Header,
            description = "base64 HMAC-SHA1 of the URL (with bodySHA256) under the linked Twilio account's Auth Token"),
           ("bodySHA256" = Option<String>, Query, description = "hex SHA-256 of the body, added by Twilio")),
    responses((status = 200, description = "stored for delivery (or already was)", body = crate::http::invites::InviteView),
              (status = 400, description = "not a call notification (code 21603)", body = ApiError),
              (status = 401, description = "neither a valid API key nor a valid signature (21602)", body = ApiError),
              (status = 403, description = "twi_account_sid not linked to the account (21601)", body = ApiError),
              (status = 404, description = "twi_to has no registered device (21201)", body = ApiError),
              (status = 409, description = "the call SID is another invite's (21604)", body = ApiError),
              (status = 413, description = "body over max_body_bytes", body = ApiError),
              (status = 415, description = "not application/json", body = ApiError),
              (status = 429, description = "too many failed authentications (20429)", body = ApiError),
              (status = 503, description = "the database is unavailable", body = ApiError)))]
pub async fn call_notification(
    State(state): State<AppState>,
    MaybeApiKey(caller): MaybeApiKey,
    ClientIp(ip): ClientIp,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = receive(&state, caller, ip, &uri, &headers, body).await;
    let label = match &result {
        Ok(placed) if placed.created => "relayed",
        Ok(_) => "duplicate",
        Err(e) => label(e),
    };
    state
        .metrics
        .twilio_notifications
        .with_label_values(&[label])
        .inc();
    match result {
        Ok(placed) => {
            let body = view(&placed.invite, &placed.deliveries, false);
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(Refusal::Api(e)) => e.into_response(),
        Err(Refusal::Webhook(e, ip)) => refusal(&state, e, ip).into_response(),
    }
}

enum Refusal {
    Api(ApiError),
    Webhook(WebhookError, Option<std::net::IpAddr>),
}

async fn receive(
    state: &AppState,
    caller: Option<ApiKeyPrincipal>,
    ip: Option<std::net::IpAddr>,
    uri: &Uri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<crate::invites::Placed, Refusal> {
    let body = body.map_err(|e| {
        Refusal::Api(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            body_too_large()
        } else {
            ApiError::new(e.status(), code::TWILIO_NOTIFICATION_INVALID, e.body_text())
        })
    })?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json {
        return Err(Refusal::Api(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            "Twilio sends call notifications as Content-Type: application/json",
        )));
    }
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    let request = WebhookRequest {
        body: &body,
        caller,
        signature,
        urls: urls(state.config.public_url.as_deref(), uri, headers),
    };
    state
        .twilio_webhook
        .receive(request)
        .await
        .map_err(|e| Refusal::Webhook(e, ip))
}

/// The request's URL as Twilio may have signed it: on `public_url` when set, else on the
/// `Host` with either scheme; each also with the HTTP Basic credentials in it (as the webhook
/// URL an operator configures carries them).
fn urls(public_url: Option<&str>, uri: &Uri, headers: &HeaderMap) -> Vec<String> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let bases: Vec<String> = match (public_url, host) {
        (Some(base), _) => vec![base.to_owned()],
        (None, Some(host)) => vec![format!("https://{host}"), format!("http://{host}")],
        (None, None) => Vec::new(),
    };
    let userinfo = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::basic::userinfo);
    let mut out = Vec::with_capacity(bases.len() * 2);
    for base in bases {
        if let (Some(u), Some((scheme, rest))) = (&userinfo, base.split_once("://")) {
            out.push(format!("{scheme}://{u}@{rest}{path}"));
        }
        out.push(format!("{base}{path}"));
    }
    out
}

fn label(e: &Refusal) -> &'static str {
    match e {
        Refusal::Api(_) => "invalid",
        Refusal::Webhook(e, _) => match e {
            WebhookError::Unauthenticated => "unauthenticated",
            WebhookError::Invalid(_) => "invalid",
            WebhookError::Signature(_) => "signature_invalid",
            WebhookError::NotLinked => "not_linked",
            WebhookError::Invite(InviteError::NoRegistrations(_)) => "no_registrations",
            WebhookError::Invite(InviteError::CallTaken) => "call_taken",
            WebhookError::Invite(InviteError::Invalid(_) | InviteError::PayloadTooLarge { .. }) => {
                "invalid"
            }
            WebhookError::Invite(_) | WebhookError::Link(_) => "error",
        },
    }
}

fn refusal(state: &AppState, e: WebhookError, ip: Option<std::net::IpAddr>) -> ApiError {
    let message = e.to_string();
    match e {
        WebhookError::Unauthenticated => {
            ApiError::new(StatusCode::UNAUTHORIZED, code::AUTH_REQUIRED, message).challenge()
        }
        WebhookError::Invalid(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            code::TWILIO_NOTIFICATION_INVALID,
            message,
        ),
        WebhookError::Signature(_) => failed_from(
            state,
            ip,
            // A 401 names its scheme (RFC 9110): an API key over Basic is the other way in.
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                code::TWILIO_SIGNATURE_INVALID,
                message,
            )
            .challenge(),
        ),
        WebhookError::NotLinked => {
            ApiError::new(StatusCode::FORBIDDEN, code::TWILIO_NOT_LINKED, message)
        }
        WebhookError::Invite(e) => e.into(),
        WebhookError::Link(LinkError::Store(e)) => e.into(),
        WebhookError::Link(e) => ApiError::internal(&e),
    }
}

/// A Twilio call notification (documentation of the body; read as raw JSON).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TwilioCallNotification {
    /// The Twilio account (`AC…`), linked with `pushgate twilio link`.
    twi_account_sid: String,
    /// The call leg ringing the identity (`CA…`).
    twi_call_sid: String,
    /// Twilio's token, handed by the app to Twilio's SDK.
    twi_bridge_token: String,
    /// `client:alice` or a number.
    twi_from: String,
    /// `client:<identity>`: who is called.
    twi_to: String,
    /// Twilio's id of this request (`WB…`).
    twi_message_id: String,
    /// `twilio.voice.call`.
    twi_message_type: String,
    /// URL-encoded custom parameters.
    twi_params: Option<String>,
}
