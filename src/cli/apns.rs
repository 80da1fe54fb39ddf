//! `pushgate mock-apns` (the APNs simulator) and `pushgate push` (send one VoIP push and
//! print its classified outcome — the first thing to run when pushes don't arrive).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use super::keys::resolve_account;
use crate::apns::{ApnsClient, Environment, Notification, Outcome};
use crate::config::Config;
use crate::credentials::material::apns_auth;
use crate::domain::{CredentialSid, CredentialType, DeviceToken};
use crate::mock_apns::{self, EnvironmentMode, PemSource, SimulatorConfig, TlsSource};
use crate::secrets::MasterKey;
use crate::store::Store;

/// Arguments of `mock-apns`.
#[derive(Debug, clap::Args)]
pub struct MockApnsArgs {
    /// HTTP/2 + TLS address APNs clients connect to.
    #[arg(long, default_value = "127.0.0.1:2197")]
    listen: SocketAddr,
    /// Plain-HTTP control API address (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:2198")]
    control: SocketAddr,
    /// Where the generated CA and server certificate are written (default <data_dir>/mock-apns).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Server certificate PEM to use instead of a generated one (with --key).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Server private key PEM (with --cert).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Check client certificates against this CA (PEM).
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// Which APNs environment to behave as: production, development or both.
    #[arg(long, default_value = "both", value_parser = parse_env)]
    env: EnvironmentMode,
    /// Keep a device token registry: unknown tokens get BadDeviceToken (default: accept any
    /// well-formed push, as benchmarks want).
    #[arg(long)]
    strict: bool,
    /// Keep a log of received pushes (readable at GET /pushes on the control API).
    #[arg(long)]
    log_pushes: bool,
    /// SETTINGS_MAX_CONCURRENT_STREAMS announced to clients.
    #[arg(long, default_value_t = 1000)]
    max_streams: u32,
}

fn parse_env(s: &str) -> Result<EnvironmentMode, String> {
    match s {
        "production" => Ok(EnvironmentMode::Production),
        "development" | "sandbox" => Ok(EnvironmentMode::Development),
        "both" => Ok(EnvironmentMode::Both),
        other => Err(format!("{other}: use production, development or both")),
    }
}

/// Runs the simulator until SIGINT/SIGTERM.
pub(super) async fn mock_apns(config: &Config, args: MockApnsArgs) -> anyhow::Result<()> {
    let out_dir = args
        .out_dir
        .unwrap_or_else(|| config.data_dir.join("mock-apns"));
    let tls = match (args.cert, args.key) {
        (Some(cert), Some(key)) => TlsSource::Files { cert, key },
        _ => TlsSource::Generate {
            out_dir: Some(out_dir.clone()),
        },
    };
    let generated = matches!(tls, TlsSource::Generate { .. });
    let sim_config = SimulatorConfig {
        tls_listen: args.listen,
        control_listen: Some(args.control),
        tls,
        client_ca: args.client_ca.map(PemSource::File),
        environment: args.env,
        strict: args.strict,
        log_pushes: args.log_pushes,
        max_concurrent_streams: args.max_streams,
        ..SimulatorConfig::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sim = mock_apns::start(sim_config, async {
        let _ = stop_rx.await;
    })
    .await
    .context("cannot start the APNs simulator")?;
    println!(
        "mock-apns: APNs simulator on {} ({:?})",
        sim.base_url(),
        args.env
    );
    if let Some(control) = sim.control_addr() {
        println!(
            "control API: http://{control} (GET /pushes, /stats; POST /tokens, /faults, /reset)"
        );
    }
    if generated {
        let ca = out_dir.join("ca.pem");
        println!(
            "CA certificate: {} — trust it with PUSHGATE_APNS_CA_FILE",
            ca.display()
        );
    }
    tracing::info!(tls = %sim.tls_addr(), control = ?sim.control_addr(), "mock-apns listening");
    super::shutdown_signal().await;
    let _ = stop_tx.send(());
    sim.shutdown().await;
    Ok(())
}

/// Arguments of `push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The credential to push with (CR…).
    #[arg(long)]
    credential: String,
    /// The device token (hex for APNs, the registration token for FCM).
    #[arg(long)]
    token: String,
    /// Use the development (sandbox) environment (default: the credential's setting).
    #[arg(long, conflicts_with = "production")]
    sandbox: bool,
    /// Use the production environment (default: the credential's setting).
    #[arg(long)]
    production: bool,
    /// JSON payload (default: a minimal VoIP test payload).
    #[arg(long)]
    payload: Option<String>,
    /// Account SID (default: the only account).
    #[arg(long)]
    account: Option<String>,
}

/// Sends one VoIP push (or, with an FCM credential, one data message) and prints its
/// classified outcome; fails unless the provider accepted it.
pub(super) async fn push(
    store: &Store,
    master: &MasterKey,
    config: &Config,
    args: PushArgs,
) -> anyhow::Result<()> {
    let account = resolve_account(store, args.account).await?;
    let sid = CredentialSid::parse(&args.credential)?;
    let credential = store
        .credential(&account.sid, &sid)
        .await?
        .with_context(|| format!("no credential {sid} in account {}", account.sid))?;
    if credential.kind == CredentialType::Fcm {
        return super::fcm_push::push(master, config, &credential, &args.token).await;
    }
    let token = DeviceToken::parse(&args.token)?;
    let sandbox = if args.sandbox || args.production {
        args.sandbox
    } else {
        credential.sandbox
    };
    let environment = if sandbox {
        Environment::Sandbox
    } else {
        Environment::Production
    };
    let payload = args.payload.unwrap_or_else(|| {
        r#"{"aps":{},"twi_message_type":"twilio.voice.call","pushgate_test":true}"#.into()
    });
    if serde_json::from_str::<serde_json::Value>(&payload).is_err() {
        bail!("--payload is not valid JSON");
    }
    let auth = apns_auth(master, &credential)?
        .ok_or_else(|| anyhow::anyhow!("{} is not an APNs credential", credential.sid))?;
    let client = ApnsClient::new(config.apns()?, auth)?;
    let notification = Notification {
        expiration: Some(crate::clock::now_secs() as u64 + 30),
        ..Notification::voip(token.as_hex(), environment, &credential.voip_topic, payload)
    };
    println!(
        "pushing to {token} via {} ({}, topic {})",
        config
            .apns()
            .map(|c| c.url(environment).to_owned())
            .unwrap_or_default(),
        environment.as_str(),
        credential.voip_topic
    );
    let outcome = client.send(notification).await;
    print_outcome(&outcome, sandbox);
    if outcome.is_accepted() {
        Ok(())
    } else {
        bail!("the push was not accepted")
    }
}

fn print_outcome(outcome: &Outcome, sandbox: bool) {
    use crate::console::hints;
    let status = outcome
        .response()
        .map(|r| {
            format!(
                " ({} {})",
                r.status,
                r.reason.as_ref().map(|r| r.as_str()).unwrap_or("")
            )
        })
        .unwrap_or_default();
    println!("outcome: {}{status}", outcome.label());
    let hint = match outcome {
        Outcome::Accepted {
            apns_id, latency, ..
        } => format!(
            "{}: apns-id {} in {:.1} ms",
            hints::APNS_ACCEPTED,
            apns_id.map(|u| u.to_string()).unwrap_or_default(),
            latency.as_secs_f64() * 1e3
        ),
        Outcome::Retry { cause, after, .. } => format!(
            "transient ({}): try again{}",
            cause.label(),
            after
                .map(|d: Duration| format!(" in {:.1} s", d.as_secs_f64()))
                .unwrap_or_default()
        ),
        Outcome::TokenDead { since_ms, .. } => format!(
            "{} since {}",
            hints::APNS_TOKEN_DEAD,
            since_ms
                .map(crate::clock::rfc3339)
                .unwrap_or_else(|| "an unknown time".into())
        ),
        Outcome::WrongEnvironment { .. } => format!(
            "{}: try {} (debug builds use the sandbox)",
            hints::APNS_WRONG_ENVIRONMENT,
            if sandbox { "--production" } else { "--sandbox" }
        ),
        Outcome::NotForTopic { .. } => hints::APNS_NOT_FOR_TOPIC.into(),
        Outcome::CredentialRejected { detail, .. } => format!(
            "APNs refused the credential{}: check it is this app's VoIP Services certificate (or \
             .p8 key) for this environment and not expired",
            detail
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ),
        Outcome::OurBug { .. } => hints::APNS_OUR_BUG.into(),
        Outcome::Refused { refusal } => format!("not sent: {}", refusal.label()),
    };
    println!("{hint}");
}
