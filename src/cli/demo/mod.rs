//! `pushgate demo`: the seed quickstart's whole push flow on one machine, no Apple or Google
//! account. Starts the APNs and FCM simulators and the gateway (embedded store, quickstart
//! endpoints on), makes sure an account, API key, the two credentials and alice's phones
//! (two iPhones, one Android phone) exist (idempotently, see `seed`), and prints the
//! commands to place, follow, answer and cancel a call (see `steps`).

mod seed;
mod steps;

use std::net::SocketAddr;

use anyhow::Context;

use crate::config::Config;
use crate::mock_apns::{self, SimulatorConfig, TlsSource};
use crate::mock_fcm::{self, TokenRegistration};

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// APNs simulator HTTP/2 + TLS address.
    #[arg(long, default_value = "127.0.0.1:2197")]
    apns_listen: SocketAddr,
    /// APNs simulator control API address.
    #[arg(long, default_value = "127.0.0.1:2198")]
    apns_control: SocketAddr,
    /// FCM simulator HTTPS address (messages:send and the OAuth token endpoint).
    #[arg(long, default_value = "127.0.0.1:2297")]
    fcm_listen: SocketAddr,
    /// FCM simulator control API address.
    #[arg(long, default_value = "127.0.0.1:2298")]
    fcm_control: SocketAddr,
}

/// Runs the demo until SIGINT/SIGTERM.
pub(super) async fn run(mut config: Config, args: DemoArgs) -> anyhow::Result<()> {
    let out_dir = config.data_dir.join("mock-apns");
    let (stop_sim, sim_stopped) = tokio::sync::oneshot::channel::<()>();
    let sim = mock_apns::start(
        SimulatorConfig {
            tls_listen: args.apns_listen,
            control_listen: Some(args.apns_control),
            tls: TlsSource::Generate {
                out_dir: Some(out_dir.clone()),
            },
            log_pushes: true,
            ..SimulatorConfig::default()
        },
        async {
            let _ = sim_stopped.await;
        },
    )
    .await
    .context("cannot start the APNs simulator")?;
    config.apns_production_url = sim.base_url();
    config.apns_sandbox_url = sim.base_url();
    config.apns_ca_file = Some(out_dir.join("ca.pem"));

    let fcm_dir = config.data_dir.join("mock-fcm");
    let (stop_fcm, fcm_stopped) = tokio::sync::oneshot::channel::<()>();
    let fcm = mock_fcm::start(
        mock_fcm::SimulatorConfig {
            listen: args.fcm_listen,
            control_listen: Some(args.fcm_control),
            out_dir: Some(fcm_dir.clone()),
            log_pushes: true,
            strict_tokens: true,
            ..mock_fcm::SimulatorConfig::default()
        },
        async {
            let _ = fcm_stopped.await;
        },
    )
    .await
    .context("cannot start the FCM simulator")?;
    let fcm_ca = fcm_dir.join("ca.pem");
    std::fs::write(&fcm_ca, fcm.ca_pem())
        .with_context(|| format!("cannot write {}", fcm_ca.display()))?;
    config.fcm_url = fcm.base_url();
    config.fcm_ca_file = Some(fcm_ca);
    config.fcm_token_hosts = vec!["127.0.0.1".into()];
    // Strict: only alice's Android phone is a token the simulator knows.
    fcm.register_token(&TokenRegistration {
        token: seed::android_token(seed::ANDROID_PHONE),
        project_id: fcm.service_account().project_id.clone(),
    })?;
    config.quickstart = true;
    config.validate()?;

    let master = config.master_key()?;
    let store = crate::store::Store::open(&config).await?;
    store.migrate().await?;
    let auth = seed::ensure_account(&store, &master, &config).await?;
    let service_account = fcm.service_account_json();
    seed::ensure_credentials_and_phones(&store, &master, &config, &service_account).await?;
    seed::ensure_twilio_link(&store, &master, &config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    steps::print(&steps::Addresses {
        gateway: listener.local_addr()?,
        apns: sim.tls_addr(),
        apns_control: sim.control_addr().unwrap_or(args.apns_control),
        fcm: fcm.addr(),
        fcm_control: fcm.control_addr().unwrap_or(args.fcm_control),
        auth: &auth,
        data_dir: &config.data_dir,
    });
    crate::run(config, listener, super::shutdown_signal()).await?;
    let _ = stop_sim.send(());
    let _ = stop_fcm.send(());
    sim.shutdown().await;
    fcm.shutdown().await;
    Ok(())
}
