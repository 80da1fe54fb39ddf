//! `pushgate credentials add|list|rm`: push credentials from the host's command line.

use std::path::PathBuf;

use anyhow::{Context, bail};
use secrecy::SecretString;

use super::CredentialsCommand;
use super::keys::resolve_account;
use crate::clock::{now_secs, rfc3339};
use crate::config::Config;
use crate::credentials::manage::{self, CredentialPatch, Material, health};
use crate::domain::CredentialSid;
use crate::secrets::MasterKey;
use crate::store::Store;

/// Arguments of `credentials add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Certificate PEM file (with --key).
    #[arg(long, requires = "key", conflicts_with_all = ["p12", "p8"])]
    cert: Option<PathBuf>,
    /// Private key PEM file (with --cert).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// .p12 file (certificate + key).
    #[arg(long, conflicts_with_all = ["p8", "fcm"])]
    p12: Option<PathBuf>,
    /// Environment variable holding the .p12 password (never pass it as an argument).
    #[arg(long, requires = "p12")]
    password_env: Option<String>,
    /// .p8 token signing key (with --key-id, --team-id, --bundle-id).
    #[arg(long, requires_all = ["key_id", "team_id", "bundle_id"], conflicts_with = "fcm")]
    p8: Option<PathBuf>,
    /// Firebase service-account JSON file (Android through FCM).
    #[arg(long, conflicts_with_all = ["cert", "key", "sandbox"])]
    fcm: Option<PathBuf>,
    #[arg(long)]
    key_id: Option<String>,
    #[arg(long)]
    team_id: Option<String>,
    #[arg(long)]
    bundle_id: Option<String>,
    /// Push to the development (sandbox) environment by default.
    #[arg(long)]
    sandbox: bool,
    /// Friendly name.
    #[arg(long)]
    name: Option<String>,
    /// Account SID (default: the only account).
    #[arg(long)]
    account: Option<String>,
}

fn read_text(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn material(args: &AddArgs) -> anyhow::Result<Material> {
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        return Ok(Material::CertificatePem {
            certificate: read_text(cert)?,
            private_key: SecretString::from(read_text(key)?),
        });
    }
    if let Some(p12) = &args.p12 {
        let password = match &args.password_env {
            Some(var) => std::env::var(var)
                .with_context(|| format!("environment variable {var} is not set"))?,
            None => String::new(),
        };
        return Ok(Material::P12 {
            der: std::fs::read(p12).with_context(|| format!("cannot read {}", p12.display()))?,
            password: SecretString::from(password),
        });
    }
    if let Some(p8) = &args.p8 {
        return Ok(Material::P8 {
            pem: SecretString::from(read_text(p8)?),
        });
    }
    if let Some(fcm) = &args.fcm {
        return Ok(Material::ServiceAccount {
            json: SecretString::from(read_text(fcm)?),
        });
    }
    bail!(
        "give --cert and --key, or --p12, or --p8 with --key-id, --team-id and --bundle-id, or \
         --fcm with the service-account JSON"
    )
}

/// Runs a `credentials` subcommand.
pub(super) async fn run(
    store: &Store,
    master: &MasterKey,
    config: &Config,
    cmd: CredentialsCommand,
) -> anyhow::Result<()> {
    let window = config.expiry_warning_secs();
    let rules = config.intake_rules();
    match cmd {
        CredentialsCommand::Add(args) => {
            let account = resolve_account(store, args.account.clone()).await?;
            let patch = CredentialPatch {
                kind: None,
                friendly_name: args.name.clone(),
                sandbox: Some(args.sandbox),
                material: Some(material(&args)?),
                key_id: args.key_id.clone(),
                team_id: args.team_id.clone(),
                bundle_id: args.bundle_id.clone(),
            };
            let c = manage::create(store, master, &account.sid, patch, &rules)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("PUSH_CREDENTIAL_SID={}", c.sid);
            match &c.fcm {
                Some(fcm) => println!(
                    "type={} project_id={} client_email={} key_id={}",
                    c.kind,
                    fcm.project_id,
                    fcm.client_email,
                    c.key_id.as_deref().unwrap_or_default()
                ),
                None => println!(
                    "type={} bundle_id={} voip_topic={}",
                    c.kind, c.bundle_id, c.voip_topic
                ),
            }
            if let Some(not_after) = c.not_after {
                println!("not_after={}", rfc3339(not_after * 1000));
            }
            for warning in &c.warnings {
                println!("warning: {warning}");
            }
        }
        CredentialsCommand::List { account } => {
            let account = resolve_account(store, account).await?;
            println!(
                "{:<34}  {:<9}  {:<8}  {:<24}  {:<10}  BUNDLE / PROJECT",
                "SID", "TYPE", "SANDBOX", "NOT_AFTER", "HEALTH"
            );
            for c in store.credentials(&account.sid).await? {
                let not_after = c.not_after.map(|t| rfc3339(t * 1000)).unwrap_or("-".into());
                println!(
                    "{:<34}  {:<9}  {:<8}  {:<24}  {:<10}  {}",
                    c.sid,
                    c.kind,
                    c.sandbox,
                    not_after,
                    health(&c, now_secs(), window).as_str(),
                    c.fcm.as_ref().map_or(&c.bundle_id, |f| &f.project_id)
                );
            }
        }
        CredentialsCommand::Rm { sid, account } => {
            let account = resolve_account(store, account).await?;
            let sid = CredentialSid::parse(&sid)?;
            match store.delete_credential(&account.sid, &sid).await? {
                Some(n) => println!("deleted {sid} and {n} registration(s)"),
                None => bail!("no credential {sid} in account {}", account.sid),
            }
        }
    }
    Ok(())
}
