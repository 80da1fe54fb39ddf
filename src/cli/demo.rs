//! `pushgate demo`: the seed quickstart's whole push flow on one machine, no Apple account.
//! Starts the APNs simulator and the gateway (embedded store, quickstart endpoints on), makes
//! sure an account, API key, a development credential and three phones for `alice` exist
//! (idempotently), and prints the commands to place, follow, answer and cancel a call.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, bail};
use secrecy::ExposeSecret;

use crate::auth::accounts::{self, AccountChoice};
use crate::auth::api_keys;
use crate::config::Config;
use crate::credentials::devcerts::VoipPair;
use crate::credentials::manage::{self, CredentialPatch};
use crate::domain::{DeviceToken, Identity, Platform};
use crate::mock_apns::{self, SimulatorConfig, TlsSource};
use crate::registrations::{Register, Registrations};
use crate::store::{AccountRecord, Store};

/// The demo app's bundle id.
const BUNDLE: &str = "com.example.quickstart";
/// Friendly name that marks the demo's credential.
const CREDENTIAL_NAME: &str = "demo";
/// Demo phones registered for alice.
const PHONES: u8 = 3;

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Simulator HTTP/2 + TLS address.
    #[arg(long, default_value = "127.0.0.1:2197")]
    apns_listen: SocketAddr,
    /// Simulator control API address.
    #[arg(long, default_value = "127.0.0.1:2198")]
    apns_control: SocketAddr,
}

/// The device token of demo phone `n`.
pub fn phone_token(n: u8) -> String {
    format!("{:02x}", 0xd0 + n).repeat(32)
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
    config.quickstart = true;
    config.validate()?;

    let master = config.master_key()?;
    let store = Store::open(&config).await?;
    store.migrate().await?;
    let auth = ensure_account(&store, &master, &config).await?;
    ensure_credential_and_phones(&store, &master, &config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let gateway = listener.local_addr()?;
    let control = sim.control_addr().unwrap_or(args.apns_control);
    print_steps(gateway, sim.tls_addr(), control, &auth, &config.data_dir);
    crate::run(config, listener, super::shutdown_signal()).await?;
    let _ = stop_sim.send(());
    sim.shutdown().await;
    Ok(())
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
async fn ensure_account(
    store: &Store,
    master: &crate::secrets::MasterKey,
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

async fn ensure_credential_and_phones(
    store: &Store,
    master: &crate::secrets::MasterKey,
    config: &Config,
) -> anyhow::Result<()> {
    let account = demo_account(store, config)
        .await?
        .context("the demo's account vanished")?;
    let credentials = store.credentials(&account.sid).await?;
    let credential = match credentials
        .into_iter()
        .find(|c| c.friendly_name == CREDENTIAL_NAME)
    {
        Some(c) => c,
        None => {
            // A self-made VoIP Services certificate: the simulator accepts any client
            // certificate; real APNs would not.
            let patch = CredentialPatch {
                friendly_name: Some(CREDENTIAL_NAME.into()),
                sandbox: Some(true),
                material: Some(VoipPair::issue(BUNDLE)?.material()?),
                ..CredentialPatch::default()
            };
            manage::create(store, master, &account.sid, patch, &config.intake_rules())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
        }
    };
    // Counted in a registry of its own: the gateway starts after these are written.
    let registrations = Registrations::new(
        store.clone(),
        config.max_registrations_per_identity,
        crate::metrics::Metrics::default(),
    );
    for n in 1..=PHONES {
        registrations
            .register(Register {
                account: account.sid.clone(),
                credential: credential.sid.clone(),
                identity: Identity::parse("alice")?,
                platform: Platform::Apns,
                device_token: DeviceToken::parse(&phone_token(n))?,
            })
            .await?;
    }
    Ok(())
}

fn print_steps(
    gateway: SocketAddr,
    sim: SocketAddr,
    control: SocketAddr,
    auth: &str,
    data_dir: &Path,
) {
    println!(
        r#"
pushgate demo is running: gateway http://{gateway}, APNs simulator https://{sim} (control http://{control}).
An account, an API key ({env}) and three phones registered for alice are ready.

0. In another terminal, set up (bridge N prints the bridge token that phone N got in its push):
     G=http://{gateway}; AUTH="{auth}"
     bridge() {{ curl -s "http://{control}/pushes?since=0" | python3 -c "import json,sys; print([p for p in json.load(sys.stdin)['pushes'] if p['device_token'].startswith('d$1')][-1]['payload']['twi_bridge_token'])"; }}
1. Place a call to alice, as the quickstart server's /placeCall does (it prints the call SID):
     CALL=$(curl -s -X POST "$G/placeCall?to=alice"); echo $CALL
2. See the VoIP pushes that reached alice's three phones:
     curl -s "http://{control}/pushes?since=0" | python3 -m json.tool | grep -E '"(device_token|twi_call_sid|twi_message_type)"'
3. Follow the call on phones 2 and 3 (one terminal each, after step 0 there too, with the same CALL):
     curl -N "$G/v1/invites/$CALL/events" -H "Authorization: Bearer $(bridge 2)"
4. Answer on phone 1: the other phones' streams end with "answered" and "this_device":false.
     curl -s -X POST "$G/v1/invites/$CALL/accept" -H "Authorization: Bearer $(bridge 1)"
   Phone 2 answering too gets 409, code 21310 (answered on another device):
     curl -s -X POST "$G/v1/invites/$CALL/accept" -H "Authorization: Bearer $(bridge 2)"
5. Place another call and hang up from the backend before anyone answers: the streams end with "canceled".
     CALL=$(curl -s -X POST "$G/placeCall?to=alice")
     curl -s -u "$AUTH" -X POST "$G/v1/invites/$CALL/cancel"
6. What happened to each push:
     curl -s -u "$AUTH" "$G/v1/invites/$CALL"

Ctrl-C stops the demo; running it again reuses everything in {data}.
"#,
        env = data_dir.join("demo.env").display(),
        data = data_dir.display(),
    );
}
