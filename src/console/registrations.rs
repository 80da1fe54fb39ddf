//! The registrations page: an identity's devices (or the account's first page of them), each
//! with its platform, environment, state (active, or invalid with the reason), last use and
//! credential, through the registrations service the API uses; removing one. The search
//! updates as you type (htmx) and is a plain GET form without JavaScript. Device tokens are
//! only ever shown shortened.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::ConsoleError;
use super::gate::{Operator, Submitted};
use super::layout::{self, Nav, badge, csrf_field, when, when_opt};
use crate::auth::console_session::ConsoleSession;
use crate::domain::{Identity, RegistrationSid, RegistrationState};
use crate::http::{ApiError, AppState};
use crate::registrations::Scope;
use crate::store::Registration;

/// Registrations shown at once.
const PAGE: u32 = 50;

/// `?identity=…&after=…&done=…`.
#[derive(Deserialize)]
pub struct Search {
    identity: Option<String>,
    after: Option<String>,
    done: Option<String>,
}

fn row(session: &ConsoleSession, r: &Registration, back: &str) -> Markup {
    html! {
        tr id=(format!("reg-{}", r.sid)) {
            td { code { (r.sid) } br; span.hint { (r.identity) } }
            td { (r.platform.label()) br; code.hint title="shortened" { (r.device_token) } }
            td { (r.environment.map(|e| e.as_str()).unwrap_or("credential's default")) }
            td {
                @match r.state {
                    RegistrationState::Active => { (badge("ok", "active")) }
                    _ => { (badge("bad", r.state.as_str())) " " span.hint { (r.state_reason.as_deref().unwrap_or("")) } }
                }
            }
            td.wide { (when_opt(r.last_used)) br; span.hint { "refreshed " (when(r.date_updated)) } }
            td.wide { a href=(format!("/console/credentials/{}", r.credential_sid)) { code { (r.credential_sid) } } }
            td {
                form method="post" action=(format!("/console/registrations/{}/remove", r.sid))
                    data-confirm=(format!("Remove {}? The phone stops ringing until it registers again.", r.sid)) {
                    (csrf_field(session))
                    input type="hidden" name="back" value=(back);
                    button.danger type="submit" { "Remove" }
                }
            }
        }
    }
}

/// `GET /console/registrations`.
pub async fn page(
    State(state): State<AppState>,
    Operator(session): Operator,
    Query(q): Query<Search>,
) -> Result<Markup, ConsoleError> {
    let raw = q.identity.as_deref().map(str::trim).unwrap_or("");
    let identity = match raw {
        "" => None,
        raw => Some(
            Identity::parse(raw.strip_prefix("client:").unwrap_or(raw)).map_err(ApiError::from)?,
        ),
    };
    let after = q
        .after
        .as_deref()
        .and_then(|s| RegistrationSid::parse(s).ok());
    let found = state
        .registrations
        .list(
            &session.principal.account,
            identity.as_ref(),
            after.as_ref(),
            PAGE,
        )
        .await
        .map_err(ApiError::from)?;
    let back = match &identity {
        Some(i) => format!(
            "/console/registrations?identity={}",
            url::form_urlencoded::byte_serialize(i.as_str().as_bytes()).collect::<String>()
        ),
        None => "/console/registrations".to_owned(),
    };
    let notice = (q.done.as_deref() == Some("removed")).then_some("The registration was removed.");
    let body = html! {
        (layout::notice(notice))
        form.inline method="get" action="/console/registrations" role="search"
            hx-get="/console/registrations" hx-target="#results" hx-select="#results"
            hx-swap="outerHTML" hx-push-url="true"
            hx-trigger="submit, input changed delay:300ms from:#identity" {
            label for="identity" { "Identity" }
            input id="identity" name="identity" type="search" value=(raw) placeholder="alice"
                autocomplete="off";
            button type="submit" { "Search" }
        }
        section id="results" {
            @if found.registrations.is_empty() {
                p.hint { @if identity.is_some() { "No devices registered for " strong { (raw) } "." } @else { "No registrations yet." } }
            } @else {
                div.table-wrap {
                    table id="registrations" {
                        thead { tr { th { "Registration" } th { "Platform and token" } th { "Environment" }
                            th { "State" } th.wide { "Last used" } th.wide { "Credential" } th { span.sr-only { "Actions" } } } }
                        tbody { @for r in &found.registrations { (row(&session, r, &back)) } }
                    }
                }
                @if let Some(next) = &found.next_page_token {
                    p { a href=(format!("{back}{}after={next}", if identity.is_some() { "&" } else { "?" })) { "Next page" } }
                }
            }
        }
    };
    Ok(layout::page(
        "Registrations",
        &session,
        Nav::Registrations,
        body,
    ))
}

/// `POST /console/registrations/{sid}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    Submitted { session, fields }: Submitted,
) -> Result<Response, ConsoleError> {
    let sid = RegistrationSid::parse(&sid).map_err(|_| ApiError::not_found("registration"))?;
    let scope = Scope {
        account: &session.principal.account,
        identity: None,
    };
    state
        .registrations
        .remove(scope, &sid)
        .await
        .map_err(ApiError::from)?;
    // Back to the search it came from (only ever a console path).
    let back = fields
        .text("back")
        .filter(|b| {
            b.starts_with("/console/registrations")
                && !b.contains("//")
                && b.bytes().all(|c| c.is_ascii_graphic())
        })
        .unwrap_or("/console/registrations");
    let to = format!(
        "{back}{}done=removed",
        if back.contains('?') { "&" } else { "?" }
    );
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response())
}
