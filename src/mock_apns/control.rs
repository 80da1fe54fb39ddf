//! The control API: plain HTTP/1.1 with JSON bodies, loopback only.
//!
//! | request | body | answer |
//! |---|---|---|
//! | `GET /health` | | `{"ok":true}` |
//! | `GET /ca.pem` | | the generated CA (PEM), 404 if none |
//! | `POST /tokens` | `TokenRegistration` | `{"ok":true}` |
//! | `POST /tokens/{token}/unregister` | `Unregistration` or empty | `{"timestamp_ms":T}` |
//! | `POST /keys` | `KeyRegistration` | `{"ok":true}` |
//! | `POST /faults` | `FaultSpec` | `{"id":N}` |
//! | `DELETE /faults` | | `{"ok":true}` |
//! | `GET /pushes?since=N` | | `{"pushes":[PushRecord...]}` (seq > N) |
//! | `GET /stats` | | `Stats` |
//! | `POST /reset` | | `{"ok":true}` |
//!
//! Errors answer 400 (bad input) or 404 with `{"error":"..."}`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Shared;
use super::config::{Error, epoch_ms};
use super::registry::Unregistration;
use super::server::stopped;

/// Largest control request body.
const MAX_BODY: usize = 1 << 20;

impl Shared {
    /// Marks `token` unregistered as of `req.timestamp_ms` (default now).
    pub(crate) fn unregister_token(&self, token: &str, req: &Unregistration) -> Result<u64, Error> {
        let now = epoch_ms(self.clock.now());
        self.registry.unregister_token(token, req, now)
    }

    /// Forgets registries, faults, the log and counters.
    pub(crate) fn reset(&self) {
        self.registry.reset();
        self.faults.clear();
        self.log.clear();
        self.counters.reset();
    }
}

/// Serves the control API until shutdown is signalled.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    ca_pem: Option<String>,
    mut stop: watch::Receiver<bool>,
) {
    let ca_pem = Arc::new(ca_pem);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped(&mut stop) => break,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let (shared, ca_pem, mut stop) = (shared.clone(), ca_pem.clone(), stop.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let (shared, ca_pem) = (shared.clone(), ca_pem.clone());
                async move { Ok::<_, Infallible>(route(&shared, ca_pem.as_deref(), req).await) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(tcp), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

fn json_reply<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    reply(status, "application/json", body)
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_reply(status, &json!({ "error": message }))
}

fn ok_or_error<T: Serialize>(result: Result<T, Error>) -> Response<Full<Bytes>> {
    match result {
        Ok(value) => json_reply(StatusCode::OK, &value),
        Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::InvalidInput(format!("bad JSON body: {e}")))
}

/// `since=N` from a query string (0 when absent or malformed).
fn since(query: Option<&str>) -> u64 {
    query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("since="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn route(
    shared: &Shared,
    ca_pem: Option<&str>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(StatusCode::BAD_REQUEST, "body unreadable or too large"),
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ok = json!({ "ok": true });
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["health"]) => json_reply(StatusCode::OK, &ok),
        ("GET", ["ca.pem"]) => match ca_pem {
            Some(pem) => reply(StatusCode::OK, "application/x-pem-file", pem.into()),
            None => error(StatusCode::NOT_FOUND, "no generated CA"),
        },
        ("POST", ["tokens"]) => ok_or_error(
            parse(&body)
                .and_then(|reg| shared.registry.register_token(&reg))
                .map(|()| ok),
        ),
        ("POST", ["tokens", token, "unregister"]) => {
            let req = if body.iter().all(u8::is_ascii_whitespace) {
                Ok(Unregistration::default())
            } else {
                parse(&body)
            };
            ok_or_error(
                req.and_then(|r| shared.unregister_token(token, &r))
                    .map(|ts| json!({ "timestamp_ms": ts })),
            )
        }
        ("POST", ["keys"]) => ok_or_error(
            parse(&body)
                .and_then(|reg| shared.registry.register_key(&reg))
                .map(|()| ok),
        ),
        ("POST", ["faults"]) => ok_or_error(
            parse(&body)
                .and_then(|spec| shared.faults.add(&spec))
                .map(|id| json!({ "id": id })),
        ),
        ("DELETE", ["faults"]) => {
            shared.faults.clear();
            json_reply(StatusCode::OK, &ok)
        }
        ("GET", ["pushes"]) => {
            let pushes = shared.log.since(since(query.as_deref()));
            json_reply(StatusCode::OK, &json!({ "pushes": pushes }))
        }
        ("GET", ["stats"]) => json_reply(StatusCode::OK, &shared.counters.snapshot()),
        ("POST", ["reset"]) => {
            shared.reset();
            json_reply(StatusCode::OK, &ok)
        }
        _ => error(StatusCode::NOT_FOUND, "no such control endpoint"),
    }
}
