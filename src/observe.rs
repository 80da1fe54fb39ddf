//! Keeps the store-derived gauges fresh: registrations by platform, environment and state, credential
//! expiry and health, queue depth and age, APNs connections — refreshed every
//! `metrics_refresh_seconds`, so a scrape never scans a table.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::{now_ms, now_secs};
use crate::credentials::manage::health;
use crate::http::AppState;

/// Refreshes the gauges every `metrics_refresh_seconds` until `stopped`.
pub fn spawn_refresher(state: AppState, mut stopped: watch::Receiver<bool>) -> JoinHandle<()> {
    let every = Duration::from_secs(state.config.metrics_refresh_seconds);
    tokio::spawn(async move {
        // `run` refreshed once before accepting: the first tick is one period away.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                _ = stopped.changed() => return,
                _ = tick.tick() => refresh(&state).await,
            }
        }
    })
}

/// Reads the store and the APNs clients and sets the gauges.
pub async fn refresh(state: &AppState) {
    let m = &state.metrics;
    match state.store.gauges().await {
        Ok(g) => {
            m.zero_registrations();
            for c in &g.registrations {
                let environment = c.environment.map_or("default", |e| e.as_str());
                m.registrations
                    .with_label_values(&[c.platform.label(), environment, c.state.as_str()])
                    .set(c.count);
            }
            m.queue_depth.set(g.open_deliveries);
            let age = g
                .oldest_open
                .map_or(0.0, |t| (now_ms() - t).max(0) as f64 / 1000.0);
            m.queue_oldest_age.set(age);
            if let Some(bytes) = g.sqlite_wal_bytes {
                m.sqlite_wal_bytes
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
            if let Some(w) = g.sqlite_writer {
                // Counters follow the writer's own running totals.
                m.sqlite_transactions
                    .inc_by(w.transactions.saturating_sub(m.sqlite_transactions.get()));
                m.sqlite_write_jobs
                    .inc_by(w.jobs.saturating_sub(m.sqlite_write_jobs.get()));
                let busy = w.busy_seconds - m.sqlite_writer_busy.get();
                if busy > 0.0 {
                    m.sqlite_writer_busy.inc_by(busy);
                }
            }
            m.credential_not_after.reset();
            m.credential_health.reset();
            m.zero_credential_counts();
            let window = state.config.expiry_warning_secs();
            for c in &g.credentials {
                let labels = [c.sid.as_str(), c.bundle_id.as_str()];
                if let Some(not_after) = c.not_after {
                    m.credential_not_after
                        .with_label_values(&labels)
                        .set(not_after as f64);
                }
                let current = health(c, now_secs(), window).as_str();
                m.credentials.with_label_values(&[current]).inc();
                m.credential_health
                    .with_label_values(&[labels[0], labels[1], current])
                    .set(1);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics refresh: store unavailable"),
    }
    m.apns_connections.reset();
    let mut in_flight = 0;
    for (sid, env, stats) in state.engine.clients().stats() {
        m.apns_connections
            .with_label_values(&[&sid, env.as_str()])
            .set(stats.connections as i64);
        in_flight += stats.in_flight as i64;
    }
    m.apns_in_flight.set(in_flight);
}
