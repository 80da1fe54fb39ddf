//! The push credentials page: each credential's kind, environment (sandbox or production),
//! bundle id and topics, expiry (with a warning badge inside `credential_expiry_warning_days`)
//! and health (rejected, with the provider's reason); one credential's page rotates it
//! (same forms as adding) or deletes it, saying how many registrations go with it. A `.p12`
//! is stored as the certificate it contains, so it is listed as a certificate.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::credential_add::{self, Kind, Shown};
use super::error::ConsoleError;
use super::gate::{Operator, Submitted};
use super::layout::{self, Nav, badge, csrf_field};
use crate::auth::console_session::ConsoleSession;
use crate::clock::now_secs;
use crate::credentials::manage::{Health, health};
use crate::domain::{CredentialSid, CredentialType};
use crate::http::{ApiError, AppState};
use crate::store::CredentialRecord;

/// `?done=` after a redirect.
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

fn kind_label(c: &CredentialRecord) -> &'static str {
    match c.kind {
        CredentialType::Apn => "APNs certificate (.pem / .p12)",
        CredentialType::ApnToken => "APNs token key (.p8)",
        CredentialType::Fcm => "FCM service account",
    }
}

fn environment(c: &CredentialRecord) -> Markup {
    if c.kind == CredentialType::Fcm {
        return badge("muted", "FCM");
    }
    let default = if c.sandbox { "sandbox" } else { "production" };
    let valid = match (c.env_development, c.env_production) {
        (true, true) => "both environments",
        (true, false) => "development only",
        (false, true) => "production only",
        (false, false) => "",
    };
    html! { (badge(if c.sandbox { "info" } else { "ok" }, default)) br; span.hint { (valid) } }
}

/// The expiry and health of `c`, as badges.
pub fn standing(state: &AppState, c: &CredentialRecord) -> Markup {
    let now = now_secs();
    let window = state.config.expiry_warning_secs();
    let expiry = match c.not_after {
        Some(t) => layout::when(t * 1000),
        None => "–".to_owned(),
    };
    html! {
        (expiry) br;
        @match health(c, now, window) {
            Health::Ok => { (badge("ok", "ok")) }
            Health::Expiring => {
                (badge("warn", &format!("expires in {} days", (c.not_after.unwrap_or(now) - now) / 86_400)))
            }
            Health::Expired => { (badge("bad", "expired")) }
            Health::Rejected => {
                (badge("bad", "rejected")) " "
                span.hint { (c.rejected_reason.as_deref().unwrap_or("")) }
            }
        }
    }
}

fn row(state: &AppState, c: &CredentialRecord) -> Markup {
    html! {
        tr id=(format!("cred-{}", c.sid)) {
            td { a href=(format!("/console/credentials/{}", c.sid)) { code { (c.sid) } }
                 @if !c.friendly_name.is_empty() { br; (c.friendly_name) } }
            td { (kind_label(c)) }
            td { (environment(c)) }
            td {
                @match &c.fcm {
                    Some(f) => { "project " code { (f.project_id) } br; span.hint { (f.client_email) } }
                    None => {
                        code { (c.bundle_id) }
                        ul.topics { @for t in &c.topics { li { code { (t) } } } }
                    }
                }
            }
            td { (standing(state, c)) }
        }
    }
}

/// `GET /console/credentials`.
pub async fn page(
    State(state): State<AppState>,
    Operator(session): Operator,
    Query(done): Query<Done>,
) -> Result<Markup, ConsoleError> {
    let list = state.store.credentials(&session.principal.account).await?;
    let notice = match done.done.as_deref() {
        Some("added") => Some("The credential was added."),
        Some("deleted") => Some("The credential was deleted with its registrations."),
        _ => None,
    };
    let body = html! {
        (layout::notice(notice))
        p { a href="/console/credentials/new" { "Add a push credential" } }
        section {
            div.table-wrap {
                table id="credentials" {
                    thead { tr { th { "Credential" } th { "Kind" } th { "Environment" }
                        th { "Bundle id and topics" } th { "Expiry and health" } } }
                    tbody { @for c in &list { (row(&state, c)) } }
                }
            }
            @if list.is_empty() { p.hint { "No credentials yet." } }
        }
    };
    Ok(layout::page(
        "Push credentials",
        &session,
        Nav::Credentials,
        body,
    ))
}

async fn find(
    state: &AppState,
    session: &ConsoleSession,
    sid: &str,
) -> Result<CredentialRecord, ConsoleError> {
    let sid = CredentialSid::parse(sid).map_err(|_| ApiError::not_found("credential"))?;
    Ok(state
        .store
        .credential(&session.principal.account, &sid)
        .await?
        .ok_or_else(|| ApiError::not_found("credential"))?)
}

fn own_kinds(c: &CredentialRecord) -> &'static [Kind] {
    match c.kind {
        CredentialType::Apn => &[Kind::Certificate, Kind::P12],
        CredentialType::ApnToken => &[Kind::P8],
        CredentialType::Fcm => &[Kind::Fcm],
    }
}

async fn render_detail(
    state: &AppState,
    session: &ConsoleSession,
    c: &CredentialRecord,
    refused: Option<(Kind, Shown)>,
) -> Result<Markup, ConsoleError> {
    let registrations = state
        .store
        .credential_registrations(&session.principal.account, &c.sid)
        .await?;
    let action = format!("/console/credentials/{}/rotate", c.sid);
    let mut empty = Shown::default();
    empty
        .values
        .insert("friendly_name".into(), c.friendly_name.clone());
    if c.sandbox {
        empty.values.insert("sandbox".into(), "true".into());
    }
    let body = html! {
        section {
            div.table-wrap { table { tbody { (row(state, c)) } } }
            p.hint { "Fingerprint " code { (c.fingerprint) } }
            @for w in &c.warnings { p.warning { (w) } }
        }
        h2 { "Rotate" }
        p.hint { "New key material replaces the old; the SID and its registrations are kept." }
        div.kinds {
            @for kind in own_kinds(c) {
                section {
                    @match &refused {
                        Some((k, shown)) if k == kind => { (credential_add::form(session, *kind, &action, shown, true)) }
                        _ => { (credential_add::form(session, *kind, &action, &empty, true)) }
                    }
                }
            }
        }
        section {
            h2 { "Delete" }
            p { "Deleting this credential also deletes its " strong id="registration-count" { (registrations) }
                " registration" @if registrations != 1 { "s" } "; those phones stop ringing until they register again." }
            form method="post" action=(format!("/console/credentials/{}/delete", c.sid))
                data-confirm=(format!("Delete {} and its {registrations} registrations?", c.sid)) {
                (csrf_field(session))
                button.danger type="submit" { "Delete credential and " (registrations) " registrations" }
            }
        }
    };
    Ok(layout::page(
        &format!("Credential {}", c.sid),
        session,
        Nav::Credentials,
        body,
    ))
}

/// `GET /console/credentials/{sid}`.
pub async fn detail(
    State(state): State<AppState>,
    Operator(session): Operator,
    Path(sid): Path<String>,
) -> Result<Markup, ConsoleError> {
    let c = find(&state, &session, &sid).await?;
    render_detail(&state, &session, &c, None).await
}

/// `POST /console/credentials/{sid}/rotate`.
pub async fn rotate(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    Submitted { session, fields }: Submitted,
) -> Result<Response, ConsoleError> {
    let c = find(&state, &session, &sid).await?;
    let (kind, patch, shown) = match credential_add::read(fields)? {
        Ok(read) => read,
        Err((kind, shown)) => {
            let page = render_detail(&state, &session, &c, Some((kind, shown))).await?;
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    match state
        .rotate_credential(&session.principal.account, &c.sid, patch)
        .await
    {
        Ok(record) => {
            tracing::info!(credential = %record.sid, by = %session.principal.key, "credential rotated (console)");
            let to = format!("/console/credentials/{}", record.sid);
            Ok((StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response())
        }
        Err(e) => {
            let e = ApiError::from(e);
            if e.status >= 500 {
                return Err(e.into());
            }
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            let shown = credential_add::refused(shown, e);
            let page = render_detail(&state, &session, &c, Some((kind, shown))).await?;
            Ok((status, page).into_response())
        }
    }
}

/// `POST /console/credentials/{sid}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    Submitted { session, .. }: Submitted,
) -> Result<Response, ConsoleError> {
    let c = find(&state, &session, &sid).await?;
    match state
        .delete_credential(&session.principal.account, &c.sid)
        .await?
    {
        Some(registrations) => {
            tracing::info!(credential = %c.sid, registrations, by = %session.principal.key,
                "credential deleted with its registrations (console)");
            Ok((
                StatusCode::SEE_OTHER,
                [(header::LOCATION, "/console/credentials?done=deleted")],
            )
                .into_response())
        }
        None => Err(ApiError::not_found("credential").into()),
    }
}
