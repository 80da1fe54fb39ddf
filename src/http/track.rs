//! Per-request bookkeeping with bounded label values: the outermost guard that refuses
//! non-standard methods before anything is kept for them, the request metrics (route template,
//! method from a closed set, status), and the method label the request span records.

use axum::extract::{MatchedPath, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::error::code;
use crate::metrics::Metrics;

/// The method as a metric or log label: one of the standard methods, or `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The matched route template, or `unmatched`: never the raw path.
pub fn route_label(req: &axum::extract::Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned())
}

/// Outermost layer: a method outside the standard set is answered 405 at once — no span, no
/// metric series, no handler — so a client can't mint label values or log lines with it.
pub async fn refuse_unknown_methods(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if method_label(req.method()) == "other" {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            code::METHOD_NOT_ALLOWED,
            "unknown HTTP method",
        )
        .into_response();
    }
    next.run(req).await
}

/// Counts and times every request by route template, method and status, in `metrics`.
pub async fn track(
    State(metrics): State<Metrics>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = route_label(&req);
    let method = method_label(req.method());
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let m = &metrics;
    m.http_requests
        .with_label_values(&[&route, method, response.status().as_str()])
        .inc();
    m.http_duration
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_map_to_a_closed_set() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let odd = Method::from_bytes(b"FROBNICATE").unwrap();
        assert_eq!(method_label(&odd), "other");
        let huge = Method::from_bytes("X".repeat(60_000).as_bytes()).unwrap();
        assert_eq!(method_label(&huge), "other");
    }
}
