//! The calls page: recent invites, newest first, updating live as deliveries settle
//! ([`super::calls_live`]); "Ring a test call", which places an invite through
//! `Invites::place` as the signed-in key, like `POST /v1/invites`; and one call's page:
//! each device's outcome (status, provider status and reason, attempts, latency) with the
//! hint `pushgate push` prints for it.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::calls_live::{row, status_badge};
use super::error::ConsoleError;
use super::gate::{Operator, Submitted};
use super::hints;
use super::layout::{self, Nav, badge, csrf_field, when};
use crate::auth::console_session::ConsoleSession;
use crate::http::{ApiError, AppState};
use crate::invites::{InviteError, InviteFields, NewInvite};

/// Invites listed.
const LISTED: i64 = 50;

/// `?done=` after a redirect.
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn render(
    state: &AppState,
    session: &ConsoleSession,
    notice: Option<&str>,
    problem: Option<(u32, String)>,
    typed: (&str, &str),
) -> Result<Markup, ConsoleError> {
    // Before the read: the live stream replays what changed after it.
    let read_at = crate::clock::now_ms();
    let recent = state
        .invites
        .recent(&session.principal.account, LISTED)
        .await
        .map_err(ApiError::from)?;
    let body = html! {
        (layout::notice(notice))
        section {
            h2 { "Ring a test call" }
            form.inline method="post" action="/console/calls" id="ring" {
                (csrf_field(session))
                label for="to" { "Identity" }
                input id="to" name="to" required value=(typed.0) placeholder="alice" autocomplete="off";
                label for="from" { "From" }
                input id="from" name="from" required value=(typed.1);
                button type="submit" { "Ring" }
            }
            @if let Some((code, message)) = &problem {
                p.field-error role="alert" { "Error " code.code { (code) } ": " (message) }
            }
        }
        section {
            h2 { "Recent calls" }
            p.hint { "Newest first; rows update as deliveries settle." }
            div.table-wrap {
                table {
                    thead { tr { th { "Invite" } th { "To" } th.wide { "From" } th { "Status" } th { "Devices" } } }
                    tbody id="calls" data-events=(format!("/console/calls/events?since={read_at}")) {
                        @for (invite, tally) in &recent { (row(invite, tally)) }
                    }
                }
            }
            @if recent.is_empty() { p.hint { "No calls yet." } }
        }
    };
    Ok(layout::page("Calls", session, Nav::Calls, body))
}

/// `GET /console/calls`.
pub async fn page(
    State(state): State<AppState>,
    Operator(session): Operator,
    Query(done): Query<Done>,
) -> Result<Markup, ConsoleError> {
    let notice = (done.done.as_deref() == Some("rung")).then_some("The call is ringing.");
    render(&state, &session, notice, None, ("", "client:console")).await
}

/// `POST /console/calls`: rings an identity's devices.
pub async fn ring(
    State(state): State<AppState>,
    Submitted { session, fields }: Submitted,
) -> Result<Response, ConsoleError> {
    let to = fields.text("to").unwrap_or("").trim().to_owned();
    let from = fields
        .text("from")
        .unwrap_or("client:console")
        .trim()
        .to_owned();
    let placed = match NewInvite::try_from(InviteFields {
        to: to.clone(),
        from: from.clone(),
        ..InviteFields::default()
    }) {
        Ok(new) => state.invites.place(&session.principal, new).await,
        Err(e) => Err(InviteError::from(e)),
    };
    match placed {
        Ok(placed) => {
            tracing::info!(invite = %placed.invite.sid, by = %session.principal.key, "test call placed (console)");
            let to = format!("/console/calls?done=rung#call-{}", placed.invite.sid);
            Ok((StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response())
        }
        Err(e) => {
            let e = ApiError::from(e);
            if e.status >= 500 {
                return Err(e.into());
            }
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            let page = render(
                &state,
                &session,
                None,
                Some((e.code, e.message)),
                (&to, &from),
            )
            .await?;
            Ok((status, page).into_response())
        }
    }
}

/// `GET /console/calls/{sid}` (an invite or a call SID).
pub async fn detail(
    State(state): State<AppState>,
    Operator(session): Operator,
    Path(sid): Path<String>,
) -> Result<Markup, ConsoleError> {
    let (invite, deliveries) = state
        .invites
        .wait_settled(&session.principal.account, &sid, Duration::ZERO)
        .await
        .map_err(ApiError::from)?;
    let body = html! {
        section {
            dl {
                dt { "Call SID" } dd { code { (invite.call_sid) } }
                dt { "To" } dd { (invite.to_identity) }
                dt { "From" } dd { (invite.caller) }
                dt { "Status" } dd id="invite-status" { (status_badge(invite.status)) }
                dt { "Created" } dd { (when(invite.date_created)) }
                dt { "Expires" } dd { (when(invite.expires_at)) }
            }
        }
        section {
            h2 { "Devices" }
            div.table-wrap {
                table id="deliveries" {
                    thead { tr { th { "Registration" } th { "Status" } th { "Provider" } th { "Attempts" }
                        th { "Latency" } th { "What it means" } } }
                    tbody {
                        @for d in &deliveries {
                            tr {
                                td { code { (d.registration_sid) } br;
                                     span.hint { (d.platform.label()) ", " (d.environment.as_str()) } }
                                td { (badge(match d.status.as_str() { "accepted" => "ok", "failed" => "bad",
                                        "expired" => "warn", _ => "info" }, d.status.as_str())) }
                                td { (d.apns_status.map(|s| s.to_string()).unwrap_or_default()) " "
                                     code { (d.apns_reason.as_deref().unwrap_or("")) } }
                                td { (d.attempts) }
                                td { @if let Some(at) = d.accepted_at { (at - invite.date_created) " ms" } @else { "–" } }
                                td { (hints::for_delivery(d.platform, d.status, d.apns_reason.as_deref())) }
                            }
                        }
                    }
                }
            }
            p { a href="/console/calls" { "All calls" } }
        }
    };
    Ok(layout::page(
        &format!("Call {}", invite.sid),
        &session,
        Nav::Calls,
        body,
    ))
}
