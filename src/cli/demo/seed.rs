//! What the demo makes sure exists before the gateway starts, idempotently: the account and
//! its API key (`<data_dir>/demo.env`), an APNs credential and two iPhones for `alice`, an
//! FCM credential holding the FCM simulator's service account and one Android phone.

use std::io::Write;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::accounts::{self, AccountChoice};
use crate::auth::api_keys;
use crate::config::Config;
use crate::credentials::devcerts::VoipPair;
use crate::credentials::manage::{self, CredentialPatch, Material};
use crate::domain::{AccountSid, CredentialSid, CredentialType, DeviceToken, Identity, Platform};
use crate::registrations::{Register, Registrations, Scope};
use crate::secrets::MasterKey;
use crate::store::{AccountRecord, Store};

/// The demo app's bundle id.
const BUNDLE: &str = "com.example.quickstart";
/// Friendly name that marks the demo's APNs credential.
const CREDENTIAL_NAME: &str = "demo";
/// Friendly name that marks the demo's FCM credential.
const FCM_CREDENTIAL_NAME: &str = "demo-android";
/// Demo iPhones registered for alice: phones 1 and 2.
pub const IPHONES: u8 = 2;
/// The demo's Android phone.
pub const ANDROID_PHONE: u8 = 3;

/// The APNs device token of demo iPhone `n`.
pub fn phone_token(n: u8) -> String {
    format!("{:02x}", 0xd0 + n).repeat(32)
}

/// The FCM registration token of demo Android phone `n` (starts with `d<n>` like the
/// iPhones' tokens, so one prefix finds a phone's push in either simulator's log).
pub fn android_token(n: u8) -> String {
    format!("d{n}-android-demo:APA91b{}", "Dm0Fcm".repeat(20))
}

/// The account the demo (and its quickstart endpoints) act for: `quickstart_account`, or
/// the only one; `None` when there is none yet.
async fn demo_account(store: &Store, config: &Config) -> anyhow::Result<Option<AccountRecord>> {
    match accounts::resolve(store, config.quickstart_account.as_ref()).await {
        Ok(account) => Ok(Some(account)),
        Err(AccountChoice::NoAccount) => Ok(None),
        Err(e @ (AccountChoice::Several { .. } | AccountChoice::NotFound(_))) => {
            bail!("{e}: set quickstart_account (PUSHGATE_QUICKSTART_ACCOUNT) to the demo's account")
        }
        Err(e) => Err(e.into()),
    }
}

/// The demo's API key as `SK…:secret`, kept in `<data_dir>/demo.env` (mode 0600).
pub async fn ensure_account(
    store: &Store,
    master: &MasterKey,
    config: &Config,
) -> anyhow::Result<String> {
    let env_file = config.data_dir.join("demo.env");
    if let Ok(text) = std::fs::read_to_string(&env_file) {
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_owned))
        };
        if let (Some(key), Some(secret)) = (get("API_KEY"), get("API_KEY_SECRET")) {
            return Ok(format!("{key}:{secret}"));
        }
    }
    let created = match demo_account(store, config).await? {
        Some(account) => api_keys::create_key(store, master, &account.sid, "demo").await?,
        None => {
            api_keys::create_account(store, master, "demo", "demo")
                .await?
                .1
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&env_file)?;
    writeln!(
        file,
        "ACCOUNT_SID={}\nAPI_KEY={}\nAPI_KEY_SECRET={}",
        created.record.account_sid,
        created.record.sid,
        created.secret.expose_secret()
    )?;
    Ok(format!(
        "{}:{}",
        created.record.sid,
        created.secret.expose_secret()
    ))
}

/// Makes sure both credentials and alice's three phones exist. `service_account` is the
/// key file of the FCM simulator running now: it makes a new key at every start, so an
/// existing FCM credential is rotated to it (same SID, registrations kept).
pub async fn ensure_credentials_and_phones(
    store: &Store,
    master: &MasterKey,
    config: &Config,
    service_account: &str,
) -> anyhow::Result<()> {
    let account = demo_account(store, config)
        .await?
        .context("the demo's account vanished")?;
    let apns = ensure_apns_credential(store, master, config, &account.sid).await?;
    let fcm = ensure_fcm_credential(store, master, config, &account.sid, service_account).await?;
    // Counted in a registry of its own: the gateway starts after these are written.
    let registrations = Registrations::new(
        store.clone(),
        config.max_registrations_per_identity,
        crate::metrics::Metrics::default(),
    );
    let alice = Identity::parse("alice")?;
    retire_old_iphone(&registrations, &account.sid, &alice).await?;
    let mut phones: Vec<(CredentialSid, Platform, DeviceToken)> = (1..=IPHONES)
        .map(|n| {
            Ok((
                apns.clone(),
                Platform::Apns,
                DeviceToken::parse(&phone_token(n))?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let android = DeviceToken::parse_fcm(&android_token(ANDROID_PHONE))?;
    phones.push((fcm, Platform::Fcm, android));
    for (credential, platform, device_token) in phones {
        registrations
            .register(Register {
                account: account.sid.clone(),
                credential,
                identity: alice.clone(),
                platform,
                device_token,
            })
            .await?;
    }
    Ok(())
}

/// The Twilio account the demo links, so a Twilio-shaped call notification rings alice too.
pub const TWILIO_ACCOUNT: &str = "ACdededededededededededededededede";

/// Links [`TWILIO_ACCOUNT`] to the demo's account (a fresh Auth Token each start: the demo's
/// notification authenticates with the API key, not a signature).
pub async fn ensure_twilio_link(
    store: &Store,
    master: &MasterKey,
    config: &Config,
) -> anyhow::Result<()> {
    let account = demo_account(store, config)
        .await?
        .context("the demo's account vanished")?;
    let token: [u8; 16] = crate::domain::random_bytes();
    let links = crate::twilio::TwilioLinks::new(store.clone(), std::sync::Arc::new(master.clone()));
    links
        .link(
            &account.sid,
            crate::twilio::NewLink {
                twilio_account: AccountSid::parse(TWILIO_ACCOUNT)?,
                auth_token: SecretString::from(hex::encode(token)),
                ring_timeout_secs: None,
            },
        )
        .await?;
    Ok(())
}

/// Demos before Android support registered a third iPhone; phone 3 is the Android one now.
async fn retire_old_iphone(
    registrations: &Registrations,
    account: &AccountSid,
    alice: &Identity,
) -> anyhow::Result<()> {
    let old = phone_token(ANDROID_PHONE);
    let page = registrations.list(account, Some(alice), None, 100).await?;
    for r in page.registrations {
        if r.platform == Platform::Apns && r.device_token.as_str() == old {
            let scope = Scope {
                account,
                identity: None,
            };
            registrations.remove(scope, &r.sid).await?;
        }
    }
    Ok(())
}

async fn ensure_apns_credential(
    store: &Store,
    master: &MasterKey,
    config: &Config,
    account: &AccountSid,
) -> anyhow::Result<CredentialSid> {
    let existing = store
        .credentials(account)
        .await?
        .into_iter()
        .find(|c| c.friendly_name == CREDENTIAL_NAME && c.kind.platform() == Platform::Apns);
    if let Some(c) = existing {
        return Ok(c.sid);
    }
    // A self-made VoIP Services certificate: the simulator accepts any client certificate;
    // real APNs would not.
    let patch = CredentialPatch {
        friendly_name: Some(CREDENTIAL_NAME.into()),
        sandbox: Some(true),
        material: Some(VoipPair::issue(BUNDLE)?.material()?),
        ..CredentialPatch::default()
    };
    let created = manage::create(store, master, account, patch, &config.intake_rules())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(created.sid)
}

async fn ensure_fcm_credential(
    store: &Store,
    master: &MasterKey,
    config: &Config,
    account: &AccountSid,
    service_account: &str,
) -> anyhow::Result<CredentialSid> {
    let existing = store
        .credentials(account)
        .await?
        .into_iter()
        .find(|c| c.friendly_name == FCM_CREDENTIAL_NAME && c.kind == CredentialType::Fcm);
    let patch = CredentialPatch {
        friendly_name: Some(FCM_CREDENTIAL_NAME.into()),
        material: Some(Material::ServiceAccount {
            json: SecretString::from(service_account.to_owned()),
        }),
        ..CredentialPatch::default()
    };
    let rules = config.intake_rules();
    let saved = match existing {
        Some(c) => manage::rotate(store, master, account, &c.sid, patch, &rules).await,
        None => manage::create(store, master, account, patch, &rules).await,
    };
    Ok(saved.map_err(|e| anyhow::anyhow!("{e}"))?.sid)
}
