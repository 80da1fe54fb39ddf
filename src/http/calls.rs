//! The call lifecycle over HTTP. Phones use the invite-scoped bridge token from their push
//! (`Authorization: Bearer`) to follow the call (`/events`, Server-Sent Events) and to accept
//! or reject it; the backend (HTTP Basic) cancels it when the caller hangs up. `{sid}` may be
//! the invite SID (`IV…`) or its call SID (`CA…`, the push's `twi_call_sid`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde_json::json;
use tokio::sync::broadcast;

use super::error::code;
use super::extract::ApiKeyAuth;
use super::stream_caps::StreamSlot;
use super::{ApiError, AppState};
use crate::auth::bridge_token::BridgeClaims;
use crate::domain::{InviteSid, InviteStatus, RegistrationSid};
use crate::events::InviteChange;
use crate::store::InviteRecord;

/// A phone holding a bridge token.
pub struct BridgeAuth(pub BridgeClaims);

impl FromRequestParts<AppState> for BridgeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| crate::auth::credentials(h, "Bearer"));
        let claims = token.and_then(|t| state.engine.bridge().verify(t)).ok_or_else(|| {
            // Counted like any failed authentication (429 past the per-address limit).
            super::extract::failed(
                state,
                parts,
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    code::BRIDGE_TOKEN_INVALID,
                    "send the push's twi_bridge_token as Authorization: Bearer; it may have expired",
                ),
            )
        })?;
        Ok(BridgeAuth(claims))
    }
}

/// A call's state, as accept/reject/cancel answer it and as each event's data.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CallState {
    /// `pending`, `ringing`, `answered`, `rejected`, `canceled`, `expired` or `failed`.
    event: String,
    invite_sid: String,
    call_sid: String,
    /// The invite's status.
    status: String,
    /// The device that answered, once one did.
    registration_sid: Option<String>,
    /// Whether the device holding this bridge token answered.
    this_device: bool,
}

fn state_body(invite: &InviteRecord, me: Option<&RegistrationSid>) -> serde_json::Value {
    json!({
        "event": invite.status.event_name(),
        "invite_sid": invite.sid.as_str(),
        "call_sid": invite.call_sid.as_str(),
        "status": invite.status,
        "registration_sid": invite.answered_by,
        "this_device": me.is_some() && invite.answered_by.as_ref() == me,
    })
}

/// The phone answers; the first accept wins, later ones get 409.
#[utoipa::path(post, path = "/v1/invites/{sid}/accept", tag = "calls",
    params(("sid" = String, Path, description = "invite SID (IV…) or call SID (CA…)",
            pattern = "^(IV|CA)[0-9a-f]{32}$")),
    security(("bridge_token" = [])),
    responses((status = 200, description = "answered on this device", body = CallState),
              (status = 401, description = "bridge token missing, invalid or expired (21301)",
               body = ApiError),
              (status = 403, description = "the token is another call's (21302)", body = ApiError),
              (status = 404, description = "the invite no longer exists", body = ApiError),
              (status = 409, description = "answered elsewhere (21310), or ended (21311)",
               body = ApiError)))]
pub async fn accept(
    State(state): State<AppState>,
    BridgeAuth(claims): BridgeAuth,
    Path(sid): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let ended = state.invites.accept(&claims, &sid).await?;
    Ok(axum::Json(state_body(&ended, Some(&claims.reg))))
}

/// The phone declines; the call ends for every device.
#[utoipa::path(post, path = "/v1/invites/{sid}/reject", tag = "calls",
    params(("sid" = String, Path, description = "invite SID (IV…) or call SID (CA…)",
            pattern = "^(IV|CA)[0-9a-f]{32}$")),
    security(("bridge_token" = [])),
    responses((status = 200, description = "rejected", body = CallState),
              (status = 401, description = "bridge token missing, invalid or expired (21301)",
               body = ApiError),
              (status = 403, description = "the token is another call's (21302)", body = ApiError),
              (status = 404, description = "the invite no longer exists", body = ApiError),
              (status = 409, description = "answered elsewhere (21310), or ended (21311)",
               body = ApiError)))]
pub async fn reject(
    State(state): State<AppState>,
    BridgeAuth(claims): BridgeAuth,
    Path(sid): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let ended = state.invites.reject(&claims, &sid).await?;
    Ok(axum::Json(state_body(&ended, Some(&claims.reg))))
}

/// The caller hung up: every device's event stream hears `canceled` at once.
#[utoipa::path(post, path = "/v1/invites/{sid}/cancel", tag = "calls",
    params(("sid" = String, Path, description = "invite SID (IV…) or call SID (CA…)",
            pattern = "^(IV|CA)[0-9a-f]{32}$")),
    security(("api_key" = [])),
    responses((status = 200, description = "canceled", body = CallState),
              (status = 404, description = "no such invite in the account", body = ApiError),
              (status = 409, description = "already answered (21310) or ended (21311)",
               body = ApiError)))]
pub async fn cancel(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Path(sid): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let ended = state.invites.cancel(&caller.account, &sid).await?;
    Ok(axum::Json(state_body(&ended, None)))
}

/// Server-Sent Events of the call's state: the current state first, then each change, ending
/// at a final one (`answered` — with `this_device` —, `rejected`, `canceled`, `expired`,
/// `failed`).
#[utoipa::path(get, path = "/v1/invites/{sid}/events", tag = "calls",
    params(("sid" = String, Path, description = "invite SID (IV…) or call SID (CA…)",
            pattern = "^(IV|CA)[0-9a-f]{32}$")),
    security(("bridge_token" = [])),
    responses((status = 200, description = "Server-Sent Events: each event is named after the \
                  state and its data is a CallState", content_type = "text/event-stream",
               body = String),
              (status = 401, description = "bridge token missing, invalid or expired (21301)",
               body = ApiError),
              (status = 403, description = "the token is another call's (21302)", body = ApiError),
              (status = 404, description = "the invite no longer exists", body = ApiError),
              (status = 429, description = "too many event streams open for this call, this \
                device or this server (code 21502); see Retry-After", body = ApiError)))]
pub async fn events(
    State(state): State<AppState>,
    BridgeAuth(claims): BridgeAuth,
    Path(sid): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    // Subscribe before the first read so no change slips between them.
    let changes = state.engine.subscribe();
    let invite = state
        .invites
        .for_bridge(&claims, &sid)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let slot = state
        .event_streams
        .open(invite.sid.as_str(), claims.reg.as_str())
        .map_err(IntoResponse::into_response)?;
    let follow = Follow {
        _slot: slot,
        stopping: state.stopping.subscribe(),
        invite_sid: invite.sid.clone(),
        first: Some(invite),
        state,
        changes,
        me: claims.reg,
        last: None,
        done: false,
    };
    let stream = stream::unfold(follow, |mut f| async move {
        f.next_event().await.map(|event| (Ok(event), f))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One phone following one call.
struct Follow {
    /// This stream's place under the caps, given back when the stream is dropped.
    _slot: StreamSlot,
    state: AppState,
    stopping: tokio::sync::watch::Receiver<bool>,
    changes: broadcast::Receiver<InviteChange>,
    invite_sid: InviteSid,
    me: RegistrationSid,
    first: Option<InviteRecord>,
    last: Option<InviteStatus>,
    done: bool,
}

impl Follow {
    /// The next state the phone hasn't seen, or `None` after a final one.
    async fn next_event(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        loop {
            let invite = match self.first.take() {
                Some(invite) => invite,
                None => {
                    let change = tokio::select! {
                        change = self.changes.recv() => change,
                        // The server is draining: end the stream; the phone reconnects to
                        // another replica (or this one restarted) and gets the state first.
                        _ = self.stopping.wait_for(|stopping| *stopping) => return None,
                    };
                    match change {
                        Ok(change) if change.invite_sid != self.invite_sid => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                        // This invite changed, or we missed messages: re-read it.
                        _ => {}
                    }
                    match self.state.invites.current(&self.invite_sid).await {
                        Ok(Some(invite)) => invite,
                        _ => continue,
                    }
                }
            };
            if self.last == Some(invite.status) {
                continue;
            }
            self.last = Some(invite.status);
            self.done = invite.status.is_final();
            return Some(
                Event::default()
                    .event(invite.status.event_name())
                    .data(state_body(&invite, Some(&self.me)).to_string()),
            );
        }
    }
}
