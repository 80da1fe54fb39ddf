//! `pushgate mock-apns`: a faithful simulator of Apple's Push Notification
//! service (the HTTP/2 provider API), for tests, benchmarks and demos.
//!
//! It speaks HTTP/2 over TLS (ALPN `h2`) on `POST /3/device/<token>`,
//! validates requests the way APNs does (headers, payload limits, provider
//! tokens verified with OpenSSL, client certificates with Apple's OIDs),
//! optionally checks device tokens against a registry, and can inject
//! faults (error answers, RST_STREAM, GOAWAY with a JSON reason, dropped
//! connections, latency). A plain HTTP/1.1 JSON control API (see `control`)
//! and the same operations as methods on [`Simulator`] drive it.
//!
//! ```ignore
//! use crate::mock_apns::{start, SimulatorConfig, TokenRegistration, Environment};
//! let stop = async { let _ = tokio::signal::ctrl_c().await; };
//! let sim = start(SimulatorConfig::default(), stop).await?;
//! sim.register_token(&TokenRegistration {
//!     token: "ab".repeat(32),
//!     topic: "com.example.app.voip".into(),
//!     environment: Environment::Production,
//! })?;
//! // point an APNs client at sim.base_url(), trusting sim.ca_pem()
//! ```

mod auth;
mod client_cert;
mod config;
mod conn;
mod control;
mod faults;
mod goaway;
mod provider_token;
mod records;
mod registry;
mod server;
mod stream;
mod tap;
mod tls;
mod validate;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use config::{
    Clock, Environment, EnvironmentMode, Error, ManualClock, PemSource, SimulatorConfig,
    SystemClock, TlsSource,
};
pub use faults::{FaultAction, FaultSpec};
pub use records::{AuthInfo, PushRecord, Stats};
pub use registry::{GoneReason, KeyRegistration, TokenRegistration, Unregistration};
pub use tap::{PushTap, TapEvent};

/// How long `Simulator::shutdown` waits for open connections to close.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// State shared by the listener, connection and stream tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub mode: EnvironmentMode,
    pub strict: bool,
    pub log_pushes: bool,
    pub provider_token_max_age: Duration,
    pub provider_token_min_refresh: Duration,
    pub clock: Arc<dyn Clock>,
    pub registry: registry::Registry,
    pub faults: faults::Faults,
    pub counters: records::Counters,
    pub log: records::PushLog,
    pub next_conn_id: AtomicU64,
    pub conn_closed: Notify,
    pub tap: Option<PushTap>,
}

/// A running simulator. Dropping it does not stop it; call `shutdown` (or
/// resolve the future given to `start`).
#[derive(Debug)]
pub struct Simulator {
    shared: Arc<Shared>,
    tls_addr: SocketAddr,
    control_addr: Option<SocketAddr>,
    ca_pem: Option<String>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(|source| Error::Io {
        context: format!("binding the {what} listener on {addr}"),
        source,
    })
}

fn local_addr(l: &TcpListener) -> Result<SocketAddr, Error> {
    l.local_addr().map_err(|source| Error::Io {
        context: "reading a listener address".into(),
        source,
    })
}

/// Binds the listeners, spawns the server tasks and returns the handle.
/// The simulator stops when `shutdown` resolves or `Simulator::shutdown`
/// is called. Port 0 in the config picks free ports (see the handle).
pub async fn start<F>(config: SimulatorConfig, shutdown: F) -> Result<Simulator, Error>
where
    F: Future<Output = ()> + Send + 'static,
{
    if let Some(addr) = config.control_listen
        && !addr.ip().is_loopback()
    {
        return Err(Error::Config(format!(
            "control API must listen on a loopback address, not {addr}"
        )));
    }
    if config.max_concurrent_streams == 0 {
        return Err(Error::Config("max_concurrent_streams must be > 0".into()));
    }
    let setup = tls::build_acceptor(&config.tls, config.client_ca.as_ref())?;
    let tls_listener = bind(config.tls_listen, "APNs").await?;
    let tls_addr = local_addr(&tls_listener)?;
    let control_listener = match config.control_listen {
        Some(addr) => Some(bind(addr, "control").await?),
        None => None,
    };
    let control_addr = control_listener.as_ref().map(local_addr).transpose()?;
    let shared = Arc::new(Shared {
        mode: config.environment,
        strict: config.strict,
        log_pushes: config.log_pushes,
        provider_token_max_age: config.provider_token_max_age,
        provider_token_min_refresh: config.provider_token_min_refresh,
        clock: config.clock.clone(),
        registry: registry::Registry::default(),
        faults: faults::Faults::default(),
        counters: records::Counters::default(),
        log: records::PushLog::new(config.log_capacity),
        next_conn_id: AtomicU64::new(0),
        conn_closed: Notify::new(),
        tap: config.tap.clone(),
    });
    let (stop, stop_rx) = watch::channel(false);
    let listener = Arc::new(server::Listener {
        acceptor: Arc::new(setup.acceptor),
        verifies_clients: setup.verifies_clients,
        max_concurrent_streams: config.max_concurrent_streams,
    });
    let mut tasks = vec![tokio::spawn(server::accept_loop(
        tls_listener,
        listener,
        shared.clone(),
        stop_rx.clone(),
    ))];
    if let Some(l) = control_listener {
        let ca = setup.ca_pem.clone();
        let task = control::serve(l, shared.clone(), ca, stop_rx.clone());
        tasks.push(tokio::spawn(task));
    }
    let stop_on = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown => { let _ = stop_on.send(true); }
            _ = stop_on.closed() => {}
        }
    });
    tracing::info!(%tls_addr, ?control_addr, mode = ?config.environment, "mock-apns started");
    Ok(Simulator {
        shared,
        tls_addr,
        control_addr,
        ca_pem: setup.ca_pem,
        stop,
        tasks: Mutex::new(tasks),
    })
}

impl Simulator {
    /// Address of the APNs (HTTP/2 over TLS) listener.
    pub fn tls_addr(&self) -> SocketAddr {
        self.tls_addr
    }

    /// Address of the control API, if enabled.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control_addr
    }

    /// PEM of the CA that signed the generated server certificate (`None`
    /// when the certificate came from files).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// `https://localhost:<port>`, the base URL clients should use.
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}", self.tls_addr.port())
    }

    /// Registers a device token for a topic and environment.
    pub fn register_token(&self, reg: &TokenRegistration) -> Result<(), Error> {
        self.shared.registry.register_token(reg)
    }

    /// Marks a device token unregistered; returns the 410 timestamp (ms).
    pub fn unregister_token(&self, token: &str, req: &Unregistration) -> Result<u64, Error> {
        self.shared.unregister_token(token, req)
    }

    /// Registers a provider-token key.
    pub fn register_key(&self, reg: &KeyRegistration) -> Result<(), Error> {
        self.shared.registry.register_key(reg)
    }

    /// Installs a fault rule; returns its id.
    pub fn add_fault(&self, spec: &FaultSpec) -> Result<u64, Error> {
        self.shared.faults.add(spec)
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Logged pushes with `seq > since` (empty unless `log_pushes`).
    pub fn pushes(&self, since: u64) -> Vec<PushRecord> {
        self.shared.log.since(since)
    }

    /// Counter snapshot.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Forgets tokens, keys, faults, the log and counters.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stops accepting, sends GOAWAY (`{"reason":"Shutdown"}`) on every
    /// connection and waits (up to 5 s) for them to close.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
        let wait = async {
            loop {
                let notified = self.shared.conn_closed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self
                    .shared
                    .counters
                    .connections_open
                    .load(Ordering::Relaxed)
                    == 0
                {
                    break;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(SHUTDOWN_WAIT, wait).await;
    }
}
