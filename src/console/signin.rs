//! Signing in (an API key SID and secret) and out. A failed sign-in counts against the
//! failed-authentication limiter like a failed API authentication (429 past the limit).

use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{CLEAR_COOKIE, ConsoleError, code};
use super::gate::{self, Fields, Submitted};
use super::layout;
use crate::auth::console_session::SignInError;
use crate::http::{ApiError, AppState};

/// Why the sign-in page is shown.
#[derive(Deserialize)]
pub struct Reason {
    reason: Option<String>,
}

fn reason_text(reason: Option<&str>) -> Option<&'static str> {
    match reason? {
        "expired" => Some("Your session ended after a while without use: sign in again."),
        "revoked" => Some("The API key you signed in with was revoked: sign in with another."),
        "signed-out" => Some("Sign in to continue."),
        "bye" => Some("You are signed out."),
        _ => None,
    }
}

fn render(error: Option<(u32, &str)>, notice: Option<&str>, sid: &str) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            section.signin {
                h1 { "pushgate console" }
                (layout::notice(notice))
                p { "Sign in with an API key: its SID (" code { "SK…" } ") and secret, as "
                    code { "pushgate init" } " or " code { "pushgate keys create" } " printed them." }
                form method="post" action="/console/sign-in" {
                    label for="sid" { "API key SID" }
                    input id="sid" name="sid" required autocomplete="username" value=(sid)
                        placeholder="SK…" spellcheck="false";
                    label for="secret" { "Secret" }
                    input id="secret" name="secret" type="password" required
                        autocomplete="current-password";
                    @if let Some((code, message)) = error {
                        p.field-error role="alert" { "Error " code.code { (code) } ": " (message) }
                    }
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// `GET /console/sign-in`.
pub async fn form(Query(q): Query<Reason>) -> Markup {
    render(None, reason_text(q.reason.as_deref()), "")
}

/// `POST /console/sign-in`: on success, the session cookie and the overview.
pub async fn submit(State(state): State<AppState>, req: Request) -> Result<Response, ConsoleError> {
    let (parts, body) = req.into_parts();
    gate::same_origin(&parts, state.config.public_url.as_deref())?;
    let client = crate::http::client_ip(&parts);
    let fields = Fields::read(Request::from_parts(parts, body)).await?;
    let sid = fields.text("sid").unwrap_or("").to_owned();
    let secret = fields.text("secret").unwrap_or("");
    match gate::sessions(&state).sign_in(&sid, secret, client).await {
        Ok(new) => {
            tracing::info!(key = %new.session.principal.key, "console sign-in");
            let mut res = (StatusCode::SEE_OTHER, [(header::LOCATION, "/console")]).into_response();
            let cookie = gate::session_cookie(&state, &new.id);
            res.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).expect("a cookie of hex and ASCII"),
            );
            Ok(res)
        }
        Err(SignInError::Failed) => Ok((
            StatusCode::UNAUTHORIZED,
            render(
                Some((
                    code::SIGN_IN_FAILED,
                    "unknown or revoked API key, or wrong secret",
                )),
                None,
                &sid,
            ),
        )
            .into_response()),
        Err(e @ SignInError::Limited(after)) => {
            let limited = ApiError::auth_rate_limited(after.as_secs());
            let message = e.to_string();
            Ok((
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, after.as_secs().to_string())],
                render(Some((limited.code, &message)), None, &sid),
            )
                .into_response())
        }
        Err(SignInError::Auth(e)) => Err(ApiError::from(e).into()),
        Err(SignInError::Store(e)) => Err(e.into()),
    }
}

/// `POST /console/sign-out`.
pub async fn sign_out(
    State(state): State<AppState>,
    submitted: Submitted,
) -> Result<Response, ConsoleError> {
    gate::sessions(&state).end(&submitted.session).await?;
    let mut res = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, "/console/sign-in?reason=bye")],
    )
        .into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static(CLEAR_COOKIE));
    Ok(res)
}
