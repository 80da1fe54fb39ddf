//! The gateway under test as a child process (`pushgate serve`, this very executable), so
//! its CPU time and peak memory can be read from `/proc/<pid>` apart from the load
//! generator's; and those `/proc` readings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};

use super::http_client::HttpClient;
use super::report::Process;

/// How long the child may take to answer `/healthz`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the child may take to drain after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// `/proc/<pid>/stat` times are in clock ticks; Linux's USER_HZ is 100 on every
/// mainstream architecture.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// What the child needs to know.
pub struct ChildSpec<'a> {
    pub exe: &'a Path,
    pub data_dir: &'a Path,
    pub database_url: &'a str,
    pub master_key: &'a SecretString,
    pub apns_url: &'a str,
    pub apns_ca_file: &'a Path,
    pub apns_connections: Option<u32>,
    /// `PUSHGATE_LOG` of the child.
    pub log: &'a str,
    /// Where the child's stderr goes.
    pub log_file: PathBuf,
    /// CPUs to pin the child to (`taskset -c` list), if any.
    pub cpus: Option<&'a str>,
    /// `PUSHGATE_REDIS_URL` and `PUSHGATE_REDIS_KEY_PREFIX` of the child; `None` removes
    /// both from its environment (the embedded queue).
    pub redis: Option<(&'a str, &'a str)>,
    /// The FCM simulator's URL and CA file (`PUSHGATE_FCM_URL`, `PUSHGATE_FCM_CA_FILE`), when
    /// the run has Android devices.
    pub fcm: Option<(&'a str, &'a Path)>,
}

/// A running `pushgate serve` child.
pub struct ChildGateway {
    child: Child,
    pub addr: SocketAddr,
    log_file: PathBuf,
}

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

impl ChildGateway {
    /// Starts the child (inheriting `PUSHGATE_*` tuning from this environment, with the
    /// settings the benchmark needs overridden) and waits until it answers `/healthz`.
    pub async fn start(spec: ChildSpec<'_>, http: &HttpClient) -> anyhow::Result<Self> {
        let addr = free_port()?;
        let log = std::fs::File::create(&spec.log_file)
            .with_context(|| format!("creating {}", spec.log_file.display()))?;
        let mut cmd = match spec.cpus {
            // taskset execs pushgate in place, so the child's pid stays the gateway's.
            Some(cpus) => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", cpus]).arg(spec.exe);
                cmd
            }
            None => Command::new(spec.exe),
        };
        cmd.arg("serve")
            .env_remove("PUSHGATE_CONFIG")
            .env("PUSHGATE_LISTEN", addr.to_string())
            .env("PUSHGATE_DATA_DIR", spec.data_dir)
            .env("PUSHGATE_DATABASE_URL", spec.database_url)
            .env("PUSHGATE_MASTER_KEY", spec.master_key.expose_secret())
            .env("PUSHGATE_APNS_PRODUCTION_URL", spec.apns_url)
            .env("PUSHGATE_APNS_SANDBOX_URL", spec.apns_url)
            .env("PUSHGATE_APNS_CA_FILE", spec.apns_ca_file)
            .env("PUSHGATE_LOG", spec.log)
            .env("PUSHGATE_LOG_FORMAT", "pretty")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(n) = spec.apns_connections {
            cmd.env("PUSHGATE_APNS_CONNECTIONS", n.to_string());
        }
        if let Some((url, ca_file)) = spec.fcm {
            cmd.env("PUSHGATE_FCM_URL", url)
                .env("PUSHGATE_FCM_CA_FILE", ca_file)
                .env("PUSHGATE_FCM_TOKEN_HOSTS", "127.0.0.1");
        }
        match spec.redis {
            Some((url, prefix)) => {
                cmd.env("PUSHGATE_REDIS_URL", url)
                    .env("PUSHGATE_REDIS_KEY_PREFIX", prefix);
            }
            None => {
                cmd.env_remove("PUSHGATE_REDIS_URL")
                    .env_remove("PUSHGATE_REDIS_KEY_PREFIX");
            }
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {} serve", spec.exe.display()))?;
        let mut gateway = ChildGateway {
            child,
            addr,
            log_file: spec.log_file,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = format!("http://{addr}/healthz");
        loop {
            if let Some(status) = gateway.child.try_wait()? {
                bail!(
                    "the gateway exited ({status}) before it was ready:\n{}",
                    gateway.log_tail()
                );
            }
            if http.get_status(&url).await == Some(200) {
                return Ok(gateway);
            }
            if Instant::now() > deadline {
                let _ = gateway.child.kill();
                bail!(
                    "the gateway did not answer {url} within {READY_TIMEOUT:?}:\n{}",
                    gateway.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the child's log (for error messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Whether the child is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then wait for the drain (SIGKILL after a timeout).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("the gateway exited with {status}:\n{}", self.log_tail());
                }
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        bail!("the gateway did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed it")
    }
}

impl Drop for ChildGateway {
    /// A child still running when the bench gives up (an error before [`Self::stop`]) is
    /// killed, so no gateway outlives the bench.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU time and memory of a process, from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// User + system CPU seconds since the process started.
    pub cpu_seconds: f64,
    /// Peak resident set size (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// Current resident set size (VmRSS), MiB.
    pub rss_mib: f64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status` (`pid` = "self" for this process).
pub fn sample(pid: &str) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after its ')' are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Some(ProcSample {
        cpu_seconds: (utime + stime) / CLOCK_TICKS_PER_SEC,
        peak_rss_mib: kib("VmHWM:") / 1024.0,
        rss_mib: kib("VmRSS:") / 1024.0,
    })
}

/// CPU seconds the whole machine spent busy (user, nice, system, irq, softirq, steal) since
/// boot, from the first line of `/proc/stat`.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<f64> = cpu
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum::<f64>();
    Some(busy / CLOCK_TICKS_PER_SEC)
}

/// CPU and memory readings at the window's start and end: each gateway replica (`pids`),
/// this process, and the whole machine's busy CPU seconds; and each replica's RSS at the end
/// of each second.
pub(super) struct Window {
    /// One per pid, in order; `None` when a reading failed (the replica had exited).
    pub gateways: Vec<Option<(ProcSample, ProcSample)>>,
    /// One series per pid: VmRSS (MiB) at the end of each second of the window.
    pub rss_mib_by_second: Vec<Vec<Option<f64>>>,
    pub bench: Option<(ProcSample, ProcSample)>,
    pub machine_busy: Option<f64>,
}

/// Takes the [`Window`] readings `start` and `start + duration`, and the replicas' RSS once
/// a second between them (a `/proc` read per replica: negligible next to the load).
pub(super) async fn sample_window(pids: Vec<String>, start: Instant, duration: Duration) -> Window {
    let take = |pids: &[String]| {
        (
            pids.iter().map(|pid| sample(pid)).collect::<Vec<_>>(),
            sample("self"),
            machine_busy_seconds(),
        )
    };
    tokio::time::sleep_until(start.into()).await;
    let (g0, s0, m0) = take(&pids);
    let end = start + duration;
    let mut rss_mib_by_second = vec![Vec::new(); pids.len()];
    for second in 1..duration.as_secs_f64().ceil() as u32 {
        tokio::time::sleep_until((start + Duration::from_secs(second.into())).into()).await;
        for (series, pid) in rss_mib_by_second.iter_mut().zip(&pids) {
            series.push(sample(pid).map(|s| s.rss_mib));
        }
    }
    tokio::time::sleep_until(end.into()).await;
    let (g1, s1, m1) = take(&pids);
    for (series, end) in rss_mib_by_second.iter_mut().zip(&g1) {
        series.push(end.map(|s| s.rss_mib));
    }
    Window {
        gateways: g0.into_iter().zip(g1).map(|(a, b)| a.zip(b)).collect(),
        rss_mib_by_second,
        bench: s0.zip(s1),
        machine_busy: m0.zip(m1).map(|(a, b)| b - a),
    }
}

/// One process's use over the window: CPU between the readings, peak RSS from `last`.
pub(super) fn process(
    start: ProcSample,
    end: ProcSample,
    last: ProcSample,
    window: Duration,
) -> Process {
    let cpu = end.cpu_seconds - start.cpu_seconds;
    Process {
        cpu_seconds: cpu,
        cpu_percent: cpu / window.as_secs_f64() * 100.0,
        peak_rss_mib: last.peak_rss_mib,
        rss_mib: end.rss_mib,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let s = super::sample("self").expect("/proc/self");
        assert!(s.peak_rss_mib > 0.0 && s.rss_mib > 0.0);
        assert!(s.peak_rss_mib >= s.rss_mib);
        assert!(super::machine_busy_seconds().is_some_and(|b| b > 0.0));
    }
}
