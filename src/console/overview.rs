//! The overview: the account's registrations by platform, environment and state; its
//! credentials that expire soon (or expired, or were rejected); and the pushes of the last
//! hour, accepted vs failed (by reason), as a server-rendered chart.

use axum::extract::State;
use maud::{Markup, html};

use super::chart;
use super::credentials::standing;
use super::error::ConsoleError;
use super::gate::Operator;
use super::layout::{self, Nav};
use crate::clock::now_secs;
use crate::credentials::manage::{Health, health};
use crate::http::{ApiError, AppState};

/// Registrations counted at most (the count says "or more" past it).
const COUNT_CAP: i64 = 100_000;
/// The chart's buckets: twelve of five minutes.
const BUCKETS: usize = 12;
const BUCKET_MS: i64 = 5 * 60_000;

/// `GET /console`.
pub async fn page(
    State(state): State<AppState>,
    Operator(session): Operator,
) -> Result<Markup, ConsoleError> {
    let account = &session.principal.account;
    let counts = state
        .registrations
        .counts(account, COUNT_CAP)
        .await
        .map_err(ApiError::from)?;
    let window = state.config.expiry_warning_secs();
    let now = now_secs();
    let credentials = state.store.credentials(account).await?;
    let attention: Vec<_> = credentials
        .iter()
        .filter(|c| health(c, now, window) != Health::Ok)
        .collect();
    let activity = state
        .invites
        .push_activity(account, BUCKETS, BUCKET_MS)
        .await
        .map_err(ApiError::from)?;
    let body = html! {
        div.grid {
            section {
                h2 { "Registrations" }
                @if counts.counts.is_empty() {
                    p.hint { "No registrations yet." }
                } @else {
                    div.table-wrap { table id="registration-counts" {
                        thead { tr { th { "Platform" } th { "Environment" } th { "State" } th { "Devices" } } }
                        tbody {
                            @for c in &counts.counts {
                                tr { td { (c.platform.label()) }
                                     td { (c.environment.map(|e| e.as_str()).unwrap_or("credential's default")) }
                                     td { (c.state.as_str()) } td { (c.count) } }
                            }
                        }
                    } }
                    @if counts.truncated { p.hint { "Counted up to " (COUNT_CAP) " registrations; there are more." } }
                }
            }
            section {
                h2 { "Credentials needing attention" }
                @if attention.is_empty() {
                    p.hint { (credentials.len()) " credentials, none expiring within "
                        (state.config.credential_expiry_warning_days) " days or rejected." }
                } @else {
                    ul {
                        @for c in &attention {
                            li { a href=(format!("/console/credentials/{}", c.sid)) { code { (c.sid) } }
                                 " " (c.bundle_id) " " (standing(&state, c)) }
                        }
                    }
                }
            }
        }
        section.chart {
            h2 { "Pushes, last hour" }
            p.legend {
                span { (layout::badge("ok", "accepted")) " " (activity.accepted()) }
                span { (layout::badge("bad", "failed")) " " (activity.failed()) }
            }
            (chart::pushes(&activity))
            @if !activity.failed_by_reason.is_empty() {
                h2 { "Failed by reason" }
                table id="failed-reasons" {
                    thead { tr { th { "Reason" } th { "Pushes" } } }
                    tbody { @for (reason, n) in &activity.failed_by_reason { tr { td { code { (reason) } } td { (n) } } } }
                }
            }
        }
    };
    Ok(layout::page("Overview", &session, Nav::Overview, body))
}
