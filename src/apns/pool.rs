//! A fixed number of connection slots for one APNs environment.
//!
//! Each slot holds at most one usable connection, opened lazily on first use and
//! replaced once it is retired (GOAWAY, error, unanswered PING, or a token
//! problem that calls for a fresh connection). Requests are spread round-robin
//! over the slots. A slot whose connect failed refuses new attempts for a short,
//! growing backoff instead of letting every waiting request reconnect.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use openssl::ssl::SslConnector;
use tokio::sync::Mutex;

use super::config::Endpoint;
use super::connection::{ConnSettings, Connection, PoolCounters};
use super::request::Environment;

/// First backoff after a failed connect; doubles per failure.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest backoff after repeated connect failures.
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Connection ids are unique across all pools, for logs.
static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// A snapshot of one environment's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Open connections, including retired ones still finishing their requests.
    pub connections: usize,
    /// Requests in flight.
    pub in_flight: usize,
}

#[derive(Default)]
struct Slot {
    conn: Option<Arc<Connection>>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
}

/// Why no connection could be had.
#[derive(Debug, Clone)]
pub(crate) struct AcquireError {
    /// When connecting may be tried again.
    pub(crate) retry_in: Option<Duration>,
    pub(crate) message: String,
}

/// The connections for one environment.
pub(crate) struct Pool {
    env: Environment,
    endpoint: Endpoint,
    connector: SslConnector,
    settings: ConnSettings,
    slots: Vec<Mutex<Slot>>,
    next: AtomicUsize,
    pub(crate) counters: Arc<PoolCounters>,
}

impl Pool {
    pub(crate) fn new(
        env: Environment,
        endpoint: Endpoint,
        connector: SslConnector,
        settings: ConnSettings,
        size: usize,
    ) -> Self {
        Self {
            env,
            endpoint,
            connector,
            settings,
            slots: (0..size.max(1))
                .map(|_| Mutex::new(Slot::default()))
                .collect(),
            next: AtomicUsize::new(0),
            counters: Arc::new(PoolCounters::default()),
        }
    }

    /// `https://authority` for request URIs.
    pub(crate) fn base(&self) -> &str {
        &self.endpoint.base
    }

    /// A snapshot of the pool's counters.
    pub(crate) fn stats(&self) -> PoolStats {
        PoolStats {
            connections: self.counters.connections.load(Ordering::Relaxed),
            in_flight: self.counters.in_flight.load(Ordering::Relaxed),
        }
    }

    /// A usable connection: from slot `prefer` if given, else the next slot in
    /// turn; other slots are tried if that one cannot connect.
    pub(crate) async fn acquire(
        &self,
        prefer: Option<usize>,
    ) -> Result<Arc<Connection>, AcquireError> {
        let n = self.slots.len();
        let start = prefer.unwrap_or_else(|| self.next.fetch_add(1, Ordering::Relaxed)) % n;
        let mut last = None;
        for i in 0..n {
            match self.acquire_slot((start + i) % n).await {
                Ok(conn) => return Ok(conn),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| AcquireError {
            retry_in: None,
            message: "empty pool".into(),
        }))
    }

    async fn acquire_slot(&self, index: usize) -> Result<Arc<Connection>, AcquireError> {
        let mut slot = self.slots[index].lock().await;
        if let Some(conn) = &slot.conn {
            if conn.is_usable() {
                return Ok(conn.clone());
            }
            tracing::debug!(
                env = self.env.as_str(),
                conn = conn.id,
                in_flight = conn.in_flight(),
                "replacing retired APNs connection"
            );
            slot.conn = None;
        }
        let now = Instant::now();
        if let Some(at) = slot.retry_at.filter(|at| *at > now) {
            return Err(AcquireError {
                retry_in: Some(at - now),
                message: slot.last_error.clone(),
            });
        }
        let id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
        let opened = Connection::open(
            id,
            index,
            &self.endpoint,
            &self.connector,
            self.settings,
            self.counters.clone(),
        )
        .await;
        match opened {
            Ok(conn) => {
                tracing::info!(env = self.env.as_str(), conn = id, host = %self.endpoint.host,
                    "opened APNs connection");
                let conn = Arc::new(conn);
                slot.conn = Some(conn.clone());
                slot.failures = 0;
                slot.retry_at = None;
                Ok(conn)
            }
            Err(message) => {
                let backoff = BACKOFF_BASE
                    .saturating_mul(1u32 << slot.failures.min(16))
                    .min(BACKOFF_MAX);
                slot.failures = slot.failures.saturating_add(1);
                slot.retry_at = Some(Instant::now() + backoff);
                slot.last_error.clone_from(&message);
                tracing::warn!(env = self.env.as_str(), error = %message, backoff_ms = backoff.as_millis() as u64,
                    "APNs connect failed");
                Err(AcquireError {
                    retry_in: Some(backoff),
                    message,
                })
            }
        }
    }
}
