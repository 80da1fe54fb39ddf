//! `pushgate mock-fcm`: the FCM HTTP v1 and Google OAuth token endpoint simulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::mock_fcm::{self, SERVICE_ACCOUNT_FILE, SimulatorConfig};

/// Arguments of `mock-fcm`.
#[derive(Debug, clap::Args)]
pub struct MockFcmArgs {
    /// HTTPS address (HTTP/2 and HTTP/1.1) FCM and token clients connect to (loopback).
    #[arg(long, default_value = "127.0.0.1:2297")]
    listen: SocketAddr,
    /// Plain-HTTP control API address (loopback).
    #[arg(long, default_value = "127.0.0.1:2298")]
    control: SocketAddr,
    /// Where the CA, server certificate and service-account.json are written (default
    /// <data_dir>/mock-fcm).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Project of the generated service account.
    #[arg(long, default_value = "pushgate-demo")]
    project_id: String,
    /// `expires_in` of issued access tokens, in seconds (Google: 3599).
    #[arg(long, default_value_t = 3599, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    token_lifetime_secs: u64,
    /// Require registered registration tokens: unknown ones get UNREGISTERED (default: any
    /// well-formed token is accepted).
    #[arg(long)]
    strict_tokens: bool,
    /// Keep a log of received sends (readable at GET /pushes on the control API).
    #[arg(long)]
    log_pushes: bool,
}

/// Runs the simulator until SIGINT/SIGTERM.
pub(super) async fn mock_fcm(config: &Config, args: MockFcmArgs) -> anyhow::Result<()> {
    let out_dir = args
        .out_dir
        .unwrap_or_else(|| config.data_dir.join("mock-fcm"));
    let sim_config = SimulatorConfig {
        listen: args.listen,
        control_listen: Some(args.control),
        out_dir: Some(out_dir.clone()),
        project_id: args.project_id.clone(),
        token_lifetime: Duration::from_secs(args.token_lifetime_secs),
        strict_tokens: args.strict_tokens,
        log_pushes: args.log_pushes,
        ..SimulatorConfig::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sim = mock_fcm::start(sim_config, async {
        let _ = stop_rx.await;
    })
    .await
    .context("cannot start the FCM simulator")?;
    println!(
        "mock-fcm: FCM simulator on {} (project {})",
        sim.base_url(),
        args.project_id
    );
    println!("token endpoint: {}", sim.token_url());
    if let Some(control) = sim.control_addr() {
        println!(
            "control API: http://{control} (GET /pushes, /stats; POST /tokens, /faults, /reset)"
        );
    }
    println!(
        "service account: {} ({})",
        out_dir.join(SERVICE_ACCOUNT_FILE).display(),
        sim.service_account().client_email
    );
    println!("CA certificate: {}", out_dir.join("ca.pem").display());
    tracing::info!(addr = %sim.addr(), control = ?sim.control_addr(), "mock-fcm listening");
    super::shutdown_signal().await;
    let _ = stop_tx.send(());
    sim.shutdown().await;
    Ok(())
}
