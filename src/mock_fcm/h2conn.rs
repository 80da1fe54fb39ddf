//! HTTP/2 connections: one `h2` server connection per client (SETTINGS_MAX_CONCURRENT_STREAMS
//! bounds its streams), one task per stream that reads the body up to the route's limit,
//! asks the router, and answers, resets the stream, or has the connection dropped.

use std::sync::Arc;

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use http::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};

use super::Shared;
use super::answer::{Answer, Req, body_limit};
use super::conn::{CLOSE_GRACE, Conn, HANDSHAKE_TIMEOUT, stopped};
use super::records::Counters;
use super::router;

/// Serves HTTP/2 on an established TLS stream until the peer leaves, a fault drops the
/// connection, or shutdown (GOAWAY, then up to `CLOSE_GRACE` for in-flight streams).
pub(crate) async fn serve<T>(
    io: T,
    conn: Conn,
    max_concurrent_streams: u32,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(max_concurrent_streams)
        .max_header_list_size(64 * 1024)
        .handshake::<_, Bytes>(io);
    let Ok(Ok(mut h2)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await else {
        return;
    };
    let (drop_tx, mut drop_rx) = mpsc::channel::<()>(1);
    let mut closing_since: Option<tokio::time::Instant> = None;
    loop {
        let closing = closing_since.is_some();
        let deadline = closing_since.unwrap_or_else(tokio::time::Instant::now) + CLOSE_GRACE;
        tokio::select! {
            accepted = h2.accept() => match accepted {
                Some(Ok((req, respond))) => {
                    let task = stream(shared.clone(), conn.clone(), drop_tx.clone(), req, respond);
                    tokio::spawn(task);
                }
                Some(Err(e)) => {
                    tracing::debug!(conn = conn.id, error = %e, "mock-fcm: HTTP/2 connection error");
                    break;
                }
                None => break,
            },
            Some(()) = drop_rx.recv() => {
                conn.reset_on_close();
                Counters::bump(&shared.counters.connections_dropped);
                return;
            }
            _ = stopped(&mut shutdown), if !closing => {
                h2.graceful_shutdown();
                closing_since = Some(tokio::time::Instant::now());
            }
            _ = tokio::time::sleep_until(deadline), if closing => break,
        }
    }
}

/// The body, at most `limit` bytes kept; `None` if the client reset the stream.
async fn read_body(body: &mut RecvStream, limit: usize) -> Option<(Vec<u8>, bool)> {
    let mut buf = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.ok()?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if buf.len() + chunk.len() > limit {
            return Some((buf, true));
        }
        buf.extend_from_slice(&chunk);
    }
    Some((buf, false))
}

async fn stream(
    shared: Arc<Shared>,
    conn: Conn,
    drop_conn: mpsc::Sender<()>,
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let (parts, mut body) = req.into_parts();
    let path = parts.uri.path();
    let Some((bytes, too_large)) = read_body(&mut body, body_limit(path)).await else {
        return;
    };
    let req = Req {
        method: &parts.method,
        path,
        headers: &parts.headers,
        body: &bytes,
        too_large,
        conn_id: conn.id,
        protocol: "HTTP/2",
    };
    match router::handle(&shared, &req).await {
        Answer::Respond {
            status,
            headers,
            body,
        } => {
            let mut builder = Response::builder().status(status);
            for (name, value) in &headers {
                builder = builder.header(*name, value.as_str());
            }
            let Ok(response) = builder.body(()) else {
                respond.send_reset(h2::Reason::INTERNAL_ERROR);
                return;
            };
            if let Ok(mut s) = respond.send_response(response, body.is_empty())
                && !body.is_empty()
            {
                let _ = s.send_data(body, true);
            }
        }
        Answer::ResetStream => {
            respond.send_reset(h2::Reason::REFUSED_STREAM);
            Counters::bump(&shared.counters.streams_reset);
        }
        Answer::DropConnection => {
            let _ = drop_conn.try_send(());
        }
    }
}
