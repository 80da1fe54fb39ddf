//! Reusable pieces for multi-process fault tests. Everything listens on 127.0.0.1 only, every
//! wait is bounded, and every process is stopped on `Drop` (also when a test panics).
//!
//! - [`PrivateRedis`]: a `redis-server` of its own, persistent across `stop`/`start`.
//! - [`PrivatePostgres`]: a PostgreSQL cluster of its own (`initdb` + `pg_ctl`).
//! - [`Replicas`]: N `pushgate serve` processes sharing one configuration.
//! - [`ApnsSim`]: the in-process APNs simulator, with push counts per `apns-id`.
//! - [`spawn_load`]: an open-loop invite load over the replicas, failing over like a balancer.
//! - [`post_invite`] / [`settle_all`]: an invite and its classified answer; waiting until
//!   invites have every delivery accepted.

#![allow(dead_code)] // not every test uses every helper

mod apns;
mod client;
mod load;
mod postgres;
mod redis;
mod replicas;

pub use apns::ApnsSim;
pub use client::{Outcome, post_invite, settle_all};
pub use load::{Load, Sent, accepted, spawn_load};
pub use postgres::PrivatePostgres;
pub use redis::PrivateRedis;
pub use replicas::{ReplicaConfig, Replicas};

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Whether this process runs with effective uid 0 (read from `/proc/self/status`).
pub fn is_root() -> bool {
    euid() == Some(0)
}

fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Polls `check` every 50 ms until it returns `Some`, panicking with `what` after `limit`.
pub async fn poll_until<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `signal` (e.g. `TERM`) to `pid` with kill(1).
pub fn signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status();
}

/// Waits (without blocking the runtime) until `child` exits, at most `limit`; on timeout it
/// is killed and `None` returned.
pub async fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The last `lines` lines of the file at `path` (for failure messages).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
