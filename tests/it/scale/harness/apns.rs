//! The APNs simulator, in-process, logging every push so tests can count them per `apns-id`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pushgate::mock_apns::{PushRecord, Simulator, SimulatorConfig};

/// One simulator serving as both APNs hosts (production and sandbox), plus its CA file.
pub struct ApnsSim {
    pub sim: Simulator,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl ApnsSim {
    /// Starts the simulator on a free loopback port with `log_pushes: true` (any token is
    /// accepted, as in `restart.rs`).
    pub async fn start() -> Self {
        let sim = pushgate::mock_apns::start(
            SimulatorConfig {
                tls_listen: "127.0.0.1:0".parse().unwrap(),
                log_pushes: true,
                ..SimulatorConfig::default()
            },
            std::future::pending(),
        )
        .await
        .expect("start APNs simulator");
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("apns-ca.pem");
        std::fs::write(&ca_file, sim.ca_pem().expect("simulator CA")).unwrap();
        Self {
            sim,
            ca_file,
            _dir: dir,
        }
    }

    /// `https://localhost:PORT`, for `PUSHGATE_APNS_{PRODUCTION,SANDBOX}_URL`.
    pub fn base_url(&self) -> String {
        self.sim.base_url()
    }

    /// The PEM file for `PUSHGATE_APNS_CA_FILE`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// Every push received so far.
    pub fn pushes(&self) -> Vec<PushRecord> {
        self.sim.pushes(0)
    }

    /// How many pushes arrived per `apns-id` (only those answered 200 when `accepted_only`).
    pub fn counts(&self, accepted_only: bool) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for push in self.pushes() {
            if !accepted_only || push.status == 200 {
                *counts.entry(push.apns_id).or_default() += 1;
            }
        }
        counts
    }

    /// `apns-id`s pushed more than once, with their counts.
    pub fn duplicates(&self) -> Vec<(String, usize)> {
        let mut dups: Vec<_> = self
            .counts(false)
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        dups.sort();
        dups
    }

    /// Those of `ids` that have not reached the simulator with a 200 within `limit` (pushes
    /// recorded as accepted may still be on their way in the log).
    pub async fn missing_after(&self, ids: &[String], limit: std::time::Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let missing = self.missing(ids.iter().map(String::as_str));
            if missing.is_empty() || std::time::Instant::now() >= deadline {
                return missing;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Those of `ids` that never reached the simulator with a 200.
    pub fn missing<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let counts = self.counts(true);
        ids.into_iter()
            .filter(|id| !counts.contains_key(*id))
            .map(str::to_owned)
            .collect()
    }
}
