//! The run's APNs side: the simulator started in-process, with a [`PushTap`] handing each
//! push to the run's [`Collector`] (and to its [`FollowUpDriver`], the phones, when calls
//! end) once the load starts, and the [`Ceiling`] measured against it alone.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::Context;

use super::ceiling::{self, Ceiling};
use super::collector::Collector;
use super::followup::FollowUpDriver;
use super::options::{BenchOptions, Target};
use super::seed;
use crate::mock_apns::{self, PushTap, Simulator, SimulatorConfig, TlsSource};

/// The running simulator and the CA its clients must trust.
pub(super) struct Apns {
    pub sim: Simulator,
    /// `ca.pem` in the simulator's certificate directory.
    pub ca_file: PathBuf,
    pub ca_pem: String,
    /// Empty until the load starts; the tap reports pushes to it from then on.
    sink: Arc<OnceLock<Sink>>,
}

/// Where the tap reports pushes.
type Sink = (Arc<Collector>, Option<Arc<FollowUpDriver>>);

impl Apns {
    /// Starts the simulator on `opts.apns_listen`, with the certificate in `opts.apns_dir`
    /// (default `<work>/apns`), reused when there, else generated there.
    pub async fn start(opts: &BenchOptions, work: &Path) -> anyhow::Result<Self> {
        let slot: Arc<OnceLock<Sink>> = Arc::new(OnceLock::new());
        let tap_slot = slot.clone();
        let tap = PushTap::new(move |event| {
            if let Some((collector, follow_ups)) = tap_slot.get()
                && let Some(seq) = collector.observe_push(event)
                && let Some(f) = follow_ups
            {
                f.on_push(seq, event.received, event.payload);
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
        Ok(Apns {
            sim,
            ca_file,
            ca_pem,
            sink: slot,
        })
    }

    /// The simulator alone for `opts.ceiling_duration` (`None` when that is zero), loaded
    /// over as many connections as the gateway will use.
    pub async fn ceiling(&self, opts: &BenchOptions) -> anyhow::Result<Option<Ceiling>> {
        if opts.ceiling_duration.is_zero() {
            return Ok(None);
        }
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
        Ok(Some(
            ceiling::measure(
                &self.sim.base_url(),
                &self.ca_pem,
                cert_pem,
                key_pem,
                connections,
                opts.ceiling_duration,
            )
            .await?,
        ))
    }

    /// From now on every push the simulator receives is reported to `collector`, and handed
    /// to `follow_ups` (if any) to answer.
    pub fn report_to(&self, collector: Arc<Collector>, follow_ups: Option<Arc<FollowUpDriver>>) {
        let _ = self.sink.set((collector, follow_ups));
    }
}
