//! Accounts, API keys and development access tokens: `init`, `keys …`, `token`.

use anyhow::{Context, bail};
use secrecy::ExposeSecret;

use super::KeysCommand;
use crate::auth::accounts::{self, AccountChoice};
use crate::auth::{access_token, api_keys};
use crate::clock::{now_ms, now_secs, rfc3339};
use crate::domain::{AccountSid, ApiKeySid, CredentialSid, Identity};
use crate::secrets::MasterKey;
use crate::store::{AccountRecord, RevokeOutcome, Store};

pub(super) async fn init(store: &Store, master: &MasterKey, name: &str) -> anyhow::Result<()> {
    match accounts::resolve(store, None).await {
        Err(AccountChoice::NoAccount) => {}
        Ok(account) => {
            let keys = store.api_keys(&account.sid).await?;
            let active = keys.iter().filter(|k| k.date_revoked.is_none()).count();
            println!(
                "Account {} ({}) already exists with {active} active API key(s); nothing changed.",
                account.sid, account.friendly_name
            );
            println!("Use `pushgate keys create` for a new key.");
            return Ok(());
        }
        Err(AccountChoice::Several { count }) => {
            println!("{count} accounts already exist; nothing changed.");
            println!("Use `pushgate keys create --account AC…` for a new key.");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    let (account, key) = api_keys::create_account(store, master, name, "initial key").await?;
    println!("Created account and API key.");
    println!("ACCOUNT_SID={}", account.sid);
    println!("API_KEY={}", key.record.sid);
    println!("API_KEY_SECRET={}", key.secret.expose_secret());
    println!("{}", crate::auth::key_admin::SECRET_ONCE);
    Ok(())
}

/// The account `--account` names, or the only one ([`accounts::resolve`]).
pub(super) async fn resolve_account(
    store: &Store,
    given: Option<String>,
) -> anyhow::Result<AccountRecord> {
    let given = given.as_deref().map(AccountSid::parse).transpose()?;
    accounts::resolve(store, given.as_ref())
        .await
        .map_err(|e| match e {
            AccountChoice::Several { .. } => {
                anyhow::anyhow!("several accounts exist: choose one with --account AC…")
            }
            other => other.into(),
        })
}

pub(super) async fn keys_command(
    store: &Store,
    master: &MasterKey,
    cmd: KeysCommand,
) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create { name, account } => {
            let account = resolve_account(store, account).await?;
            let key = api_keys::create_key(store, master, &account.sid, &name).await?;
            println!("API_KEY={}", key.record.sid);
            println!("API_KEY_SECRET={}", key.secret.expose_secret());
            println!("{}", crate::auth::key_admin::SECRET_ONCE);
        }
        KeysCommand::WebhookSecret {
            account,
            overlap_secs,
        } => {
            let account = resolve_account(store, account).await?;
            let overlap = std::time::Duration::from_secs(overlap_secs);
            if overlap > crate::invites::webhook_secret::MAX_OVERLAP {
                bail!("--overlap-secs must be at most 604800 (7 days)");
            }
            let secret =
                crate::invites::webhook_secret::rotate(store, master, &account.sid, Some(overlap))
                    .await?;
            println!("WEBHOOK_SECRET={}", secret.expose_secret());
            println!("Status callbacks are signed with it from now on; it is shown only once.");
            if overlap_secs > 0 {
                println!(
                    "The replaced secret signs beside it for {overlap_secs} s (a second v1= signature)."
                );
            }
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
                RevokeOutcome::Revoked => {
                    // Its console sessions end now (elsewhere they end within the key cache's
                    // lifetime anyway).
                    store.delete_console_sessions_of(&sid).await?;
                    println!("revoked {sid}");
                }
                RevokeOutcome::NotFound => bail!("no active key {sid} in account {}", account.sid),
                RevokeOutcome::LastKey => {
                    bail!("{sid} is the account's last active key; create another first")
                }
            }
        }
    }
    Ok(())
}

pub(super) async fn token(
    store: &Store,
    master: &MasterKey,
    identity: &str,
    ttl: i64,
    push_credential: Option<String>,
    key: Option<String>,
    account: Option<String>,
) -> anyhow::Result<()> {
    let account = resolve_account(store, account).await?;
    let identity = Identity::parse(identity)?;
    let push_credential = match push_credential {
        Some(sid) => CredentialSid::parse(&sid)?,
        None => {
            let mut all = store.credentials(&account.sid).await?;
            match all.len() {
                1 => all.remove(0).sid,
                0 => bail!("no push credential yet: add one with `pushgate credentials add`"),
                _ => bail!("several push credentials exist: choose one with --push-credential CR…"),
            }
        }
    };
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
