//! The APNs endpoint: TLS accept loop, one `h2` server connection per
//! client, one task per request stream, and the fault actions that need
//! connection-level control (GOAWAY with debug data, abrupt drop).

use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use http::Request;
use openssl::ssl::{Ssl, SslAcceptor};
use openssl::x509::X509VerifyResult;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_openssl::SslStream;

use super::Shared;
use super::auth::ConnAuth;
use super::client_cert::ClientCertInfo;
use super::conn::{ConnCommand, ConnCtx};
use super::goaway::{DebugSlot, GoAwayDebug};
use super::records::Counters;
use super::stream::handle_stream;

/// How long a TLS + HTTP/2 handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing connection may take to finish in-flight streams.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Settings of the APNs listener.
pub(crate) struct Listener {
    pub acceptor: Arc<SslAcceptor>,
    pub verifies_clients: bool,
    pub max_concurrent_streams: u32,
}

/// Accepts connections until shutdown is signalled.
pub(crate) async fn accept_loop(
    tcp: TcpListener,
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let task = serve_connection(stream, listener.clone(), shared.clone(), shutdown.clone());
                    tokio::spawn(task);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "mock-apns: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stopped(&mut shutdown) => break,
        }
    }
}

/// Resolves once shutdown has been signalled (or the sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Keeps the open-connection gauge right however a connection task ends.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0
            .counters
            .connections_open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.0.conn_closed.notify_waiters();
    }
}

/// Serves one TCP connection: TLS, then HTTP/2.
async fn serve_connection(
    tcp: TcpStream,
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    Counters::bump(&shared.counters.connections_open);
    Counters::bump(&shared.counters.connections_total);
    let _guard = OpenGuard(shared.clone());
    let id = shared
        .next_conn_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let _ = tcp.set_nodelay(true);
    // A second handle on the socket lets a fault set SO_LINGER=0 (reset on
    // close) after the stream itself has been handed to h2.
    let Ok(raw) = tcp.as_fd().try_clone_to_owned() else {
        return;
    };
    let handshake = async {
        let ssl = Ssl::new(listener.acceptor.context()).ok()?;
        let mut tls = SslStream::new(ssl, tcp).ok()?;
        Pin::new(&mut tls).accept().await.ok()?;
        Some(tls)
    };
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Some(tls)) => tls,
        _ => {
            Counters::bump(&shared.counters.tls_handshake_failures);
            return;
        }
    };
    let cert = tls.ssl().peer_certificate().map(|c| {
        let trusted =
            !listener.verifies_clients || tls.ssl().verify_result() == X509VerifyResult::OK;
        ClientCertInfo::from_x509(&c, trusted)
    });
    let slot = DebugSlot::default();
    let io = GoAwayDebug::new(tls, slot.clone());
    let h2_handshake = h2::server::Builder::new()
        .max_concurrent_streams(listener.max_concurrent_streams)
        .handshake::<_, Bytes>(io);
    let mut conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, h2_handshake).await {
        Ok(Ok(conn)) => conn,
        _ => return,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(ConnCtx {
        id,
        auth: ConnAuth::new(cert),
        commands: tx,
    });
    let mut closing_since: Option<tokio::time::Instant> = None;
    loop {
        let closing = closing_since.is_some();
        let deadline = closing_since.unwrap_or_else(tokio::time::Instant::now) + CLOSE_GRACE;
        tokio::select! {
            accepted = conn.accept() => match accepted {
                Some(Ok((req, respond))) => {
                    tokio::spawn(stream_task(shared.clone(), ctx.clone(), req, respond));
                }
                Some(Err(e)) => {
                    tracing::debug!(conn = id, error = %e, "mock-apns: connection error");
                    break;
                }
                None => break,
            },
            Some(cmd) = rx.recv() => match cmd {
                ConnCommand::GoAway(debug) => {
                    start_go_away(&mut conn, &slot, debug, &mut closing_since, &shared);
                }
                ConnCommand::Drop => {
                    let _ = socket2::SockRef::from(&raw).set_linger(Some(Duration::ZERO));
                    Counters::bump(&shared.counters.connections_dropped);
                    return;
                }
            },
            _ = stopped(&mut shutdown), if !closing => {
                let debug = Bytes::from_static(br#"{"reason":"Shutdown"}"#);
                start_go_away(&mut conn, &slot, debug, &mut closing_since, &shared);
            }
            _ = tokio::time::sleep_until(deadline), if closing => break,
        }
    }
}

/// Starts a graceful close with GOAWAY carrying `debug` (once).
fn start_go_away<T>(
    conn: &mut h2::server::Connection<T, Bytes>,
    slot: &DebugSlot,
    debug: Bytes,
    closing_since: &mut Option<tokio::time::Instant>,
    shared: &Shared,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if closing_since.is_none() {
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(debug);
        conn.graceful_shutdown();
        Counters::bump(&shared.counters.goaways_sent);
        *closing_since = Some(tokio::time::Instant::now());
    }
}

async fn stream_task(
    shared: Arc<Shared>,
    ctx: Arc<ConnCtx>,
    req: Request<RecvStream>,
    respond: SendResponse<Bytes>,
) {
    handle_stream(&shared, &ctx, req, respond).await;
}
