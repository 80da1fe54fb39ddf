//! The API keys page: the account's keys (never a secret), creating one (its secret shown
//! on the response page only, with a copy button and the CLI's warning) and revoking one
//! (refused for the account's last active key, saying why). The store records no "last
//! used" time for keys; the page says so rather than guess.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::error::ConsoleError;
use super::gate::{Operator, Submitted};
use super::layout::{self, Nav, badge, csrf_field, when};
use crate::auth::console_session::ConsoleSession;
use crate::auth::key_admin::{self, CreateKeyError, LAST_KEY, SECRET_ONCE};
use crate::domain::ApiKeySid;
use crate::http::{ApiError, AppState, code};
use crate::store::{ApiKeyRecord, RevokeOutcome};

/// `?done=` after a redirect.
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// An error shown on the keys page.
struct Problem {
    code: u32,
    message: String,
}

async fn render(
    state: &AppState,
    session: &ConsoleSession,
    created: Option<Markup>,
    notice: Option<&str>,
    problem: Option<Problem>,
) -> Result<Markup, ConsoleError> {
    let keys = state.store.api_keys(&session.principal.account).await?;
    let body = html! {
        (layout::notice(notice))
        @if let Some(p) = &problem {
            p.field-error role="alert" { "Error " code.code { (p.code) } ": " (p.message) }
        }
        @if let Some(created) = created { (created) }
        section {
            h2 { "Create an API key" }
            form.inline method="post" action="/console/keys" {
                (csrf_field(session))
                label for="friendly_name" { "Name" }
                input id="friendly_name" name="friendly_name" maxlength="64" placeholder="backend";
                button type="submit" { "Create key" }
            }
        }
        section {
            h2 { "Keys" }
            p.hint { "Backends authenticate with HTTP Basic (SID as user, secret as password) and \
                sign access tokens with the secret. pushgate does not record when a key was last used." }
            div.table-wrap {
                table {
                    thead { tr { th { "SID" } th { "Name" } th { "Created" } th { "State" } th { span.sr-only { "Actions" } } } }
                    tbody {
                        @for k in &keys { (row(session, k)) }
                    }
                }
            }
        }
    };
    Ok(layout::page("API keys", session, Nav::Keys, body))
}

fn row(session: &ConsoleSession, k: &ApiKeyRecord) -> Markup {
    let mine = k.sid == session.principal.key;
    html! {
        tr id=(format!("key-{}", k.sid)) {
            td { code { (k.sid) } @if mine { " " (badge("info", "you")) } }
            td { (k.friendly_name) }
            td { (when(k.date_created)) }
            td {
                @match k.date_revoked {
                    Some(t) => { (badge("muted", "revoked")) " " (when(t)) }
                    None => { (badge("ok", "active")) }
                }
            }
            td {
                @if k.date_revoked.is_none() {
                    form method="post" action=(format!("/console/keys/{}/revoke", k.sid))
                        data-confirm=(format!("Revoke {}? Backends using it stop working at once.{}", k.sid,
                            if mine { " You are signed in with it: you will be signed out." } else { "" })) {
                        (csrf_field(session))
                        button.danger type="submit" { "Revoke" }
                    }
                }
            }
        }
    }
}

/// `GET /console/keys`.
pub async fn page(
    State(state): State<AppState>,
    Operator(session): Operator,
    Query(done): Query<Done>,
) -> Result<Markup, ConsoleError> {
    let notice = match done.done.as_deref() {
        Some("revoked") => Some("The key was revoked."),
        _ => None,
    };
    render(&state, &session, None, notice, None).await
}

/// `POST /console/keys`: creates a key and shows its secret, this once.
pub async fn create(
    State(state): State<AppState>,
    Submitted { session, fields }: Submitted,
) -> Result<Response, ConsoleError> {
    let name = fields.text("friendly_name").unwrap_or("").trim().to_owned();
    let created = match key_admin::create(
        &state.store,
        &state.master_key,
        &state.keys,
        &session.principal.account,
        &name,
    )
    .await
    {
        Ok(created) => created,
        Err(e @ CreateKeyError::NameTooLong) => {
            let problem = Problem {
                code: code::INVALID_PARAMETER,
                message: e.to_string(),
            };
            let page = render(&state, &session, None, None, Some(problem)).await?;
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
        Err(CreateKeyError::Auth(e)) => return Err(ApiError::from(e).into()),
    };
    tracing::info!(key = %created.record.sid, by = %session.principal.key, "API key created (console)");
    let shown = html! {
        section.secret role="status" {
            h2 { "New key " code { (created.record.sid) } }
            p.warning { strong { (SECRET_ONCE) } }
            dl {
                dt { "API_KEY" }
                dd { code id="new-key-sid" { (created.record.sid) }
                     " " button.copy type="button" data-copy="new-key-sid" { "Copy" } }
                dt { "API_KEY_SECRET" }
                dd { code id="new-key-secret" { (created.secret.expose_secret()) }
                     " " button.copy type="button" data-copy="new-key-secret" { "Copy" } }
            }
        }
    };
    let page = render(&state, &session, Some(shown), None, None).await?;
    Ok((StatusCode::CREATED, page).into_response())
}

/// `POST /console/keys/{sid}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    Submitted { session, .. }: Submitted,
) -> Result<Response, ConsoleError> {
    let sid = ApiKeySid::parse(&sid).map_err(|_| ApiError::not_found("API key"))?;
    let account = &session.principal.account;
    match key_admin::revoke(&state.store, &state.keys, account, &sid).await? {
        RevokeOutcome::Revoked => {
            tracing::info!(key = %sid, by = %session.principal.key, "API key revoked (console)");
            if sid == session.principal.key {
                // Its sessions, this one included, ended with it.
                return Ok(ConsoleError::SignedOut("revoked").into_response());
            }
            Ok((
                StatusCode::SEE_OTHER,
                [(header::LOCATION, "/console/keys?done=revoked")],
            )
                .into_response())
        }
        RevokeOutcome::NotFound => Err(ApiError::not_found("API key").into()),
        RevokeOutcome::LastKey => {
            let problem = Problem {
                code: code::LAST_API_KEY,
                message: LAST_KEY.to_owned(),
            };
            let page = render(&state, &session, None, None, Some(problem)).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
    }
}
