//! The gateway(s) under test: a store seeded and `pushgate serve` started on it as child
//! processes (one, or replicas sharing a Redis delivery queue), or a running gateway seeded
//! through its API; and, after the load, the children stopped and the run's Redis keys removed.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use secrecy::SecretString;

use super::fcm_simulator::Fcm;
use super::gateway::{ChildGateway, ChildSpec};
use super::http_client::HttpClient;
use super::options::{BenchOptions, Target};
use super::seed::{self, Seeded};
use super::simulator::Apns;
use crate::secrets::MasterKey;

/// The seeded gateway(s) the load goes to.
pub(super) struct UnderTest {
    pub seeded: Seeded,
    /// The children the benchmark started (none for [`Target::Url`]).
    pub children: Vec<ChildGateway>,
    /// `http://host:port` of each gateway, loaded round robin.
    pub bases: Vec<String>,
    /// The store as the report names it: `sqlite`, `postgres`, or `target` (not ours).
    pub store: &'static str,
    /// The store's URL, when the benchmark seeded it (not for `target`).
    pub database_url: Option<String>,
    /// The children's Redis queue: its URL and this run's key prefix.
    redis_queue: Option<(String, String)>,
}

impl UnderTest {
    /// Seeds `opts.total_registrations()` and starts the children (or seeds the running
    /// gateway), pointed at the simulator `apns` (and `fcm`, with an Android share).
    pub async fn start(
        opts: &BenchOptions,
        work: &Path,
        (apns, fcm): (&Apns, Option<&Fcm>),
        http: &HttpClient,
    ) -> anyhow::Result<Self> {
        let total = opts.total_registrations();
        match &opts.target {
            Target::Child { .. } => start_children(opts, work, (apns, fcm), http, total).await,
            Target::Url { url, key, secret } => {
                let base = url.trim_end_matches('/').to_owned();
                eprintln!(
                    "bench: seeding {total} registrations through {base} (it must push to {} \
                     trusting {})",
                    apns.sim.base_url(),
                    apns.ca_file.display()
                );
                let seeded = seed::through_api(
                    http,
                    &base,
                    key.clone(),
                    secret.clone(),
                    opts.identities,
                    opts.devices,
                    total,
                )
                .await?;
                Ok(UnderTest {
                    seeded,
                    children: Vec::new(),
                    bases: vec![base],
                    store: "target",
                    database_url: None,
                    redis_queue: None,
                })
            }
        }
    }

    /// The children's process ids, in order.
    pub fn pids(&self) -> Vec<String> {
        self.children.iter().map(|c| c.pid().to_string()).collect()
    }

    /// How many children are no longer running.
    pub fn exited(&mut self) -> u64 {
        self.children
            .iter_mut()
            .map(|c| u64::from(!c.alive()))
            .sum::<u64>()
    }

    /// SIGTERM to every replica at once, then waits for each to drain, and removes the run's
    /// Redis keys; failures are printed, not returned.
    pub async fn stop(self) {
        let stops = self
            .children
            .into_iter()
            .enumerate()
            .map(|(i, child)| async move {
                child
                    .stop()
                    .await
                    .with_context(|| format!("gateway replica {}", i + 1))
            });
        for result in futures_util::future::join_all(stops).await {
            if let Err(e) = result {
                eprintln!("bench: {e:#}");
            }
        }
        if let Some((url, prefix)) = &self.redis_queue
            && let Err(e) = forget_redis_keys(url, prefix).await
        {
            eprintln!("bench: removing the run's Redis keys ({prefix}*): {e:#}");
        }
    }
}

/// [`Target::Child`]: seeds the store (default a fresh SQLite file in `<work>/gateway`) and
/// starts the replicas on it, one after another.
async fn start_children(
    opts: &BenchOptions,
    work: &Path,
    (apns, fcm): (&Apns, Option<&Fcm>),
    http: &HttpClient,
    total: u64,
) -> anyhow::Result<UnderTest> {
    let Target::Child {
        exe,
        database_url,
        redis_url,
        replicas,
        log,
        apns_connections,
        cpus,
    } = &opts.target
    else {
        unreachable!("start_children is only called for Target::Child");
    };
    let data_dir = work.join("gateway");
    std::fs::create_dir_all(&data_dir)?;
    let url = database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("pushgate.db").display()
        )
    });
    let store = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let master = MasterKey::generate();
    eprintln!(
        "bench: seeding {total} registrations and {} ended invites ({store})",
        opts.ended_invites
    );
    let started = Instant::now();
    let sizes = (opts.identities, opts.devices, total);
    let android = fcm.map(|f| (f, opts.android_share));
    let seeded = seed::into_store(&url, &master, sizes, android, opts.ended_invites).await?;
    // A fresh prefix per run: runs never share (or inherit) queues.
    let prefix = redis_url.as_ref().map(|_| {
        format!(
            "pushgate-bench-{}:",
            hex::encode(crate::domain::random_bytes::<6>())
        )
    });
    let queue = match (redis_url, &prefix) {
        (Some(r), Some(p)) => format!(", Redis queue {r} prefix {p}"),
        _ => String::new(),
    };
    eprintln!(
        "bench: seeded in {:.1} s; starting {replicas} gateway(s){queue}",
        started.elapsed().as_secs_f64()
    );
    let master_key = SecretString::from(master.to_base64());
    let apns_url = apns.sim.base_url();
    let fcm_url = fcm.map(Fcm::base_url);
    let mut children = Vec::with_capacity(*replicas);
    for i in 0..*replicas {
        let log_name = if *replicas == 1 {
            "gateway.log".to_owned()
        } else {
            format!("gateway-{}.log", i + 1)
        };
        let spec = ChildSpec {
            exe,
            data_dir: &data_dir,
            database_url: &url,
            master_key: &master_key,
            apns_url: &apns_url,
            apns_ca_file: &apns.ca_file,
            apns_connections: *apns_connections,
            log,
            log_file: work.join(log_name),
            cpus: cpus.as_deref(),
            redis: redis_url.as_deref().zip(prefix.as_deref()),
            fcm: fcm_url.as_deref().zip(fcm.map(|f| f.ca_file.as_path())),
        };
        // Started one after another: each runs the (idempotent) migrations first.
        // On an error the ones already running are killed when `children` drops.
        let child = ChildGateway::start(spec, http)
            .await
            .with_context(|| format!("gateway replica {}", i + 1))?;
        children.push(child);
    }
    let bases = children
        .iter()
        .map(|c| format!("http://{}", c.addr))
        .collect();
    Ok(UnderTest {
        seeded,
        children,
        bases,
        store,
        database_url: Some(url),
        redis_queue: redis_url.clone().zip(prefix),
    })
}

/// Deletes the Redis keys of one run (its streams and consumer groups live under `prefix`).
async fn forget_redis_keys(url: &str, prefix: &str) -> anyhow::Result<()> {
    use redis::AsyncCommands;
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = {
        let mut iter: redis::AsyncIter<String> = conn.scan_match(format!("{prefix}*")).await?;
        let mut keys = Vec::new();
        while let Some(key) = iter.next_item().await {
            keys.push(key?);
        }
        keys
    };
    if !keys.is_empty() {
        let _: () = conn.del(&keys).await?;
    }
    Ok(())
}
