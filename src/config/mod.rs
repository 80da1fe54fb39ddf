//! Layered configuration: built-in defaults → optional TOML file → `PUSHGATE_*` environment
//! variables, validated once at load so the rest of the code can trust it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::secrets::MasterKey;

mod describe;
pub(crate) mod lists;
mod validate;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Which store a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Embedded SQLite file (the default).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Everything pushgate can be configured with. Field names are the TOML keys; the
/// environment variable is `PUSHGATE_` + the upper-cased name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Directory for the embedded database and the generated master key.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `<data_dir>/pushgate.db`.
    pub database_url: Option<String>,
    /// Base64 of 32 bytes; generated into `<data_dir>/master.key` when unset on SQLite.
    #[serde(serialize_with = "crate::secrets::redact::serialize_option")]
    pub master_key: Option<SecretString>,
    /// Earlier master keys (base64, a list or one comma-separated string): values sealed and
    /// bridge tokens signed under them still open/verify, new ones use `master_key`.
    #[serde(
        serialize_with = "crate::secrets::redact::serialize_list",
        deserialize_with = "crate::secrets::redact::deserialize_list"
    )]
    pub master_key_previous: Vec<SecretString>,
    /// Log filter, `tracing_subscriber::EnvFilter` syntax.
    pub log: String,
    /// `pretty` or `json`.
    pub log_format: LogFormat,
    /// Most registrations one identity may hold; one more retires the stalest.
    pub max_registrations_per_identity: u32,
    /// Seconds a verified API key is remembered (0: check the store on every request). A key
    /// revoked through another replica or the CLI keeps working here for at most this long.
    pub api_key_cache_seconds: u64,
    /// Failed authentications per client address and minute before 429 (0: no limit).
    pub auth_failures_per_minute: u32,
    /// Clock leeway, in seconds, when checking access token `exp`/`nbf`.
    pub token_leeway_seconds: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Database connection pool size.
    pub database_max_connections: u32,
    /// How long a request waits for a database connection before answering 503 (store
    /// unavailable), in milliseconds.
    pub database_acquire_timeout_ms: u64,
    /// Days before a certificate's expiry from which it is reported as `expiring`.
    pub credential_expiry_warning_days: u32,
    /// Credential uploads validated at once (parsing keys, deriving `.p12` keys: CPU work on
    /// blocking threads). Default: the number of CPUs.
    pub max_concurrent_credential_validations: u32,
    /// How long an upload waits for a validation slot before answering 503 (code 21148,
    /// with `Retry-After`), in milliseconds.
    pub credential_validation_wait_ms: u64,
    /// APNs production endpoint (any `https://host[:port]`, e.g. the simulator).
    pub apns_production_url: String,
    /// APNs development (sandbox) endpoint.
    pub apns_sandbox_url: String,
    /// PEM file of extra trust roots for the APNs endpoints (e.g. the simulator's CA).
    pub apns_ca_file: Option<PathBuf>,
    /// HTTP/2 connections per credential and environment.
    pub apns_connections: u32,
    /// Budget for one push, connecting included, in milliseconds.
    pub apns_request_timeout_ms: u64,
    /// FCM HTTP v1 endpoint (any `https://host[:port]`, e.g. the simulator).
    pub fcm_url: String,
    /// PEM file of extra trust roots for the FCM endpoint and service accounts' token
    /// endpoints (e.g. the simulator's CA).
    pub fcm_ca_file: Option<PathBuf>,
    /// Hosts an FCM service account's `token_uri` may name: assertions go only there.
    #[serde(deserialize_with = "lists::comma_separated")]
    pub fcm_token_hosts: Vec<String>,
    /// Budget for one FCM send or token exchange, connecting included, in milliseconds.
    pub fcm_request_timeout_ms: u64,
    /// Pushes in flight at once (across all credentials).
    pub delivery_concurrency: u32,
    /// Registrations neither refreshed nor pushed to for this many days are removed.
    pub registration_ttl_days: u32,
    /// Ended invites (answered, rejected, canceled, expired, failed) and their deliveries are
    /// deleted this many hours after they ended (0: kept forever).
    pub invite_retention_hours: u32,
    /// Hosts status callbacks may target (`example.com`, `*.example.com`, an IP address); a
    /// listed host is trusted whatever it resolves to. Empty: any host whose addresses are all
    /// public unicast (checked when the name is resolved, at send time).
    #[serde(deserialize_with = "lists::comma_separated")]
    pub status_callback_allowed_hosts: Vec<String>,
    /// Not a setting: resolves status callback hosts (the system resolver unless injected).
    #[serde(skip)]
    pub callback_lookup: crate::invites::callback_dns::CallbackLookup,
    /// The gateway's base URL as Twilio calls it (`https://push.example.com`), to check
    /// `X-Twilio-Signature`. Unset: the request's `Host` with either scheme.
    pub public_url: Option<String>,
    /// Serve the operator console at `/console` on the API's listener.
    pub console: bool,
    /// A console session unused this many minutes ends.
    pub console_idle_minutes: u32,
    /// Serve the quickstart endpoints `/accessToken` and `/placeCall`.
    pub quickstart: bool,
    /// Allow the quickstart endpoints on a non-loopback listen address.
    pub quickstart_allow_remote: bool,
    /// The account the quickstart endpoints and `demo` act for; needed only when several
    /// accounts exist (otherwise the only one is used).
    pub quickstart_account: Option<crate::domain::AccountSid>,
    /// Serve `/metrics` on this separate (private) address instead of the API's.
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds between refreshes of the gauges read from the store (registrations,
    /// credentials, queue).
    pub metrics_refresh_seconds: u64,
    /// `redis://…`: run as one of several replicas — deliveries go through a Redis Stream,
    /// invite events and `.p8` provider tokens are shared.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key pushgate writes.
    pub redis_key_prefix: String,
    /// Redis queue: a delivery handed to a replica that has not finished it after this many
    /// milliseconds (the replica died) is claimed by another replica.
    pub queue_claim_idle_ms: u64,
    /// Redis queue: a delivery handed out this many times without an outcome goes to the
    /// dead-letter stream.
    pub queue_max_deliveries: u32,
    /// Outbox rows not queued this many milliseconds after they were written are enqueued
    /// again: with Redis, rows that never reached it (Redis was down, or the replica died
    /// between commit and enqueue); embedded, rows this process never queued (written although
    /// the commit reported an error).
    pub queue_sweep_after_ms: u64,
    /// A connection must deliver a request's complete headers within this many milliseconds
    /// (from accept for the first request, from its first byte for later ones) or is closed.
    pub http_header_read_timeout_ms: u64,
    /// A keep-alive connection with no request in progress is closed after this long idle.
    pub http_idle_timeout_ms: u64,
    /// A non-streaming request must be answered within this long, its body read included,
    /// or gets 408 (code 21501). Event streams and `?wait=` long polls (bounded on their own)
    /// are exempt.
    pub http_request_timeout_ms: u64,
    /// Most connections open at once per listener (lowered to what the process's file
    /// descriptor limit allows). Beyond it, new connections wait in the kernel's backlog.
    pub http_max_connections: usize,
    /// On shutdown, how long open event streams and in-flight requests may take to finish
    /// before their connections are dropped.
    pub http_shutdown_grace_ms: u64,
    /// Most event streams open at once for one invite (per process).
    pub max_event_streams_per_invite: usize,
    /// Most event streams open at once for one registration (per process).
    pub max_event_streams_per_registration: usize,
    /// Most event streams open at once in this process.
    pub max_event_streams: usize,
    /// Most invites waiting for their group commit; more get 503 + Retry-After (a store
    /// that can't keep up sheds load instead of queueing it in memory).
    pub max_waiting_invites: usize,
    /// Most invites whose status callbacks are being sent at once (per process); beyond, a
    /// new invite's callback is dropped and counted (a final one is replayed a minute later).
    pub max_invites_calling_back: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            master_key: None,
            master_key_previous: Vec::new(),
            log: "info".into(),
            log_format: LogFormat::Pretty,
            max_registrations_per_identity: 20,
            api_key_cache_seconds: 5,
            auth_failures_per_minute: 30,
            token_leeway_seconds: 30,
            max_body_bytes: 256 * 1024,
            database_max_connections: 8,
            database_acquire_timeout_ms: 1_500,
            credential_expiry_warning_days: 30,
            max_concurrent_credential_validations: std::thread::available_parallelism()
                .map_or(2, |n| n.get() as u32),
            credential_validation_wait_ms: 5_000,
            apns_production_url: crate::apns::PRODUCTION_URL.into(),
            apns_sandbox_url: crate::apns::SANDBOX_URL.into(),
            apns_ca_file: None,
            apns_connections: 2,
            apns_request_timeout_ms: 10_000,
            fcm_url: "https://fcm.googleapis.com".into(),
            fcm_ca_file: None,
            fcm_token_hosts: vec![crate::credentials::GOOGLE_TOKEN_HOST.into()],
            fcm_request_timeout_ms: 10_000,
            delivery_concurrency: 1024,
            registration_ttl_days: 365,
            invite_retention_hours: 168,
            status_callback_allowed_hosts: Vec::new(),
            callback_lookup: Default::default(),
            public_url: None,
            console: true,
            console_idle_minutes: 30,
            quickstart: false,
            quickstart_allow_remote: false,
            quickstart_account: None,
            metrics_listen: None,
            metrics_refresh_seconds: 15,
            redis_url: None,
            redis_key_prefix: "pushgate:".into(),
            queue_claim_idle_ms: 30_000,
            queue_max_deliveries: 5,
            queue_sweep_after_ms: 10_000,
            http_header_read_timeout_ms: 10_000,
            http_idle_timeout_ms: 60_000,
            http_request_timeout_ms: 30_000,
            http_max_connections: 10_000,
            http_shutdown_grace_ms: 5_000,
            max_event_streams_per_invite: 16,
            max_event_streams_per_registration: 4,
            max_event_streams: 10_000,
            max_waiting_invites: 512,
            max_invites_calling_back: 4_096,
        }
    }
}

/// A configuration problem, reported before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that could not be read, named as the operator wrote it.
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: {0}")]
    MasterKey(#[from] crate::secrets::SecretsError),
}

impl Config {
    /// Loads defaults, then `file` if given, then `PUSHGATE_*` variables, and validates.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // PUSHGATE_CONFIG names the file; PUSHGATE_TEST_* belong to the test suite.
        let env = Env::prefixed("PUSHGATE_").filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            key != "config" && !key.starts_with("test_")
        });
        let config: Config = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Load(describe::describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// The expiry warning window in seconds.
    pub fn expiry_warning_secs(&self) -> i64 {
        i64::from(self.credential_expiry_warning_days) * 86_400
    }

    /// The rules credential uploads are checked against.
    pub fn intake_rules(&self) -> crate::credentials::manage::IntakeRules {
        crate::credentials::manage::IntakeRules {
            warning_window_secs: self.expiry_warning_secs(),
            fcm_token_hosts: self.fcm_token_hosts.clone(),
        }
    }

    /// How long ended invites are kept, or `None` to keep them forever.
    pub fn invite_retention(&self) -> Option<std::time::Duration> {
        (self.invite_retention_hours > 0)
            .then(|| std::time::Duration::from_secs(u64::from(self.invite_retention_hours) * 3_600))
    }

    /// The APNs client settings these values describe.
    pub fn apns(&self) -> Result<crate::apns::ApnsConfig, crate::apns::ApnsError> {
        let mut apns = crate::apns::ApnsConfig {
            production_url: self.apns_production_url.clone(),
            sandbox_url: self.apns_sandbox_url.clone(),
            connections_per_environment: self.apns_connections as usize,
            request_timeout: std::time::Duration::from_millis(self.apns_request_timeout_ms),
            ..crate::apns::ApnsConfig::default()
        };
        if let Some(ca) = &self.apns_ca_file {
            apns = apns.with_extra_root_pem_file(ca)?;
        }
        Ok(apns)
    }

    /// The FCM client settings these values describe.
    pub fn fcm(&self) -> Result<crate::fcm::FcmConfig, crate::fcm::FcmError> {
        let base = url::Url::parse(&self.fcm_url)
            .map_err(|e| crate::fcm::FcmError::Config(format!("fcm_url: {e}")))?;
        let timeout = std::time::Duration::from_millis(self.fcm_request_timeout_ms);
        let mut fcm = crate::fcm::FcmConfig {
            request_timeout: timeout,
            token_timeout: timeout,
            ..crate::fcm::FcmConfig::default()
        }
        .with_base_url(base);
        if let Some(ca) = &self.fcm_ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                crate::fcm::FcmError::Config(format!("fcm_ca_file {}: {e}", ca.display()))
            })?;
            fcm = fcm.with_extra_root_pem(pem);
        }
        Ok(fcm)
    }

    /// The database URL in force (the SQLite file in the data dir unless set).
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("pushgate.db").display()
            ),
        }
    }

    /// Which store the database URL selects.
    pub fn store_kind(&self) -> StoreKind {
        store_kind(&self.database_url()).unwrap_or(StoreKind::Sqlite)
    }

    /// The master keyring: the configured key, or on SQLite the key file generated once into
    /// the data dir (with `master.key.previous`), plus `master_key_previous`.
    pub fn master_key(&self) -> Result<MasterKey, ConfigError> {
        let ring = match (&self.master_key, self.store_kind()) {
            (Some(key), _) => MasterKey::from_base64(key.expose_secret())?,
            (None, StoreKind::Sqlite) => MasterKey::load_file_ring(&self.master_key_file())?
                .reloading_from(self.master_key_file()),
            (None, StoreKind::Postgres) => {
                return Err(ConfigError::Invalid(
                    "PUSHGATE_MASTER_KEY is required with PostgreSQL (base64 of 32 random bytes, \
                     e.g. `openssl rand -base64 32`); every replica must use the same key"
                        .into(),
                ));
            }
        };
        Ok(ring.with_previous(self.previous_keys()?))
    }

    /// The generated key file (used when `master_key` is unset, on SQLite).
    pub fn master_key_file(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }

    fn previous_keys(&self) -> Result<Vec<MasterKey>, ConfigError> {
        let keys = self.master_key_previous.iter();
        Ok(keys
            .map(|k| MasterKey::from_base64(k.expose_secret()))
            .collect::<Result<_, _>>()?)
    }
}

fn store_kind(url: &str) -> Option<StoreKind> {
    if url.starts_with("sqlite:") {
        Some(StoreKind::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(StoreKind::Postgres)
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests;
