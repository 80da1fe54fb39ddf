//! `pushgate mock-fcm`: a faithful simulator of Firebase Cloud Messaging's HTTP v1 API
//! and of Google's OAuth 2.0 token endpoint, for tests, benchmarks and demos.
//!
//! One HTTPS listener (HTTP/2 via ALPN `h2`, HTTP/1.1 otherwise; a generated CA) serves
//! `POST /token` — service-account JWT assertions verified (RS256 against the known
//! accounts' public keys, `iss`, `aud`, `scope`, `iat`/`exp`), answered with expiring
//! `ya29.` access tokens (see `oauth`, `assertion`) — and
//! `POST /v1/projects/{p}/messages:send` — bearer, project, body and registration token
//! checked as FCM does, errors in FCM's `google.rpc.Status` shape (see `send`, `message`,
//! `errors`). At start it generates a service account and writes its Firebase-format key
//! file (token URI pointing here). An optional registry of registration tokens gives
//! UNREGISTERED and SENDER_ID_MISMATCH; fault rules give any FCM error, token-endpoint
//! failures, delays, reset streams and dropped connections. A plain HTTP/1.1 JSON control
//! API (see `control`) and the same operations as methods on [`Simulator`] drive it.
//!
//! ```ignore
//! use crate::mock_fcm::{start, SimulatorConfig, TokenRegistration};
//! let sim = start(SimulatorConfig::default(), std::future::pending()).await?;
//! let key_file = sim.service_account_json();   // token_uri = sim.token_url()
//! sim.register_token(&TokenRegistration { token: "fcm-token-1".into(), project_id: "pushgate-demo".into() })?;
//! // point an FCM client at sim.base_url(), trusting sim.ca_pem()
//! ```

mod accounts;
mod answer;
mod assertion;
mod config;
mod conn;
mod control;
mod errors;
mod faults;
mod h1conn;
mod h2conn;
mod message;
mod oauth;
mod records;
mod registry;
mod router;
mod send;
mod server;
mod tls;
mod tokens;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;

pub use accounts::{AccountRegistration, ServiceAccountJson};
pub use config::{Clock, Error, ManualClock, SimulatorConfig, SystemClock};
pub use errors::FcmErrorCode;
pub use faults::{FaultAction, FaultSpec, FaultTarget};
pub use records::{PushRecord, Stats};
pub use registry::{StrictMode, TokenRegistration};

/// How long `Simulator::shutdown` waits for open connections to close.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);
/// File name of the generated service account in the out dir.
pub const SERVICE_ACCOUNT_FILE: &str = "service-account.json";

/// State shared by the listener, connection and request tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub token_lifetime: Duration,
    pub log_pushes: bool,
    pub clock: Arc<dyn Clock>,
    /// `aud` values the token endpoint accepts (its own URL first).
    pub audiences: Vec<String>,
    pub token_url: String,
    pub generated: ServiceAccountJson,
    pub accounts: accounts::Accounts,
    pub access_tokens: tokens::AccessTokens,
    pub registry: registry::Registry,
    pub faults: faults::Faults,
    pub counters: records::Counters,
    pub log: records::PushLog,
    pub next_conn_id: AtomicU64,
    pub next_message: AtomicU64,
    pub next_account: AtomicU64,
    pub conn_closed: Notify,
}

/// A running simulator. Dropping it does not stop it; call `shutdown` (or resolve the
/// future given to `start`).
#[derive(Debug)]
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    control_addr: Option<SocketAddr>,
    ca_pem: Arc<String>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, Error> {
    if !addr.ip().is_loopback() {
        return Err(Error::Config(format!(
            "the {what} listener must be on a loopback address, not {addr}"
        )));
    }
    let l = TcpListener::bind(addr).await.map_err(|source| Error::Io {
        context: format!("binding the {what} listener on {addr}"),
        source,
    })?;
    l.local_addr().map_err(|source| Error::Io {
        context: "reading a listener address".into(),
        source,
    })?;
    Ok(l)
}

/// Binds the listeners, generates the TLS material and the service account (written to
/// `out_dir`), spawns the server tasks and returns the handle. The simulator stops when
/// `shutdown` resolves or `Simulator::shutdown` is called.
pub async fn start<F>(config: SimulatorConfig, shutdown: F) -> Result<Simulator, Error>
where
    F: Future<Output = ()> + Send + 'static,
{
    if config.max_concurrent_streams == 0 || config.max_connections == 0 {
        return Err(Error::Config(
            "max_concurrent_streams and max_connections must be > 0".into(),
        ));
    }
    if !config::valid_project_id(&config.project_id) {
        return Err(Error::Config(format!(
            "project id {:?}: use 6-30 of a-z, 0-9 and -, starting with a letter",
            config.project_id
        )));
    }
    let listener = bind(config.listen, "HTTPS").await?;
    let addr = listener.local_addr().map_err(|source| Error::Io {
        context: "reading a listener address".into(),
        source,
    })?;
    let control = match config.control_listen {
        Some(a) => Some(bind(a, "control").await?),
        None => None,
    };
    let control_addr = control.as_ref().and_then(|l| l.local_addr().ok());
    let tls = tls::build_acceptor(config.out_dir.as_deref())?;
    let token_url = format!("https://127.0.0.1:{}/token", addr.port());
    let generated = accounts::generate(&config.project_id, "pushgate-mock", &token_url)?;
    if let Some(dir) = &config.out_dir {
        let text = serde_json::to_string_pretty(&generated)
            .map_err(|e| Error::Config(format!("serializing the service account: {e}")))?;
        tls::write_file(dir, SERVICE_ACCOUNT_FILE, &text)?;
    }
    let audiences = vec![
        token_url.clone(),
        format!("https://localhost:{}/token", addr.port()),
        "https://oauth2.googleapis.com/token".into(),
        "https://www.googleapis.com/oauth2/v4/token".into(),
    ];
    let shared = Arc::new(Shared {
        token_lifetime: config.token_lifetime,
        log_pushes: config.log_pushes,
        clock: config.clock.clone(),
        audiences,
        token_url,
        accounts: accounts::Accounts::default(),
        generated,
        access_tokens: tokens::AccessTokens::default(),
        registry: registry::Registry::new(config.strict_tokens),
        faults: faults::Faults::default(),
        counters: records::Counters::default(),
        log: records::PushLog::new(config.log_capacity),
        next_conn_id: AtomicU64::new(0),
        next_message: AtomicU64::new(0),
        next_account: AtomicU64::new(0),
        conn_closed: Notify::new(),
    });
    shared
        .accounts
        .register(&AccountRegistration::from(&shared.generated))?;
    let (stop, stop_rx) = watch::channel(false);
    let server = Arc::new(server::Listener {
        acceptor: Arc::new(tls.acceptor),
        max_concurrent_streams: config.max_concurrent_streams,
        permits: Arc::new(Semaphore::new(config.max_connections)),
    });
    let ca_pem = Arc::new(tls.ca_pem);
    let mut tasks = vec![tokio::spawn(server::accept_loop(
        listener,
        server,
        shared.clone(),
        stop_rx.clone(),
    ))];
    if let Some(l) = control {
        let task = control::serve(l, shared.clone(), ca_pem.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(task));
    }
    let stop_on = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown => { let _ = stop_on.send(true); }
            _ = stop_on.closed() => {}
        }
    });
    tracing::info!(%addr, ?control_addr, project = %config.project_id, "mock-fcm started");
    Ok(Simulator {
        shared,
        addr,
        control_addr,
        ca_pem,
        stop,
        tasks: Mutex::new(tasks),
    })
}

impl Simulator {
    /// Address of the HTTPS listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Address of the control API, if enabled.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control_addr
    }

    /// `https://127.0.0.1:<port>`: the FCM base URL (`{base}/v1/projects/{p}/messages:send`).
    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// `https://127.0.0.1:<port>/token`: the token endpoint (the key files' `token_uri`).
    pub fn token_url(&self) -> &str {
        &self.shared.token_url
    }

    /// PEM of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The service account generated at start.
    pub fn service_account(&self) -> &ServiceAccountJson {
        &self.shared.generated
    }

    /// The generated service account as a key file's JSON text.
    pub fn service_account_json(&self) -> String {
        serde_json::to_string_pretty(&self.shared.generated).unwrap_or_default()
    }

    /// Generates and registers another service account (RSA 2048) for `project_id`.
    pub fn generate_service_account(&self, project_id: &str) -> Result<ServiceAccountJson, Error> {
        self.shared.generate_account(Some(project_id), None)
    }

    /// Registers a service account (or another key of one).
    pub fn register_service_account(&self, reg: &AccountRegistration) -> Result<(), Error> {
        self.shared.accounts.register(reg)
    }

    /// Registers a registration token for a project.
    pub fn register_token(&self, reg: &TokenRegistration) -> Result<(), Error> {
        self.shared.registry.register(reg)
    }

    /// Makes a registration token UNREGISTERED from now on.
    pub fn unregister_token(&self, token: &str) -> Result<(), Error> {
        self.shared.registry.unregister(token)
    }

    /// Turns strict token checking on or off for one project.
    pub fn set_strict(&self, mode: &StrictMode) -> Result<(), Error> {
        self.shared.registry.set_strict(mode)
    }

    /// Installs a fault rule; returns its id. (`expire_access_tokens` acts at once.)
    pub fn add_fault(&self, spec: &FaultSpec) -> Result<u64, Error> {
        self.shared.add_fault(spec).map(|(id, _)| id)
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Expires every access token issued so far; returns how many were still valid.
    pub fn expire_access_tokens(&self) -> usize {
        self.shared.expire_access_tokens()
    }

    /// Logged sends with `seq > since` (empty unless `log_pushes`).
    pub fn pushes(&self, since: u64) -> Vec<PushRecord> {
        self.shared.log.since(since)
    }

    /// Counter snapshot.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Forgets tokens, faults, access tokens, the log, counters and every service account
    /// except the generated one.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stops accepting, closes connections gracefully (GOAWAY on HTTP/2) and waits (up to
    /// 5 s) for them to close.
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
                let open = &self.shared.counters.connections_open;
                if open.load(Ordering::Relaxed) == 0 {
                    break;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(SHUTDOWN_WAIT, wait).await;
    }
}
