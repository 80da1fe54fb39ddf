//! The HTTPS listener: a bounded accept loop (at most `max_connections` open), the TLS
//! handshake, then HTTP/2 (ALPN `h2`, see `h2conn`) or HTTP/1.1 (see `h1conn`).

use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use openssl::ssl::{Ssl, SslAcceptor};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_openssl::SslStream;

use super::Shared;
use super::conn::{Conn, HANDSHAKE_TIMEOUT, stopped};
use super::records::Counters;
use super::{h1conn, h2conn};

/// Settings of the HTTPS listener.
pub(crate) struct Listener {
    pub acceptor: Arc<SslAcceptor>,
    pub max_concurrent_streams: u32,
    pub permits: Arc<Semaphore>,
}

/// Accepts connections until shutdown is signalled.
pub(crate) async fn accept_loop(
    tcp: TcpListener,
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let permit = tokio::select! {
            p = listener.permits.clone().acquire_owned() => p,
            _ = stopped(&mut shutdown) => break,
        };
        let Ok(permit) = permit else { break };
        tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let task = serve_connection(
                        stream, listener.clone(), shared.clone(), shutdown.clone(), permit,
                    );
                    tokio::spawn(task);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "mock-fcm: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stopped(&mut shutdown) => break,
        }
    }
}

/// Keeps the open-connection gauge right however a connection task ends.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0
            .counters
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
        self.0.conn_closed.notify_waiters();
    }
}

/// Serves one TCP connection: TLS, then HTTP/2 or HTTP/1.1.
async fn serve_connection(
    tcp: TcpStream,
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    Counters::bump(&shared.counters.connections_open);
    Counters::bump(&shared.counters.connections_total);
    let _guard = OpenGuard(shared.clone());
    let id = shared.next_conn_id.fetch_add(1, Ordering::Relaxed) + 1;
    let _ = tcp.set_nodelay(true);
    // A second handle on the socket lets a fault reset the connection after the stream
    // itself has been handed to h2 or hyper.
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
    let conn = Conn {
        id,
        raw: Arc::new(raw),
    };
    if tls.ssl().selected_alpn_protocol() == Some(b"h2") {
        Counters::bump(&shared.counters.connections_h2);
        h2conn::serve(tls, conn, listener.max_concurrent_streams, shared, shutdown).await;
    } else {
        h1conn::serve(tls, conn, shared, shutdown).await;
    }
}
