//! `pushgate bench`: a load generator shipped with the binary, so anyone can reproduce
//! pushgate's numbers on their own machine.
//!
//! One run: start the APNs simulator in-process (with a [`PushTap`] reporting each push's
//! receive time), measure the simulator alone (the [`ceiling`]), [`seed`] an account, a
//! credential and registrations, start `pushgate serve` as a child process on them — or
//! several replicas sharing a Redis delivery queue, loaded round robin — (or target a running
//! gateway by URL), drive `POST /v1/invites` open loop at a fixed rate or closed loop as fast
//! as possible ([`load`]), and measure end to end, from each invite's send to the simulator
//! receiving its pushes ([`collector`]), plus the gateway's CPU time (summed over replicas)
//! and peak RSS (the largest replica's) from `/proc` ([`gateway`]). The result is a
//! [`Report`].

mod ceiling;
mod collector;
mod gateway;
mod load;
mod report;
mod seed;

pub use ceiling::Ceiling;
pub use collector::Percentiles;
pub use report::{Machine, Process, Pushes, Report, Settings, Throughput};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::SecretString;

use crate::domain::ApiKeySid;
use crate::mock_apns::{self, PushTap, SimulatorConfig, TlsSource};
use crate::secrets::MasterKey;
use collector::Collector;
use gateway::{ChildGateway, ChildSpec};
use load::{HttpClient, InviteLoad};

/// How long, after the last answer, pushes may still arrive before they count as lost.
const DRAIN: Duration = Duration::from_secs(5);

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

/// Runs one benchmark and returns its report.
pub async fn run(opts: BenchOptions) -> anyhow::Result<Report> {
    if let Target::Child {
        database_url,
        redis_url,
        replicas,
        ..
    } = &opts.target
    {
        check_replicas(database_url.as_deref(), redis_url.as_deref(), *replicas)?;
    }
    if opts.devices == 0 || opts.identities == 0 {
        bail!("--identities and --devices must be at least 1");
    }
    let date = crate::clock::rfc3339(crate::clock::now_ms());
    let (work, temporary) = match &opts.work_dir {
        Some(dir) => (dir.clone(), false),
        None => {
            let tag = hex::encode(crate::domain::random_bytes::<6>());
            (
                std::env::temp_dir().join(format!("pushgate-bench-{tag}")),
                true,
            )
        }
    };
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let result = run_in(&opts, &work, date).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
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

async fn run_in(
    opts: &BenchOptions,
    work: &std::path::Path,
    date: String,
) -> anyhow::Result<Report> {
    let slot: Arc<OnceLock<Arc<Collector>>> = Arc::new(OnceLock::new());
    let tap_slot = slot.clone();
    let tap = PushTap::new(move |event| {
        if let Some(collector) = tap_slot.get() {
            collector.observe_push(event);
        }
    });
    let apns_dir = opts.apns_dir.clone().unwrap_or_else(|| work.join("apns"));
    let (cert, key) = (apns_dir.join("server.pem"), apns_dir.join("server-key.pem"));
    let tls = if cert.exists() && key.exists() {
        TlsSource::Files { cert, key }
    } else {
        TlsSource::Generate {
            out_dir: Some(apns_dir.clone()),
        }
    };
    let sim = mock_apns::start(
        SimulatorConfig {
            tls_listen: opts.apns_listen,
            tls,
            tap: Some(tap),
            ..SimulatorConfig::default()
        },
        std::future::pending(),
    )
    .await
    .context("starting the APNs simulator")?;
    let ca_file = apns_dir.join("ca.pem");
    let ca_pem = std::fs::read_to_string(&ca_file)
        .with_context(|| format!("reading the simulator's CA {}", ca_file.display()))?;
    eprintln!(
        "bench: APNs simulator on {} (CA {})",
        sim.base_url(),
        ca_file.display()
    );

    let simulator_ceiling = if opts.ceiling_duration.is_zero() {
        None
    } else {
        eprintln!(
            "bench: measuring the simulator alone for {:?}",
            opts.ceiling_duration
        );
        let (cert_pem, key_pem) = seed::certificate()?;
        let connections = match &opts.target {
            Target::Child {
                apns_connections: Some(n),
                ..
            } => *n as usize,
            _ => 2,
        };
        Some(
            ceiling::measure(
                &sim.base_url(),
                &ca_pem,
                cert_pem,
                key_pem,
                connections,
                opts.ceiling_duration,
            )
            .await?,
        )
    };

    let http = HttpClient::default();
    let total = opts.registrations.max(opts.identities * opts.devices);
    let (seeded, mut children, bases, store, redis_queue) = match &opts.target {
        Target::Child {
            exe,
            database_url,
            redis_url,
            replicas,
            log,
            apns_connections,
            cpus,
        } => {
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
            eprintln!("bench: seeding {total} registrations ({store})");
            let started = Instant::now();
            let seeded =
                seed::into_store(&url, &master, opts.identities, opts.devices, total).await?;
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
            let apns_url = sim.base_url();
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
                    apns_ca_file: &ca_file,
                    apns_connections: *apns_connections,
                    log,
                    log_file: work.join(log_name),
                    cpus: cpus.as_deref(),
                    redis: redis_url.as_deref().zip(prefix.as_deref()),
                };
                // Started one after another: each runs the (idempotent) migrations first.
                // On an error the ones already running are killed when `children` drops.
                let child = ChildGateway::start(spec, &http)
                    .await
                    .with_context(|| format!("gateway replica {}", i + 1))?;
                children.push(child);
            }
            let bases = children
                .iter()
                .map(|c| format!("http://{}", c.addr))
                .collect();
            (
                seeded,
                children,
                bases,
                store,
                redis_url.clone().zip(prefix),
            )
        }
        Target::Url { url, key, secret } => {
            let base = url.trim_end_matches('/').to_owned();
            eprintln!(
                "bench: seeding {total} registrations through {base} (it must push to {} \
                 trusting {})",
                sim.base_url(),
                ca_file.display()
            );
            let seeded = seed::through_api(
                &http,
                &base,
                key.clone(),
                secret.clone(),
                opts.identities,
                opts.devices,
                total,
            )
            .await?;
            (seeded, Vec::new(), vec![base], "target", None)
        }
    };

    eprintln!(
        "bench: running for {:?} after {:?} of warm-up",
        opts.duration, opts.warmup
    );
    let collector = Arc::new(Collector::new(opts.warmup, opts.duration));
    let _ = slot.set(collector.clone());
    let pids: Vec<String> = children.iter().map(|c| c.pid().to_string()).collect();
    let sampler = tokio::spawn(gateway::sample_window(
        pids.clone(),
        collector.epoch + opts.warmup,
        opts.duration,
    ));
    let invites = Arc::new(InviteLoad::new(
        http.clone(),
        bases.iter().map(|b| format!("{b}/v1/invites")).collect(),
        seeded.basic(),
        seed::IDENTITY_PREFIX.to_owned(),
        opts.identities,
        collector.clone(),
    ));
    let until = opts.warmup + opts.duration;
    match opts.rate {
        Rate::Fixed(rate) => load::open_loop(invites, rate, until).await?,
        Rate::Max { concurrency } => load::closed_loop(invites, concurrency, until).await,
    }
    let drain_until = Instant::now() + DRAIN;
    while collector.pushes_total.load(Ordering::Relaxed)
        < collector.pushes_expected.load(Ordering::Relaxed)
        && Instant::now() < drain_until
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let window = sampler.await?;
    let replicas: Vec<Option<Process>> = pids
        .iter()
        .zip(window.gateways)
        .map(|(pid, reading)| {
            reading.map(|(start, end)| {
                let last = gateway::sample(pid).unwrap_or(end);
                gateway::process(start, end, last, opts.duration)
            })
        })
        .collect();
    let gateway = Process::combined(replicas.iter().flatten());
    let load_generator = window
        .bench
        .map(|(start, end)| gateway::process(start, end, end, opts.duration));
    let other_cpu_percent = window.machine_busy.map(|busy| {
        let ours: f64 = gateway
            .iter()
            .chain(&load_generator)
            .map(|p| p.cpu_seconds)
            .sum();
        ((busy - ours) / opts.duration.as_secs_f64() * 100.0).max(0.0)
    });
    let exited = children
        .iter_mut()
        .map(|c| u64::from(!c.alive()))
        .sum::<u64>();
    if exited > 0 {
        collector.errors_of("gateway_exited", exited);
    }
    // SIGTERM to every replica at once, then wait for each to drain.
    let stops = children
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
    if let Some((url, prefix)) = &redis_queue
        && let Err(e) = forget_redis_keys(url, prefix).await
    {
        eprintln!("bench: removing the run's Redis keys ({prefix}*): {e:#}");
    }
    sim.shutdown().await;

    let expected = collector.pushes_expected.load(Ordering::Relaxed);
    let received = collector.pushes_total.load(Ordering::Relaxed);
    let lost = expected.saturating_sub(received);
    if lost > 0 {
        collector.errors_of("lost", lost);
    }
    let (latency_ms, response_latency_ms, schedule_lag_ms) = collector.latencies();
    let secs = opts.duration.as_secs_f64();
    let in_window = collector.pushes_in_window.load(Ordering::Relaxed);
    let pushes_per_second = in_window as f64 / secs;
    let accepted = collector.invites_accepted.load(Ordering::Relaxed);
    Ok(Report {
        pushgate_version: env!("CARGO_PKG_VERSION").to_owned(),
        date,
        machine: Machine::detect(),
        settings: Settings::new(opts, store, seeded.registrations),
        invites: Throughput {
            sent: collector.invites_sent.load(Ordering::Relaxed),
            accepted,
            per_second: accepted as f64 / secs,
        },
        pushes: Pushes {
            in_window,
            per_second: pushes_per_second,
            expected_total: expected,
            received_total: received,
            lost,
        },
        latency_ms,
        max_latency_ms_by_second: collector.max_by_second(),
        response_latency_ms,
        schedule_lag_ms,
        errors: collector.errors(),
        gateway,
        replicas,
        load_generator,
        other_cpu_percent,
        fraction_of_ceiling: simulator_ceiling
            .as_ref()
            .filter(|c| c.pushes_per_second > 0.0)
            .map(|c| pushes_per_second / c.pushes_per_second),
        simulator_ceiling,
    })
}
