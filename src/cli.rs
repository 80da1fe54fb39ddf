//! The `pushgate` command line: `serve`, `migrate`, `init`, `keys`, `token`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::auth::{access_token, api_keys};
use crate::clock::{now_ms, now_secs, rfc3339};
use crate::config::Config;
use crate::domain::{AccountSid, ApiKeySid, CredentialSid, Identity};
use crate::secrets::MasterKey;
use crate::store::{AccountRecord, RevokeOutcome, Store};

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
    Serve,
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
    /// Print an access token for a phone (development), as a quickstart server would.
    Token {
        /// The identity the token is for, e.g. alice.
        #[arg(long)]
        identity: String,
        /// Lifetime in seconds (at most 86400).
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
        /// Push credential SID (CR…) the phone registers under.
        #[arg(long)]
        push_credential: String,
        /// API key SID to sign with (default: the account's oldest active key).
        #[arg(long)]
        key: Option<String>,
        /// Account SID (default: the only account).
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
}

/// Entry point used by the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
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
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, config: Config) -> anyhow::Result<()> {
    if let Command::Serve = command {
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
        Command::Serve => unreachable!("handled above"),
        Command::Migrate => {
            println!("migrations applied ({:?})", store.kind());
            Ok(())
        }
        Command::Init { name } => init(&store, &master, &name).await,
        Command::Keys(keys) => keys_command(&store, &master, keys).await,
        Command::Token {
            identity,
            ttl,
            push_credential,
            key,
            account,
        } => {
            token(
                &store,
                &master,
                &identity,
                ttl,
                &push_credential,
                key,
                account,
            )
            .await
        }
    };
    store.close().await;
    result
}

async fn init(store: &Store, master: &MasterKey, name: &str) -> anyhow::Result<()> {
    if let Some(account) = store.accounts().await?.into_iter().next() {
        let keys = store.api_keys(&account.sid).await?;
        let active = keys.iter().filter(|k| k.date_revoked.is_none()).count();
        println!(
            "Account {} ({}) already exists with {active} active API key(s); nothing changed.",
            account.sid, account.friendly_name
        );
        println!("Use `pushgate keys create` for a new key.");
        return Ok(());
    }
    let (account, key) = api_keys::create_account(store, master, name, "initial key").await?;
    println!("Created account and API key.");
    println!("ACCOUNT_SID={}", account.sid);
    println!("API_KEY={}", key.record.sid);
    println!("API_KEY_SECRET={}", key.secret.expose_secret());
    println!("The secret is shown only once: store it now.");
    Ok(())
}

async fn resolve_account(store: &Store, given: Option<String>) -> anyhow::Result<AccountRecord> {
    if let Some(sid) = given {
        let sid = AccountSid::parse(&sid)?;
        return store
            .account(&sid)
            .await?
            .with_context(|| format!("account {sid} does not exist"));
    }
    let mut accounts = store.accounts().await?;
    match accounts.len() {
        0 => bail!("no account yet: run `pushgate init` first"),
        1 => Ok(accounts.remove(0)),
        _ => bail!("several accounts exist: choose one with --account AC…"),
    }
}

async fn keys_command(store: &Store, master: &MasterKey, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create { name, account } => {
            let account = resolve_account(store, account).await?;
            let key = api_keys::create_key(store, master, &account.sid, &name).await?;
            println!("API_KEY={}", key.record.sid);
            println!("API_KEY_SECRET={}", key.secret.expose_secret());
            println!("The secret is shown only once: store it now.");
        }
        KeysCommand::List { account } => {
            let account = resolve_account(store, account).await?;
            println!("{:<34}  {:<24}  {:<24}  NAME", "SID", "CREATED", "REVOKED");
            for k in store.api_keys(&account.sid).await? {
                let revoked = k.date_revoked.map(rfc3339).unwrap_or_else(|| "-".into());
                println!(
                    "{:<34}  {:<24}  {:<24}  {}",
                    k.sid,
                    rfc3339(k.date_created),
                    revoked,
                    k.friendly_name
                );
            }
        }
        KeysCommand::Revoke { sid, account } => {
            let account = resolve_account(store, account).await?;
            let sid = ApiKeySid::parse(&sid)?;
            match store.revoke_api_key(&account.sid, &sid, now_ms()).await? {
                RevokeOutcome::Revoked => println!("revoked {sid}"),
                RevokeOutcome::NotFound => bail!("no active key {sid} in account {}", account.sid),
                RevokeOutcome::LastKey => {
                    bail!("{sid} is the account's last active key; create another first")
                }
            }
        }
    }
    Ok(())
}

async fn token(
    store: &Store,
    master: &MasterKey,
    identity: &str,
    ttl: i64,
    push_credential: &str,
    key: Option<String>,
    account: Option<String>,
) -> anyhow::Result<()> {
    let account = resolve_account(store, account).await?;
    let identity = Identity::parse(identity)?;
    let push_credential = CredentialSid::parse(push_credential)?;
    let key_sid = match key {
        Some(sid) => ApiKeySid::parse(&sid)?,
        None => store
            .api_keys(&account.sid)
            .await?
            .into_iter()
            .find(|k| k.date_revoked.is_none())
            .map(|k| k.sid)
            .context("the account has no active API key: run `pushgate keys create`")?,
    };
    let (record, secret) = api_keys::active_key_secret(store, master, &key_sid)
        .await?
        .with_context(|| format!("API key {key_sid} does not exist or is revoked"))?;
    if record.account_sid != account.sid {
        bail!("API key {key_sid} belongs to another account");
    }
    let token = access_token::mint(access_token::MintRequest {
        account: &account.sid,
        key: &key_sid,
        secret: &secret,
        identity: &identity,
        push_credential: Some(&push_credential),
        ttl_secs: ttl,
        now: now_secs(),
    })?;
    println!("{token}");
    Ok(())
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
