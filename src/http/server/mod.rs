//! Our HTTP/1.1 server: an accept loop over hyper's connection builder that bounds what a
//! client can make us hold. Open connections are capped (beyond the cap new connections wait
//! in the kernel's backlog: we don't accept them); a connection must deliver a request's
//! headers within the header-read timeout and is closed after the idle timeout between
//! requests; accept errors (`EMFILE`, …) back off instead of spinning. On shutdown we stop
//! accepting, close idle and half-open connections at once, let requests in flight and event
//! streams finish within the shutdown grace, then drop what remains. Every connection task
//! lives in one `JoinSet`.

mod accept;
mod conn;

use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::{Config, ConfigError};

/// File descriptors kept free for everything that isn't a client connection (database,
/// APNs, Redis, callbacks, files) when the connection cap is lowered to the fd limit.
const FD_HEADROOM_MIN: usize = 128;

/// What bounds one listener's connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to receive a request's complete headers.
    pub header_read_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long in-flight requests and streams may take to finish on shutdown.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// The API listener's limits from the configuration.
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_read_timeout: Duration::from_millis(config.http_header_read_timeout_ms),
            idle_timeout: Duration::from_millis(config.http_idle_timeout_ms),
            max_connections: config.http_max_connections,
            shutdown_grace: Duration::from_millis(config.http_shutdown_grace_ms),
        }
    }

    /// The connection cap, lowered so that it fits the process's open-file limit.
    fn usable_connections(&self, listener: &'static str) -> usize {
        let Some(soft) = open_files_limit() else {
            return self.max_connections;
        };
        let headroom = FD_HEADROOM_MIN.max(soft / 4);
        let fits = soft.saturating_sub(headroom).max(1);
        if fits < self.max_connections {
            tracing::warn!(
                listener,
                configured = self.max_connections,
                used = fits,
                open_files_limit = soft,
                "http_max_connections lowered to fit the open-file limit (raise `ulimit -n`)"
            );
            fits
        } else {
            self.max_connections
        }
    }
}

/// Checks the HTTP and event stream settings (called by [`Config::validate`]).
pub fn validate_settings(config: &Config) -> Result<(), ConfigError> {
    for (name, ms) in [
        (
            "http_header_read_timeout_ms",
            config.http_header_read_timeout_ms,
        ),
        ("http_idle_timeout_ms", config.http_idle_timeout_ms),
        ("http_request_timeout_ms", config.http_request_timeout_ms),
    ] {
        if !(100..=3_600_000).contains(&ms) {
            return Err(ConfigError::Invalid(format!(
                "{name} must be between 100 and 3600000"
            )));
        }
    }
    if config.http_shutdown_grace_ms > 600_000 {
        return Err(ConfigError::Invalid(
            "http_shutdown_grace_ms must be at most 600000".into(),
        ));
    }
    for (name, n) in [
        ("http_max_connections", config.http_max_connections),
        (
            "max_event_streams_per_invite",
            config.max_event_streams_per_invite,
        ),
        (
            "max_event_streams_per_registration",
            config.max_event_streams_per_registration,
        ),
        ("max_event_streams", config.max_event_streams),
    ] {
        if n == 0 {
            return Err(ConfigError::Invalid(format!("{name} must be at least 1")));
        }
    }
    Ok(())
}

/// The soft `RLIMIT_NOFILE` of this process, where the OS tells it (Linux `/proc`).
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves `router` on `listener` until `stopping` turns `true`, then drains (see the module
/// documentation) and returns once every connection task has ended.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
    name: &'static str,
) {
    let max = limits.usable_connections(name);
    tracing::info!(
        listener = name,
        max_connections = max,
        "accepting connections"
    );
    let slots = std::sync::Arc::new(Semaphore::new(max));
    let (drain, draining) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut errors = accept::Backoff::default();
    let stop = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    tokio::pin!(stop);
    loop {
        while conns.try_join_next().is_some() {}
        let slot = tokio::select! {
            biased;
            _ = &mut stop => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    errors.failed(name, &e).await;
                    continue;
                }
            },
        };
        errors.succeeded();
        let router = router.clone();
        let draining = draining.clone();
        conns.spawn(async move {
            conn::serve(stream, peer, router, limits, draining).await;
            drop(slot);
        });
    }
    drop(listener);
    let open = conns.len();
    tracing::info!(listener = name, open, "draining connections");
    let _ = drain.send(true);
    let grace = tokio::time::sleep(limits.shutdown_grace);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            next = conns.join_next() => if next.is_none() { break },
            _ = &mut grace => {
                tracing::warn!(listener = name, dropped = conns.len(),
                    "shutdown grace over: dropping the remaining connections");
                conns.shutdown().await;
                break;
            }
        }
    }
}
