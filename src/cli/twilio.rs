//! `pushgate twilio …`: link a Twilio account to a pushgate account (so Twilio's Call
//! Notification webhook rings its registrations), list the links, unlink. The Auth Token is
//! read from an environment variable, never from the command line, and never printed.

use std::sync::Arc;

use clap::Subcommand;
use secrecy::SecretString;

use super::keys::resolve_account;
use crate::clock::rfc3339;
use crate::domain::AccountSid;
use crate::secrets::MasterKey;
use crate::store::Store;
use crate::twilio::{NewLink, TwilioLinks};

#[derive(Debug, Subcommand)]
pub(super) enum TwilioCommand {
    /// Accept call notifications of a Twilio account (again: replace its token or timeout).
    Link {
        /// The Twilio account SID (AC…).
        #[arg(long)]
        account_sid: String,
        /// Environment variable holding the Twilio account's Auth Token.
        #[arg(long)]
        auth_token_env: String,
        /// Seconds each notification's phones ring (1-300).
        #[arg(long, default_value_t = crate::invites::DEFAULT_TTL)]
        ring_timeout: u32,
        /// The pushgate account (default: the only one).
        #[arg(long)]
        account: Option<String>,
    },
    /// List the linked Twilio accounts.
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Stop accepting a Twilio account's notifications.
    Unlink {
        /// The Twilio account SID (AC…).
        account_sid: String,
        #[arg(long)]
        account: Option<String>,
    },
}

pub(super) async fn run(
    store: &Store,
    master: &MasterKey,
    cmd: TwilioCommand,
) -> anyhow::Result<()> {
    let links = TwilioLinks::new(store.clone(), Arc::new(master.clone()));
    match cmd {
        TwilioCommand::Link {
            account_sid,
            auth_token_env,
            ring_timeout,
            account,
        } => {
            let account = resolve_account(store, account).await?;
            let twilio_account = AccountSid::parse(&account_sid)?;
            let token = std::env::var(&auth_token_env).map_err(|_| {
                anyhow::anyhow!("{auth_token_env} is not set: export the Twilio Auth Token in it")
            })?;
            let link = links
                .link(
                    &account.sid,
                    NewLink {
                        twilio_account,
                        auth_token: SecretString::from(token),
                        ring_timeout_secs: Some(ring_timeout),
                    },
                )
                .await?;
            println!(
                "Linked Twilio account {} to {} (ring timeout {} s).",
                link.twilio_account, link.account, link.ring_timeout_secs
            );
            println!(
                "Point ClientNotificationUrl at https://<gateway>/v1/twilio/call-notifications"
            );
        }
        TwilioCommand::List { account } => {
            let account = resolve_account(store, account).await?;
            println!("{:<36} {:>12}  LINKED", "TWILIO ACCOUNT", "RING TIMEOUT");
            for l in links.list(&account.sid).await? {
                println!(
                    "{:<36} {:>10} s  {}",
                    l.twilio_account,
                    l.ring_timeout_secs,
                    rfc3339(l.date_updated)
                );
            }
        }
        TwilioCommand::Unlink {
            account_sid,
            account,
        } => {
            let account = resolve_account(store, account).await?;
            links
                .unlink(&account.sid, &AccountSid::parse(&account_sid)?)
                .await?;
            println!("Unlinked Twilio account {account_sid}.");
        }
    }
    Ok(())
}
