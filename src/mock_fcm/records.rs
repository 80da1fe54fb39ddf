//! What the simulator remembers: counters (always) and, when enabled, a bounded in-memory
//! log of `messages:send` requests and their answers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// One `messages:send` request and what the simulator answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushRecord {
    /// Log sequence number, from 1.
    pub seq: u64,
    /// Receive time, epoch ms (simulator clock).
    pub received_at_ms: u64,
    /// Connection number, from 1.
    pub connection_id: u64,
    /// `HTTP/2` or `HTTP/1.1`.
    pub protocol: String,
    /// Project from the path.
    pub project_id: String,
    /// `message.token` (empty when absent).
    pub token: String,
    /// `message.data`, when present.
    pub data: Option<serde_json::Value>,
    /// `message.android`, when present.
    pub android: Option<serde_json::Value>,
    /// `validate_only` was set.
    pub validate_only: bool,
    /// The service account the bearer token was issued to, when known.
    pub client_email: Option<String>,
    /// HTTP status answered; 0 when the stream was reset or the connection dropped.
    pub status: u16,
    /// `errorCode` (or status name) of an error answer.
    pub error_code: Option<String>,
    /// Error message, if any.
    pub message: Option<String>,
    /// The `name` of an accepted message.
    pub name: Option<String>,
    /// Fault applied, if any.
    pub fault: Option<String>,
}

/// Counter snapshot returned by `GET /stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Token requests received.
    pub token_requests: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Token requests refused, by OAuth error.
    pub token_errors: BTreeMap<String, u64>,
    /// `messages:send` requests received.
    pub sends: u64,
    /// Sends answered 200.
    pub accepted: u64,
    /// Sends answered with an error.
    pub rejected: u64,
    /// Error answers by `errorCode` (or status name when there is none).
    pub rejected_by_error_code: BTreeMap<String, u64>,
    /// Streams reset by faults.
    pub streams_reset: u64,
    /// Connections dropped by faults.
    pub connections_dropped: u64,
    /// Connections currently open.
    pub connections_open: u64,
    /// Connections accepted since start (or reset).
    pub connections_total: u64,
    /// Of those, connections that negotiated HTTP/2.
    pub connections_h2: u64,
    /// TLS handshakes that failed.
    pub tls_handshake_failures: u64,
}

/// Live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub token_requests: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub sends: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub streams_reset: AtomicU64,
    pub connections_dropped: AtomicU64,
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_h2: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
    token_errors: Mutex<HashMap<String, u64>>,
    by_code: Mutex<HashMap<String, u64>>,
}

fn count(map: &Mutex<HashMap<String, u64>>, key: &str) {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    match map.get_mut(key) {
        Some(n) => *n += 1,
        // Keys come from fixed sets (error codes), so the map stays small.
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

fn snapshot_map(map: &Mutex<HashMap<String, u64>>) -> BTreeMap<String, u64> {
    let map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

impl Counters {
    /// Adds one to `c`.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error answer to a send.
    pub fn reject(&self, label: &str) {
        Self::bump(&self.rejected);
        count(&self.by_code, label);
    }

    /// Counts a refused token request.
    pub fn token_error(&self, error: &str) {
        count(&self.token_errors, error);
    }

    /// A consistent-enough snapshot.
    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            token_requests: get(&self.token_requests),
            tokens_issued: get(&self.tokens_issued),
            token_errors: snapshot_map(&self.token_errors),
            sends: get(&self.sends),
            accepted: get(&self.accepted),
            rejected: get(&self.rejected),
            rejected_by_error_code: snapshot_map(&self.by_code),
            streams_reset: get(&self.streams_reset),
            connections_dropped: get(&self.connections_dropped),
            connections_open: get(&self.connections_open),
            connections_total: get(&self.connections_total),
            connections_h2: get(&self.connections_h2),
            tls_handshake_failures: get(&self.tls_handshake_failures),
        }
    }

    /// Zeroes every counter except the open-connection gauge.
    pub fn reset(&self) {
        for c in [
            &self.token_requests,
            &self.tokens_issued,
            &self.sends,
            &self.accepted,
            &self.rejected,
            &self.streams_reset,
            &self.connections_dropped,
            &self.connections_total,
            &self.connections_h2,
            &self.tls_handshake_failures,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        for m in [&self.token_errors, &self.by_code] {
            m.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}

/// Bounded log of sends (a ring buffer).
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
