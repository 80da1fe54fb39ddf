//! Configuration of the FCM simulator: listeners, where generated files go, the
//! generated service account's project, access-token lifetime, strictness, bounds, the
//! injectable clock, and the module's error type.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use crate::clock::{Clock, ManualClock, SystemClock};

/// Milliseconds since the Unix epoch (0 for times before it).
pub(crate) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds since the Unix epoch (0 for times before it).
pub(crate) fn epoch_secs(t: SystemTime) -> i64 {
    (epoch_ms(t) / 1000) as i64
}

/// Everything `start` needs to run a simulator.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// HTTPS listener (HTTP/2 and HTTP/1.1 over TLS): `messages:send` and `/token`.
    /// Must be a loopback address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Plain HTTP/1.1 control API listener (loopback only); `None` disables it (the same
    /// operations are methods on `Simulator`).
    pub control_listen: Option<SocketAddr>,
    /// Directory for `ca.pem`, `server.pem`, `server-key.pem` and `service-account.json`;
    /// `None` writes nothing.
    pub out_dir: Option<PathBuf>,
    /// Project of the service account generated at start.
    pub project_id: String,
    /// `expires_in` of issued access tokens (Google: 3599).
    pub token_lifetime: Duration,
    /// Every project requires registered device tokens (unknown ones are UNREGISTERED).
    pub strict_tokens: bool,
    /// Keep an in-memory log of sends (and emit a tracing event per send).
    pub log_pushes: bool,
    /// Maximum number of sends kept in the log (oldest dropped first).
    pub log_capacity: usize,
    /// Open TLS connections at most; more wait to be accepted.
    pub max_connections: usize,
    /// SETTINGS_MAX_CONCURRENT_STREAMS advertised to HTTP/2 clients.
    pub max_concurrent_streams: u32,
    /// Source of time for token validity, timestamps and the log.
    pub clock: Arc<dyn Clock>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 2297)),
            control_listen: None,
            out_dir: None,
            project_id: "pushgate-demo".into(),
            token_lifetime: Duration::from_secs(3599),
            strict_tokens: false,
            log_pushes: false,
            log_capacity: 100_000,
            max_connections: 1024,
            max_concurrent_streams: 100,
            clock: Arc::new(SystemClock),
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

/// Whether `project_id` looks like a Google Cloud project id (6–30 of `a-z0-9-`, starting
/// with a letter, not ending with `-`).
pub(crate) fn valid_project_id(project_id: &str) -> bool {
    let b = project_id.as_bytes();
    (6..=30).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}
