//! What the HTTP/2 and HTTP/1.1 connection servers share: the connection's identity and
//! a second handle on its socket (to reset it), and the shutdown signal.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How long a TLS (or HTTP/2) handshake may take.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closing connection may take to finish in-flight requests.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// One accepted connection.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    /// Connection number, from 1.
    pub id: u64,
    /// A duplicate of the socket, for `reset`.
    pub raw: Arc<OwnedFd>,
}

impl Conn {
    /// Sets SO_LINGER 0, so closing the socket resets the connection (RST).
    pub fn reset_on_close(&self) {
        let _ = socket2::SockRef::from(&*self.raw).set_linger(Some(Duration::ZERO));
    }
}

/// Resolves once shutdown has been signalled (or the sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
