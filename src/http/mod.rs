//! The HTTP API: axum routers (one file per resource), shared state, request tracing and
//! the OpenAPI description generated from the handlers' own types.

mod calls;
mod credential_form;
mod credentials;
mod error;
mod extract;
mod health;
mod invites;
mod keys;
mod openapi;
mod quickstart;
mod registrations;

pub use error::{ApiError, code};

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::{Request, Response, StatusCode};
use axum::routing::{delete, get};
use tower_http::trace::TraceLayer;
use tracing::{Span, field};

use crate::config::Config;
use crate::secrets::MasterKey;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub master_key: Arc<MasterKey>,
    pub config: Arc<Config>,
    pub engine: Arc<crate::delivery::Engine>,
    pub calls: Arc<crate::calls::Calls>,
}

/// The full router of the public API.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    let mut router = Router::new();
    if state.config.quickstart {
        router = router
            .route(
                "/accessToken",
                get(quickstart::access_token).post(quickstart::access_token),
            )
            .route(
                "/placeCall",
                get(quickstart::place_call).post(quickstart::place_call),
            );
    }
    router
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::serve))
        .route(
            "/v1/registrations",
            get(registrations::list).post(registrations::register),
        )
        .route(
            "/v1/registrations/{sid}",
            get(registrations::fetch).delete(registrations::unregister),
        )
        .route(
            "/v1/credentials",
            get(credentials::list).post(credentials::create),
        )
        .route(
            "/v1/credentials/{sid}",
            get(credentials::fetch)
                .post(credentials::rotate)
                .delete(credentials::remove),
        )
        .route("/v1/invites", axum::routing::post(invites::create))
        .route("/v1/invites/{sid}", get(invites::fetch))
        .route("/v1/invites/{sid}/events", get(calls::events))
        .route(
            "/v1/invites/{sid}/accept",
            axum::routing::post(calls::accept),
        )
        .route(
            "/v1/invites/{sid}/reject",
            axum::routing::post(calls::reject),
        )
        .route(
            "/v1/invites/{sid}/cancel",
            axum::routing::post(calls::cancel),
        )
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{sid}", delete(keys::revoke))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(MatchedPath::as_str)
                        .unwrap_or("unmatched");
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        route,
                        status = field::Empty,
                    )
                })
                .on_request(())
                .on_response(|res: &Response<_>, latency: Duration, span: &Span| {
                    span.record("status", res.status().as_u16());
                    tracing::info!(latency_ms = latency.as_secs_f64() * 1e3, "response");
                }),
        )
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, code::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        code::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}
