//! One long-lived HTTP/2-over-TLS connection to APNs.
//!
//! A background task drives the h2 connection and sends a PING when the
//! connection has been idle for a while; an unanswered PING closes it. The
//! connection is published only after the server's first PING answer, so the
//! server's SETTINGS (including SETTINGS_MAX_CONCURRENT_STREAMS) are known before
//! a burst of requests goes out. Requests beyond the server's stream limit are
//! queued by h2; each request uses its own `SendRequest` clone and waits on
//! `ready()`, so queuing never deadlocks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Live counters for one pool, shared with its connections.
#[derive(Debug, Default)]
pub(crate) struct PoolCounters {
    /// Open connections, including retired ones still draining.
    pub(crate) connections: AtomicUsize,
    /// Requests in flight.
    pub(crate) in_flight: AtomicUsize,
}

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use h2::{Ping, PingPong, Reason};
use http::{HeaderMap, Request};
use openssl::ssl::SslConnector;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::config::Endpoint;
use super::outcome::RetryCause;
use super::tls;

/// Largest error body kept; APNs bodies are tiny JSON objects.
const MAX_BODY: usize = 16 * 1024;

/// Timeouts a connection needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) idle_ping_interval: Option<Duration>,
    pub(crate) ping_timeout: Duration,
}

/// The result of one attempt to send one request.
pub(crate) enum Attempt {
    /// APNs answered.
    Response {
        status: u16,
        headers: HeaderMap,
        body: Bytes,
        latency: Duration,
    },
    /// APNs provably did not process the request (it never left, the stream was
    /// refused, or it was above a graceful GOAWAY's last stream id): safe to
    /// send again. `cause` is what to report if no attempt succeeds.
    NotSent(RetryCause, String),
    /// The request went out but no answer came back: APNs may or may not have it.
    Failed(RetryCause, String),
}

/// State shared with the driver task.
#[derive(Debug)]
struct ConnState {
    usable: AtomicBool,
    in_flight: AtomicUsize,
    /// Milliseconds since `opened` of the last request or response.
    last_activity_ms: AtomicU64,
    opened: Instant,
}

impl ConnState {
    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed));
        self.opened.elapsed().saturating_sub(last)
    }
}

/// A live HTTP/2 connection; cheap to share behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) id: u64,
    pub(crate) slot: usize,
    send: SendRequest<Bytes>,
    state: Arc<ConnState>,
}

struct InFlight<'a>(&'a ConnState, &'a PoolCounters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.1.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

impl Connection {
    /// Connects TCP, TLS and HTTP/2 and waits for the server's first PING answer.
    pub(crate) async fn open(
        id: u64,
        slot: usize,
        endpoint: &Endpoint,
        connector: &SslConnector,
        settings: ConnSettings,
        counters: Arc<PoolCounters>,
    ) -> Result<Self, String> {
        let connect = async {
            let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
                .await
                .map_err(|e| format!("TCP connect to {}:{}: {e}", endpoint.host, endpoint.port))?;
            // Latency matters more than segment count for small pushes.
            let _ = tcp.set_nodelay(true);
            let tls = tls::handshake(connector, endpoint, tcp).await?;
            let (send, mut conn) = h2::client::Builder::new()
                .enable_push(false)
                .handshake::<_, Bytes>(tls)
                .await
                .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
            let ping = conn.ping_pong().ok_or("HTTP/2 PING unavailable")?;
            let state = Arc::new(ConnState {
                usable: AtomicBool::new(true),
                in_flight: AtomicUsize::new(0),
                last_activity_ms: AtomicU64::new(0),
                opened: Instant::now(),
            });
            let (ready_tx, ready_rx) = oneshot::channel();
            counters.connections.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(drive(
                conn,
                ping,
                state.clone(),
                settings,
                id,
                counters,
                ready_tx,
            ));
            match ready_rx.await {
                Ok(Ok(())) => Ok(Self {
                    id,
                    slot,
                    send,
                    state,
                }),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("connection closed during HTTP/2 setup".to_owned()),
            }
        };
        match tokio::time::timeout(settings.connect_timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "connecting to {}:{} timed out after {:?}",
                endpoint.host, endpoint.port, settings.connect_timeout
            )),
        }
    }

    /// Whether new requests may use this connection.
    pub(crate) fn is_usable(&self) -> bool {
        self.state.usable.load(Ordering::Acquire)
    }

    /// Stops new requests from using this connection; requests in flight finish,
    /// then h2 closes it once the pool lets go.
    pub(crate) fn retire(&self) {
        self.state.usable.store(false, Ordering::Release);
    }

    /// Requests currently in flight on this connection.
    pub(crate) fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::Relaxed)
    }

    /// Sends one request with `body` as its only DATA frame and reads the answer.
    pub(crate) async fn send(
        &self,
        request: Request<()>,
        body: Bytes,
        counters: &PoolCounters,
    ) -> Attempt {
        self.state.in_flight.fetch_add(1, Ordering::Relaxed);
        counters.in_flight.fetch_add(1, Ordering::Relaxed);
        let _guard = InFlight(&self.state, counters);
        self.state.touch();
        let mut send = match self.send.clone().ready().await {
            Ok(send) => send,
            Err(e) => {
                self.retire();
                return Attempt::NotSent(RetryCause::ConnectionLost, e.to_string());
            }
        };
        let started = Instant::now();
        let (response, mut stream) = match send.send_request(request, false) {
            Ok(pair) => pair,
            Err(e) => {
                if e.is_go_away() || e.is_io() || e.is_remote() {
                    self.retire();
                }
                return Attempt::NotSent(RetryCause::ConnectionLost, e.to_string());
            }
        };
        // If queuing the body fails the request never ended, so APNs cannot act on it.
        if let Err(e) = stream.send_data(body, true) {
            return Attempt::NotSent(RetryCause::ConnectionLost, e.to_string());
        }
        let response = match response.await {
            Ok(response) => response,
            Err(e) => return self.stream_failure(e),
        };
        let latency = started.elapsed();
        let (parts, mut recv) = response.into_parts();
        let mut buf = BytesMut::new();
        while let Some(chunk) = recv.data().await {
            // A body cut short still leaves us the status and headers to classify.
            let Ok(chunk) = chunk else { break };
            let _ = recv.flow_control().release_capacity(chunk.len());
            let room = MAX_BODY.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        self.state.touch();
        Attempt::Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: buf.freeze(),
            latency,
        }
    }

    fn stream_failure(&self, e: h2::Error) -> Attempt {
        let message = e.to_string();
        // REFUSED_STREAM: the server did not process the stream (RFC 9113 §8.7).
        if e.is_reset() && e.is_remote() && e.reason() == Some(Reason::REFUSED_STREAM) {
            return Attempt::NotSent(RetryCause::RefusedStream, message);
        }
        if e.is_go_away() && e.is_remote() {
            self.retire();
            // h2 fails streams above a GOAWAY's last stream id with the GOAWAY's
            // own error; with NO_ERROR that is the only way to get it, so such a
            // stream was never processed.
            if e.reason() == Some(Reason::NO_ERROR) {
                return Attempt::NotSent(RetryCause::GoAway, message);
            }
            return Attempt::Failed(RetryCause::GoAway, message);
        }
        // A stream-level reset leaves the connection fine; anything else does not.
        if !e.is_reset() {
            self.retire();
        }
        Attempt::Failed(RetryCause::ConnectionLost, message)
    }
}

/// Drives the h2 connection, answers readiness once the first PING returns, and
/// PINGs after idleness. Ends (closing the socket) on error, unanswered PING, or
/// graceful shutdown.
async fn drive<T>(
    conn: h2::client::Connection<T, Bytes>,
    mut ping: PingPong,
    state: Arc<ConnState>,
    settings: ConnSettings,
    id: u64,
    counters: Arc<PoolCounters>,
    ready: oneshot::Sender<Result<(), String>>,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::pin!(conn);
    // First PING: by the time it is answered the server's SETTINGS have been applied.
    let first = tokio::select! {
        res = &mut conn => Err(match res {
            Ok(()) => "server closed the connection during setup".to_owned(),
            Err(e) => format!("HTTP/2 setup: {e}"),
        }),
        pong = ping.ping(Ping::opaque()) => pong.map(|_| ()).map_err(|e| format!("HTTP/2 PING: {e}")),
    };
    let ok = first.is_ok();
    if ready.send(first).is_ok() && ok {
        tracing::debug!(conn = id, "APNs connection ready");
        run(conn.as_mut(), &mut ping, &state, settings, id).await;
    }
    state.usable.store(false, Ordering::Release);
    counters.connections.fetch_sub(1, Ordering::Relaxed);
}

async fn run<T>(
    mut conn: std::pin::Pin<&mut h2::client::Connection<T, Bytes>>,
    ping: &mut PingPong,
    state: &ConnState,
    settings: ConnSettings,
    id: u64,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut last_ping = Instant::now();
    loop {
        let Some(interval) = settings.idle_ping_interval else {
            log_end(conn.as_mut().await, id);
            return;
        };
        let since_ping = last_ping.elapsed();
        let wait = interval.saturating_sub(state.idle_for().min(since_ping));
        tokio::select! {
            res = conn.as_mut() => { log_end(res, id); return; }
            _ = tokio::time::sleep(wait) => {}
        }
        if state.idle_for() < interval || last_ping.elapsed() < interval {
            continue;
        }
        last_ping = Instant::now();
        let pong = tokio::time::timeout(settings.ping_timeout, ping.ping(Ping::opaque()));
        tokio::select! {
            res = conn.as_mut() => { log_end(res, id); return; }
            answer = pong => match answer {
                Ok(Ok(_)) => tracing::trace!(conn = id, "APNs PING answered"),
                Ok(Err(e)) => { tracing::info!(conn = id, error = %e, "APNs PING failed; closing"); return; }
                Err(_) => { tracing::info!(conn = id, "APNs PING unanswered; closing"); return; }
            }
        }
    }
}

fn log_end(result: Result<(), h2::Error>, id: u64) {
    match result {
        Ok(()) => tracing::debug!(conn = id, "APNs connection closed"),
        Err(e) => tracing::info!(conn = id, error = %e, "APNs connection ended"),
    }
}
