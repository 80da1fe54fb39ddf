//! `spawn_app()` and friends: a real server on port 0 with its own database; [`bin`] runs
//! the real binary.

mod apns;
pub mod bin;
mod fcm;
mod rows;

pub use apns::{Apns, TOPIC, spawn_app_with_apns};
pub use fcm::{Fcm, fcm_token, spawn_app_with_fcm, spawn_app_with_fcm_sim};
pub use rows::copy_invite_unqueued;

use std::net::SocketAddr;

use base64::Engine;
use pushgate::auth::access_token::{self, MintRequest};
use pushgate::auth::api_keys;
use pushgate::clock::now_secs;
use pushgate::config::Config;
use pushgate::credentials::devcerts::VoipPair;
use pushgate::credentials::manage::{self, CredentialPatch};
use pushgate::domain::{AccountSid, ApiKeySid, CredentialSid, Identity};
use pushgate::secrets::MasterKey;
use pushgate::store::Store;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each named `async fn(Backend)`.
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Postgres).await })*
        }
    };
}
pub(crate) use store_tests;

/// The PostgreSQL server tests use; never skipped: an unreachable server fails the test.
pub fn postgres_admin_url() -> String {
    std::env::var("PUSHGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database URL for `backend` (a new PostgreSQL database, or a SQLite file in `dir`).
pub async fn fresh_database(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
        Backend::Postgres => {
            sqlx::any::install_default_drivers();
            let admin = postgres_admin_url();
            let mut conn = sqlx::AnyConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for tests: {e}"));
            let name = format!("pushgate_t_{}", hex_id());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let (base, _) = admin.rsplit_once('/').expect("URL with a database path");
            format!("{base}/{name}")
        }
    }
}

fn hex_id() -> String {
    let bytes: [u8; 8] = pushgate::domain::random_bytes();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A running gateway with a seeded account and API key.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub store: Store,
    pub master: MasterKey,
    pub config: Config,
    pub account: AccountSid,
    pub key: ApiKeySid,
    pub secret: SecretString,
    /// A universal VoIP certificate credential for `com.example.app`.
    pub credential: CredentialSid,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), pushgate::RunError>>>,
    _dir: tempfile::TempDir,
}

/// Starts a gateway on `backend` with default settings.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts a gateway on `backend`, letting the test adjust its configuration.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let master = MasterKey::generate();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        database_url: Some(fresh_database(backend, dir.path()).await),
        master_key: Some(SecretString::from(master.to_base64())),
        log: "warn".into(),
        // Nothing leaves the machine: FCM and its token endpoints are loopback only.
        fcm_url: "https://127.0.0.1:1".into(),
        fcm_token_hosts: vec!["127.0.0.1".into()],
        ..Config::default()
    };
    adjust(&mut config);
    // PUSHGATE_TEST_LOG=debug shows the server's log while debugging a test.
    if let Ok(filter) = std::env::var("PUSHGATE_TEST_LOG") {
        pushgate::telemetry::init(&Config {
            log: filter,
            ..config.clone()
        });
    }
    let store = Store::open(&config).await.expect("open store");
    store.migrate().await.expect("migrate");
    let (account, key) = api_keys::create_account(&store, &master, "test", "test key")
        .await
        .expect("seed account");
    let credential = manage::create(
        &store,
        &master,
        &account.sid,
        voip_certificate_patch("com.example.app"),
        &config.intake_rules(),
    )
    .await
    .expect("seed credential")
    .sid;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(pushgate::run(config.clone(), listener, async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::new(),
        store,
        master,
        config,
        account: account.sid,
        key: key.record.sid,
        secret: key.secret,
        credential,
        shutdown: Some(tx),
        handle: Some(handle),
        _dir: dir,
    }
}

/// An upload of a fresh universal VoIP certificate for `bundle`.
pub fn voip_certificate_patch(bundle: &str) -> CredentialPatch {
    CredentialPatch {
        material: Some(VoipPair::issue(bundle).unwrap().material().unwrap()),
        ..CredentialPatch::default()
    }
}

/// A 32-byte device token made of `seed`.
pub fn device_token(seed: u8) -> String {
    format!("{seed:02x}").repeat(32)
}

impl TestApp {
    /// The text of `GET /metrics`.
    pub async fn metrics_text(&self) -> String {
        let res = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `Authorization` value for the seeded API key.
    pub fn basic(&self) -> String {
        basic(self.key.as_str(), self.secret.expose_secret())
    }

    /// An access token for `identity`, minted as the CLI does.
    pub fn token(&self, identity: &str) -> String {
        self.token_for(identity, &self.credential)
    }

    /// An access token for `identity` naming push credential `credential`.
    pub fn token_for(&self, identity: &str, credential: &CredentialSid) -> String {
        access_token::mint(MintRequest {
            account: &self.account,
            key: &self.key,
            secret: &self.secret,
            identity: &Identity::parse(identity).unwrap(),
            push_credential: Some(credential),
            ttl_secs: 3600,
            now: now_secs(),
        })
        .unwrap()
    }

    /// POSTs the SDK wire-format registration of `device` with `token`.
    pub async fn register(&self, token: &str, device: &str) -> reqwest::Response {
        self.client
            .post(self.url("/v1/registrations?productId=voice"))
            .header("X-Twilio-Token", token)
            .json(&serde_json::json!({
                "channel_type": "apn",
                "message_types": ["twilio.voice.call"],
                "data": {"registration_id": device},
                "version": "3"
            }))
            .send()
            .await
            .unwrap()
    }

    /// GET with the seeded API key, returning status and JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let res = self
            .client
            .get(self.url(path))
            .header("Authorization", self.basic())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// How many registrations the account has (read through the store).
    pub async fn registration_count(&self) -> usize {
        self.store
            .registrations(&self.account, None, None, 1000)
            .await
            .unwrap()
            .registrations
            .len()
    }

    /// Signals shutdown and waits for the server to drain and return.
    pub async fn stop(mut self) -> Result<(), pushgate::RunError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle.take().unwrap().await.expect("server task")
    }
}

/// An HTTP Basic header value.
pub fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Asserts an error response's status and code, returning its body.
pub async fn assert_error(res: reqwest::Response, status: u16, code: u64) -> Value {
    let got = res.status().as_u16();
    let body: Value = res.json().await.expect("JSON error body");
    assert_eq!(got, status, "status; body: {body}");
    assert_eq!(body["code"], code, "code; body: {body}");
    assert_eq!(body["status"], status, "status field; body: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}

impl TestApp {
    /// Registers `device` for `identity`, returning the registration SID.
    pub async fn register_device(&self, identity: &str, device: &str) -> String {
        let res = self.register(&self.token(identity), device).await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        body["sid"].as_str().unwrap().to_owned()
    }

    /// POSTs an invite, returning status and body.
    pub async fn invite(&self, body: Value) -> (u16, Value) {
        let res = self
            .client
            .post(self.url("/v1/invites"))
            .header("Authorization", self.basic())
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// GETs an invite, holding until every device has a final outcome (10 s at most).
    pub async fn settled(&self, sid: &str) -> Value {
        let (status, body) = self
            .get_json(&format!("/v1/invites/{sid}?wait=10000"))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// The Redis server tests use; never skipped: an unreachable server fails the test.
pub fn redis_url() -> String {
    std::env::var("PUSHGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A Redis key prefix of this test's own.
pub fn redis_prefix() -> String {
    format!("pushgate-t-{}:", hex_id())
}

/// Another gateway process-in-a-task on the same database (and Redis) as a [`TestApp`].
pub struct Replica {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), pushgate::RunError>>>,
}

impl Replica {
    /// The replica's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Signals shutdown and waits for the replica to drain.
    pub async fn stop(mut self) -> Result<(), pushgate::RunError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle.take().unwrap().await.expect("replica task")
    }
}

impl TestApp {
    /// Starts one more replica with this app's configuration.
    pub async fn spawn_replica(&self) -> Replica {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(pushgate::run(self.config.clone(), listener, async {
            let _ = rx.await;
        }));
        Replica {
            addr,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }
}
