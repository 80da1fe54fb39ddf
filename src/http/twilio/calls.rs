//! Twilio's Calls API for `client:` targets: `POST …/Calls.json` places the invite its form
//! describes (`call_form.rs`) through the invites service and keeps the Twilio-only fields
//! beside it; `GET …/Calls/{Sid}.json` reads it; `POST …/Calls/{Sid}.json` with
//! `Status=canceled|completed` hangs it up. Rendered as Twilio's Call resource (`call_view.rs`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::super::error::code;
use super::super::extract::ApiKeyAuth;
use super::call_form::{CreateCallForm, UpdateCallForm, bad, parse_create};
use super::call_view::{CallResource, call_resource};
use super::form::TwilioForm;
use super::{ApiError, AppState, same_account};

/// Rings `To` (a `client:` identity) as Twilio's Calls API would.
#[utoipa::path(post, path = "/2010-04-01/Accounts/{AccountSid}/Calls.json", tag = "twilio",
    params(("AccountSid" = String, Path, description = "the API key's account (AC…)",
            pattern = "^AC[0-9a-f]{32}$")),
    request_body(content = CreateCallForm, content_type = "application/x-www-form-urlencoded"),
    security(("api_key" = [])),
    responses((status = 201, description = "placed: the Call resource, `queued`",
               body = CallResource),
              (status = 400, description = "To is not client:<identity> (21610); a parameter \
                  is missing (21611) or invalid (21612–21617, 20001); the push would be too \
                  large (21202)", body = ApiError),
              (status = 404, description = "AccountSid is not the API key's account (20404), \
                  or the identity has no registered phones (21201)", body = ApiError)))]
pub async fn create(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Path(account): Path<String>,
    form: TwilioForm,
) -> Result<impl IntoResponse, ApiError> {
    same_account(&caller, &account)?;
    let request = parse_create(&form)?;
    let placed =
        crate::twilio::calls::place(&state.invites, &state.store, &caller, request).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(call_resource(&placed.invite)),
    ))
}

/// The call SID (`CA…`) named by a `{Sid}.json` path segment; anything else names no call.
fn call_sid_of(file: &str) -> Result<&str, ApiError> {
    file.strip_suffix(".json")
        .filter(|sid| crate::domain::CallSid::parse(sid).is_ok())
        .ok_or_else(|| ApiError::not_found("call"))
}

/// The call, with its status in Twilio's words.
#[utoipa::path(get, path = "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json", tag = "twilio",
    params(("AccountSid" = String, Path, description = "the API key's account (AC…)",
            pattern = "^AC[0-9a-f]{32}$"),
           ("Sid" = String, Path, description = "the call SID (CA…)",
            pattern = "^CA[0-9a-f]{32}$")),
    security(("api_key" = [])),
    responses((status = 200, description = "the Call resource", body = CallResource),
              (status = 404, description = "no such call in the account (20404)",
               body = ApiError)))]
pub async fn fetch(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Path((account, file)): Path<(String, String)>,
) -> Result<axum::Json<CallResource>, ApiError> {
    same_account(&caller, &account)?;
    let invite = state
        .invites
        .find(&caller.account, call_sid_of(&file)?)
        .await?;
    Ok(axum::Json(call_resource(&invite)))
}

/// Hangs the call up (`Status=canceled` or `completed`) while it is queued or ringing; a call
/// already ended is returned unchanged, as Twilio does.
#[utoipa::path(post, path = "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json", tag = "twilio",
    params(("AccountSid" = String, Path, description = "the API key's account (AC…)",
            pattern = "^AC[0-9a-f]{32}$"),
           ("Sid" = String, Path, description = "the call SID (CA…)",
            pattern = "^CA[0-9a-f]{32}$")),
    request_body(content = UpdateCallForm, content_type = "application/x-www-form-urlencoded"),
    security(("api_key" = [])),
    responses((status = 200, description = "the Call resource after the update",
               body = CallResource),
              (status = 400, description = "Status is missing or not canceled/completed \
                  (21616)", body = ApiError),
              (status = 404, description = "no such call in the account (20404)",
               body = ApiError)))]
pub async fn update(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Path((account, file)): Path<(String, String)>,
    form: TwilioForm,
) -> Result<axum::Json<CallResource>, ApiError> {
    same_account(&caller, &account)?;
    let sid = call_sid_of(&file)?;
    match form.one("Status") {
        Some("canceled" | "completed") => {}
        _ => {
            return Err(bad(
                code::TWILIO_UNSUPPORTED_UPDATE,
                "only hanging up is served: send Status=canceled or Status=completed \
                 (pushgate carries no media, so a call can't be redirected to new TwiML)",
            ));
        }
    }
    let ended = state.invites.hang_up(&caller.account, sid).await?;
    Ok(axum::Json(call_resource(&ended)))
}
