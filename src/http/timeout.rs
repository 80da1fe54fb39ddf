//! The request timeout of ordinary routes: the handler, reading the body included, must
//! produce its response within `http_request_timeout_ms`, or the client gets 408 (code 21501).
//! A response body streamed afterwards (Server-Sent Events) is not timed here: event streams
//! are bounded by their own caps and end on shutdown. Long polls (`GET /v1/invites/{sid}?wait=`)
//! get their own bounded wait on top.

use std::time::Duration;

use axum::extract::{MatchedPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::error::code;

/// The route whose `?wait=` holds a request open on purpose, and for how long at most.
const LONG_POLL: (&str, Duration) = ("/v1/invites/{sid}", crate::invites::MAX_WAIT);

/// Answers 408 when the inner service takes longer than the budget.
pub async fn request_timeout(
    State(budget): State<Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let long_poll = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str() == LONG_POLL.0)
        && req.uri().query().is_some_and(|q| q.contains("wait="));
    let budget = if long_poll {
        budget + LONG_POLL.1
    } else {
        budget
    };
    match tokio::time::timeout(budget, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            code::REQUEST_TIMEOUT,
            format!(
                "the request was not completed within {} ms",
                budget.as_millis()
            ),
        )
        .into_response(),
    }
}
