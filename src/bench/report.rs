//! The benchmark's result: one [`Report`], printed as a table for people and written as JSON
//! (`--json`) for machines and for `bench/README.md`.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::ceiling::Ceiling;
use super::collector::Percentiles;
use super::platforms::{self, PlatformPushes};
use super::steady::{Steady, row};

/// Everything one run measured, with the settings it ran with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub pushgate_version: String,
    /// RFC 3339 start time.
    pub date: String,
    pub machine: Machine,
    pub settings: Settings,
    pub invites: Throughput,
    pub pushes: Pushes,
    /// Each platform's pushes (`apn`, `fcm`), with `--android-share`; absent without.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pushes_by_platform: BTreeMap<String, PlatformPushes>,
    /// Invite request sent (scheduled) → the simulator received the push, per push.
    pub latency_ms: Percentiles,
    /// The largest invite→push latency of each second of the window, ms.
    pub max_latency_ms_by_second: Vec<f64>,
    /// Invite request sent (scheduled) → 202 received.
    pub response_latency_ms: Percentiles,
    /// How late the load generator sent, against its schedule (open loop).
    pub schedule_lag_ms: Percentiles,
    /// Errors by kind: `http_<status>_<code>`, `connect`, `timeout`, `apns_<reason>`, `lost`;
    /// a follow-up's with its kind first (`accept_http_<status>_<code>`, `cancel_timeout`, …).
    pub errors: BTreeMap<String, u64>,
    /// Per-second series, stalls, 5xx count and the calls' endings.
    #[serde(flatten)]
    pub steady: Steady,
    /// The gateway process, when the benchmark started it. With several replicas: their CPU
    /// summed, and the largest replica's RSS (peak and now).
    pub gateway: Option<Process>,
    /// Each replica the benchmark started, in order (`null`: no reading, it had exited).
    /// Absent when it started none (`--target`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Option<Process>>,
    /// The benchmark process itself (load generator and simulator).
    pub load_generator: Option<Process>,
    /// CPU used by everything else on the machine during the window (100 = one core): other
    /// work competing with the run; anything above a few percent disturbs the numbers.
    pub other_cpu_percent: Option<f64>,
    /// The simulator alone, loaded by pushgate's APNs client.
    pub simulator_ceiling: Option<Ceiling>,
    /// Gateway pushes/s ÷ the ceiling's pushes/s.
    pub fraction_of_ceiling: Option<f64>,
}

/// Where it ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
}

impl Machine {
    /// This machine, from `/proc/cpuinfo`.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, m)| m.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Machine { cpus, cpu_model }
    }
}

/// How the run was set up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// `sqlite` or `postgres`, or `target` for a running gateway.
    pub store: String,
    /// `open` (fixed rate) or `closed` (as fast as possible).
    pub mode: String,
    /// Invites per second scheduled (open loop).
    pub rate: Option<f64>,
    /// Invites in flight (closed loop).
    pub concurrency: Option<usize>,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub identities: u64,
    pub devices_per_identity: u64,
    /// Registrations the benchmark wrote (called identities' plus filler).
    pub registrations_seeded: u64,
    /// Gateway processes the benchmark started (0 with `--target`).
    #[serde(default = "one")]
    pub replicas: usize,
    /// Whether they shared a Redis delivery queue (`--redis-url`).
    #[serde(default)]
    pub redis: bool,
    /// How calls ended (`answered=60,rejected=20,canceled=10,expired=10`); `null`: they
    /// didn't (`--mix none`).
    #[serde(default)]
    pub mix: Option<String>,
    /// Push → accept/reject, and 202 → cancel, ms.
    #[serde(default)]
    pub ring_ms: u64,
    /// The invites' ttl, seconds.
    #[serde(default)]
    pub ttl_s: u32,
    /// Ended invites stored before the run (`--ended-invites`); absent when 0.
    #[serde(default, skip_serializing_if = "is_none_zero")]
    pub ended_invites_seeded: u64,
    /// Share of the registrations that were Android (FCM) devices; absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub android_share: f64,
}

fn is_none_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero(share: &f64) -> bool {
    *share == 0.0
}

fn one() -> usize {
    1
}

impl Settings {
    /// The settings of a run of `opts` on `store` that seeded `registrations_seeded` rows.
    pub fn new(opts: &super::BenchOptions, store: &str, registrations_seeded: u64) -> Self {
        use super::Rate;
        use super::Target;
        let (mode, rate, concurrency) = match opts.rate {
            Rate::Fixed(r) => ("open", Some(r), None),
            Rate::Max { concurrency } => ("closed", None, Some(concurrency)),
        };
        let (replicas, redis) = match &opts.target {
            Target::Child {
                replicas,
                redis_url,
                ..
            } => (*replicas, redis_url.is_some()),
            Target::Url { .. } => (0, false),
        };
        Settings {
            store: store.to_owned(),
            mode: mode.to_owned(),
            rate,
            concurrency,
            duration_s: opts.duration.as_secs_f64(),
            warmup_s: opts.warmup.as_secs_f64(),
            identities: opts.identities,
            devices_per_identity: opts.devices,
            registrations_seeded,
            replicas,
            redis,
            mix: opts.mix.map(|m| m.to_string()),
            ring_ms: opts.ring.as_millis() as u64,
            ttl_s: opts.ttl,
            android_share: opts.android_share,
            ended_invites_seeded: opts.ended_invites,
        }
    }
}

/// Invites: how many were sent and accepted in the measured window, and the rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Throughput {
    pub sent: u64,
    pub accepted: u64,
    pub per_second: f64,
}

/// Pushes: received in the window and per second; over the whole run, expected (the sum of
/// the 202s' `devices`), received, lost (expected but never received), and the deliveries the
/// store still had open once the gateways had stopped (0 unless an outcome was never written;
/// absent when the benchmark does not own the store).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pushes {
    pub in_window: u64,
    pub per_second: f64,
    pub expected_total: u64,
    pub received_total: u64,
    pub lost: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_open: Option<u64>,
}

/// CPU and memory of one process over the measured window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Process {
    pub cpu_seconds: f64,
    /// CPU seconds ÷ wall seconds × 100 (200 = both cores of a 2-core machine).
    pub cpu_percent: f64,
    pub peak_rss_mib: f64,
    pub rss_mib: f64,
}

impl Process {
    /// Several replicas as one: CPU summed, RSS (peak and now) of the largest replica.
    pub fn combined<'a>(replicas: impl IntoIterator<Item = &'a Process>) -> Option<Process> {
        replicas.into_iter().fold(None, |acc, p| {
            Some(match acc {
                None => p.clone(),
                Some(a) => Process {
                    cpu_seconds: a.cpu_seconds + p.cpu_seconds,
                    cpu_percent: a.cpu_percent + p.cpu_percent,
                    peak_rss_mib: a.peak_rss_mib.max(p.peak_rss_mib),
                    rss_mib: a.rss_mib.max(p.rss_mib),
                },
            })
        })
    }

    fn describe(&self) -> String {
        format!(
            "{:.1} s CPU ({:.0}%), peak RSS {:.1} MiB (now {:.1})",
            self.cpu_seconds, self.cpu_percent, self.peak_rss_mib, self.rss_mib
        )
    }
}

fn percentiles(p: &Percentiles) -> String {
    format!(
        "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  (n={})",
        p.p50, p.p90, p.p99, p.p99_9, p.max, p.count
    )
}

impl Report {
    /// The human table.
    pub fn table(&self) -> String {
        let s = &self.settings;
        let mut out = String::new();
        let load = match (s.rate, s.concurrency) {
            (Some(rate), _) => format!("open loop at {rate} invites/s"),
            (None, Some(c)) => format!("closed loop, {c} in flight"),
            _ => "?".into(),
        };
        let mut store = format!("{} store", s.store);
        if s.replicas > 1 {
            let _ = write!(store, ", {} replicas", s.replicas);
        }
        if s.redis {
            store.push_str(" + Redis queue");
        }
        let _ = writeln!(
            out,
            "pushgate bench — {store}, {load}, {} s (+{} s warm-up), {} identities × {} devices, \
             {} registrations seeded; {} × {}",
            s.duration_s,
            s.warmup_s,
            s.identities,
            s.devices_per_identity,
            s.registrations_seeded,
            self.machine.cpus,
            self.machine.cpu_model
        );
        let endings = match &s.mix {
            Some(mix) => format!("calls end {mix}, ring {} ms", s.ring_ms),
            None => "calls never end".to_owned(),
        };
        let android = if s.android_share > 0.0 {
            format!("; {:.0}% Android devices (FCM)", s.android_share * 100.0)
        } else {
            String::new()
        };
        let _ = writeln!(out, "  ({endings}; ttl {} s{android})", s.ttl_s);
        self.steady.alarm_rows(&mut out);
        let i = &self.invites;
        let p = &self.pushes;
        row(
            &mut out,
            "invites/s",
            format!(
                "{:.1}  ({} sent, {} accepted)",
                i.per_second, i.sent, i.accepted
            ),
        );
        row(
            &mut out,
            "pushes/s",
            format!("{:.1}  ({} in window)", p.per_second, p.in_window),
        );
        platforms::rows(&mut out, &self.pushes_by_platform);
        row(
            &mut out,
            "pushes lost",
            format!("{} of {} expected", p.lost, p.expected_total),
        );
        if let Some(open) = p.left_open {
            row(
                &mut out,
                "left open",
                format!("{open} deliveries in the store"),
            );
        }
        row(&mut out, "invite→push ms", percentiles(&self.latency_ms));
        let by_second: Vec<String> = self
            .max_latency_ms_by_second
            .iter()
            .map(|ms| format!("{ms:.1}"))
            .collect();
        row(&mut out, "  max per second", by_second.join(" "));
        row(
            &mut out,
            "invite→202 ms",
            percentiles(&self.response_latency_ms),
        );
        row(
            &mut out,
            "schedule lag ms",
            percentiles(&self.schedule_lag_ms),
        );
        let errors = if self.errors.is_empty() {
            "none".to_owned()
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            list.join(", ")
        };
        row(&mut out, "errors", errors);
        self.steady.rows(&mut out);
        if let Some(g) = &self.gateway {
            if self.replicas.len() > 1 {
                row(
                    &mut out,
                    "gateway CPU / RSS",
                    format!(
                        "{}  ({} replicas: CPU summed, RSS of the largest)",
                        g.describe(),
                        self.replicas.len()
                    ),
                );
                for (i, r) in self.replicas.iter().enumerate() {
                    let text = r
                        .as_ref()
                        .map_or_else(|| "no reading (exited)".to_owned(), Process::describe);
                    row(&mut out, &format!("  replica {}", i + 1), text);
                }
            } else {
                row(&mut out, "gateway CPU / RSS", g.describe());
            }
        }
        if let Some(b) = &self.load_generator {
            row(&mut out, "bench process CPU / RSS", b.describe());
        }
        if let Some(other) = self.other_cpu_percent {
            let warning = if other > 10.0 {
                "  ← other work competed with this run"
            } else {
                ""
            };
            row(
                &mut out,
                "other processes CPU",
                format!("{other:.0}%{warning}"),
            );
        }
        if let Some(c) = &self.simulator_ceiling {
            let fraction = self
                .fraction_of_ceiling
                .map(|f| format!("; gateway = {:.0}% of it", f * 100.0))
                .unwrap_or_default();
            row(
                &mut out,
                "simulator ceiling",
                format!(
                    "{:.0} pushes/s ({} senders, {} connections){fraction}",
                    c.pushes_per_second, c.concurrency, c.connections
                ),
            );
        }
        out
    }
}
