//! `pushgate bench`: the load generator's command line (see [`crate::bench`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;

use crate::bench::{self, BenchOptions, Mix, Rate, Target};
use crate::domain::ApiKeySid;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Measured seconds (default: 120, or twice --ttl if longer, so calls end and expire
    /// in a steady state; 10 with --mix none).
    #[arg(long)]
    duration: Option<f64>,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Invites per second, sent on schedule (open loop); `max` sends as fast as answers
    /// come back with --concurrency invites in flight (closed loop).
    #[arg(long, default_value = "1000", value_parser = parse_rate)]
    rate: RateArg,
    /// Invites in flight with --rate max.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Identities called (round robin).
    #[arg(long, default_value_t = 1000)]
    identities: u64,
    /// Devices (registrations) per called identity.
    #[arg(long, default_value_t = 1)]
    devices: u64,
    /// Registrations to store in all (e.g. 1000000); other identities fill the difference.
    #[arg(long, default_value_t = 0)]
    registrations: u64,
    /// Ended invites (each with one accepted delivery) to store before the run, e.g.
    /// 3000000: a database that has been serving calls for a while.
    #[arg(long, default_value_t = 0)]
    ended_invites: u64,
    /// Share (0 to 1) of the registrations that are Android devices, pushed through an
    /// in-process FCM simulator under an FCM credential (the rest: APNs).
    #[arg(long, default_value_t = 0.0)]
    android_share: f64,
    /// How calls end, in percent summing to 100: answered (accepted on the first device to
    /// get the push), rejected (likewise), canceled (by the backend), expired (left to ring
    /// out --ttl); `none`: calls never end (ttl 30, the bench before issue #14).
    #[arg(long, default_value = "answered=60,rejected=20,canceled=10,expired=10",
          value_parser = parse_mix)]
    mix: MixArg,
    /// Milliseconds between a push reaching the simulator and its accept/reject, and between
    /// the 202 and the cancel.
    #[arg(long, default_value_t = 200)]
    ring_ms: u64,
    /// The invites' ttl in seconds, 1–300 (default 10; 30 with --mix none).
    #[arg(long)]
    ttl: Option<u32>,
    /// Store of the gateway the bench starts: `sqlite:…` (default: a fresh file) or
    /// `postgres://…` (a throwaway database: the bench adds rows to it).
    #[arg(long)]
    database_url: Option<String>,
    /// Redis URL of the gateways' shared delivery queue (PUSHGATE_REDIS_URL, with a fresh
    /// key prefix per run); needs a PostgreSQL --database-url.
    #[arg(long, conflicts_with = "target")]
    redis_url: Option<String>,
    /// `pushgate serve` replicas to start on the same store (round robin load); more than 1
    /// needs --redis-url and a PostgreSQL --database-url.
    #[arg(long, default_value_t = 1, conflicts_with = "target")]
    replicas: usize,
    /// PUSHGATE_LOG of the gateway the bench starts.
    #[arg(long, default_value = "warn")]
    gateway_log: String,
    /// PUSHGATE_APNS_CONNECTIONS of the gateway the bench starts (and of the ceiling run).
    #[arg(long)]
    apns_connections: Option<u32>,
    /// Pin the gateway(s) the bench starts to these CPUs (a `taskset -c` list, e.g. 1; pin the
    /// bench itself with `taskset -c 0 pushgate bench …`).
    #[arg(long)]
    gateway_cpus: Option<String>,
    /// Benchmark a running gateway at this URL instead of starting one (it must push to
    /// --apns-listen, trusting <apns-dir>/ca.pem); needs --api-key.
    #[arg(long, requires = "api_key")]
    target: Option<String>,
    /// API key SID (SK…) for --target.
    #[arg(long, requires = "secret_env")]
    api_key: Option<String>,
    /// Environment variable holding the API key's secret (never on the command line; not a
    /// PUSHGATE_* name, which the configuration would refuse as unknown).
    #[arg(long)]
    secret_env: Option<String>,
    /// The simulator's APNs address.
    #[arg(long, default_value = "127.0.0.1:0")]
    apns_listen: SocketAddr,
    /// Where the simulator's certificate is kept (reused when present; ca.pem is there).
    #[arg(long)]
    apns_dir: Option<PathBuf>,
    /// Seconds to measure the simulator alone first (0 skips it).
    #[arg(long, default_value_t = 3.0)]
    ceiling_duration: f64,
    /// Working directory (kept); default a temporary one, removed afterwards.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `--ttl` when calls end: short, so expiries happen inside the window.
const DEFAULT_TTL: u32 = 10;
/// `--duration` when calls end, at least: a dozen ttls of calls ending and expiring.
const STEADY_DURATION: f64 = 120.0;

/// `--mix`: the shares, or `None` for `none`.
#[derive(Debug, Clone, Copy)]
pub struct MixArg(Option<Mix>);

fn parse_mix(s: &str) -> Result<MixArg, String> {
    Mix::parse(s).map(MixArg)
}

/// `--rate`: a number or `max`.
#[derive(Debug, Clone, Copy)]
pub enum RateArg {
    PerSecond(f64),
    Max,
}

fn parse_rate(s: &str) -> Result<RateArg, String> {
    if s == "max" {
        return Ok(RateArg::Max);
    }
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(RateArg::PerSecond(r)),
        _ => Err(format!(
            "{s}: use a positive number of invites per second, or max"
        )),
    }
}

fn seconds(what: &str, s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .with_context(|| format!("--{what} must be a number of seconds ≥ 0"))
}

/// Runs the benchmark, prints the table and writes the JSON report.
pub(super) async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let target = match args.target {
        Some(url) => {
            let key = args.api_key.context("--target needs --api-key")?;
            let var = args.secret_env.context("--target needs --secret-env")?;
            Target::Url {
                url,
                key: ApiKeySid::parse(&key)?,
                secret: secret_from_env(&var)?,
            }
        }
        None => Target::Child {
            exe: std::env::current_exe().context("locating the pushgate executable")?,
            database_url: args.database_url,
            redis_url: args.redis_url,
            replicas: args.replicas,
            log: args.gateway_log,
            apns_connections: args.apns_connections,
            cpus: args.gateway_cpus,
        },
    };
    let MixArg(mix) = args.mix;
    let (ttl, default_duration) = match mix {
        Some(_) => {
            let ttl = args.ttl.unwrap_or(DEFAULT_TTL);
            (ttl, STEADY_DURATION.max(2.0 * f64::from(ttl)))
        }
        None => (args.ttl.unwrap_or(crate::invites::DEFAULT_TTL), 10.0),
    };
    let duration = seconds("duration", args.duration.unwrap_or(default_duration))?;
    if duration.is_zero() {
        bail!("--duration must be positive");
    }
    let opts = BenchOptions {
        target,
        rate: match args.rate {
            RateArg::PerSecond(r) => Rate::Fixed(r),
            RateArg::Max => Rate::Max {
                concurrency: args.concurrency.max(1),
            },
        },
        duration,
        warmup: seconds("warmup", args.warmup)?,
        identities: args.identities,
        devices: args.devices,
        registrations: args.registrations,
        ended_invites: args.ended_invites,
        android_share: args.android_share,
        mix,
        ring: Duration::from_millis(args.ring_ms),
        ttl,
        ceiling_duration: seconds("ceiling-duration", args.ceiling_duration)?,
        apns_listen: args.apns_listen,
        apns_dir: args.apns_dir,
        work_dir: args.work_dir,
    };
    let report = bench::run(opts).await?;
    print!("{}", report.table());
    if let Some(path) = args.json {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(&path, json + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("report written to {}", path.display());
    }
    Ok(())
}

/// A secret read from the environment variable `var` (never from the command line).
fn secret_from_env(var: &str) -> anyhow::Result<SecretString> {
    let value = std::env::var(var).with_context(|| format!("${var} is not set"))?;
    if value.is_empty() {
        bail!("${var} is empty");
    }
    Ok(SecretString::from(value))
}
