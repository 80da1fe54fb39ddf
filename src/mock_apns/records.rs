//! What the simulator remembers: counters (always, lock-free on success)
//! and, when enabled, a bounded in-memory log of pushes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::config::Environment;

/// How a push was authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthInfo {
    /// No usable credential was presented.
    None,
    /// Mutual-TLS client certificate.
    Certificate {
        /// Subject, e.g. `UID=com.example.app.voip, CN=...`.
        subject: String,
        /// SHA-256 of the certificate DER, lowercase hex.
        fingerprint_sha256: String,
        /// Subject `UID` (the certificate's default topic).
        uid: Option<String>,
    },
    /// Provider token (JWT).
    Token {
        /// `kid`.
        key_id: String,
        /// `iss`.
        team_id: String,
        /// `iat`, epoch seconds.
        issued_at: i64,
    },
}

/// One received push and what the simulator answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushRecord {
    /// Log sequence number, from 1.
    pub seq: u64,
    /// Receive time, epoch ms (simulator clock).
    pub received_at_ms: u64,
    /// Connection number, from 1.
    pub connection_id: u64,
    /// HTTP/2 stream id.
    pub stream_id: u32,
    /// Request method and path.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Device token from the path (may be empty or malformed).
    pub device_token: String,
    /// Every `apns-*` request header (repeated ones joined with ", ").
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON (`None` if empty, too large or not JSON).
    pub payload: Option<serde_json::Value>,
    /// Body size in bytes (as far as read).
    pub payload_bytes: usize,
    /// Authentication used.
    pub auth: AuthInfo,
    /// Environment the push was judged for, when known.
    pub environment: Option<Environment>,
    /// `apns-id` returned.
    pub apns_id: String,
    /// Response status; 0 when the stream was reset or the connection dropped.
    pub status: u16,
    /// Error reason, if any.
    pub reason: Option<String>,
    /// Fault action applied, if the response came from a fault rule.
    pub fault: Option<String>,
}

/// Counter snapshot returned by `GET /stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests received on the APNs listener.
    pub received: u64,
    /// Requests answered 200.
    pub accepted: u64,
    /// Requests answered with an error status.
    pub rejected: u64,
    /// Error answers by reason.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Requests whose stream was reset by a fault.
    pub streams_reset: u64,
    /// GOAWAY frames initiated by faults or shutdown.
    pub goaways_sent: u64,
    /// Connections dropped abruptly by faults.
    pub connections_dropped: u64,
    /// Connections currently open.
    pub connections_open: u64,
    /// Connections accepted since start (or reset).
    pub connections_total: u64,
    /// TLS handshakes that failed.
    pub tls_handshake_failures: u64,
}

/// Live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub received: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub streams_reset: AtomicU64,
    pub goaways_sent: AtomicU64,
    pub connections_dropped: AtomicU64,
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
    by_reason: Mutex<HashMap<String, u64>>,
}

impl Counters {
    /// Adds one to `c`.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error answer with `reason`.
    pub fn reject(&self, reason: &str) {
        Self::bump(&self.rejected);
        let mut map = self.by_reason.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                map.insert(reason.to_string(), 1);
            }
        }
    }

    /// A consistent-enough snapshot.
    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let by_reason = self.by_reason.lock().unwrap_or_else(|e| e.into_inner());
        Stats {
            received: get(&self.received),
            accepted: get(&self.accepted),
            rejected: get(&self.rejected),
            rejected_by_reason: by_reason.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            streams_reset: get(&self.streams_reset),
            goaways_sent: get(&self.goaways_sent),
            connections_dropped: get(&self.connections_dropped),
            connections_open: get(&self.connections_open),
            connections_total: get(&self.connections_total),
            tls_handshake_failures: get(&self.tls_handshake_failures),
        }
    }

    /// Zeroes every counter except the open-connection gauge.
    pub fn reset(&self) {
        for c in [
            &self.received,
            &self.accepted,
            &self.rejected,
            &self.streams_reset,
            &self.goaways_sent,
            &self.connections_dropped,
            &self.connections_total,
            &self.tls_handshake_failures,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.by_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// Bounded log of pushes.
#[derive(Debug)]
pub(crate) struct PushLog {
    capacity: usize,
    inner: Mutex<(u64, VecDeque<PushRecord>)>,
}

impl PushLog {
    /// An empty log keeping at most `capacity` records.
    pub fn new(capacity: usize) -> PushLog {
        PushLog {
            capacity: capacity.max(1),
            inner: Mutex::new((0, VecDeque::new())),
        }
    }

    /// Appends `record`, assigning its sequence number.
    pub fn push(&self, mut record: PushRecord) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (seq, log) = &mut *guard;
        *seq += 1;
        record.seq = *seq;
        if log.len() == self.capacity {
            log.pop_front();
        }
        log.push_back(record);
    }

    /// Records with `seq > since`, oldest first.
    pub fn since(&self, since: u64) -> Vec<PushRecord> {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let log = &guard.1;
        let start = log.partition_point(|r| r.seq <= since);
        log.range(start..).cloned().collect()
    }

    /// Empties the log and restarts numbering.
    pub fn clear(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = (0, VecDeque::new());
    }
}
