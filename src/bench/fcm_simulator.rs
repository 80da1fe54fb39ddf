//! The run's FCM side (`--android-share`): the FCM simulator started in-process, its
//! generated service account (the seeded `fcm` credential) and its registration tokens; and
//! a poller reading the simulator's push log every [`POLL`] once the load starts, handing
//! each send to the run's [`Collector`] (and its [`FollowUpDriver`]) as the APNs tap does.
//!
//! The FCM simulator has no tap: its log gives each send's receive time in wall-clock
//! milliseconds, mapped onto the run's `Instant`s through one (`Instant`, epoch ms) pair, so
//! Android latencies have millisecond resolution (APNs ones: microseconds).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::collector::Collector;
use super::followup::FollowUpDriver;
use crate::mock_fcm::{self, PushRecord, Simulator, SimulatorConfig, TokenRegistration};

/// How often the push log is read.
const POLL: Duration = Duration::from_millis(2);
/// Sends the simulator's log keeps: far more than arrive between two polls.
const LOG_CAPACITY: usize = 50_000;

/// The running FCM simulator.
pub(super) struct Fcm {
    sim: Arc<Simulator>,
    /// `ca.pem` in `<work>/fcm`, for the gateway's `fcm_ca_file`.
    pub ca_file: PathBuf,
    poller: std::sync::Mutex<Option<(watch::Sender<bool>, JoinHandle<()>)>>,
}

impl Fcm {
    /// Starts the simulator on a free loopback port, writing its CA and service account to
    /// `<work>/fcm`. Unknown tokens are accepted (not strict).
    pub async fn start(work: &Path) -> anyhow::Result<Self> {
        let dir = work.join("fcm");
        let sim = mock_fcm::start(
            SimulatorConfig {
                listen: (std::net::Ipv4Addr::LOCALHOST, 0).into(),
                out_dir: Some(dir.clone()),
                log_pushes: true,
                log_capacity: LOG_CAPACITY,
                ..SimulatorConfig::default()
            },
            std::future::pending(),
        )
        .await
        .context("starting the FCM simulator")?;
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, sim.ca_pem())
            .with_context(|| format!("writing {}", ca_file.display()))?;
        eprintln!("bench: FCM simulator on {}", sim.base_url());
        Ok(Fcm {
            sim: Arc::new(sim),
            ca_file,
            poller: std::sync::Mutex::new(None),
        })
    }

    /// `https://127.0.0.1:<port>`, the gateway's `fcm_url`.
    pub fn base_url(&self) -> String {
        self.sim.base_url()
    }

    /// The simulator's service account as a key file (the credential to seed).
    pub fn service_account_json(&self) -> String {
        self.sim.service_account_json()
    }

    /// Makes `token` a registration token of the simulator's project.
    pub fn register_token(&self, token: &str) -> anyhow::Result<()> {
        let project_id = self.sim.service_account().project_id.clone();
        self.sim.register_token(&TokenRegistration {
            token: token.to_owned(),
            project_id,
        })?;
        Ok(())
    }

    /// From now on every send the simulator logs is reported to `collector`, and handed to
    /// `follow_ups` (if any) to answer.
    pub fn report_to(&self, collector: Arc<Collector>, follow_ups: Option<Arc<FollowUpDriver>>) {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(poll(self.sim.clone(), collector, follow_ups, stopped));
        *self.poller.lock().unwrap_or_else(|p| p.into_inner()) = Some((stop, task));
    }

    /// Reads the log one last time, stops the poller and the simulator.
    pub async fn shutdown(&self) {
        let poller = self.poller.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((stop, task)) = poller {
            let _ = stop.send(true);
            let _ = task.await;
        }
        self.sim.shutdown().await;
    }
}

/// The poller: every [`POLL`], the sends logged since the last read; a gap in the sequence
/// numbers (the log overran) is counted as `fcm_log_overrun`.
async fn poll(
    sim: Arc<Simulator>,
    collector: Arc<Collector>,
    follow_ups: Option<Arc<FollowUpDriver>>,
    mut stopped: watch::Receiver<bool>,
) {
    let (anchor, anchor_ms) = (Instant::now(), crate::clock::now_ms().max(0) as u64);
    let mut last = 0;
    loop {
        let stopping = *stopped.borrow();
        for record in sim.pushes(last) {
            if record.seq > last + 1 {
                collector.errors_of("fcm_log_overrun", record.seq - last - 1);
            }
            last = record.seq;
            let received = match record.received_at_ms.checked_sub(anchor_ms) {
                Some(after) => anchor + Duration::from_millis(after),
                None => anchor - Duration::from_millis(anchor_ms - record.received_at_ms),
            };
            observe(&collector, follow_ups.as_ref(), &record, received);
        }
        if stopping {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// One logged send: counted (or its error), and answered when the mix says so.
fn observe(
    collector: &Collector,
    follow_ups: Option<&Arc<FollowUpDriver>>,
    record: &PushRecord,
    received: Instant,
) {
    let data = record.data.as_ref();
    let call_sid = data.and_then(|d| d["twi_call_sid"].as_str());
    let error = || format!("fcm_{}", record.error_code.as_deref().unwrap_or("reset"));
    let seq = collector.observe_fcm_push(call_sid, received, record.status, error);
    if let (Some(seq), Some(f), Some(data)) = (seq, follow_ups, data) {
        let payload = serde_json::to_vec(data).unwrap_or_default();
        f.on_push(seq, received, Some(&payload));
    }
}
