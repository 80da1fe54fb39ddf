//! The benchmark's data: an account and API key, a VoIP certificate credential (a
//! self-made one, which the simulator accepts), `identities × devices` registrations to call,
//! and optionally filler registrations of other identities, so the table holds a given total.
//! With an Android share, that share of the rows (spread evenly) are FCM registrations under
//! an `fcm` credential holding the FCM simulator's service account; the called identities'
//! FCM tokens are registered in the simulator.
//!
//! Written straight into the store with bulk INSERTs when the benchmark starts the gateway;
//! through the HTTP API when it targets a running one.

use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::fcm_simulator::Fcm;
use super::http_client::HttpClient;
use crate::auth::access_token::{self, MintRequest};
use crate::auth::api_keys;
use crate::clock::{now_ms, now_secs};
use crate::credentials::devcerts::VoipPair;
use crate::credentials::manage::{self, CredentialPatch, IntakeRules, Material};
use crate::domain::{
    AccountSid, ApiKeySid, CredentialSid, DeviceToken, Identity, Platform, random_bytes,
};
use crate::secrets::MasterKey;
use crate::store::Store;

/// Bundle id of the benchmark's app.
const BUNDLE: &str = "com.example.bench";
/// Identities called by the load are `bench-<n>`; filler identities are `fill-<n>`.
pub const IDENTITY_PREFIX: &str = "bench-";
/// Registrations written per transaction while seeding.
const SEED_BATCH: usize = 50_000;
/// Registrations posted at once through the API.
const API_CONCURRENCY: usize = 32;

/// What the load needs from the seeded data.
pub struct Seeded {
    pub key: ApiKeySid,
    pub secret: SecretString,
    /// Registrations written (called identities' plus filler).
    pub registrations: u64,
}

impl Seeded {
    /// `Authorization: Basic …` for the API key.
    pub fn basic(&self) -> HeaderValue {
        use base64::Engine;
        let raw = format!("{}:{}", self.key, self.secret.expose_secret());
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
        HeaderValue::from_str(&format!("Basic {encoded}")).expect("base64 is a valid header")
    }
}

/// A fresh self-made universal VoIP certificate and its PKCS#8 key (PEM).
pub(super) fn certificate() -> anyhow::Result<(String, SecretString)> {
    Ok(VoipPair::issue(BUNDLE)?.leaf_pem()?)
}

fn random_token() -> DeviceToken {
    DeviceToken::parse(&hex::encode(random_bytes::<32>())).expect("64 hex digits")
}

/// A random FCM registration token (`<instance id>:APA91b…`, as real ones look).
fn random_fcm_token() -> DeviceToken {
    let raw = format!(
        "{}:APA91b{}",
        hex::encode(random_bytes::<8>()),
        hex::encode(random_bytes::<48>())
    );
    DeviceToken::parse_fcm(&raw).expect("an FCM token's characters and length")
}

/// Whether row `i` is an Android device when `share` of the rows are: the rows where the
/// running count of Android rows (`i × share`, floored) steps up, so they are spread evenly.
fn is_android(i: u64, share: f64) -> bool {
    ((i + 1) as f64 * share).floor() > (i as f64 * share).floor()
}

/// One row to seed.
struct Row {
    identity: Identity,
    platform: Platform,
    token: DeviceToken,
    /// A called identity's (not filler).
    called: bool,
}

/// The rows to seed: `devices` per called identity, then filler rows of `fill-<n>`
/// identities (as many devices each) up to `total`; `android_share` of them FCM ones.
fn rows(
    identities: u64,
    devices: u64,
    total: u64,
    android_share: f64,
) -> impl Iterator<Item = Row> {
    let called = identities * devices;
    (0..called.max(total)).map(move |i| {
        let name = if i < called {
            format!("{IDENTITY_PREFIX}{}", i / devices)
        } else {
            format!("fill-{}", (i - called) / devices)
        };
        let (platform, token) = if is_android(i, android_share) {
            (Platform::Fcm, random_fcm_token())
        } else {
            (Platform::Apns, random_token())
        };
        Row {
            identity: Identity::parse(&name).expect("valid identity"),
            platform,
            token,
            called: i < called,
        }
    })
}

/// The FCM credential holding `fcm`'s service account.
async fn fcm_credential(
    store: &Store,
    master: &MasterKey,
    account: &AccountSid,
    fcm: &Fcm,
) -> anyhow::Result<CredentialSid> {
    let patch = CredentialPatch {
        friendly_name: Some("pushgate bench android".into()),
        material: Some(Material::ServiceAccount {
            json: SecretString::from(fcm.service_account_json()),
        }),
        ..CredentialPatch::default()
    };
    // The simulator's token endpoint is on loopback, not Google's host.
    let rules = IntakeRules {
        fcm_token_hosts: vec!["127.0.0.1".into()],
        ..IntakeRules::default()
    };
    Ok(manage::create(store, master, account, patch, &rules)
        .await?
        .sid)
}

/// Seeds a store directly (the benchmark then starts the gateway on it); `android` is the
/// FCM simulator and the share of Android rows, when there are some.
pub async fn into_store(
    database_url: &str,
    master: &MasterKey,
    (identities, devices, total): (u64, u64, u64),
    android: Option<(&Fcm, f64)>,
    ended_invites: u64,
) -> anyhow::Result<Seeded> {
    let store = Store::connect(database_url, 2)
        .await
        .with_context(|| format!("opening {database_url}"))?;
    store.migrate().await?;
    let (account, key) = api_keys::create_account(&store, master, "bench", "bench").await?;
    let patch = CredentialPatch {
        material: Some(VoipPair::issue(BUNDLE)?.material()?),
        ..CredentialPatch::default()
    };
    let credential = manage::create(&store, master, &account.sid, patch, &Default::default())
        .await?
        .sid;
    let fcm_credential = match android {
        Some((fcm, _)) => Some(fcm_credential(&store, master, &account.sid, fcm).await?),
        None => None,
    };
    let share = android.map_or(0.0, |(_, share)| share);
    let mut written = 0;
    let mut all = rows(identities, devices, total, share).peekable();
    while all.peek().is_some() {
        let (mut apns, mut fcm) = (Vec::new(), Vec::new());
        for row in all.by_ref().take(SEED_BATCH) {
            if row.platform == Platform::Apns {
                apns.push((row.identity, row.token));
                continue;
            }
            if row.called
                && let Some((sim, _)) = android
            {
                sim.register_token(row.token.as_str())?;
            }
            fcm.push((row.identity, row.token));
        }
        let batches = [
            (&credential, Platform::Apns, apns),
            (
                fcm_credential.as_ref().unwrap_or(&credential),
                Platform::Fcm,
                fcm,
            ),
        ];
        for (credential, platform, batch) in batches {
            if !batch.is_empty() {
                written += store
                    .insert_registrations(&account.sid, credential, platform, &batch, now_ms())
                    .await?;
            }
        }
    }
    if ended_invites > 0 {
        // Ended an hour ago: inside the retention, so nothing is pruned during the run.
        let at = now_ms() - 3_600_000;
        store
            .insert_ended_invites(&account.sid, &credential, ended_invites, at)
            .await?;
    }
    store.close().await;
    Ok(Seeded {
        key: key.record.sid,
        secret: key.secret,
        registrations: written,
    })
}

/// Seeds a running gateway through its API with an existing API key: uploads a credential
/// and registers every device as a phone would (filler included, so keep it modest).
pub async fn through_api(
    http: &HttpClient,
    base: &str,
    key: ApiKeySid,
    secret: SecretString,
    identities: u64,
    devices: u64,
    total: u64,
) -> anyhow::Result<Seeded> {
    let seeded = Seeded {
        key,
        secret,
        registrations: 0,
    };
    let auth = [
        (header::AUTHORIZATION, seeded.basic()),
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
    ];
    let (status, body) = http
        .request(Method::GET, &format!("{base}/v1/keys"), &auth, Bytes::new())
        .await
        .map_err(|kind| anyhow::anyhow!("GET {base}/v1/keys failed: {kind}"))?;
    let keys: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let account = keys["keys"]
        .as_array()
        .and_then(|k| k.first())
        .and_then(|k| k["account_sid"].as_str())
        .map(AccountSid::parse)
        .transpose()?;
    let Some(account) = account.filter(|_| status == 200) else {
        bail!("GET /v1/keys with the API key answered {status}: check the key and secret");
    };
    let (cert, private_key) = certificate()?;
    let upload = json!({"type": "apn", "certificate": cert,
        "private_key": private_key.expose_secret(), "friendly_name": "pushgate bench"});
    let (status, body) = http
        .request(
            Method::POST,
            &format!("{base}/v1/credentials"),
            &auth,
            Bytes::from(upload.to_string()),
        )
        .await
        .map_err(|kind| anyhow::anyhow!("uploading the credential failed: {kind}"))?;
    let created: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(credential) = created["sid"].as_str().filter(|_| status == 201) else {
        bail!(
            "uploading the credential answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    };
    let credential = CredentialSid::parse(credential)?;
    let rows: Vec<_> = rows(identities, devices, total, 0.0)
        .map(|r| (r.identity, r.token))
        .collect();
    let rows = Arc::new(std::sync::Mutex::new(rows.into_iter()));
    let url = format!("{base}/v1/registrations");
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..API_CONCURRENCY {
        let (rows, http, url) = (rows.clone(), http.clone(), url.clone());
        let (account, key, credential) = (account.clone(), seeded.key.clone(), credential.clone());
        let secret = seeded.secret.clone();
        workers.spawn(async move {
            let mut written = 0u64;
            loop {
                let next = rows.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some((identity, token)) = next else {
                    return Ok::<u64, anyhow::Error>(written);
                };
                let jwt = access_token::mint(MintRequest {
                    account: &account,
                    key: &key,
                    secret: &secret,
                    identity: &identity,
                    push_credential: Some(&credential),
                    ttl_secs: 3600,
                    now: now_secs(),
                })?;
                let headers = [
                    (
                        HeaderName::from_static("x-twilio-token"),
                        HeaderValue::from_str(&jwt)?,
                    ),
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    ),
                ];
                let body = json!({"binding_type": "apn", "address": token.as_hex()});
                let (status, body) = http
                    .request(Method::POST, &url, &headers, Bytes::from(body.to_string()))
                    .await
                    .map_err(|kind| anyhow::anyhow!("registering a device failed: {kind}"))?;
                if status != 201 {
                    bail!(
                        "registering a device answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                written += 1;
            }
        });
    }
    let mut registrations = 0;
    while let Some(done) = workers.join_next().await {
        registrations += done??;
    }
    Ok(Seeded {
        registrations,
        ..seeded
    })
}
