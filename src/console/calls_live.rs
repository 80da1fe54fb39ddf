//! The calls list, live: one row per invite (rendered here for the page and for updates),
//! and `GET /console/calls/events`, Server-Sent Events that carry a row's new HTML whenever
//! one of the account's invites changes (the same invite events phones' streams follow).
//! Streams count against the event stream caps (per replica), end when the server drains,
//! and skip other accounts' invites.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use maud::{Markup, html};
use serde::Deserialize;
use tokio::sync::broadcast;

use super::gate::Operator;
use super::layout::{badge, when};
use crate::domain::{AccountSid, InviteStatus};
use crate::events::InviteChange;
use crate::http::AppState;
use crate::http::stream_caps::StreamSlot;
use crate::store::{DeliveryTally, InviteRecord};

/// The badge of an invite's status.
pub fn status_badge(status: InviteStatus) -> Markup {
    let kind = match status {
        InviteStatus::Queued | InviteStatus::Sending => "info",
        InviteStatus::Delivered | InviteStatus::Answered => "ok",
        InviteStatus::Rejected | InviteStatus::Canceled => "muted",
        InviteStatus::Expired => "warn",
        InviteStatus::Failed => "bad",
    };
    badge(kind, status.as_str())
}

/// The tally as words: `2 of 3 accepted, 1 failed`.
pub fn tally_text(t: &DeliveryTally) -> String {
    let mut parts = vec![format!("{} of {} accepted", t.accepted, t.total())];
    for (n, what) in [
        (t.open, "pending"),
        (t.failed, "failed"),
        (t.expired, "expired"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join(", ")
}

/// The id of an invite's row.
pub fn row_id(invite: &InviteRecord) -> String {
    format!("call-{}", invite.sid)
}

/// One invite's row in the calls list.
pub fn row(invite: &InviteRecord, tally: &DeliveryTally) -> Markup {
    html! {
        tr id=(row_id(invite)) data-status=(invite.status.as_str()) {
            td { a href=(format!("/console/calls/{}", invite.sid)) { code { (invite.sid) } } br;
                 span.hint { (when(invite.date_created)) } }
            td { (invite.to_identity) }
            td.wide { (invite.caller) }
            td.status { (status_badge(invite.status)) }
            td { (tally_text(tally)) }
        }
    }
}

/// `?since=`: when the page's list was read (epoch ms).
#[derive(Deserialize)]
pub struct Since {
    since: Option<i64>,
}

/// Rows the stream starts with: a page's invites that changed between its read and the
/// stream's start (newest last, so each ends on top).
const BACKLOG: i64 = 50;

/// `GET /console/calls/events?since=…`.
pub async fn events(
    State(state): State<AppState>,
    Operator(session): Operator,
    Query(since): Query<Since>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    // Subscribe before reading the backlog so no change slips between them.
    let changes = state.engine.subscribe();
    let account = session.principal.account.clone();
    let backlog = match since.since {
        Some(since) => state
            .invites
            .recent(&account, BACKLOG)
            .await
            .map_err(|e| crate::http::ApiError::from(e).into_response())?
            .into_iter()
            .filter(|(invite, _)| invite.date_updated >= since)
            .map(|(invite, tally)| row_event(&invite, &tally))
            .collect(),
        None => Vec::new(),
    };
    let slot = state
        .event_streams
        .open(
            &format!("console:{account}"),
            &format!("console:{}", session.principal.key),
        )
        .map_err(IntoResponse::into_response)?;
    let follow = Follow {
        _slot: slot,
        stopping: state.stopping.subscribe(),
        state,
        account,
        changes,
        backlog,
    };
    let stream = stream::unfold(follow, |mut f| async move {
        f.next().await.map(|event| (Ok(event), f))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One operator following the account's calls.
struct Follow {
    _slot: StreamSlot,
    state: AppState,
    stopping: tokio::sync::watch::Receiver<bool>,
    account: AccountSid,
    changes: broadcast::Receiver<InviteChange>,
    backlog: Vec<Event>,
}

fn row_event(invite: &InviteRecord, tally: &DeliveryTally) -> Event {
    let data = serde_json::json!({
        "id": row_id(invite),
        "html": row(invite, tally).into_string(),
    });
    Event::default().event("row").data(data.to_string())
}

impl Follow {
    /// The next row to replace, or `None` when the server drains.
    async fn next(&mut self) -> Option<Event> {
        if let Some(event) = self.backlog.pop() {
            return Some(event);
        }
        loop {
            let change = tokio::select! {
                change = self.changes.recv() => change,
                _ = self.stopping.wait_for(|stopping| *stopping) => return None,
            };
            let sid = match change {
                Ok(change) => change.invite_sid,
                // Missed messages: the operator reloads for the full picture.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            // Another account's invite is "not found" here.
            let Ok((invite, tally)) = self.state.invites.with_tally(&self.account, &sid).await
            else {
                continue;
            };
            return Some(row_event(&invite, &tally));
        }
    }
}
