//! The operator console: server-rendered pages at `/console` on the API's listener (off with
//! `console = false`), for what the Twilio quickstart does in Twilio's web console — API keys,
//! push credentials — and for watching the gateway: registrations, calls as they settle,
//! pushes by outcome.
//!
//! Operators sign in with an API key SID and secret; the session ([`crate::auth::console_session`])
//! is an `HttpOnly`, `SameSite=Strict` cookie (`Secure` when `public_url` is https), stored
//! hashed in the database so it works on every replica, ended by sign-out, idleness or the
//! key's revocation. Every state-changing form carries the session's CSRF token
//! ([`gate::Submitted`] checks it, and refuses cross-origin posts). Pages are maud templates
//! (escaped at compile time); the CSS, a little JavaScript and the vendored htmx are embedded
//! in the binary and served under a strict Content-Security-Policy ([`headers`]).
//!
//! Handlers parse, call the same services as the API (`key_admin`, `credentials::manage`,
//! `Registrations`, `Invites`), and render. Files, by page: [`signin`], [`keys`],
//! [`credentials`] and [`credential_add`], [`registrations`], [`calls`] (with [`calls_live`],
//! the Server-Sent Events that update the list), [`overview`] (with [`chart`]); and by
//! responsibility: [`layout`], [`gate`], [`error`], [`hints`], [`assets`].

pub mod assets;
pub mod calls;
pub mod calls_live;
pub mod chart;
pub mod credential_add;
pub mod credentials;
pub mod error;
pub mod gate;
pub mod headers;
pub mod hints;
pub mod keys;
pub mod layout;
pub mod overview;
pub mod registrations;
pub mod signin;

use axum::Router;
use axum::routing::{get, post};

use crate::http::AppState;

/// The console's routes, to be nested at `/console`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/sign-in", get(signin::form).post(signin::submit))
        .route("/sign-out", post(signin::sign_out))
        .route("/keys", get(keys::page).post(keys::create))
        .route("/keys/{sid}/revoke", post(keys::revoke))
        .route(
            "/credentials",
            get(credentials::page).post(credential_add::submit),
        )
        .route("/credentials/new", get(credential_add::page))
        .route("/credentials/{sid}", get(credentials::detail))
        .route("/credentials/{sid}/rotate", post(credentials::rotate))
        .route("/credentials/{sid}/delete", post(credentials::delete))
        .route("/registrations", get(registrations::page))
        .route("/registrations/{sid}/remove", post(registrations::remove))
        .route("/calls", get(calls::page).post(calls::ring))
        .route("/calls/events", get(calls_live::events))
        .route("/calls/{sid}", get(calls::detail))
        .route("/assets/{name}", get(assets::serve))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(headers::secure))
}
