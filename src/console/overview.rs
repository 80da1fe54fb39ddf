//! The overview page.

use axum::extract::State;
use maud::{Markup, html};

use super::error::ConsoleError;
use super::gate::Operator;
use super::layout::{self, Nav};
use crate::http::AppState;

/// `GET /console`.
pub async fn page(
    State(_state): State<AppState>,
    Operator(session): Operator,
) -> Result<Markup, ConsoleError> {
    Ok(layout::page(
        "Overview",
        &session,
        Nav::Overview,
        html! { p { "…" } },
    ))
}
