//! HTTP/1.1 connections (clients that offer no `h2`, such as Python's `requests`, which
//! Google's auth library uses for token requests): hyper's HTTP/1 server, bodies limited
//! per route, the same router as HTTP/2. A reset or drop fault closes the connection
//! without an answer (a drop with RST).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use super::Shared;
use super::answer::{Answer, Req, body_limit};
use super::conn::{CLOSE_GRACE, Conn, stopped};
use super::records::Counters;
use super::router;

/// Time to receive a request's headers (and the longest idle keep-alive wait).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a connection is closed without an answer.
#[derive(Debug)]
struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("closed by a fault")
    }
}

impl std::error::Error for Closed {}

async fn answer(
    shared: Arc<Shared>,
    conn: Conn,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Closed> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let (bytes, too_large) = match Limited::new(body, body_limit(&path)).collect().await {
        Ok(b) => (b.to_bytes(), false),
        Err(_) => (Bytes::new(), true),
    };
    let req = Req {
        method: &parts.method,
        path: &path,
        headers: &parts.headers,
        body: &bytes,
        too_large,
        conn_id: conn.id,
        protocol: "HTTP/1.1",
    };
    match router::handle(&shared, &req).await {
        Answer::Respond {
            status,
            headers,
            body,
        } => {
            let mut resp = Response::new(Full::new(body));
            *resp.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            for (name, value) in headers {
                if let Ok(v) = value.parse() {
                    resp.headers_mut().append(name, v);
                }
            }
            Ok(resp)
        }
        Answer::ResetStream => {
            Counters::bump(&shared.counters.streams_reset);
            Err(Closed)
        }
        Answer::DropConnection => {
            conn.reset_on_close();
            Counters::bump(&shared.counters.connections_dropped);
            Err(Closed)
        }
    }
}

/// Serves HTTP/1.1 on an established TLS stream until the peer leaves, a fault closes
/// the connection, or shutdown (finishing the request in flight, up to `CLOSE_GRACE`).
pub(crate) async fn serve<T>(
    io: T,
    conn: Conn,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc_conn = conn.clone();
    let svc = service_fn(move |req| answer(shared.clone(), svc_conn.clone(), req));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(64 * 1024);
    let http = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(http);
    tokio::select! {
        result = http.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(conn = conn.id, error = %e, "mock-fcm: HTTP/1.1 connection ended");
            }
        }
        _ = stopped(&mut shutdown) => {
            http.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(CLOSE_GRACE, http).await;
        }
    }
}
