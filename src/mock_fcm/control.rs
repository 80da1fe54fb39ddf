//! The control API: plain HTTP/1.1 with JSON bodies, loopback only.
//!
//! | request | body | answer |
//! |---|---|---|
//! | `GET /health` | | `{"ok":true}` |
//! | `GET /ca.pem` | | the generated CA (PEM) |
//! | `GET /service-account.json` | | the service account generated at start |
//! | `POST /service-accounts` | `AccountRegistration` (or a full key file) | `{"ok":true,"client_email":E}` |
//! | `POST /service-accounts/generate` | `{"project_id"?, "name"?}` | a new full key file |
//! | `POST /tokens` | `TokenRegistration` | `{"ok":true}` |
//! | `POST /tokens/{token}/unregister` | | `{"ok":true}` |
//! | `POST /strict` | `StrictMode` | `{"ok":true}` |
//! | `POST /faults` | `FaultSpec` | `{"id":N}` (`expire_access_tokens`: also `"expired":K`) |
//! | `DELETE /faults` | | `{"ok":true}` |
//! | `GET /pushes?since=N` | | `{"pushes":[PushRecord...]}` (seq > N) |
//! | `GET /stats` | | `Stats` |
//! | `POST /reset` | | `{"ok":true}` |
//!
//! Errors answer 400 (bad input) or 404 with `{"error":"..."}`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::Shared;
use super::accounts::{AccountRegistration, ServiceAccountJson, generate};
use super::config::{Error, epoch_ms};
use super::conn::stopped;
use super::faults::{FaultAction, FaultSpec};

/// Largest control request body.
const MAX_BODY: usize = 1 << 20;
/// Most control connections served at once.
const MAX_CONNECTIONS: usize = 64;

/// `POST /service-accounts/generate`.
#[derive(Debug, Default, Deserialize)]
struct GenerateRequest {
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl Shared {
    /// Installs a fault (or, for `expire_access_tokens`, expires every access token now):
    /// the rule's id and how many tokens were expired.
    pub(crate) fn add_fault(&self, spec: &FaultSpec) -> Result<(u64, Option<usize>), Error> {
        let id = self.faults.add(spec)?;
        let expired = (spec.action == Some(FaultAction::ExpireAccessTokens))
            .then(|| self.expire_access_tokens());
        Ok((id, expired))
    }

    /// Expires every issued access token now; returns how many were valid.
    pub(crate) fn expire_access_tokens(&self) -> usize {
        self.access_tokens.expire_all(epoch_ms(self.clock.now()))
    }

    /// Generates, registers and returns a new service account.
    pub(crate) fn generate_account(
        &self,
        project_id: Option<&str>,
        name: Option<&str>,
    ) -> Result<ServiceAccountJson, Error> {
        let project_id = project_id.unwrap_or(&self.generated.project_id);
        let n = self.next_account.fetch_add(1, Ordering::Relaxed) + 1;
        let name = match name {
            Some(n) => {
                let ok = (6..=30).contains(&n.len())
                    && n.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !ok {
                    return Err(Error::InvalidInput(
                        "name must be 6-30 of a-z, 0-9, -".into(),
                    ));
                }
                n.to_string()
            }
            None => format!("mock-fcm-{n}"),
        };
        let sa = generate(project_id, &name, &self.token_url)?;
        self.accounts.register(&AccountRegistration::from(&sa))?;
        Ok(sa)
    }

    /// Forgets registered tokens, strictness, faults, access tokens, the log, counters
    /// and every service account but the generated one.
    pub(crate) fn reset(&self) {
        self.registry.reset();
        self.faults.clear();
        self.access_tokens.clear();
        self.log.clear();
        self.counters.reset();
        self.accounts.retain_only(&self.generated.client_email);
    }
}

/// Serves the control API until shutdown is signalled.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    ca_pem: Arc<String>,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped(&mut stop) => break,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let (shared, ca_pem, mut stop) = (shared.clone(), ca_pem.clone(), stop.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let svc = service_fn(move |req| {
                let (shared, ca_pem) = (shared.clone(), ca_pem.clone());
                async move { Ok::<_, Infallible>(route(&shared, &ca_pem, req).await) }
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

async fn route(shared: &Shared, ca_pem: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(StatusCode::BAD_REQUEST, "body unreadable or too large"),
    };
    let empty = body.iter().all(u8::is_ascii_whitespace);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ok = json!({ "ok": true });
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["health"]) => json_reply(StatusCode::OK, &ok),
        ("GET", ["ca.pem"]) => reply(StatusCode::OK, "application/x-pem-file", ca_pem.into()),
        ("GET", ["service-account.json"]) => json_reply(StatusCode::OK, &shared.generated),
        ("POST", ["service-accounts"]) => ok_or_error(parse(&body).and_then(|reg| {
            let reg: AccountRegistration = reg;
            shared.accounts.register(&reg)?;
            Ok(json!({ "ok": true, "client_email": reg.client_email }))
        })),
        ("POST", ["service-accounts", "generate"]) => {
            let req = if empty {
                Ok(GenerateRequest::default())
            } else {
                parse::<GenerateRequest>(&body)
            };
            ok_or_error(
                req.and_then(|r| {
                    shared.generate_account(r.project_id.as_deref(), r.name.as_deref())
                }),
            )
        }
        ("POST", ["tokens"]) => ok_or_error(
            parse(&body)
                .and_then(|reg| shared.registry.register(&reg))
                .map(|()| ok),
        ),
        ("POST", ["tokens", token, "unregister"]) => {
            ok_or_error(shared.registry.unregister(token).map(|()| ok))
        }
        ("POST", ["strict"]) => ok_or_error(
            parse(&body)
                .and_then(|mode| shared.registry.set_strict(&mode))
                .map(|()| ok),
        ),
        ("POST", ["faults"]) => ok_or_error(parse(&body).and_then(|spec| {
            let (id, expired) = shared.add_fault(&spec)?;
            Ok(match expired {
                Some(n) => json!({ "id": id, "expired": n }),
                None => json!({ "id": id }),
            })
        })),
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
