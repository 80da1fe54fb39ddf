//! The `pushgate` command line: `serve`, `migrate`, `init`, `keys`, `credentials`, `token`,
//! `rotate-master-key`, `mock-apns`, `mock-fcm`, `push`, `bench`.

mod apns;
mod bench;
mod credentials;
mod demo;
mod fcm_push;
mod keys;
mod master_key;
mod mock_fcm;
mod twilio;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "pushgate",
    version,
    about = "Self-hosted push relay for VoIP calling apps"
)]
struct Cli {
    /// TOML configuration file (settings in PUSHGATE_* variables override it).
    #[arg(long, global = true, env = "PUSHGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Also serve the quickstart endpoints /accessToken and /placeCall (loopback only).
        #[arg(long)]
        quickstart: bool,
    },
    /// Run the whole flow locally: gateway, APNs and FCM simulators, account, credentials
    /// and demo phones (two iPhones, one Android), with the commands to place, follow,
    /// answer and cancel a call.
    Demo(demo::DemoArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Create an account and its first API key, if none exists yet.
    Init {
        /// Friendly name of the account.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage APNs push credentials.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Link Twilio accounts whose Call Notification webhook pushgate serves.
    #[command(subcommand)]
    Twilio(twilio::TwilioCommand),
    /// Run the APNs simulator (HTTP/2 over TLS, Apple's validation and errors).
    MockApns(apns::MockApnsArgs),
    /// Run the FCM simulator (HTTP v1 sends and Google's OAuth token endpoint, FCM's
    /// validation and errors).
    MockFcm(mock_fcm::MockFcmArgs),
    /// Send one VoIP push with a credential and print the classified outcome.
    Push(apns::PushArgs),
    /// Load-test a gateway end to end against the APNs simulator and report throughput,
    /// latency percentiles, errors, CPU and memory.
    Bench(Box<bench::BenchArgs>),
    /// Re-encrypt every stored secret under a new master key, in one transaction: the key in
    /// --new-key-env, else the configured PUSHGATE_MASTER_KEY (after a roll with the old key in
    /// PUSHGATE_MASTER_KEY_PREVIOUS), else a new generated key file.
    RotateMasterKey {
        /// Environment variable holding the new key (base64 of 32 bytes).
        #[arg(long)]
        new_key_env: Option<String>,
    },
    /// Print an access token for a phone (development), as a quickstart server would.
    Token {
        /// The identity the token is for, e.g. alice.
        #[arg(long)]
        identity: String,
        /// Lifetime in seconds (at most 86400).
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
        /// Push credential SID (CR…) the phone registers under (default: the only one).
        #[arg(long)]
        push_credential: Option<String>,
        /// API key SID to sign with (default: the account's oldest active key).
        #[arg(long)]
        key: Option<String>,
        /// Account SID (default: the only account).
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum CredentialsCommand {
    /// Upload a credential: --cert + --key, --p12 (+ --password-env), --p8 + ids, or --fcm.
    Add(Box<credentials::AddArgs>),
    /// List credentials with their topics, environments, expiry and health.
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Delete a credential and its registrations.
    Rm {
        /// The credential's SID (CR…).
        sid: String,
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an API key; its secret is printed once.
    Create {
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// List API keys.
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Revoke an API key.
    Revoke {
        /// The key's SID (SK…).
        sid: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// Replace the account's status callback signing secret; the new one is printed once and
    /// signs callbacks from now on.
    WebhookSecret {
        #[arg(long)]
        account: Option<String>,
        /// Keep the replaced secret signing beside the new one this many seconds (≤ 604800).
        #[arg(long, default_value_t = 0)]
        overlap_secs: u64,
    },
}

/// Entry point used by the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        // The bench prints a report; its own simulator's and client's info lines are noise.
        Ok(mut config) if matches!(cli.command, Command::Bench(_)) => {
            if std::env::var_os("PUSHGATE_LOG").is_none() {
                config.log = "warn".into();
            }
            config
        }
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(&config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code(&e)
        }
    }
}

/// 2 for a configuration problem found before anything started (as for a bad config file:
/// e.g. a master key file others can read), 1 for anything else.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    let config_error = e.chain().any(|cause| {
        cause.is::<crate::config::ConfigError>()
            || matches!(cause.downcast_ref(), Some(crate::RunError::Config(_)))
    });
    if config_error {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

async fn execute(command: Command, config: Config) -> anyhow::Result<()> {
    if let Command::MockApns(args) = command {
        return apns::mock_apns(&config, args).await;
    }
    if let Command::MockFcm(args) = command {
        return mock_fcm::mock_fcm(&config, args).await;
    }
    if let Command::Bench(args) = command {
        return bench::bench(*args).await;
    }
    if let Command::Demo(args) = command {
        return demo::run(config, args).await;
    }
    if let Command::Serve { quickstart } = command {
        let mut config = config;
        config.quickstart |= quickstart;
        config.validate()?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        crate::run(config, listener, shutdown_signal()).await?;
        return Ok(());
    }
    let master = config.master_key()?;
    let store = Store::open(&config).await?;
    store.migrate().await?;
    let result = match command {
        Command::Serve { .. }
        | Command::MockApns(_)
        | Command::MockFcm(_)
        | Command::Demo(_)
        | Command::Bench(_) => {
            unreachable!("handled above")
        }
        Command::Push(args) => apns::push(&store, &master, &config, args).await,
        Command::Migrate => {
            println!("migrations applied ({:?})", store.kind());
            Ok(())
        }
        Command::Init { name } => keys::init(&store, &master, &name).await,
        Command::Keys(cmd) => keys::keys_command(&store, &master, cmd).await,
        Command::Credentials(cmd) => credentials::run(&store, &master, &config, cmd).await,
        Command::Twilio(cmd) => twilio::run(&store, &master, cmd).await,
        Command::RotateMasterKey { new_key_env } => {
            master_key::rotate(&store, &master, &config, new_key_env.as_deref()).await
        }
        Command::Token {
            identity,
            ttl,
            push_credential,
            key,
            account,
        } => {
            keys::token(
                &store,
                &master,
                &identity,
                ttl,
                push_credential,
                key,
                account,
            )
            .await
        }
    };
    store.close().await;
    result
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received; draining");
}
