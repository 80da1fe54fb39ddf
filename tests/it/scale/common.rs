//! Set-up shared by the Redis-queue fault tests: a private Redis, a fresh PostgreSQL database,
//! N replicas on both, and devices registered for a few identities.

use std::time::Duration;

use super::harness::{
    ApnsSim, Outcome, PrivateRedis, ReplicaConfig, Replicas, Sent, accepted, settle_all,
};
use crate::helpers::{Backend, fresh_database};

/// Replica settings that make a dead replica's work move quickly: claims after 3 s idle, the
/// outbox swept after 2 s, at most 64 pushes in flight per replica.
pub const QUEUE_ENV: [(&str, &str); 4] = [
    ("PUSHGATE_QUEUE_CLAIM_IDLE_MS", "3000"),
    ("PUSHGATE_APNS_REQUEST_TIMEOUT_MS", "2000"),
    ("PUSHGATE_QUEUE_SWEEP_AFTER_MS", "2000"),
    ("PUSHGATE_DELIVERY_CONCURRENCY", "64"),
];

/// [`QUEUE_ENV`] as a replica environment.
pub fn queue_env() -> Vec<(String, String)> {
    QUEUE_ENV
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The pieces of one fault test.
pub struct Cluster {
    pub sim: ApnsSim,
    pub redis: PrivateRedis,
    pub gw: Replicas,
    pub client: reqwest::Client,
    pub identities: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `replicas` replicas and registers `devices` devices for each of `identities`
    /// identities.
    pub async fn start(replicas: usize, identities: usize, devices: usize) -> Self {
        let sim = ApnsSim::start().await;
        let redis = PrivateRedis::start_new().await;
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database(Backend::Postgres, dir.path()).await;
        let mut gw = Replicas::setup(
            &sim,
            ReplicaConfig {
                replicas,
                database_url,
                redis_url: Some(redis.url()),
                // Replicas, PostgreSQL, Redis, the simulator and the load share two cores: waits
                // for a connection beyond the default 1.5 s are legitimate here (README). The
                // PostgreSQL restart test, which expects quick 503s, keeps the default.
                env: queue_env()
                    .into_iter()
                    .chain([(
                        "PUSHGATE_DATABASE_ACQUIRE_TIMEOUT_MS".to_owned(),
                        "5000".to_owned(),
                    )])
                    .collect(),
            },
        )
        .await;
        for i in 0..replicas {
            gw.start(i).await;
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let names: Vec<String> = (0..identities).map(|i| format!("user{i}")).collect();
        gw.register_devices(&client, &names, devices).await;
        Self {
            sim,
            redis,
            gw,
            client,
            identities: names,
            _dir: dir,
        }
    }

    /// Every replica's address.
    pub fn addrs(&self) -> Vec<String> {
        (0..self.gw.len()).map(|i| self.gw.addr(i)).collect()
    }

    /// Asserts every invite was accepted and then delivered to every device (recorded as
    /// accepted, and seen by the simulator); returns how many pushes APNs accepted more than
    /// once, with the total.
    pub async fn assert_all_delivered(&self, results: &[Sent], devices: usize) -> (usize, usize) {
        if results
            .iter()
            .any(|s| !matches!(s.outcome, Outcome::Accepted { .. }))
        {
            // Why a replica refused (overloaded, or its store unavailable): beside the panic.
            eprintln!("{}", self.logs());
        }
        let sids = accepted(results);
        let apns_ids =
            match settle_all(&self.client, &self.gw, &sids, Duration::from_secs(120)).await {
                Ok(ids) => ids,
                Err(failed) => panic!(
                    "{} of {} invites were not delivered to every device, e.g. {:#?}\n{}",
                    failed.len(),
                    sids.len(),
                    &failed[..failed.len().min(3)],
                    self.logs()
                ),
            };
        assert_eq!(apns_ids.len(), sids.len() * devices);
        let missing = self
            .sim
            .missing_after(&apns_ids, Duration::from_secs(10))
            .await;
        assert!(
            missing.is_empty(),
            "{} deliveries recorded as accepted never reached APNs",
            missing.len()
        );
        let counts = self.sim.counts(true);
        let twice = apns_ids.iter().filter(|id| counts[*id] > 1).count();
        (twice, apns_ids.len())
    }

    /// Error lines of every replica's log.
    pub fn logs(&self) -> String {
        (0..self.gw.len())
            .map(|i| {
                format!(
                    "replica {i}:\n{}",
                    self.gw.log_lines(i, &["ERROR", "WARN"], 15)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The sum of a counter family's samples over every running replica's `/metrics`.
    pub async fn metric(&self, family: &str, label: &str) -> f64 {
        let mut total = 0.0;
        for i in 0..self.gw.len() {
            let Ok(res) = self.client.get(self.gw.url(i, "/metrics")).send().await else {
                continue;
            };
            let text = res.text().await.unwrap_or_default();
            total += crate::helpers::bin::metric_value(&text, family, &[label]);
        }
        total
    }
}
