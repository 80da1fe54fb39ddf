//! What one run is asked to do: [`BenchOptions`], with how invites are paced ([`Rate`]) and
//! the gateway under test ([`Target`]), and the checks refusing what the gateway can't run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use secrecy::SecretString;

use super::mix::Mix;
use crate::domain::ApiKeySid;

/// How invites are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Open loop: this many invites per second, on schedule, whatever the answers do.
    Fixed(f64),
    /// Closed loop: this many invites in flight, each sent as soon as the previous answered.
    Max { concurrency: usize },
}

/// The gateway under test.
#[derive(Debug, Clone)]
pub enum Target {
    /// Start `<exe> serve` as a child process on a store the benchmark seeds.
    Child {
        /// The pushgate executable (normally this one).
        exe: PathBuf,
        /// `sqlite:…` or `postgres://…`; default a fresh SQLite file in the work directory.
        database_url: Option<String>,
        /// `PUSHGATE_REDIS_URL` of the children (the replicas' shared delivery queue), with a
        /// fresh `PUSHGATE_REDIS_KEY_PREFIX` per run; needs a PostgreSQL `database_url`.
        redis_url: Option<String>,
        /// `pushgate serve` children on the same store and master key (more than one needs
        /// `redis_url`); the load goes to them round robin.
        replicas: usize,
        /// `PUSHGATE_LOG` of the child.
        log: String,
        /// `PUSHGATE_APNS_CONNECTIONS` of the child (default: inherited or 2).
        apns_connections: Option<u32>,
        /// Pin the child to these CPUs (`taskset -c` list, e.g. `1`).
        cpus: Option<String>,
    },
    /// A running gateway at `url` (`http://host:port`) configured to push to this
    /// benchmark's simulator; seeded through its API with this key.
    Url {
        url: String,
        key: ApiKeySid,
        secret: SecretString,
    },
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub target: Target,
    pub rate: Rate,
    /// Measured time.
    pub duration: Duration,
    /// Load before the measurement starts (connections, caches, JIT-free but not cold).
    pub warmup: Duration,
    /// Identities called, round robin.
    pub identities: u64,
    /// Registrations per called identity (at most the gateway's per-identity limit).
    pub devices: u64,
    /// Registrations to store in all; filler identities make up the difference.
    pub registrations: u64,
    /// Ended invites (with a delivery each) seeded before the run.
    pub ended_invites: u64,
    /// Share (0–1) of the seeded registrations that are Android devices, under an FCM
    /// credential pushed through the in-process FCM simulator; 0: APNs only.
    pub android_share: f64,
    /// How calls end (`None`: never, as before issue #14: every invite rings out its ttl
    /// after the run).
    pub mix: Option<Mix>,
    /// Push received → the phone's accept/reject; 202 → the backend's cancel.
    pub ring: Duration,
    /// The invites' ttl, seconds (1–300, the gateway's bounds).
    pub ttl: u32,
    /// How long to measure the simulator alone; zero skips it.
    pub ceiling_duration: Duration,
    /// The simulator's APNs listener (port 0 = any free port).
    pub apns_listen: SocketAddr,
    /// Where the simulator's certificate lives: reused when `server.pem` and
    /// `server-key.pem` are there, else generated and written there with `ca.pem`.
    pub apns_dir: Option<PathBuf>,
    /// Working directory (SQLite file, gateway log); default a temporary one, removed after.
    pub work_dir: Option<PathBuf>,
}

impl BenchOptions {
    /// Refuses options no run can use, before anything starts.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if let Target::Child {
            database_url,
            redis_url,
            replicas,
            ..
        } = &self.target
        {
            check_replicas(database_url.as_deref(), redis_url.as_deref(), *replicas)?;
        }
        if !(0.0..=1.0).contains(&self.android_share) {
            bail!(
                "--android-share {}: use a share from 0 to 1",
                self.android_share
            );
        }
        if self.ended_invites > 0 && matches!(self.target, Target::Url { .. }) {
            bail!(
                "--ended-invites writes into the store, so it needs a gateway the bench starts \
                 (not --target)"
            );
        }
        if self.android_share > 0.0 && matches!(self.target, Target::Url { .. }) {
            bail!(
                "--android-share needs a gateway the bench starts (not --target): it points \
                 the gateway at its FCM simulator"
            );
        }
        if self.devices == 0 || self.identities == 0 {
            bail!("--identities and --devices must be at least 1");
        }
        if !(1..=crate::invites::MAX_TTL).contains(&self.ttl) {
            bail!(
                "--ttl {}: the gateway takes 1 to {} seconds",
                self.ttl,
                crate::invites::MAX_TTL
            );
        }
        Ok(())
    }

    /// The registrations to seed: the called identities' devices, or more with filler.
    pub(super) fn total_registrations(&self) -> u64 {
        self.registrations.max(self.identities * self.devices)
    }
}

/// Whether a store URL names PostgreSQL (the bench's default store is SQLite).
fn is_postgres(database_url: Option<&str>) -> bool {
    database_url.is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
}

/// Refuses combinations the gateway can't run: Redis or several replicas need PostgreSQL
/// (replicas share one database), and several replicas need Redis (their shared queue).
fn check_replicas(
    database_url: Option<&str>,
    redis_url: Option<&str>,
    replicas: usize,
) -> anyhow::Result<()> {
    if replicas == 0 {
        bail!("--replicas must be at least 1");
    }
    let postgres = is_postgres(database_url);
    if redis_url.is_some() && !postgres {
        bail!(
            "--redis-url needs a PostgreSQL store (--database-url postgres://…): the Redis \
             queue is for replicas sharing one database, and SQLite is one process's file"
        );
    }
    if replicas > 1 {
        if redis_url.is_none() {
            bail!(
                "--replicas {replicas} needs --redis-url: replicas share their deliveries \
                 through a Redis queue"
            );
        }
        if !postgres {
            bail!(
                "--replicas {replicas} needs a PostgreSQL store (--database-url postgres://…): \
                 replicas share one database"
            );
        }
    }
    Ok(())
}
