//! Configuration of the simulator: listeners, TLS material, environments,
//! the injectable clock and the module's error type.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// An APNs environment: production (`api.push.apple.com`) or development
/// (`api.sandbox.push.apple.com`) — the domain's one [`Environment`](crate::domain::Environment)
/// type, shared with registrations, deliveries and the APNs client. (Registrations through the
/// control API may also name the sandbox `development`.)
pub use crate::domain::Environment;

/// Which environment(s) one simulator listener serves.
///
/// Real APNs has one host per environment; run two simulators for a faithful
/// setup, or one in `Both` mode when the test does not care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentMode {
    /// Behave like `api.push.apple.com`.
    Production,
    /// Behave like `api.sandbox.push.apple.com`.
    #[serde(alias = "sandbox")]
    Development,
    /// Accept both environments on one listener.
    Both,
}

impl EnvironmentMode {
    /// Whether pushes for `env` are served by this listener.
    pub fn serves(self, env: Environment) -> bool {
        match self {
            EnvironmentMode::Both => true,
            EnvironmentMode::Production => env == Environment::Production,
            EnvironmentMode::Development => env == Environment::Sandbox,
        }
    }

    /// The single environment served, if the listener serves exactly one.
    pub fn single(self) -> Option<Environment> {
        match self {
            EnvironmentMode::Both => None,
            EnvironmentMode::Production => Some(Environment::Production),
            EnvironmentMode::Development => Some(Environment::Sandbox),
        }
    }
}

/// PEM material given either inline or as a file path.
#[derive(Debug, Clone)]
pub enum PemSource {
    /// Read the PEM text from this file at start-up.
    File(PathBuf),
    /// The PEM text itself.
    Pem(String),
}

impl PemSource {
    /// Loads the PEM bytes.
    pub fn load(&self) -> Result<Vec<u8>, Error> {
        match self {
            PemSource::Pem(text) => Ok(text.as_bytes().to_vec()),
            PemSource::File(path) => std::fs::read(path).map_err(|source| Error::Io {
                context: format!("reading {}", path.display()),
                source,
            }),
        }
    }
}

/// Where the server's TLS certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// Generate a fresh CA and a server certificate (SANs `localhost`,
    /// `127.0.0.1`, `::1` and the Apple host names). When `out_dir` is given,
    /// `ca.pem`, `server.pem` and `server-key.pem` are written there.
    Generate {
        /// Directory to write the generated PEM files to.
        out_dir: Option<PathBuf>,
    },
    /// Use an existing certificate chain and private key (PEM files).
    Files {
        /// Server certificate, optionally followed by its chain.
        cert: PathBuf,
        /// The certificate's private key.
        key: PathBuf,
    },
}

pub use crate::clock::{Clock, ManualClock, SystemClock};

/// Milliseconds since the Unix epoch (0 for times before it).
pub(crate) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Everything `start` needs to run a simulator.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// HTTP/2-over-TLS listener (the APNs endpoint). Port 0 picks a free port.
    pub tls_listen: SocketAddr,
    /// Plain HTTP/1.1 control API listener; must be a loopback address.
    /// `None` disables it (the same operations are methods on `Simulator`).
    pub control_listen: Option<SocketAddr>,
    /// Server certificate source.
    pub tls: TlsSource,
    /// CA that client certificates must chain to. `None`: client certificates
    /// are still requested (optionally) but accepted without chain checks.
    pub client_ca: Option<PemSource>,
    /// Environment(s) this listener serves.
    pub environment: EnvironmentMode,
    /// Require registered device tokens and provider keys. When off, the
    /// registries are still enforced once something has been registered.
    pub strict: bool,
    /// SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients.
    pub max_concurrent_streams: u32,
    /// Keep an in-memory log of pushes (and emit a tracing event per push).
    pub log_pushes: bool,
    /// Maximum number of pushes kept in the log (oldest dropped first).
    pub log_capacity: usize,
    /// Provider tokens whose `iat` is older than this are expired.
    pub provider_token_max_age: Duration,
    /// Minimum time between two distinct provider tokens of one key.
    pub provider_token_min_refresh: Duration,
    /// Source of time for token ages, timestamps and the push log.
    pub clock: Arc<dyn Clock>,
    /// Called with every push's receive time and collapse id (benchmarks); `None` = off.
    pub tap: Option<super::PushTap>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            tls_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 2197)),
            control_listen: None,
            tls: TlsSource::Generate { out_dir: None },
            client_ca: None,
            environment: EnvironmentMode::Both,
            strict: false,
            max_concurrent_streams: 1000,
            log_pushes: false,
            log_capacity: 100_000,
            provider_token_max_age: Duration::from_secs(3600),
            provider_token_min_refresh: Duration::from_secs(20 * 60),
            clock: Arc::new(SystemClock),
            tap: None,
        }
    }
}

/// Errors from starting or controlling the simulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation failed.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// OpenSSL rejected some TLS or key material.
    #[error("TLS/crypto error: {0}")]
    Tls(#[from] openssl::error::ErrorStack),
    /// The configuration cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A control request was malformed or inconsistent.
    #[error("invalid control request: {0}")]
    InvalidInput(String),
}
