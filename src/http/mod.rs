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
pub mod server;
pub mod stream_caps;
mod timeout;
mod track;
mod twilio;
mod webhook_secret;

pub use credential_form::{Value as FieldValue, patch_from as credential_patch_from};
pub use error::{ApiError, code};
pub use extract::client_ip;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath, State};
use axum::http::{Request, Response, StatusCode};
use axum::routing::{delete, get};
use tower_http::trace::TraceLayer;
use tracing::{Span, field};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::secrets::MasterKey;
use crate::store::Store;

/// What every handler can reach. Axum clones the state for every request, so it is one
/// `Arc` over [`Services`] (a clone is one reference count, not one per service).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services and settings behind an [`AppState`].
pub struct Services {
    pub store: Store,
    pub master_key: Arc<MasterKey>,
    pub config: Arc<Config>,
    pub engine: Arc<crate::delivery::Engine>,
    /// The call: place, read, answer, reject, cancel, expire.
    pub invites: Arc<crate::invites::Invites>,
    /// Links from Twilio accounts, and the Call Notification webhook they authenticate.
    pub twilio_links: Arc<crate::twilio::TwilioLinks>,
    pub twilio_webhook: Arc<crate::twilio::Webhook>,
    /// Device registrations.
    pub registrations: Arc<crate::registrations::Registrations>,
    /// Recently verified API keys.
    pub keys: Arc<crate::auth::key_cache::KeyCache>,
    /// Failed authentications per client address.
    pub auth_failures: Arc<crate::auth::failures::FailureLimiter>,
    /// Set to `true` when the server starts draining: long-lived event streams end then.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// Open event streams, under their caps.
    pub event_streams: Arc<stream_caps::EventStreams>,
    /// This gateway's metrics (recorded by handlers, rendered by `/metrics`).
    pub metrics: Metrics,
}

impl FromRef<AppState> for Metrics {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

impl AppState {
    /// The event stream caps the configuration sets.
    pub fn event_stream_caps(config: &Config) -> stream_caps::StreamCaps {
        stream_caps::StreamCaps {
            per_invite: config.max_event_streams_per_invite,
            per_registration: config.max_event_streams_per_registration,
            global: config.max_event_streams,
        }
    }
}

/// The full router of the public API.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    let mut router = Router::new();
    if state.config.metrics_listen.is_none() {
        router = router.route("/metrics", get(serve_metrics));
    }
    if state.config.quickstart {
        router = router
            .route(
                "/accessToken",
                get(quickstart::access_token).post(quickstart::access_token),
            )
            .route("/placeCall", axum::routing::post(quickstart::place_call));
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
        .route(
            "/v1/webhook-secret",
            axum::routing::post(webhook_secret::rotate),
        )
        .merge(twilio::routes())
        .merge(console_routes(&state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            Duration::from_millis(state.config.http_request_timeout_ms),
            timeout::request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            track::track,
        ))
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
                        method = track::method_label(req.method()),
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
        .layer(axum::middleware::from_fn(track::refuse_unknown_methods))
        .with_state(state)
}

/// The operator console at `/console`, unless `console = false`.
fn console_routes(state: &AppState) -> Router<AppState> {
    if !state.config.console {
        return Router::new();
    }
    Router::new()
        .route(
            "/console/",
            get(|| async { axum::response::Redirect::to("/console") }),
        )
        .nest("/console", crate::console::router())
}

/// `GET /metrics`: this gateway's metrics in Prometheus text format.
pub async fn serve_metrics(State(metrics): State<Metrics>) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

/// A router serving only `/metrics` of `metrics` (for `metrics_listen`).
pub fn metrics_router(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .with_state(metrics)
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
